"""Every object of every values file the project ships, hooks included, sent to the real API server as a
server-side dry run: built-in schemas, the CRDs' structural schemas and CEL rules, defaulting and admission
(Pod Security `restricted` on the namespace) all judge it, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from archangel_helm.plan.shipped import ShippedValues
from tests.support.cluster_state import reset
from tests.support.local_cluster import LocalCluster
from tests.support.project import PROJECT, SHIPPED_VALUES

CLUSTER_SCOPED = {"StorageClass", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "VolumeSnapshotClass"}


@pytest.fixture(scope="module")
def namespaces(clean_cluster: LocalCluster) -> Iterator[LocalCluster]:
    for namespace in sorted({s.namespace for s in SHIPPED_VALUES}):
        clean_cluster.kubectl("create", "namespace", namespace)
        clean_cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    yield clean_cluster
    reset(clean_cluster)


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_the_api_server_accepts_every_object(namespaces: LocalCluster, shipped: ShippedValues) -> None:
    if not namespaces.has_crds:
        pytest.skip("no CRD manifests were installed in the local cluster: custom resources would be refused")
    manifest = shipped.render()
    documents = [obj for obj in manifest.objects if obj["kind"] != "Namespace"]  # created above, for real
    for obj in documents:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"].setdefault("namespace", shipped.namespace)
    result = namespaces.try_run(
        "kubectl",
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=archangel-tests",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(documents),
    )
    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(documents), result.stdout


@pytest.mark.parametrize("file", ["project.yaml", "root.yaml", "production.yaml", "staging.yaml"])
def test_the_api_server_accepts_the_argo_cd_manifests(namespaces: LocalCluster, file: str) -> None:
    """argocd/ against Argo CD's own CRDs (structural schemas and CEL rules), in the argocd namespace."""
    if not namespaces.has_crds:
        pytest.skip("no CRD manifests were installed in the local cluster")
    namespaces.try_run("kubectl", "create", "namespace", "argocd")
    result = namespaces.try_run(
        "kubectl", "apply", "--dry-run=server", "--server-side", "--field-manager=archangel-tests",
        "-f", str(PROJECT / "argocd" / file),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all((PROJECT / "argocd" / file).read_text()) if d]
    assert len([line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]) == len(documents)


def test_the_api_server_accepts_the_point_in_time_recovery_cluster(namespaces: LocalCluster) -> None:
    """Production's recovery Cluster (database.cloudnativepg.recovery), to a time and to an LSN: CloudNativePG's
    CRD and its CEL rules judge the bootstrap, the target and the plugin source."""
    if not namespaces.has_crds:
        pytest.skip("no CRD manifests were installed in the local cluster: custom resources would be refused")
    (production,) = [s for s in SHIPPED_VALUES if s.values_file.name == "production.yaml"]
    for target in ({"targetTime": "2026-12-04T10:30:00Z"}, {"targetLSN": "0/3000060"}):
        manifest = production.inputs.render({"database.cloudnativepg.recovery": {"enabled": True, **target}})
        recovery = manifest.get("Cluster", f"{production.release}-pg-recovery")
        recovery["metadata"]["namespace"] = production.namespace
        result = namespaces.try_run(
            "kubectl", "apply", "--dry-run=server", "--server-side", "--field-manager=archangel-tests", "-f", "-",
            stdin=yaml.safe_dump(recovery),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "(server dry run)" in result.stdout
