"""ServiceMonitors: one per component, selecting its metrics Service by label and its endpoint by port name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.manifest import labels_of
from archangel_helm.validate.graph import check_service_monitors

RenderEnv = Callable[..., Manifest]


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def test_one_monitor_per_component(production: Manifest) -> None:
    monitors = {m["metadata"]["name"]: m for m in production.of_kind("ServiceMonitor")}
    assert set(monitors) == {"archangel-core", "archangel-agents", "archangel-postgresql", "archangel-qdrant"}
    for monitor in monitors.values():
        assert labels_of(monitor)["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["archangel"]}


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
    (endpoint,) = production.get("ServiceMonitor", "archangel-qdrant")["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "archangel-generated", "key": "qdrant-api-key"},
    }


def test_a_broken_port_name_is_caught(production: Manifest) -> None:
    broken = Manifest.parse(production.text.replace("- port: metrics", "- port: metrix", 1))
    (problem,) = check_service_monitors(broken)
    assert problem.rule == "graph/servicemonitor-port"
    assert "'metrix' is not a port name of Service/" in problem.message


def test_monitors_only_where_prometheus_operator_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if "monitoring.coreos.com" not in a]
    assert render_env("production", "archangel", api_versions=apis).of_kind("ServiceMonitor") == []
