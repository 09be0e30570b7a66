"""Upgrades on the local control plane: from the previous chart version (as `ct install --upgrade` does),
every values change docs/UPGRADING.md lists as applying in place, and every change it lists as refused,
which `archangel-helm deploy` catches before Helm applies anything and the real API server refuses; then
the documented procedures, followed step by step."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.k8s.stateful_set import wait_for_stateful_sets_to_run

from archangel_helm.plan.environments import load_environment
from tests.support.cloudnativepg import install_stand_ins
from tests.support.local_cluster import LocalCluster, cluster_values
from tests.support.previous_chart import previous_chart
from tests.support.project import PROJECT
from tests.support.secrets_hook import helm_hook_spec, run_the_secrets_hook

NAMESPACE = "archangel"
RELEASE = "archangel"
CHART = PROJECT / "charts" / "archangel"
TIMEOUT = 180
MISSING_APIS = ("metrics.k8s.io/v1beta1", "custom.metrics.k8s.io/v1beta1")


def settled(kube_cluster: Cluster) -> None:
    client = kube_cluster.kube_client
    assert client is not None
    wait_for_deployments_to_run(client, ["archangel-core", "archangel-agents"], NAMESPACE, TIMEOUT)
    # Production's PostgreSQL is a CloudNativePG Cluster: its pods are the operator's (none run here).
    wait_for_stateful_sets_to_run(client, ["archangel-qdrant"], NAMESPACE, TIMEOUT)


def revision(cluster: LocalCluster) -> tuple[int, str]:
    history = json.loads(cluster.helm("history", RELEASE, "-n", NAMESPACE, "--output", "json"))
    return int(history[-1]["revision"]), str(history[-1]["status"])


def back_to(cluster: LocalCluster, kept: int) -> None:
    """Roll back to a known good revision, whatever the test did since."""
    if revision(cluster)[0] != kept:
        cluster.helm("rollback", RELEASE, str(kept), "-n", NAMESPACE, "--wait", "--timeout", "5m")


@pytest.fixture(scope="module")
def values(clean_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The production release's values files: the environment's, its example site values, this cluster's, and
    rollouts without minReadySeconds (what is tested here is what the API server accepts, not the pace of a
    rollout, which test_rollout_and_drain.py checks with production's settings)."""
    release = load_environment(PROJECT, "production").with_example_values().release(RELEASE)
    directory = tmp_path_factory.mktemp("upgrade")
    overlay = cluster_values(clean_cluster, directory)
    overlay.write_text(overlay.read_text() + "core:\n  minReadySeconds: 0\nagents:\n  minReadySeconds: 0\n")
    return release.inputs().with_values(overlay).values_args()


@pytest.fixture(scope="module")
def installed(
    clean_cluster: LocalCluster, values: list[str], tmp_path_factory: pytest.TempPathFactory, kube_cluster: Cluster
) -> LocalCluster:
    """The previous chart version installed with its own production values, then upgraded to this one."""
    previous = previous_chart(PROJECT, "archangel", tmp_path_factory.mktemp("previous"))
    if previous is None:
        pytest.skip("the repository's history holds no earlier version of charts/archangel (a shallow clone?)")
    clean_cluster.kubectl("create", "namespace", NAMESPACE)
    clean_cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    install_stand_ins(clean_cluster)  # where `deploy`'s preflight looks for the CloudNativePG operator and plugin
    overlay = values[-1]
    clean_cluster.helm(
        "install",
        RELEASE,
        str(previous.chart("archangel")),
        "-n",
        NAMESPACE,
        "--wait",
        "--timeout",
        "5m",
        "-f",
        str(previous.values("production.yaml")),
        "-f",
        overlay,
    )
    settled(kube_cluster)
    BEFORE_UPGRADE["qdrant claim"] = claim_uid(clean_cluster, "storage-archangel-qdrant-0")
    # docs/UPGRADING.md 0.2.0: Qdrant's StatefulSet turns distributed (podManagementPolicy Parallel), a field
    # the API server refuses to change: orphan-delete it first; its pod and volume stay and are adopted.
    clean_cluster.kubectl("delete", "statefulset", "archangel-qdrant", "-n", NAMESPACE, "--cascade=orphan")
    clean_cluster.helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "--wait", "--timeout", "5m")
    settled(kube_cluster)
    return clean_cluster


BEFORE_UPGRADE: dict[str, str] = {}


def claim_uid(cluster: LocalCluster, claim: str) -> str:
    found = json.loads(cluster.kubectl("get", "pvc", claim, "-n", NAMESPACE, "-o", "json"))
    return str(found["metadata"]["uid"])


