"""The cluster layer: both charts on a real control plane (kube-apiserver, kube-controller-manager,
kube-scheduler and etcd built from tools/cluster) whose six nodes across three zones kwok simulates.

The files form two groups, each with a control plane of its own (tests/support/local_cluster.py), run by two
pytest-xdist workers side by side, each group in file order. Each module that installs something starts from an empty cluster
(`clean_cluster`) and leaves one. What kwok cannot show (NetworkPolicy enforcement, probes, metrics) is in
tests/live, on kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cluster_state import reset
from tests.support.local_cluster import LocalCluster, group_of, start
from tests.support.project import PROJECT


@pytest.fixture(scope="module")
def local_cluster(request: pytest.FixtureRequest) -> LocalCluster:
    """The control plane of this module's group (tests/support/local_cluster.py): started by the first module
    that asks for it, reused by the next."""
    return start(PROJECT, group=group_of(request.path))


@pytest.fixture(scope="module")
def kube_config(local_cluster: LocalCluster) -> str:
    """pytest-helm-charts' fixture, pointed at the local cluster (its kube_cluster fixture builds on it)."""
    return str(local_cluster.kubeconfig)


@pytest.fixture(scope="module")
def clean_cluster(local_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """An empty cluster for the module (no releases, namespaces or chart-made cluster objects), and again after."""
    reset(local_cluster)
    yield local_cluster
    reset(local_cluster)
