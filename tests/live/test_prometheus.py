"""Monitoring sees the release: every active Prometheus target is up (the release's own among them) and no
critical alert is firing. Prometheus is reached through a port-forward to ARCHANGEL_PROMETHEUS
(namespace/service:port); where that Service does not exist the tests skip, naming it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.live_cluster import Kubectl, ReleaseUnderTest, ServiceAddress, wait_for

pytestmark = pytest.mark.live

SCRAPE_TIMEOUT = 180  # two scrape intervals and then some


@pytest.fixture(scope="module")
def prometheus(kubectl: Kubectl, prometheus_address: ServiceAddress) -> Iterator[str]:
    where = f"{prometheus_address.namespace}/{prometheus_address.service}"
    if kubectl.get("service", prometheus_address.service, prometheus_address.namespace) is None:
        pytest.skip(f"no Prometheus Service {where} (set ARCHANGEL_PROMETHEUS=namespace/service:port)")
    with kubectl.port_forward(
        prometheus_address.namespace, f"service/{prometheus_address.service}", prometheus_address.port
    ) as port:
        yield f"http://127.0.0.1:{port}"


def _api(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as response:
        body = json.load(response)
    assert body.get("status") == "success", body
    return body["data"]


def _namespace_of(target: dict[str, Any]) -> str | None:
    labels = target.get("labels") or {}
    discovered = target.get("discoveredLabels") or {}
    namespace = labels.get("namespace") or discovered.get("__meta_kubernetes_namespace")
    return str(namespace) if namespace else None


def test_every_active_target_is_up_including_the_releases(prometheus: str, release: ReleaseUnderTest) -> None:
    def probe() -> tuple[list[dict[str, Any]] | None, str]:
        targets: list[dict[str, Any]] = _api(prometheus, "/api/v1/targets?state=active")["activeTargets"]
        ours = [t for t in targets if _namespace_of(t) == release.namespace]
        unknown = [t["scrapeUrl"] for t in targets if t.get("health") == "unknown"]
        settled = ours and not unknown
        return (targets if settled else None), f"{len(ours)} targets in {release.namespace}, not yet scraped: {unknown}"

    targets = wait_for(f"Prometheus to scrape the targets in {release.namespace}", probe, SCRAPE_TIMEOUT)
    down = [
        f"{t['labels'].get('job')} {t['scrapeUrl']}: {t.get('lastError') or t.get('health')}"
        for t in targets
        if t.get("health") != "up"
    ]
    assert down == []


def test_no_critical_alert_is_firing(prometheus: str) -> None:
    alerts: list[dict[str, Any]] = _api(prometheus, "/api/v1/alerts")["alerts"]
    firing = [
        f"{a['labels'].get('alertname')} {dict(sorted(a['labels'].items()))}"
        for a in alerts
        if a.get("state") == "firing" and a["labels"].get("severity") == "critical"
    ]
    assert firing == []
