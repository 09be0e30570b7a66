"""ServiceMonitors: one per component, selecting its metrics Service by label and its endpoint by port name; in
production, PodMonitors for the CloudNativePG instances and PgBouncer, which have no Service of the release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import labels_of
from archangel_helm.testing import assertions as a
from archangel_helm.validate.graph import check_pod_monitors, check_service_monitors
from tests.charts.test_data_tier import BUILTIN

RenderEnv = Callable[..., Manifest]


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


@pytest.mark.parametrize(
    ("values", "service_monitored", "pod_monitored"),
    [
        # production: the operator's pods, scraped on their own exporters' port "metrics"
        ({}, {"core", "agents", "qdrant"}, {"postgresql", "pgbouncer"}),
        (BUILTIN, {"core", "agents", "postgresql", "qdrant"}, set()),
    ],
    ids=["cloudnativepg", "builtin"],
)
def test_one_monitor_per_component(
    render_env: RenderEnv, values: dict[str, Any], service_monitored: set[str], pod_monitored: set[str]
) -> None:
    manifest = render_env("production", "archangel", values)
    monitors = a.select(manifest, kind="ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {f"archangel-{component}" for component in service_monitored}
    a.equal(monitors, "metadata.labels.release", "kube-prometheus-stack")
    a.equal(monitors, "spec.namespaceSelector", {"matchNames": ["archangel"]})
    pod_monitors = a.select(manifest, kind="PodMonitor", allow_empty=True)
    assert {m["metadata"]["name"] for m in pod_monitors} == {f"archangel-{component}" for component in pod_monitored}
    a.equal(pod_monitors, "metadata.labels.release", "kube-prometheus-stack")
    # No namespaceSelector: a PodMonitor looks in its own namespace only, the release's.
    a.equal(pod_monitors, "metadata.namespace", "archangel")
    a.exists(pod_monitors, "spec.namespaceSelector", negate=True)
    a.length_equal(pod_monitors, "spec.podMetricsEndpoints", 1)
    for component in pod_monitored:
        monitor = a.select(pod_monitors, name=f"archangel-{component}", match_many=False)
        # component="postgresql" as the builtin exporter's series: the monitoring chart's rules select on it
        relabel = {
            r["targetLabel"]: r.get("replacement")
            for r in a.value_at(monitor.objects[0], "spec.podMetricsEndpoints[0].relabelings")
        }
        assert relabel == {"component": component, "release": "archangel"}


def test_every_monitor_port_exists_on_the_service_it_selects(production: Manifest) -> None:
    assert check_service_monitors(production) == []
    for monitor in production.of_kind("ServiceMonitor"):
        selected = [
            s
            for s in production.of_kind("Service")
            if all(labels_of(s).get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
        ]
        assert len(selected) == 1, "a monitor must not scrape the public or headless Service too"


def test_qdrant_is_scraped_with_its_api_key(production: Manifest) -> None:
    qdrant = a.select(production, kind="ServiceMonitor", name="archangel-qdrant", match_many=False)
    a.length_equal(qdrant, "spec.endpoints", 1)
    a.equal(qdrant, "spec.endpoints[0].port", "http")
    a.equal(
        qdrant,
        "spec.endpoints[0].authorization",
        {"type": "Bearer", "credentials": {"name": "archangel-generated", "key": "qdrant-api-key"}},
    )


@pytest.mark.parametrize(
    ("kind", "check", "rule", "message"),
    [
        (
            "ServiceMonitor",
            check_service_monitors,
            "graph/servicemonitor-port",
            "'metrix' is not a port name of Service/",
        ),
        ("PodMonitor", check_pod_monitors, "graph/podmonitor-port", "'metrix' is not a container port of Cluster/"),
    ],
)
def test_a_broken_port_name_is_caught(
    production: Manifest, kind: str, check: Callable[[Manifest], list[Any]], rule: str, message: str
) -> None:
    assert check(production) == []
    start = production.text.index(f"kind: {kind}\n")  # the first monitor of that kind
    text = production.text[:start] + production.text[start:].replace("- port: metrics", "- port: metrix", 1)
    (problem,) = check(Manifest.parse(text))
    assert problem.rule == rule
    assert message in problem.message


def test_monitors_only_where_prometheus_operator_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if "monitoring.coreos.com" not in a]
    manifest = render_env("production", "archangel", api_versions=apis)
    assert manifest.of_kind("ServiceMonitor") == manifest.of_kind("PodMonitor") == []
