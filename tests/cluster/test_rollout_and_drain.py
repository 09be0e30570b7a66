"""Production's rollouts and node drains on a three-node, three-zone cluster (the local cluster with the second
node of each zone cordoned), with production's anti-affinity (core: one pod per node, surge 1, maxUnavailable
0). Before `matchLabelKeys: [pod-template-hash]`, the surge pod of a core rollout had nowhere to go and the
rollout stalled at its deadline; kubectl drain goes through the eviction API, which honours every PDB."""

from __future__ import annotations

import json

import pytest
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.k8s.stateful_set import wait_for_stateful_sets_to_run

from archangel_helm.localcluster.settings import default_nodes
from archangel_helm.plan.environments import load_environment
from tests.support.local_cluster import LocalCluster, cluster_values
from tests.support.project import PROJECT

NAMESPACE = "archangel"
DEPLOYMENTS = ["archangel-core", "archangel-agents"]
# Production's PostgreSQL is a CloudNativePG Cluster: its pods are the operator's (none run on this cluster).
STATEFUL_SETS = ["archangel-qdrant"]
THREE_NODES = [spec.name for spec in default_nodes() if spec.index == 1]  # one per zone
TIMEOUT = 180


@pytest.fixture(scope="module")
def production(clean_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> LocalCluster:
    release = load_environment(PROJECT, "production").with_example_values().release("archangel")
    inputs = release.inputs().with_values(cluster_values(clean_cluster, tmp_path_factory.mktemp("rollout")))
    clean_cluster.kubectl("create", "namespace", NAMESPACE)
    clean_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    for node in (spec.name for spec in default_nodes() if spec.index != 1):
        clean_cluster.kubectl("cordon", node)
    install = ["helm", "install", release.name, str(release.chart), "-n", NAMESPACE, "--wait", "--timeout", "5m"]
    clean_cluster.run(*install, *inputs.values_args())
    return clean_cluster


def settled(kube_cluster: Cluster) -> None:
    """Every Deployment and StatefulSet of the release at its desired scale and newest generation."""
    client = kube_cluster.kube_client
    assert client is not None
    wait_for_deployments_to_run(client, DEPLOYMENTS, NAMESPACE, TIMEOUT)
    wait_for_stateful_sets_to_run(client, STATEFUL_SETS, NAMESPACE, TIMEOUT)


def core_nodes(cluster: LocalCluster) -> list[str]:
    """The nodes core's scheduled pods run on (a Pending replacement has none)."""
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=core", "-o", "json")
    )["items"]
    return sorted(
        p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
    )


def test_core_and_agents_roll_out_on_three_nodes(production: LocalCluster, kube_cluster: Cluster) -> None:
    settled(kube_cluster)
    assert core_nodes(production) == sorted(THREE_NODES)  # every schedulable node holds a core pod
    for deployment in DEPLOYMENTS:
        production.kubectl("rollout", "restart", f"deployment/{deployment}", "-n", NAMESPACE)
        production.kubectl("rollout", "status", f"deployment/{deployment}", "-n", NAMESPACE, f"--timeout={TIMEOUT}s")
    settled(kube_cluster)
    assert core_nodes(production) == sorted(THREE_NODES)


def test_draining_each_node_finishes_and_the_eviction_api_honours_the_pdbs(
    production: LocalCluster, kube_cluster: Cluster
) -> None:
    drain = ["kubectl", "drain", "--ignore-daemonsets", "--delete-emptydir-data"]
    first, second, third = THREE_NODES
    settled(kube_cluster)
    production.run(*drain, first, f"--timeout={TIMEOUT}s")
    # core's replacement cannot land (the other two nodes hold core pods): its PDB now allows no eviction,
    # and a second drain is refused by the eviction API instead of taking core down to one pod.
    budget = json.loads(production.kubectl("get", "pdb", "archangel-core", "-n", NAMESPACE, "-o", "json"))
    assert budget["status"]["disruptionsAllowed"] == 0
    refused = production.try_run(*drain, second, "--timeout=20s")
    assert refused.returncode != 0
    assert "would violate the pod's disruption budget" in refused.stderr
    assert len(core_nodes(production)) == 2
    production.kubectl("uncordon", first, second)  # the refused drain had cordoned the second node too
    for node in (second, third):  # node maintenance one at a time, each back in service before the next
        settled(kube_cluster)
        production.run(*drain, node, f"--timeout={TIMEOUT}s")
        production.kubectl("uncordon", node)
    settled(kube_cluster)
    assert core_nodes(production) == sorted(THREE_NODES)
