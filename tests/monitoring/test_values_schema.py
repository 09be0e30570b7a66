"""values.schema.json of the monitoring chart: strict, and bad values are refused before anything renders,
with a message that names the field (the same checks tests/charts/test_values_schema.py runs for the app)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from archangel_helm.testing import assertions as a
from tests.charts.test_values_schema import assert_refused
from tests.support.monitoring import RenderMonitoring
from tests.support.project import MONITORING_CHART

SCHEMA = json.loads((MONITORING_CHART / "values.schema.json").read_text())

# (values to set, the field refused, the JSON Schema keyword that refused it, a word helm's message must contain)
BAD_MONITORING_VALUES: list[tuple[dict[str, Any], str, str, str | None]] = [
    ({"mode": "sidecar"}, "mode", "enum", "operator"),
    ({"alertmanagr": {}}, "", "additionalProperties", "alertmanagr"),
    ({"operator": {"additionalLabels": {"release": 3}}}, "operator/additionalLabels/release", "type", "string"),
    ({"alerting": {"groupWait": "soon"}}, "alerting/groupWait", "pattern", None),
    ({"alerting": {"routes": {"critical": ["opsgenie"]}}}, "alerting/routes/critical/0", "enum", "email"),
    ({"alerting": {"defaultReceiver": "teams"}}, "alerting/defaultReceiver", "enum", "slack"),
    (
        {"alerting": {"receivers": {"slack": {"apiURL": "https://hooks.slack.com/x"}}}},
        "alerting/receivers/slack",
        "additionalProperties",
        "apiURL",
    ),
    (
        {"alerting": {"receivers": {"email": {"smarthost": "smtp.example.com"}}}},
        "alerting/receivers/email/smarthost",
        "pattern",
        None,
    ),
    (
        {"alerting": {"receivers": {"pagerduty": {"serviceKey": "x"}}}},
        "alerting/receivers/pagerduty",
        "additionalProperties",
        "serviceKey",
    ),
    ({"alerting": {"existingSecret": "Bad_Name"}}, "alerting/existingSecret", "pattern", None),
    ({"prometheus": {"retention": "30 days"}}, "prometheus/retention", "pattern", None),
    ({"prometheus": {"retentionSize": "45Gi"}}, "prometheus/retentionSize", "pattern", None),
    ({"prometheus": {"replicas": 0}}, "prometheus/replicas", "minimum", None),
    ({"prometheus": {"persistence": {"size": "lots"}}}, "prometheus/persistence/size", "pattern", None),
    ({"prometheus": {"scrape": {"namespaces": []}}}, "prometheus/scrape/namespaces", "minItems", None),
    (
        {"prometheus": {"externalLabels": {"bad-label": "x"}}},
        "prometheus/externalLabels",
        "additionalProperties",
        "bad-label",
    ),
    ({"prometheus": {"pdb": {"maxUnavailable": 0}}}, "prometheus/pdb/maxUnavailable", "oneOf", None),
    ({"alertmanager": {"replicas": 9}}, "alertmanager/replicas", "maximum", None),
    ({"grafana": {"podSecurityContext": {"runAsUser": 0}}}, "grafana/podSecurityContext/runAsUser", "minimum", None),
    (
        {"grafana": {"containerSecurityContext": {"privileged": True}}},
        "grafana/containerSecurityContext",
        "additionalProperties",
        "privileged",
    ),
    (
        {"prometheus": {"containerSecurityContext": {"allowPrivilegeEscalation": True}}},
        "prometheus/containerSecurityContext/allowPrivilegeEscalation",
        "const",
        "false",
    ),
    ({"pushgateway": {"image": {"pullPolicy": "Sometimes"}}}, "pushgateway/image/pullPolicy", "enum", "Always"),
    ({"kubeStateMetrics": {"image": {"digest": "md5:abc"}}}, "kubeStateMetrics/image/digest", "pattern", None),
    ({"healthcheck": {"coreURL": "archangel-core/healthz/ready"}}, "healthcheck/coreURL", "pattern", None),
    ({"healthcheck": {"schedule": "every 5 minutes"}}, "healthcheck/schedule", "pattern", None),
    (
        {"healthcheck": {"extraChecks": [{"name": "Bad Name", "url": "http://x/"}]}},
        "healthcheck/extraChecks/0/name",
        "pattern",
        None,
    ),
    (
        {"healthcheck": {"resources": {"requests": {"cpu": "lots", "memory": "1Mi"}}}},
        "healthcheck/resources/requests/cpu",
        "pattern",
        None,
    ),
    ({"networkPolicy": {"kubelet": {"cidrs": ["10.0.0.0"]}}}, "networkPolicy/kubelet/cidrs/0", "pattern", None),
    ({"dashboards": {"sidecarLabelValue": 1}}, "dashboards/sidecarLabelValue", "type", "string"),
]


@pytest.mark.parametrize(
    ("values", "field", "keyword", "word"),
    BAD_MONITORING_VALUES,
    ids=[f"{c[1] or 'root'}-{c[3] or c[2]}" for c in BAD_MONITORING_VALUES],
)
def test_bad_values_are_refused_naming_the_field(
    render_monitoring: RenderMonitoring, values: dict[str, Any], field: str, keyword: str, word: str | None
) -> None:
    assert_refused(lambda: render_monitoring(values), field, keyword, word)


def test_the_latest_tag_is_refused_by_the_templates(render_monitoring: RenderMonitoring) -> None:
    a.failed_template(
        lambda: render_monitoring({"mode": "standalone", "prometheus": {"image": {"tag": "latest"}}}),
        message='prometheus.image.tag: "latest" is not allowed; pin an exact version',
    )


def test_every_value_is_documented_and_typed() -> None:
    """Each leaf of values.yaml has an @param line and a schema entry (the README tables come from the former)."""
    values_text = (MONITORING_CHART / "values.yaml").read_text()
    documented = {line.split()[2] for line in values_text.splitlines() if line.strip().startswith("## @param ")}

    def leaves(node: Any, prefix: str) -> list[str]:
        if isinstance(node, dict) and node:
            return [leaf for key, value in node.items() for leaf in leaves(value, f"{prefix}{key}.")]
        return [prefix.rstrip(".")]

    for leaf in leaves(yaml.safe_load(values_text), ""):
        assert leaf in documented or any(leaf.startswith(f"{d}.") for d in documented), leaf
    jsonschema.Draft7Validator(SCHEMA).validate(yaml.safe_load(values_text))


def test_free_form_maps_are_only_the_documented_ones() -> None:
    """Maps whose keys are not listed: labels, annotations, node selectors and affinity, external labels."""
    free: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" not in node and "$ref" not in node:
                free.append(path)
            for key, value in node.items():
                walk(value, f"{path}/{key}")

    walk(SCHEMA, "#")
    assert sorted(free) == sorted(
        [
            "#/definitions/stringMap",
            "#/definitions/labelMap",
            "#/definitions/affinity",
            "#/definitions/tolerations/items",
            "#/properties/prometheus/properties/externalLabels",
        ]
    )
