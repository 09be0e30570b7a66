"""Live-cluster tests: they need containers that really run (NetworkPolicy enforcement, probes, live metrics),
so they run in the GitHub workflow against kind; without such a cluster they skip, saying why (the local
control plane of tests/cluster simulates its nodes and does not count). pytest-helm-charts' kube_config fixture is overridden so a missing KUBECONFIG skips instead of
erroring. With ARCHANGEL_REQUIRE_LIVE_CLUSTER=1 (set by the install workflow) an unreachable cluster fails the
run instead, so CI can never pass on skipped cluster tests.

Which release is checked: ARCHANGEL_RELEASE (default archangel) in ARCHANGEL_NAMESPACE (default archangel);
ARCHANGEL_FULLNAME when the release sets fullnameOverride. Prometheus: ARCHANGEL_PROMETHEUS as
namespace/service:port (default monitoring/archangel-monitoring-prometheus:9090, the monitoring chart's
standalone Prometheus)."""

from __future__ import annotations

import os

import pytest

from tests.support.live_cluster import (
    REQUIRE_CLUSTER_ENV,
    Kubectl,
    ReleaseUnderTest,
    ServiceAddress,
    cluster_unavailable_reason,
)


@pytest.fixture(scope="module")
def kube_config() -> str:
    reason = cluster_unavailable_reason()
    if reason:
        if os.environ.get(REQUIRE_CLUSTER_ENV):
            pytest.fail(f"{REQUIRE_CLUSTER_ENV} is set but {reason}")
        pytest.skip(reason)
    return os.environ["KUBECONFIG"]


# --- the release under test -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def release() -> ReleaseUnderTest:
    return ReleaseUnderTest.from_environment()


@pytest.fixture(scope="session")
def prometheus_address() -> ServiceAddress:
    return ServiceAddress.parse(
        os.environ.get("ARCHANGEL_PROMETHEUS", "monitoring/archangel-monitoring-prometheus:9090")
    )


# --- kubectl, waiting and port-forwards -------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubectl(kube_config: str) -> Kubectl:
    return Kubectl(kube_config)
