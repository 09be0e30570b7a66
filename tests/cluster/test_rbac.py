"""The in-cluster jobs' Roles against real RBAC: the secrets hook and the volume-snapshot job run their real
code as their own ServiceAccount (a TokenRequest token, as their pods would get), and everything outside their
Role is Forbidden."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.core.manifest import name_of
from archangel_helm.plan.environments import load_environment
from tests.support.local_cluster import LocalCluster, cluster_values, service_account_kubeconfig
from tests.support.project import PROJECT

NAMESPACE = "archangel"
HOOK = "archangel-secrets-hook"
SNAPSHOTS = "archangel-volume-snapshots"
GENERATED = "archangel-generated"


@pytest.fixture(scope="module")
def production(clean_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    inputs = load_environment(PROJECT, "production").with_example_values().inputs("archangel")
    work = tmp_path_factory.mktemp("rbac")
    manifest = inputs.with_values(cluster_values(clean_cluster, work)).render(namespace=NAMESPACE)
    clean_cluster.kubectl("create", "namespace", NAMESPACE)
    clean_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    return manifest


def apply(cluster: LocalCluster, objects: list[dict[str, Any]]) -> None:
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=yaml.safe_dump_all(objects))


def identity_objects(manifest: Manifest, name: str) -> list[dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding of one job, as the chart renders them (hooks included: Helm
    creates those before the hook Job and deletes them after it)."""
    return [manifest.get(kind, name) for kind in ("ServiceAccount", "Role", "RoleBinding")]


def can(cluster: LocalCluster, kubeconfig: Path, verb: str, resource: str) -> bool:
    result = cluster.try_run("kubectl", f"--kubeconfig={kubeconfig}", "auth", "can-i", verb, resource, "-n", NAMESPACE)
    return result.stdout.strip() == "yes"


def as_account(kubeconfig: Path, *command: str) -> list[str]:
    """The command with KUBECONFIG set to the ServiceAccount's: the code runs as its pod would."""
    return ["env", f"KUBECONFIG={kubeconfig}", *command]


def run_hook(cluster: LocalCluster, kubeconfig: Path, spec: Path) -> None:
    hook = [sys.executable, "-m", "archangel_helm.hooks.secrets", "--spec", str(spec), "--namespace", NAMESPACE]
    cluster.run(*as_account(kubeconfig, *hook))


def hook_as_its_account(cluster: LocalCluster, manifest: Manifest, workdir: Path) -> tuple[Path, Path]:
    """The hook's ServiceAccount, Role and RoleBinding as the release renders them, a kubeconfig with that
    account's token, and the spec the hook's ConfigMap carries: (kubeconfig, spec file)."""
    apply(cluster, identity_objects(manifest, HOOK))
    kubeconfig = service_account_kubeconfig(cluster, HOOK, NAMESPACE, workdir)
    spec = workdir / "spec.json"
    spec.write_text(manifest.get("ConfigMap", HOOK)["data"]["spec.json"])
    return kubeconfig, spec


def generated_data(cluster: LocalCluster) -> dict[str, str]:
    secret = json.loads(cluster.kubectl("get", "secret", GENERATED, "-n", NAMESPACE, "-o", "json"))
    data: dict[str, str] = secret["data"]
    return data


