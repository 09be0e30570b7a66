"""The cluster suite's own logic, checked without a cluster: how it names the release's objects, reads an
HPA's status and parses the Prometheus address."""

from __future__ import annotations

from typing import Any

import pytest

from tests.live.test_workloads import _hpa_metrics_state
from tests.support.live_cluster import ReleaseUnderTest, ServiceAddress


@pytest.mark.parametrize(
    ("release", "fullname"),
    [("archangel", "archangel"), ("prod", "prod-archangel"), ("archangel-ct-7x2k9q", "archangel-ct-7x2k9q")],
)
def test_fullname_follows_the_chart(monkeypatch: pytest.MonkeyPatch, release: str, fullname: str) -> None:
    monkeypatch.setenv("ARCHANGEL_RELEASE", release)
    monkeypatch.delenv("ARCHANGEL_FULLNAME", raising=False)
    under_test = ReleaseUnderTest.from_environment()
    assert under_test.fullname == fullname
    assert under_test.component("core") == f"{fullname}-core"
    assert under_test.selector == f"app.kubernetes.io/instance={release}"


def test_prometheus_address_is_namespace_service_port() -> None:
    assert ServiceAddress.parse("monitoring/prom:9090") == ServiceAddress("monitoring", "prom", 9090)
    with pytest.raises(ValueError, match="expected namespace/service:port"):
        ServiceAddress.parse("prom:9090")


def _hpa(current: list[dict[str, Any]], active: str = "True") -> dict[str, Any]:
    return {
        "spec": {"metrics": [{"type": "Resource"}, {"type": "Resource"}]},
        "status": {"currentMetrics": current, "conditions": [{"type": "ScalingActive", "status": active}]},
    }


def test_hpa_with_every_metric_read_is_reporting() -> None:
    current = [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 3, "averageValue": "2m"}}},
        {"type": "Resource", "resource": {"name": "memory", "current": {"averageUtilization": 41}}},
    ]
    ok, state = _hpa_metrics_state(_hpa(current))
    assert ok, state
    assert "2/2 metrics with values [3, 41]" in state


@pytest.mark.parametrize(
    "current",
    [
        [],
        [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 3}}}],
        [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 3}}}, {"type": ""}],
    ],
    ids=["no-metrics", "one-missing", "one-unknown"],
)
def test_hpa_with_an_unknown_metric_is_not_reporting(current: list[dict[str, Any]]) -> None:
    ok, _ = _hpa_metrics_state(_hpa(current))
    assert not ok
