"""The release's workloads as the cluster runs them: every Deployment and StatefulSet ready, limits on every
running container, the agents' HPA reading its metrics, PodDisruptionBudgets that allow a voluntary
disruption, and endpoints behind every Service."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.k8s.stateful_set import wait_for_stateful_sets_to_run

from tests.support.live_cluster import Kubectl, ReleaseUnderTest, wait_for

pytestmark = pytest.mark.live

READY_TIMEOUT = 600
METRICS_TIMEOUT = 300  # metrics-server reports a pod about a minute after it starts
SETTLE_TIMEOUT = 180


def _names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in items)


def test_every_deployment_and_statefulset_of_the_release_is_ready(
    kube_cluster: Cluster, kubectl: Kubectl, release: ReleaseUnderTest
) -> None:
    deployments = _names(kubectl.items("deployments", release.namespace, release.selector))
    stateful_sets = _names(kubectl.items("statefulsets", release.namespace, release.selector))
    assert deployments, f"no Deployments labelled {release.selector} in {release.namespace}: is the release installed?"
    assert release.component("core") in deployments
    assert release.component("agents") in deployments
    client = kube_cluster.kube_client
    assert client is not None
    wait_for_deployments_to_run(client, deployments, release.namespace, READY_TIMEOUT, missing_ok=False)
    if stateful_sets:
        wait_for_stateful_sets_to_run(client, stateful_sets, release.namespace, READY_TIMEOUT, missing_ok=False)
    not_ready = [
        f"{item['kind']}/{item['metadata']['name']}: {item['status'].get('readyReplicas', 0)}/{item['spec']['replicas']}"
        for kind in ("deployments", "statefulsets")
        for item in kubectl.items(kind, release.namespace, release.selector)
        if item["status"].get("readyReplicas", 0) != item["spec"]["replicas"]
    ]
    assert not_ready == []


def test_every_running_container_has_resource_limits(kubectl: Kubectl, release: ReleaseUnderTest) -> None:
    pods = [p for p in kubectl.items("pods", release.namespace, release.selector) if p["status"]["phase"] == "Running"]
    assert pods, f"no running pods labelled {release.selector} in {release.namespace}"
    missing = [
        f"{pod['metadata']['name']}/{container['name']}: limits {container.get('resources', {}).get('limits')}"
        for pod in pods
        for container in pod["spec"]["containers"]
        if not (container.get("resources", {}).get("limits") or {}).get("memory")
    ]
    assert missing == [], "containers without a memory limit"
    requests_missing = [
        f"{pod['metadata']['name']}/{container['name']}"
        for pod in pods
        for container in pod["spec"]["containers"]
        if not {"cpu", "memory"} <= set(container.get("resources", {}).get("requests") or {})
    ]
    assert requests_missing == [], "containers without CPU and memory requests (the HPA's utilisation base)"


def _hpa_metrics_state(hpa: dict[str, Any]) -> tuple[bool, str]:
    """Whether every metric the HPA declares has a current value (what `kubectl get hpa` shows instead of
    <unknown>), and a description of what it reports."""
    declared = hpa["spec"].get("metrics") or []
    current = hpa.get("status", {}).get("currentMetrics") or []
    values = []
    for metric in current:
        # {"type": "Resource", "resource": {"current": {...}}}; a metric the HPA cannot read has an empty type.
        kind = metric.get("type") or ""
        body = (metric.get(kind[:1].lower() + kind[1:]) or {}) if kind else {}
        reading = body.get("current") or {}
        values.append(reading.get("averageUtilization", reading.get("averageValue", reading.get("value"))))
    conditions = {c["type"]: c["status"] for c in hpa.get("status", {}).get("conditions") or []}
    ok = (
        len(current) == len(declared) > 0
        and all(v is not None for v in values)
        and conditions.get("ScalingActive") == "True"
    )
    return ok, f"{len(current)}/{len(declared)} metrics with values {values}, conditions {conditions}"


def test_the_agents_hpa_reports_current_metrics(kubectl: Kubectl, release: ReleaseUnderTest) -> None:
    name = release.component("agents")
    if kubectl.get("horizontalpodautoscaler", name, release.namespace) is None:
        pytest.fail(f"HorizontalPodAutoscaler {release.namespace}/{name} does not exist (agents.autoscaling.enabled)")

    def probe() -> tuple[bool | None, str]:
        hpa = kubectl.get("horizontalpodautoscaler", name, release.namespace)
        assert hpa is not None
        ok, state = _hpa_metrics_state(hpa)
        return (True if ok else None), state

    wait_for(f"HPA {name} to report every metric", probe, METRICS_TIMEOUT)


def test_pod_disruption_budgets_allow_a_voluntary_disruption(kubectl: Kubectl, release: ReleaseUnderTest) -> None:
    budgets = _names(kubectl.items("poddisruptionbudgets", release.namespace, release.selector))
    assert release.component("core") in budgets
    assert release.component("agents") in budgets

    def probe() -> tuple[bool | None, str]:
        items = kubectl.items("poddisruptionbudgets", release.namespace, release.selector)
        allowed = {i["metadata"]["name"]: i.get("status", {}).get("disruptionsAllowed", 0) for i in items}
        return (True if all(v >= 1 for v in allowed.values()) else None), f"disruptionsAllowed {allowed}"

    wait_for("every PDB to allow at least one disruption", probe, SETTLE_TIMEOUT)


def test_every_service_has_ready_endpoints(kubectl: Kubectl, release: ReleaseUnderTest) -> None:
    services = [s for s in kubectl.items("services", release.namespace, release.selector) if s["spec"].get("selector")]
    assert services, f"no Services labelled {release.selector} in {release.namespace}"

    def probe() -> tuple[bool | None, str]:
        slices = kubectl.items("endpointslices", release.namespace)
        ready: dict[str, int] = {}
        for item in slices:
            service = item["metadata"].get("labels", {}).get("kubernetes.io/service-name")
            count = sum(1 for e in item.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))
            ready[service] = ready.get(service, 0) + count
        empty = sorted(s["metadata"]["name"] for s in services if ready.get(s["metadata"]["name"], 0) == 0)
        return (True if not empty else None), f"Services without a ready endpoint: {empty}"

    wait_for("a ready endpoint behind every Service", probe, SETTLE_TIMEOUT)
