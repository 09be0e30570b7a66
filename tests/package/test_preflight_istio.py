"""Preflight's Istio check: with istio.injection.enabled every pod is labelled for injection, and under restricted
Pod Security an injected pod is admitted only with the Istio CNI node agent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from archangel_helm.operate.checks import Status
from archangel_helm.operate.cluster import ClusterInfo
from archangel_helm.operate.preflight import _istio_injection

RESTRICTED = {"archangel": {"pod-security.kubernetes.io/enforce": "restricted"}}
INJECTED: dict[str, Any] = {"istio": {"injection": {"enabled": True}}}
BASE = ClusterInfo((1, 33), "v1.33.4", namespaces=RESTRICTED, istio_injector=True, istio_cni=True)


@pytest.mark.parametrize(
    ("cluster", "status", "words"),
    [
        (BASE, Status.PASS, "CNI node agent run"),
        (replace(BASE, istio_cni=False), Status.FAIL, "no Istio CNI node agent runs"),
        (replace(BASE, istio_cni=None), Status.WARN, "cannot read"),
        (replace(BASE, istio_injector=False, istio_cni=False), Status.WARN, "no Istio sidecar injector"),
        (replace(BASE, namespaces={"archangel": {}}, istio_cni=False), Status.PASS, "labelled for injection"),
    ],
)
def test_injection_under_restricted_pod_security_needs_the_cni_agent(
    cluster: ClusterInfo, status: Status, words: str
) -> None:
    (result,) = _istio_injection(INJECTED, cluster, "archangel")
    assert result.status is status
    assert words in result.detail


def test_a_namespace_the_chart_creates_counts_as_restricted() -> None:
    values = {**INJECTED, "namespace": {"create": True, "podSecurity": "restricted"}}
    (result,) = _istio_injection(values, replace(BASE, namespaces={}, istio_cni=False), "archangel")
    assert result.status is Status.FAIL


def test_nothing_to_check_without_injection() -> None:
    assert _istio_injection({"istio": {"injection": {"enabled": False}}}, BASE, "archangel") == []