def test_the_upgrade_turns_qdrant_distributed_keeping_node_0s_data(installed: LocalCluster) -> None:
    """Node 0 keeps its volume (the single node's collections); nodes 1 and 2 get new ones and join it."""
    statefulset = json.loads(installed.kubectl("get", "statefulset", "archangel-qdrant", "-n", NAMESPACE, "-o", "json"))
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert statefulset["status"]["readyReplicas"] == 3
    assert claim_uid(installed, "storage-archangel-qdrant-0") == BEFORE_UPGRADE["qdrant claim"]
    for n in (1, 2):
        assert claim_uid(installed, f"storage-archangel-qdrant-{n}")


def test_upgrade_from_the_previous_chart_version(installed: LocalCluster) -> None:
    history = json.loads(installed.helm("history", RELEASE, "-n", NAMESPACE, "--output", "json"))
    assert [h["status"] for h in history] == ["superseded", "deployed"]
    assert history[0]["chart"] != history[1]["chart"]


def test_the_upgrade_moves_postgresql_from_the_statefulset_to_a_cloudnativepg_cluster(
    installed: LocalCluster, tmp_path: Path
) -> None:
    """The previous version ran PostgreSQL as a StatefulSet; this one's production runs a CloudNativePG Cluster
    (docs/DISASTER_RECOVERY.md, "Moving a release from builtin to cloudnativepg"): the Cluster and its
    PgBouncer exist, the StatefulSet is gone but its volume is kept for the logical restore, and the secrets
    hook added the owner's username and password beside the old password, which it left unchanged."""

    def get(*what: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(installed.kubectl("get", *what, "-n", NAMESPACE, "-o", "json"))
        return found

    cluster = get("clusters.postgresql.cnpg.io", "archangel-postgresql")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"] == "archangel-generated"
    assert get("poolers.postgresql.cnpg.io", "archangel-pgbouncer")["spec"]["type"] == "rw"
    assert "archangel-postgresql" not in installed.kubectl("get", "statefulsets", "-n", NAMESPACE, "-o", "name")
    assert get("pvc", "data-archangel-postgresql-0")["status"]["phase"] == "Bound"  # the builtin data, kept
    # The hook Jobs of the install and of the upgrade, as their pods would have run them (kwok runs none).
    for revision_number in (1, 2):
        spec = helm_hook_spec(installed, RELEASE, NAMESPACE, revision_number)
        run_the_secrets_hook(installed, spec, NAMESPACE, tmp_path)
    secret = get("secret", "archangel-generated")["data"]
    assert {"database-password", "username", "password"} <= set(secret)
    assert base64.b64decode(secret["username"]).decode() == "archangel"
    assert secret["password"] != secret["database-password"]  # the new cluster's own; the old one untouched


def documented_changes(heading: str) -> list[str]:
    """The values of one table of docs/UPGRADING.md's "Changing values of an installed release"."""
    text = (PROJECT / "docs" / "UPGRADING.md").read_text()
    section = text.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return [
        m for row in re.findall(r"^\| (`[^|]+`[^|]*) \|", section, re.MULTILINE) for m in re.findall(r"`([^`]+)`", row)
    ]


# A value for each documented change, different from production's (the test fails for an undocumented one).
IN_PLACE: dict[str, Any] = {
    "core.replicas": 4,
    "core.resources": {"requests": {"cpu": "750m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    "core.config": {"LOG_LEVEL": "debug", "LOG_FORMAT": "json", "ARCHANGEL_ENVIRONMENT": "production"},
    "agents.autoscaling.maxReplicas": 12,
    "core.image.tag": "1.4.3",
    "backup.database.schedule": "30 1 * * *",
    "backup.database.retentionDays": 35,
    "database.cloudnativepg.storage.size": "300Gi",
}
REFUSED: dict[str, tuple[Any, str, str]] = {
    # value -> (new value, the object the deploy check names, what the API server says)
    "vectorStore.qdrant.persistence.size": (
        "200Gi",
        "StatefulSet/archangel-qdrant",
        "is invalid: spec.volumeClaimTemplates: Invalid value",
    ),
    "vectorStore.qdrant.persistence.storageClassName": (
        "fast-ssd",
        "StatefulSet/archangel-qdrant",
        "is invalid: spec.volumeClaimTemplates: Invalid value",
    ),
    "storage.classes.*.parameters": (
        {"storage": {"classes": {"fast": {"parameters": {"type": "io2", "iopsPerGB": "40", "encrypted": "true"}}}}},
        "StorageClass/fast-ssd",
        "is invalid: parameters: Invalid value",
    ),
    "nameOverride": ("angel", "Deployment/archangel-core", "field is immutable"),
    "priorityClasses.items[].value": (
        {
            "priorityClasses": {
                "items": [{"name": "archangel-critical", "value": 1000001}, {"name": "archangel-high", "value": 100000}]
            }
        },
        "PriorityClass/archangel-critical",
        "is invalid: value: Forbidden: may not be changed in an update",
    ),
}


def as_values(path: str, value: Any) -> dict[str, Any]:
    if (
        isinstance(value, dict)
        and "." not in path.rsplit(".", maxsplit=1)[-1]
        and path.split(".", maxsplit=1)[0] in value
    ):
        return value
    node: dict[str, Any] = {}
    root = node
    parts = path.split(".")
    for part in parts[:-1]:
        node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return root


def test_the_tables_name_only_changes_this_test_knows() -> None:
    assert set(documented_changes("Changes that apply in place")) == set(IN_PLACE)
    assert set(documented_changes("Changes Kubernetes refuses in place")) == set(REFUSED)


@pytest.mark.parametrize("value", sorted(IN_PLACE))
def test_a_documented_change_applies_in_place(
    installed: LocalCluster, values: list[str], kube_cluster: Cluster, tmp_path: Path, value: str
) -> None:
    """Each change on its own, from the release as installed; rolled back after (a rollback is an upgrade too)."""
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump(as_values(value, IN_PLACE[value])))
    before, _ = revision(installed)
    upgrade = ["upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "-f", str(change)]
    try:
        installed.helm(*upgrade, "--wait", "--timeout", "5m")
        settled(kube_cluster)
        assert revision(installed) == (before + 1, "deployed")
    finally:
        back_to(installed, before)
    settled(kube_cluster)


@pytest.mark.parametrize("value", sorted(REFUSED))
def test_a_refused_change_is_caught_before_helm_applies_anything_and_the_api_server_refuses_it(
    installed: LocalCluster, values: list[str], tmp_path: Path, value: str
) -> None:
    new, named, refusal = REFUSED[value]
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump(as_values(value, new)))
    before = revision(installed)
    command = ["archangel-helm", "deploy", "production", "--dry-run", "--example-values", "--report-dir", str(tmp_path)]
    command += ["--values", f"archangel={values[-1]}", "--values", f"archangel={change}"]
    for api in MISSING_APIS:
        command += ["--allow-missing-api", api]
    caught = installed.try_run(*command)
    assert caught.returncode == 1, caught.stdout
    assert f"{named}: " in caught.stdout
    assert "docs/UPGRADING.md#changes-kubernetes-refuses-in-place" in caught.stdout
    assert revision(installed) == before  # nothing was applied
    # Helm itself would go ahead, and the API server refuses the object half-way through the upgrade.
    upgrade = ["helm", "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "-f", str(change)]
    try:
        applied = installed.try_run(*upgrade, "--timeout", "2m")
        assert applied.returncode != 0
        assert refusal in applied.stderr, applied.stderr
    finally:
        back_to(installed, before[0])


def test_changing_a_storage_class_as_documented(installed: LocalCluster, values: list[str], tmp_path: Path) -> None:
    change = tmp_path / "class.yaml"
    new, _, _ = REFUSED["storage.classes.*.parameters"]
    change.write_text(yaml.safe_dump(new))
    installed.kubectl("delete", "storageclass", "fast-ssd")
    installed.helm(
        "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "-f", str(change), "--wait", "--timeout", "5m"
    )
    recreated = json.loads(installed.kubectl("get", "storageclass", "fast-ssd", "-o", "json"))
    assert recreated["parameters"]["iopsPerGB"] == "40"
    claim = json.loads(installed.kubectl("get", "pvc", "data-archangel-postgresql-0", "-n", NAMESPACE, "-o", "json"))
    assert claim["status"]["phase"] == "Bound"  # an existing volume on the class is untouched
    # And back, the same way, for the tests after this one.
    installed.kubectl("delete", "storageclass", "fast-ssd")
    installed.helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "--wait", "--timeout", "5m")


def test_growing_a_data_volume_as_documented(
    installed: LocalCluster, values: list[str], kube_cluster: Cluster, tmp_path: Path
) -> None:
    """docs/UPGRADING.md "Grow a data volume", step by step: no restart, the StatefulSet adopts the pod. Last in
    the module: the release keeps the larger size from here on."""
    settled(kube_cluster)
    pods = {
        n: json.loads(installed.kubectl("get", "pod", f"archangel-qdrant-{n}", "-n", NAMESPACE, "-o", "json"))
        for n in range(3)  # production's three Qdrant nodes: every node's claim grows
    }
    for n in pods:
        claim = f"storage-archangel-qdrant-{n}"
        installed.kubectl(
            "patch", "pvc", claim, "-n", NAMESPACE, "-p", '{"spec":{"resources":{"requests":{"storage":"300Gi"}}}}'
        )
        installed.kubectl(
            "wait", f"pvc/{claim}", "-n", NAMESPACE, "--for=jsonpath={.status.capacity.storage}=300Gi", "--timeout=60s"
        )
    installed.kubectl("delete", "statefulset", "archangel-qdrant", "-n", NAMESPACE, "--cascade=orphan")
    change = tmp_path / "size.yaml"
    change.write_text(yaml.safe_dump(as_values("vectorStore.qdrant.persistence.size", "300Gi")))
    installed.helm(
        "upgrade", RELEASE, str(CHART), "-n", NAMESPACE, *values, "-f", str(change), "--wait", "--timeout", "5m"
    )
    settled(kube_cluster)
    for n, pod in pods.items():
        after = json.loads(installed.kubectl("get", "pod", f"archangel-qdrant-{n}", "-n", NAMESPACE, "-o", "json"))
        assert after["metadata"]["uid"] == pod["metadata"]["uid"]  # the same pod, adopted, never restarted
    template = json.loads(installed.kubectl("get", "statefulset", "archangel-qdrant", "-n", NAMESPACE, "-o", "json"))
    assert template["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "300Gi"


def test_the_restore_runbook_maintenance_a_one_shot_restore_and_back(
    installed: LocalCluster, kube_cluster: Cluster
) -> None:
    """docs/DISASTER_RECOVERY.md's in-cluster restore, step by step, on the release as installed: maintenance
    holds core and agents at zero with no autoscaler and the backups suspended; the restore Job is created; an
    upgrade that still carries it (a new tools image: a new pod template) succeeds and names a new Job, where a
    Job whose template changed under the same name is refused by the API server; back to service after."""
    before, _ = revision(installed)
    # --reuse-values, as the runbook says: the release's values as they are (earlier tests followed procedures
    # that changed them), plus each step's --set.
    upgrade = ["upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values", "--wait", "--timeout", "5m"]
    client = kube_cluster.kube_client
    assert client is not None

    def get(kind: str, *selector: str) -> list[dict[str, Any]]:
        listed = json.loads(installed.kubectl("get", kind, "-n", NAMESPACE, "-o", "json", *selector))
        items: list[dict[str, Any]] = listed["items"]
        return items

    try:
        installed.helm(*upgrade, "--set", "maintenance.enabled=true")
        installed.kubectl(
            "wait", "pod", "-n", NAMESPACE, "--for=delete", "--timeout=3m",
            "-l", "app.kubernetes.io/instance=archangel,app.kubernetes.io/component in (core,agents)",
        )  # fmt: skip
        assert [d["spec"]["replicas"] for d in get("deployments", "-l", "app.kubernetes.io/instance=archangel")] == [
            0,
            0,
        ]
        assert get("hpa") == []
        assert all(c["spec"]["suspend"] for c in get("cronjobs"))
        restore = [
            "--set", "restore.enabled=true", "--set", "restore.requestId=inc-42", "--set", "restore.force=true",
            "--set", "restore.backupId=latest-verified",
        ]  # fmt: skip
        installed.helm(*upgrade, *restore)
        first = [j["metadata"]["name"] for j in get("jobs", "-l", "app.kubernetes.io/component=restore-database")]
        assert len(first) == 1
        assert first[0].startswith("archangel-restore-inc-42-")
        installed.helm(*upgrade, "--set", "tools.image.tag=0.1.1")
        second = [j["metadata"]["name"] for j in get("jobs", "-l", "app.kubernetes.io/component=restore-database")]
        assert len(second) == 1
        assert second != first
        installed.helm(*upgrade, "--set", "maintenance.enabled=false", "--set", "restore.enabled=false")
        settled(kube_cluster)
        assert get("jobs", "-l", "app.kubernetes.io/component=restore-database") == []
        assert [h["metadata"]["name"] for h in get("hpa")] == ["archangel-agents"]
        assert not any(c["spec"]["suspend"] for c in get("cronjobs"))
    finally:
        back_to(installed, before)
    settled(kube_cluster)
