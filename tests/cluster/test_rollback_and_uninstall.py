"""Rollback returns the release to an earlier revision; uninstall removes everything but what the chart keeps
on purpose (the data volumes' claims, the generated Secret with their credentials and keys, the StorageClasses
those volumes name), and a new install in the same place takes the kept claims and Secret back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from archangel_helm.plan.environments import load_environment
from tests.support.local_cluster import LocalCluster, cluster_values
from tests.support.project import PROJECT
from tests.support.secrets_hook import helm_hook_spec, run_the_secrets_hook

NAMESPACE = "archangel"
RELEASE = "archangel"
CLAIMS = {f"storage-archangel-qdrant-{n}" for n in range(3)}  # production runs Qdrant distributed, 3 nodes
KEPT_SECRETS = {"archangel-generated"}
# Production's PostgreSQL: the CloudNativePG Cluster, which owns its instances' volumes, stays (resource-policy
# keep) and is adopted again by the next install.
KEPT_DATA = {("Cluster", "archangel-postgresql")}
KEPT_CLASSES = {"fast-ssd", "standard-ssd", "scratch-ssd"}
# What every namespace holds whoever installs into it: not the release's.
NAMESPACE_DEFAULTS = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


@pytest.fixture(scope="module")
def install(clean_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    release = load_environment(PROJECT, "production").with_example_values().release(RELEASE)
    overlay = cluster_values(clean_cluster, tmp_path_factory.mktemp("rollback"))
    values = release.inputs().with_values(overlay).values_args()
    clean_cluster.kubectl("create", "namespace", NAMESPACE)
    clean_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    command = ["install", RELEASE, str(release.chart), "-n", NAMESPACE, *values, "--wait", "--timeout", "5m"]
    clean_cluster.helm(*command)
    return command


def replicas(cluster: LocalCluster) -> int:
    deployment = json.loads(cluster.kubectl("get", "deployment", "archangel-core", "-n", NAMESPACE, "-o", "json"))
    return int(deployment["spec"]["replicas"])


def test_rollback_returns_to_the_earlier_revision(
    install: list[str], local_cluster: LocalCluster, kube_cluster: Cluster
) -> None:
    upgrade = ["upgrade", *install[1:], "--set", "core.replicas=4"]
    local_cluster.helm(*upgrade)
    assert replicas(local_cluster) == 4
    local_cluster.helm("rollback", RELEASE, "1", "-n", NAMESPACE, "--wait", "--timeout", "5m")
    assert replicas(local_cluster) == 3
    assert kube_cluster.kube_client is not None
    wait_for_deployments_to_run(kube_cluster.kube_client, ["archangel-core"], NAMESPACE, 120)
    history = json.loads(local_cluster.helm("history", RELEASE, "-n", NAMESPACE, "--output", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert history[-1]["description"] == "Rollback to 1"


def namespaced_objects(cluster: LocalCluster) -> set[tuple[str, str]]:
    kinds = cluster.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").split()
    listed = json.loads(
        cluster.kubectl(
            "get",
            ",".join(k for k in kinds if k != "events" and not k.startswith("events.")),
            "-n",
            NAMESPACE,
            "-o",
            "json",
        )
    )
    return {(o["kind"], o["metadata"]["name"]) for o in listed["items"]}


def test_uninstall_keeps_only_the_data_and_its_keys_and_a_new_install_takes_them_back(
    install: list[str], local_cluster: LocalCluster, tmp_path: Path
) -> None:
    run_the_secrets_hook(local_cluster, helm_hook_spec(local_cluster, RELEASE, NAMESPACE), NAMESPACE, tmp_path)
    keys = json.loads(local_cluster.kubectl("get", "secret", "archangel-generated", "-n", NAMESPACE, "-o", "json"))
    volumes = {
        c["metadata"]["name"]: c["spec"]["volumeName"]
        for c in json.loads(local_cluster.kubectl("get", "pvc", "-n", NAMESPACE, "-o", "json"))["items"]
    }
    assert set(volumes) == CLAIMS
    local_cluster.helm("uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m")
    left = namespaced_objects(local_cluster) - NAMESPACE_DEFAULTS
    assert left == {("PersistentVolumeClaim", c) for c in CLAIMS} | {("Secret", s) for s in KEPT_SECRETS} | KEPT_DATA
    classes = set(
        local_cluster.kubectl("get", "storageclasses", "-o", "name").replace("storageclass.storage.k8s.io/", "").split()
    )
    assert classes - {"gp3"} == KEPT_CLASSES
    priority = local_cluster.kubectl("get", "priorityclasses", "-o", "name")
    assert "archangel-critical" not in priority
    # Installed again in the same place: the StatefulSets find their claims, bound to the same volumes.
    local_cluster.helm(*install)
    kept = json.loads(local_cluster.kubectl("get", "secret", "archangel-generated", "-n", NAMESPACE, "-o", "json"))
    assert kept["data"] == keys["data"]  # the same credentials and backup keys
    again = {
        c["metadata"]["name"]: c["spec"]["volumeName"]
        for c in json.loads(local_cluster.kubectl("get", "pvc", "-n", NAMESPACE, "-o", "json"))["items"]
    }
    assert again == volumes
