"""Preflight's CloudNativePG discovery against the real API server: the operator's Deployment and the Barman
Cloud plugin's registration Service, read as `deploy` reads them (inert stand-ins: tests/support/cloudnativepg.py),
and `deploy production` refusing to install a Cluster that no operator would run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from archangel_helm.operate.cluster import discover
from archangel_helm.operate.connect import connect
from archangel_helm.plan.environments import load_environment
from tests.support.cloudnativepg import install_stand_ins
from tests.support.cluster_state import reset
from tests.support.local_cluster import LocalCluster, cluster_values
from tests.support.project import PROJECT


@pytest.fixture
def cluster(clean_cluster: LocalCluster) -> Iterator[LocalCluster]:
    yield clean_cluster
    reset(clean_cluster)


def test_discovery_reads_the_operator_and_the_plugin(cluster: LocalCluster) -> None:
    client = connect(str(cluster.kubeconfig), None)
    before = discover(client)
    assert (before.cnpg_operator, before.barman_cloud_plugin) == (False, False)
    install_stand_ins(cluster)
    after = discover(client)
    assert (after.cnpg_operator, after.barman_cloud_plugin) == (True, True)


def test_deploy_production_without_the_operator_stops_at_preflight(cluster: LocalCluster, tmp_path: Path) -> None:
    environment = load_environment(PROJECT, "production").with_example_values()
    for namespace in sorted({r.namespace for r in environment.releases}):
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    command = ["archangel-helm", "deploy", "production", "--example-values", "--report-dir", str(tmp_path)]
    command += ["--values", f"archangel={cluster_values(cluster, tmp_path)}"]
    command += ["--allow-missing-api", "metrics.k8s.io/v1beta1", "--allow-missing-api", "custom.metrics.k8s.io/v1beta1"]
    done = cluster.try_run(*command, timeout=600)
    assert done.returncode != 0
    report = json.loads((tmp_path / "report.json").read_text())
    failed = {c["name"]: c["detail"] for c in report["checks"] if c["status"] == "fail"}
    assert failed["database.mode: cloudnativepg operator"].startswith("the CloudNativePG operator is not installed")
    assert "database.cloudnativepg.backup: Barman Cloud plugin" in failed
    assert json.loads(cluster.helm("list", "-A", "--output", "json")) == []  # nothing was installed
