"""Istio: timeouts and safe retries, connection pools and the circuit breaker, strict mTLS that still lets
Prometheus scrape, and fault injection kept to a separate, off-by-default object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, RenderError
from archangel_helm.validate.selectors import selected_pod_templates

RenderEnv = Callable[..., Manifest]
CORE_HOST = "archangel-core.archangel.svc.cluster.local"


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def test_virtual_service_retries_posts_only_when_core_never_saw_them(production: Manifest) -> None:
    spec = production.get("VirtualService", "archangel-core")["spec"]
    assert spec["hosts"] == [CORE_HOST]
    idempotent, default = spec["http"]
    assert idempotent["match"] == [{"method": {"regex": "^(GET|HEAD|OPTIONS)$"}}]
    assert idempotent["retries"]["retryOn"] == "connect-failure,refused-stream,reset,gateway-error"
    assert "match" not in default
    assert default["retries"] == {"attempts": 2, "perTryTimeout": "10s", "retryOn": "connect-failure,refused-stream"}
    for route in spec["http"]:
        assert route["timeout"] == "30s"
        assert route["route"] == [{"destination": {"host": CORE_HOST, "port": {"number": 80}}}]
        assert "fault" not in route


@pytest.mark.parametrize("unsafe", ["5xx", "reset", "gateway-error", "retriable-4xx"])
def test_unsafe_retry_conditions_for_posts_are_refused(render_env: RenderEnv, unsafe: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", {"istio.virtualService.retries.retryOn": f"connect-failure,{unsafe}"})
    assert (
        f'istio.virtualService.retries.retryOn contains "{unsafe}", which can retry a POST' in caught.value.helm_message
    )


def test_destination_rule_balances_and_ejects_failing_pods(production: Manifest) -> None:
    policy = production.get("DestinationRule", "archangel-core")["spec"]["trafficPolicy"]
    assert policy["loadBalancer"] == {"simple": "LEAST_REQUEST"}
    assert policy["connectionPool"]["tcp"] == {"maxConnections": 1000, "connectTimeout": "5s"}
    assert policy["connectionPool"]["http"]["http2MaxRequests"] == 1000
    assert policy["outlierDetection"] == {
        "consecutive5xxErrors": 5,
        "consecutiveGatewayErrors": 3,
        "interval": "10s",
        "baseEjectionTime": "30s",
        "maxEjectionPercent": 34,
        "minHealthPercent": 50,
    }
    assert policy["tls"] == {"mode": "ISTIO_MUTUAL"}


def test_strict_mtls_keeps_metrics_ports_scrapeable(production: Manifest) -> None:
    policy = production.get("PeerAuthentication", "archangel-mesh")["spec"]
    assert policy["mtls"] == {"mode": "STRICT"}
    assert policy["portLevelMtls"] == {"9090": {"mode": "PERMISSIVE"}, "9187": {"mode": "PERMISSIVE"}}
    selected = {t.owner_name for t in selected_pod_templates(policy["selector"], production.pod_templates())}
    assert {"archangel-core", "archangel-agents", "archangel-postgresql", "archangel-qdrant"} <= selected
    metrics_ports = {
        p["containerPort"]
        for t in production.pod_templates()
        for c in t.containers()
        for p in c.get("ports", [])
        if p.get("name") == "metrics"
    }
    assert metrics_ports == {int(port) for port in policy["portLevelMtls"]}


def test_no_fault_injection_in_production(production: Manifest) -> None:
    assert production.find("VirtualService", "archangel-core-chaos") is None


def test_chaos_virtual_service_is_separate_and_replaces_the_main_one(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "istio.virtualService.enabled": False,
            "istio.chaos": {
                "enabled": True,
                "delay": {"percentage": 10, "fixedDelay": "3s"},
                "abort": {"percentage": 5, "httpStatus": 503},
            },
        },
    )
    assert manifest.find("VirtualService", "archangel-core") is None
    (route,) = manifest.get("VirtualService", "archangel-core-chaos")["spec"]["http"]
    assert route["fault"] == {
        "delay": {"percentage": {"value": 10}, "fixedDelay": "3s"},
        "abort": {"percentage": {"value": 5}, "httpStatus": 503},
    }


def test_chaos_next_to_the_main_virtual_service_is_refused(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", {"istio.chaos.enabled": True})
    assert "istio.chaos.enabled and istio.virtualService.enabled are both true" in caught.value.helm_message


def test_istio_objects_render_only_where_istio_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if "istio.io" not in a]
    manifest = render_env("production", "archangel", api_versions=apis)
    assert [o for o in manifest if "istio.io" in o["apiVersion"]] == []
