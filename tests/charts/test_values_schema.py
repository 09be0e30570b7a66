"""values.schema.json: strict, satisfied by every values file we ship, and bad input is refused with a message
that names the field, before anything is rendered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from archangel_helm.core.values_layering import coalesce
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.testing import assertions as a
from archangel_helm.testing.plugin import RenderChart
from tests.support.project import APP_CHART, CHARTS, PROJECT, SHIPPED_VALUES


def load_schema(chart: Path) -> dict[str, Any]:
    return dict(json.loads((chart / "values.schema.json").read_text()))


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_schema_is_draft7_for_helm3_compatibility(chart: Path) -> None:
    # Helm < 3.18 validates with gojsonschema, which knows draft 7 at the newest.
    schema = load_schema(chart)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_chart_defaults_satisfy_the_schema(chart: Path) -> None:
    values = yaml.safe_load((chart / "values.yaml").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(load_schema(chart)).iter_errors(values)]
    assert errors == []


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_shipped_values_files_satisfy_the_schema(shipped: ShippedValues) -> None:
    defaults = yaml.safe_load((shipped.chart / "values.yaml").read_text())
    values = coalesce(defaults, yaml.safe_load(shipped.values_file.read_text()) or {})
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(load_schema(shipped.chart)).iter_errors(values)
    ]
    assert errors == []


def _object_schemas(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object definition; not the cross-field rules of the root's allOf, which only constrain values
    already defined (and closed) under properties."""
    if isinstance(node, dict):
        if "properties" in node:
            yield path, node
        for key, value in node.items():
            if path == "#" and key == "allOf":
                continue
            yield from _object_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _object_schemas(value, f"{path}/{index}")


# Objects that may carry keys the schema does not list, and why.
OPEN_OBJECTS = {
    "#/properties/global": "Helm injects global into subcharts; only the keys listed are read",
    "#/definitions/envVars/items": "Kubernetes EnvVar objects, validated by the Kubernetes schema after rendering",
    "#/definitions/containerList/items": "Kubernetes Container and Volume objects, validated after rendering",
}


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_every_object_with_properties_rejects_unknown_keys(chart: Path) -> None:
    open_objects = [
        path
        for path, node in _object_schemas(load_schema(chart), "#")
        if node.get("additionalProperties") is not False and path not in OPEN_OBJECTS
    ]
    assert open_objects == []


# (values to set, the field refused, the JSON Schema keyword that refused it, a word helm's message must contain)
BAD_APP_VALUES: list[tuple[dict[str, Any], str, str, str | None]] = [
    ({"replicaCount": 3}, "", "additionalProperties", "replicaCount"),
    ({"core": {"replica": 3}}, "core", "additionalProperties", "replica"),
    ({"core": {"replicas": "three"}}, "core/replicas", "type", "integer"),
    ({"core": {"replicas": 0}}, "core/replicas", "minimum", None),
    ({"core": {"image": {"pullPolicy": "Sometimes"}}}, "core/image/pullPolicy", "enum", "Always"),
    ({"core": {"image": {"digest": "md5:abc"}}}, "core/image/digest", "pattern", "sha256"),
    ({"core": {"containerPorts": {"http": 70000}}}, "core/containerPorts/http", "maximum", None),
    ({"core": {"resources": {"requests": {"cpu": "lots"}}}}, "core/resources/requests/cpu", "pattern", None),
    (
        {"core": {"podSecurityContext": {"runAsNonRoot": False}}},
        "core/podSecurityContext/runAsNonRoot",
        "const",
        "true",
    ),
    ({"core": {"podSecurityContext": {"runAsUser": 0}}}, "core/podSecurityContext/runAsUser", "minimum", None),
    (
        {"core": {"containerSecurityContext": {"privileged": True}}},
        "core/containerSecurityContext",
        "additionalProperties",
        "privileged",
    ),
    (
        {"core": {"containerSecurityContext": {"allowPrivilegeEscalation": True}}},
        "core/containerSecurityContext/allowPrivilegeEscalation",
        "const",
        "false",
    ),
    (
        {"core": {"containerSecurityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}},
        "core/containerSecurityContext/capabilities/add/0",
        "const",
        "NET_BIND_SERVICE",
    ),
    ({"core": {"service": {"type": "NodePort"}}}, "core/service", "additionalProperties", "type"),
    (
        {"agents": {"autoscaling": {"cpu": {"averageUtilization": 150}}}},
        "agents/autoscaling/cpu/averageUtilization",
        "maximum",
        None,
    ),
    (
        {"agents": {"verticalPodAutoscaler": {"updateMode": "Sometimes"}}},
        "agents/verticalPodAutoscaler/updateMode",
        "enum",
        "Off",
    ),
    ({"agents": {"podAntiAffinity": "strict"}}, "agents/podAntiAffinity", "enum", "soft"),
    (
        {"agents": {"autoscaling": {"podsMetrics": [{"name": "bad name", "averageValue": "1"}]}}},
        "agents/autoscaling/podsMetrics/0/name",
        "pattern",
        None,
    ),
    ({"agents": {"keda": {"prometheus": {"threshold": 20}}}}, "agents/keda/prometheus/threshold", "type", "string"),
    (
        {"priorityClasses": {"items": [{"name": "Bad_Name", "value": 1}]}},
        "priorityClasses/items/0/name",
        "pattern",
        None,
    ),
    ({"core": {"config": {"bad-name": "x"}}}, "core/config", "additionalProperties", "bad-name"),
    ({"core": {"readinessProbe": {"httpGet": {"port": None}}}}, "core/readinessProbe/httpGet", "required", "port"),
    ({"core": {"image": {"tag": ""}}}, "core/image/tag", "minLength", None),
    (
        {"istio": {"destinationRule": {"loadBalancer": "RANDOM"}}},
        "istio/destinationRule/loadBalancer",
        "enum",
        "LEAST_REQUEST",
    ),
    (
        {"loadBalancer": {"aws": {"tls": {"certificateArn": "my-cert"}}}},
        "loadBalancer/aws/tls/certificateArn",
        "pattern",
        None,
    ),
]


def assert_refused(attempt: a.RenderAttempt, field: str, keyword: str, word: str | None) -> None:
    """The schema refused ``field`` by ``keyword``, and helm's words for it contain ``word`` (the unknown key, the
    allowed value): read the same on Helm 3 (``- core.replicas: Must be ...``) and Helm 4 (``- at '/core/replicas'``)."""
    violation = a.failed_values_schema(attempt, field, keyword)
    if word is not None:
        assert word.lower() in violation.message.lower(), violation


@pytest.mark.parametrize(
    ("values", "field", "keyword", "word"),
    BAD_APP_VALUES,
    ids=[f"{c[1] or 'root'}-{c[3] or c[2]}" for c in BAD_APP_VALUES],
)
def test_bad_values_are_refused_naming_the_field(
    render_chart: RenderChart, values: dict[str, Any], field: str, keyword: str, word: str | None
) -> None:
    assert_refused(lambda: render_chart(APP_CHART, [], values), field, keyword, word)


def test_the_latest_tag_is_refused_by_the_templates(render_chart: RenderChart) -> None:
    a.failed_template(
        lambda: render_chart(APP_CHART, [], {"core": {"image": {"tag": "latest"}}}),
        message='core.image.tag: "latest" is not allowed; pin an exact version',
    )


def test_values_files_outside_the_repo_are_not_shipped() -> None:
    assert all(s.values_file.is_relative_to(PROJECT) for s in SHIPPED_VALUES)
