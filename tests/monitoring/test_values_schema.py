"""values.schema.json of the monitoring chart: strict, and bad values are refused before anything renders,
with a message that names the field (the same checks tests/charts/test_values_schema.py runs for the app)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from archangel_helm import RenderError
from tests.charts.test_values_schema import assert_names_field
from tests.conftest import MONITORING_CHART
from tests.monitoring.conftest import RenderMonitoring

SCHEMA = json.loads((MONITORING_CHART / "values.schema.json").read_text())

# (values to set, the field the message must name, a word the message must contain)
BAD_MONITORING_VALUES: list[tuple[dict[str, Any], str, str]] = [
    ({"mode": "sidecar"}, "mode", "operator"),
    ({"alertmanagr": {}}, "", "alertmanagr"),
    ({"operator": {"additionalLabels": {"release": 3}}}, "operator/additionalLabels/release", "string"),
    ({"alerting": {"groupWait": "soon"}}, "alerting/groupWait", "pattern"),
    ({"alerting": {"routes": {"critical": ["opsgenie"]}}}, "alerting/routes/critical/0", "email"),
    ({"alerting": {"defaultReceiver": "teams"}}, "alerting/defaultReceiver", "slack"),
    (
        {"alerting": {"receivers": {"slack": {"apiURL": "https://hooks.slack.com/x"}}}},
        "alerting/receivers/slack",
        "apiURL",
    ),
    (
        {"alerting": {"receivers": {"email": {"smarthost": "smtp.example.com"}}}},
        "alerting/receivers/email/smarthost",
        "pattern",
    ),
    ({"alerting": {"receivers": {"pagerduty": {"serviceKey": "x"}}}}, "alerting/receivers/pagerduty", "serviceKey"),
    ({"alerting": {"existingSecret": "Bad_Name"}}, "alerting/existingSecret", "pattern"),
    ({"prometheus": {"retention": "30 days"}}, "prometheus/retention", "pattern"),
    ({"prometheus": {"retentionSize": "45Gi"}}, "prometheus/retentionSize", "pattern"),
    ({"prometheus": {"replicas": 0}}, "prometheus/replicas", "minimum"),
    ({"prometheus": {"persistence": {"size": "lots"}}}, "prometheus/persistence/size", "pattern"),
    ({"prometheus": {"scrape": {"namespaces": []}}}, "prometheus/scrape/namespaces", "minItems"),
    ({"prometheus": {"externalLabels": {"bad-label": "x"}}}, "prometheus/externalLabels", "bad-label"),
    ({"prometheus": {"pdb": {"maxUnavailable": 0}}}, "prometheus/pdb/maxUnavailable", "oneOf"),
    ({"alertmanager": {"replicas": 9}}, "alertmanager/replicas", "maximum"),
    ({"grafana": {"podSecurityContext": {"runAsUser": 0}}}, "grafana/podSecurityContext/runAsUser", "minimum"),
    ({"grafana": {"containerSecurityContext": {"privileged": True}}}, "grafana/containerSecurityContext", "privileged"),
    (
        {"prometheus": {"containerSecurityContext": {"allowPrivilegeEscalation": True}}},
        "prometheus/containerSecurityContext/allowPrivilegeEscalation",
        "false",
    ),
    ({"pushgateway": {"image": {"pullPolicy": "Sometimes"}}}, "pushgateway/image/pullPolicy", "Always"),
    ({"kubeStateMetrics": {"image": {"digest": "md5:abc"}}}, "kubeStateMetrics/image/digest", "pattern"),
    ({"healthcheck": {"coreURL": "archangel-core/healthz/ready"}}, "healthcheck/coreURL", "pattern"),
    ({"healthcheck": {"schedule": "every 5 minutes"}}, "healthcheck/schedule", "pattern"),
    (
        {"healthcheck": {"extraChecks": [{"name": "Bad Name", "url": "http://x/"}]}},
        "healthcheck/extraChecks/0/name",
        "pattern",
    ),
    (
        {"healthcheck": {"resources": {"requests": {"cpu": "lots", "memory": "1Mi"}}}},
        "healthcheck/resources/requests/cpu",
        "pattern",
    ),
    ({"networkPolicy": {"kubelet": {"cidrs": ["10.0.0.0"]}}}, "networkPolicy/kubelet/cidrs/0", "pattern"),
    ({"dashboards": {"sidecarLabelValue": 1}}, "dashboards/sidecarLabelValue", "string"),
]


@pytest.mark.parametrize(
    ("values", "field", "word"), BAD_MONITORING_VALUES, ids=[f"{c[1] or 'root'}-{c[2]}" for c in BAD_MONITORING_VALUES]
)
def test_bad_values_are_refused_naming_the_field(
    render_monitoring: RenderMonitoring, values: dict[str, Any], field: str, word: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_monitoring(values)
    message = caught.value.helm_message
    assert "values don't meet the specifications of the schema" in message
    assert_names_field(message, field, word)


def test_the_latest_tag_is_refused_by_the_templates(render_monitoring: RenderMonitoring) -> None:
    with pytest.raises(RenderError) as caught:
        render_monitoring({"mode": "standalone", "prometheus": {"image": {"tag": "latest"}}})
    assert 'prometheus.image.tag: "latest" is not allowed; pin an exact version' in caught.value.helm_message


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