def test_the_secrets_hook_creates_once_and_never_changes_a_key(
    production: Manifest, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    kubeconfig, spec = hook_as_its_account(local_cluster, production, tmp_path)
    keys = {k["name"] for k in json.loads(spec.read_text())["keys"]}
    run_hook(local_cluster, kubeconfig, spec)
    first = generated_data(local_cluster)
    assert set(first) == keys
    run_hook(local_cluster, kubeconfig, spec)
    assert generated_data(local_cluster) == first  # a second run changes nothing
    removed = sorted(keys)[0]
    local_cluster.kubectl(
        "patch",
        "secret",
        GENERATED,
        "-n",
        NAMESPACE,
        "--type=json",
        "-p",
        json.dumps([{"op": "remove", "path": f"/data/{removed}"}]),
    )
    run_hook(local_cluster, kubeconfig, spec)
    again = generated_data(local_cluster)
    assert set(again) == keys
    assert {k: v for k, v in again.items() if k != removed} == {k: v for k, v in first.items() if k != removed}
    assert again[removed] != first[removed]  # only the missing key was generated, anew


def test_the_secrets_hook_identity_can_do_nothing_else(
    production: Manifest, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    apply(local_cluster, identity_objects(production, HOOK))
    kubeconfig = service_account_kubeconfig(local_cluster, HOOK, NAMESPACE, tmp_path)
    assert can(local_cluster, kubeconfig, "create", "secrets")
    assert can(local_cluster, kubeconfig, "get", f"secrets/{GENERATED}")
    assert can(local_cluster, kubeconfig, "patch", f"secrets/{GENERATED}")
    for verb, resource in [
        ("list", "secrets"),
        ("get", "secrets/archangel-other"),
        ("patch", "secrets/archangel-other"),
        ("delete", f"secrets/{GENERATED}"),
        ("update", f"secrets/{GENERATED}"),
        ("get", "pods"),
        ("create", "configmaps"),
        ("create", "pods"),
    ]:
        assert not can(local_cluster, kubeconfig, verb, resource), f"{verb} {resource}"
    refused = local_cluster.try_run("kubectl", f"--kubeconfig={kubeconfig}", "get", "secrets", "-n", NAMESPACE)
    assert "Forbidden" in refused.stderr
    assert f'User "system:serviceaccount:{NAMESPACE}:{HOOK}" cannot list resource "secrets"' in refused.stderr


@pytest.fixture(scope="module")
def staging(production: Manifest) -> Manifest:
    """Staging rendered into the same namespace (which `production` creates): builtin PostgreSQL and Qdrant and
    no cert-manager, so the hook makes the data tier's CA and server certificates."""
    return load_environment(PROJECT, "staging").with_example_values().inputs("archangel").render(namespace=NAMESPACE)


def test_the_secrets_hook_makes_the_data_tier_certificates_once_with_its_own_role(
    staging: Manifest, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    kubeconfig, spec = hook_as_its_account(local_cluster, staging, tmp_path)
    certificates = json.loads(spec.read_text())["certificates"]
    servers = [s["secret"] for s in certificates["servers"]]
    assert servers == ["archangel-postgresql-tls", "archangel-qdrant-tls"]
    run_hook(local_cluster, kubeconfig, spec)

    def stored() -> dict[str, dict[str, Any]]:
        return {
            name: json.loads(local_cluster.kubectl("get", "secret", name, "-n", NAMESPACE, "-o", "json"))
            for name in [certificates["ca"]["secret"], *servers]
        }

    first = stored()
    assert set(first[certificates["ca"]["secret"]]["data"]) == {"ca.crt", "ca.key"}
    for name in servers:
        # The API server checks a kubernetes.io/tls Secret holds tls.crt and tls.key.
        assert first[name]["type"] == "kubernetes.io/tls"
        assert set(first[name]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    run_hook(local_cluster, kubeconfig, spec)
    assert {n: s["metadata"]["resourceVersion"] for n, s in stored().items()} == {
        n: s["metadata"]["resourceVersion"] for n, s in first.items()
    }  # nothing was written the second time
    for name in servers:
        assert can(local_cluster, kubeconfig, "patch", f"secrets/{name}")
    assert not can(local_cluster, kubeconfig, "get", "secrets/archangel-postgresql")


def test_the_volume_snapshot_job_snapshots_and_prunes_with_its_own_role_only(
    production: Manifest, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    if not local_cluster.has_crds:
        pytest.skip("no CRD manifests (VolumeSnapshot) were installed in the local cluster")
    apply(local_cluster, identity_objects(production, SNAPSHOTS))
    # The data claims the job snapshots, as the StatefulSets would have created them (production's PostgreSQL is a
    # CloudNativePG Cluster: its recovery points are the WAL archive and base backups, not volume snapshots).
    claims: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": f"data-{name}-0",
                "labels": production.get("StatefulSet", name)["spec"]["selector"]["matchLabels"],
            },
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }
        for name in sorted(name_of(sts) for sts in production.of_kind("StatefulSet"))
    ]
    assert claims
    apply(local_cluster, claims)
    kubeconfig = service_account_kubeconfig(local_cluster, SNAPSHOTS, NAMESPACE, tmp_path)
    job = production.get("CronJob", SNAPSHOTS)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    command = [*job.get("command", []), *job.get("args", [])]
    assert command[:3] == ["archangel-helm", "backup", "snapshots"]
    local_cluster.run(*as_account(kubeconfig, *command, "--namespace", NAMESPACE, "--timeout", "60"))
    snapshots = json.loads(local_cluster.kubectl("get", "volumesnapshots", "-n", NAMESPACE, "-o", "json"))["items"]
    sources = sorted(s["spec"]["source"]["persistentVolumeClaimName"] for s in snapshots)
    assert sources == sorted(c["metadata"]["name"] for c in claims)
    for verb, resource in [
        ("get", "secrets"),
        ("delete", "persistentvolumeclaims"),
        ("create", "pods"),
        ("patch", "volumesnapshots"),
    ]:
        assert not can(local_cluster, kubeconfig, verb, resource), f"{verb} {resource}"
    assert can(local_cluster, kubeconfig, "delete", "volumesnapshots")


RESTORE = "archangel-restore"
REQUEST = "archangel-restore-inc-42"


def test_the_restore_job_runs_once_per_request_with_its_own_role_only(
    production: Manifest, local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """The restore claims its request through the API as its own ServiceAccount: the first run holds it (here
    it then fails, no bucket being reachable, and records that), every later run restores nothing and exits 0,
    as an Argo CD re-sync or a changed template would run it again."""
    inputs = load_environment(PROJECT, "production").with_example_values().inputs("archangel")
    restore_values = tmp_path / "restore.yaml"
    restore_values.write_text(
        "maintenance: {enabled: true}\nrestore: {enabled: true, requestId: inc-42, force: true}\n"
    )
    manifest = inputs.with_values(cluster_values(local_cluster, tmp_path), restore_values).render(namespace=NAMESPACE)
    apply(local_cluster, identity_objects(manifest, RESTORE))
    kubeconfig = service_account_kubeconfig(local_cluster, RESTORE, NAMESPACE, tmp_path)
    job = next(j for j in manifest.of_kind("Job") if j["metadata"]["name"].startswith(f"{REQUEST}-"))
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == RESTORE
    assert pod["automountServiceAccountToken"] is True
    command = pod["containers"][0]["command"]
    assert command[command.index("--once") + 1] == REQUEST
    for key in ("encryption", "mac"):
        (tmp_path / f"{key}.key").write_bytes(key[0].encode() * 32)
    environment_of_the_pod = [
        f"POD_NAMESPACE={NAMESPACE}",
        "ARCHANGEL_BACKUP_BUCKET=unreachable",
        "ARCHANGEL_BACKUP_ENDPOINT_URL=http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID=test",
        "AWS_SECRET_ACCESS_KEY=test",
        "AWS_REGION=us-east-1",
        f"ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE={tmp_path / 'encryption.key'}",
        f"ARCHANGEL_BACKUP_MAC_KEY_FILE={tmp_path / 'mac.key'}",
        "PGHOST=127.0.0.1",
        "PGPORT=9",
    ]
    cli = str(Path(sys.executable).parent / "archangel-helm")
    run = as_account(kubeconfig, *environment_of_the_pod, cli, *command[1:])
    first = local_cluster.try_run(*run)
    assert first.returncode != 0, first.stdout
    assert "cannot claim" not in first.stderr, first.stderr
    claim = json.loads(local_cluster.kubectl("get", "configmap", REQUEST, "-n", NAMESPACE, "-o", "json"))["data"]
    assert claim["state"] == "failed"
    assert claim["target"] == "database"
    assert claim["finishedAt"]
    second = local_cluster.try_run(*run)
    assert second.returncode == 0, second.stderr
    assert f"restore request '{REQUEST}' already ran" in second.stdout
    assert "nothing restored" in second.stdout
    assert can(local_cluster, kubeconfig, "patch", f"configmaps/{REQUEST}")
    for verb, resource in [
        ("patch", "configmaps/archangel-core"),
        ("delete", f"configmaps/{REQUEST}"),
        ("get", "secrets"),
        ("list", "configmaps"),
        ("create", "pods"),
    ]:
        assert not can(local_cluster, kubeconfig, verb, resource), f"{verb} {resource}"
