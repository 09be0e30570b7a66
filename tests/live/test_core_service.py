"""Core answers its readiness endpoint and holds at least 50 concurrent requests for about 10 s with P95 under
2 s, P99 under 5 s and under 1 % errors (archangel_helm.loadcheck), through a port-forward to its Service."""

from __future__ import annotations

import urllib.request

import pytest

from archangel_helm.loadcheck import LoadCheckConfig, Thresholds, format_summary, run_load_check
from tests.support.live_cluster import Kubectl, ReleaseUnderTest

pytestmark = pytest.mark.live

HEALTH_PATH = "/healthz/ready"
CONCURRENCY = 50
DURATION = 10.0
WARMUP = 1.0


def _core_service_port(kubectl: Kubectl, release: ReleaseUnderTest) -> int:
    service = kubectl.get("service", release.component("core"), release.namespace)
    assert service is not None, f"Service {release.namespace}/{release.component('core')} does not exist"
    return int(next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http"))


def test_core_readiness_endpoint_answers(kubectl: Kubectl, release: ReleaseUnderTest) -> None:
    port = _core_service_port(kubectl, release)
    with (
        kubectl.port_forward(release.namespace, f"service/{release.component('core')}", port) as local,
        urllib.request.urlopen(f"http://127.0.0.1:{local}{HEALTH_PATH}", timeout=10) as response,
    ):
        assert response.status == 200


def test_core_holds_50_concurrent_requests_within_the_latency_and_error_budget(
    kubectl: Kubectl, release: ReleaseUnderTest
) -> None:
    port = _core_service_port(kubectl, release)
    with kubectl.port_forward(release.namespace, f"service/{release.component('core')}", port) as local:
        result = run_load_check(
            LoadCheckConfig(
                f"http://127.0.0.1:{local}{HEALTH_PATH}",
                concurrency=CONCURRENCY,
                duration=DURATION,
                warmup=WARMUP,
                thresholds=Thresholds(p95=2.0, p99=5.0, error_rate=0.01),
            )
        )
    summary = format_summary(result)
    assert result.requests >= CONCURRENCY, summary
    assert result.passed, summary
