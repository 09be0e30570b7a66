"""The backup, verification, snapshot and restore jobs the chart renders."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, RenderError
from archangel_helm.core.manifest import K8sObject, PodTemplate, annotations_of, labels_of
from archangel_helm.core.quantity import parse_quantity
from archangel_helm.testing import assertions as a
from archangel_helm.validate.argo_hooks import hook_report
from archangel_helm.validate.pod_security import check_pod_security
from archangel_helm.validate.selectors import matches
from tests.charts.test_data_tier import BUILTIN

RenderEnv = Callable[..., Manifest]
SNAPSHOT_API = "snapshot.storage.k8s.io/v1/VolumeSnapshot"
CA_FILE = "/etc/archangel/database-ca/ca.crt"
# Where the jobs reach production's PostgreSQL, per database.mode: (values, host dumps read, host restores write,
# sslmode). Production's CloudNativePG Cluster: a replica (-ro) and the primary (-rw, not through PgBouncer),
# verify-full against the operator's CA; the builtin StatefulSet (BUILTIN): its Service, inside the mesh.
SERVERS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "cloudnativepg": (
        {},
        "archangel-postgresql-ro.archangel.svc",
        "archangel-postgresql-rw.archangel.svc",
        "verify-full",
    ),
    "builtin": (BUILTIN, "archangel-postgresql.archangel.svc", "archangel-postgresql.archangel.svc", "verify-full"),
}


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def template(manifest: Manifest, kind: str, name: str) -> PodTemplate:
    return next(t for t in manifest.pod_templates() if (t.owner_kind, t.owner_name) == (kind, name))


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def schema_error_names(message: str, pointer: str) -> bool:
    """Whether a values-schema error names the field: Helm 4 as a JSON pointer, Helm 3 with dots."""
    return pointer in message or f"- {pointer.strip('/').replace('/', '.')}" in message


@pytest.mark.parametrize(
    ("name", "schedule", "target", "retention"),
    [
        ("archangel-backup-database", "0 2 * * *", "database", "30d (keep newest 3 verified)"),
        ("archangel-backup-vectorstore", "0 3 * * 0", "vectorstore", "56d (keep newest 2 verified)"),
        ("archangel-backup-verify", "0 5 * * 6", "verify-restore", "-"),
        ("archangel-volume-snapshots", "30 1 * * *", "volumes", "7d (keep newest 3 ready)"),
    ],
)
def test_production_cronjobs(production: Manifest, name: str, schedule: str, target: str, retention: str) -> None:
    cronjob = production.get("CronJob", name)
    spec = cronjob["spec"]
    assert spec["schedule"] == schedule
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    job = spec["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (1, 14400)
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert annotations_of(cronjob)["archangel.io/backup-target"] == target
    assert annotations_of(cronjob)["archangel.io/retention"] == retention
    assert len(name) <= 52


def test_backups_and_retention_run_as_separate_jobs(production: Manifest) -> None:
    def command(name: str) -> str:
        return " ".join(template(production, "CronJob", name).containers(include_init=False)[0]["command"])

    assert command("archangel-backup-database").endswith("-ec archangel-helm backup database")
    assert command("archangel-backup-vectorstore").endswith("-ec archangel-helm backup vectorstore")
    assert command("archangel-backup-prune").endswith(
        "archangel-helm backup prune database --retention-days 30 --keep-verified 3 && "
        "archangel-helm backup prune vectorstore --retention-days 56 --keep-verified 2"
    )
    assert command("archangel-backup-verify").endswith(
        "archangel-helm backup verify database --restore --backup-id latest && "
        "archangel-helm backup verify vectorstore --restore --backup-id latest"
    )


def test_backup_pods_get_keys_and_credentials_as_files_and_no_api_access(production: Manifest) -> None:
    pod = template(production, "CronJob", "archangel-backup-database")
    container = pod.containers(include_init=False)[0]
    variables = env(container)
    assert variables["ARCHANGEL_BACKUP_BUCKET"] == "archangel-backups-prod-example"
    assert variables["ARCHANGEL_BACKUP_PREFIX"] == "archangel/archangel"
    assert variables["ARCHANGEL_BACKUP_SSE"] == "aws:kms"
    assert variables["ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE"] == "/etc/archangel/backup-keys/encryption-key"
    assert variables["PGHOST"] == "archangel-postgresql-ro.archangel.svc"  # a replica of the Cluster
    assert (variables["PGSSLMODE"], variables["PGSSLROOTCERT"]) == ("verify-full", CA_FILE)
    assert variables["QDRANT_API_KEY_FILE"] == "/etc/archangel/credentials/qdrant-api-key"
    assert variables["TMPDIR"] == "/scratch"
    assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    (keys,) = [v for v in pod.spec["volumes"] if v["name"] == "backup-keys"]
    assert keys["secret"]["secretName"] == "archangel-generated"
    assert keys["secret"]["items"] == [
        {"key": "backup-encryption-key", "path": "encryption-key"},
        {"key": "backup-mac-key", "path": "mac-key"},
    ]
    assert pod.spec["automountServiceAccountToken"] is False
    assert pod.spec["serviceAccountName"] == "archangel-backup"
    account = production.get("ServiceAccount", "archangel-backup")
    assert annotations_of(account)["eks.amazonaws.com/role-arn"].endswith(":role/archangel-backup")


@pytest.mark.parametrize(
    "kind_name",
    [
        ("CronJob", "archangel-backup-database"),
        ("CronJob", "archangel-backup-vectorstore"),
        ("CronJob", "archangel-backup-verify"),
        ("CronJob", "archangel-volume-snapshots"),
        ("Job", "archangel-backup-check"),
    ],
)
def test_job_pods_meet_pod_security_restricted(production: Manifest, kind_name: tuple[str, str]) -> None:
    assert check_pod_security(template(production, *kind_name)) == []


def test_the_snapshot_job_may_only_manage_snapshots(production: Manifest) -> None:
    pod = template(production, "CronJob", "archangel-volume-snapshots")
    assert pod.spec["automountServiceAccountToken"] is True
    assert labels_of(pod.template)["archangel.io/kube-api-client"] == "true"
    assert "archangel.io/data-client" not in pod.labels
    assert {v["name"] for v in pod.spec["volumes"]} == {"tmp"}  # no data-tier credentials, no backup keys
    command = pod.containers(include_init=False)[0]["command"]
    assert command[:3] == ["archangel-helm", "backup", "snapshots"]
    assert "app.kubernetes.io/name=archangel,app.kubernetes.io/instance=archangel" in command
    assert command[command.index("--snapshot-class") + 1] == "archangel-snapshots"
    assert production.get("Role", "archangel-volume-snapshots")["rules"] == [
        {
            "apiGroups": ["snapshot.storage.k8s.io"],
            "resources": ["volumesnapshots"],
            "verbs": ["create", "get", "list", "watch", "delete"],
        },
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list"]},
    ]
    snapshot_class = production.get("VolumeSnapshotClass", "archangel-snapshots")
    # Delete: the job prunes VolumeSnapshots, and only Delete takes the EBS snapshot with them (retention holds).
    assert (snapshot_class["driver"], snapshot_class["deletionPolicy"]) == ("ebs.csi.aws.com", "Delete")


def test_the_snapshot_selector_matches_the_data_volumes(production: Manifest) -> None:
    command = template(production, "CronJob", "archangel-volume-snapshots").containers(include_init=False)[0]["command"]
    selector = dict(term.split("=") for term in command[command.index("--selector") + 1].split(","))
    claims = [c for s in production.of_kind("StatefulSet") for c in s["spec"]["volumeClaimTemplates"]]
    assert claims
    assert all(matches({"matchLabels": selector}, c["metadata"]["labels"]) for c in claims)


def test_no_snapshot_job_without_the_snapshot_api(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if not a.startswith("snapshot.storage")]
    manifest = render_env("production", "archangel", api_versions=apis)
    assert manifest.find("CronJob", "archangel-volume-snapshots") is None
    assert manifest.find("CronJob", "archangel-backup-database") is not None


def test_the_backup_check_runs_after_install_and_upgrade(production: Manifest) -> None:
    check = production.get("Job", "archangel-backup-check")
    assert annotations_of(check)["helm.sh/hook"] == "post-install,post-upgrade"
    assert template(production, "Job", "archangel-backup-check").containers(include_init=False)[0]["command"] == [
        "archangel-helm",
        "backup",
        "check",
        "--targets",
        "database",
        "vectorstore",
    ]
    report = {h.name: h for h in hook_report(production)}
    assert report["archangel-backup-check"].argo_phases == ("PostSync",)


def test_backup_jobs_reach_the_data_tier_the_bucket_and_the_pushgateway_only(production: Manifest) -> None:
    backup = production.get("NetworkPolicy", "archangel-backup-jobs")["spec"]
    s3 = backup["egress"][-1]
    # backup.s3.egressExcept, then networkPolicy.clusterCIDRs (the pods of a cluster outside RFC 1918 too)
    private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert s3["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [*private, "10.0.0.0/16", "172.20.0.0/16"]}}]
    assert s3["ports"] == [{"port": 443, "protocol": "TCP"}]
    pods = {t.ref for t in production.pod_templates() if matches(backup["podSelector"], t.labels)}
    assert pods == {
        "CronJob/archangel-backup-database",
        "CronJob/archangel-backup-vectorstore",
        "CronJob/archangel-backup-verify",
        "Job/archangel-backup-check",
    }
    pushgateway = production.get("NetworkPolicy", "archangel-pushgateway-clients")["spec"]["egress"][0]
    assert pushgateway["ports"] == [{"port": 9091, "protocol": "TCP"}]
    postgres_ingress = production.get("NetworkPolicy", "archangel-postgresql")["spec"]["ingress"][0]["from"]
    assert any(
        p.get("podSelector", {}).get("matchLabels", {}).get("archangel.io/data-client") == "true"
        for p in postgres_ingress
    )


RESTORE = {"restore.enabled": True, "restore.requestId": "inc-42"}


def restore_job(manifest: Manifest, target: str = "database") -> K8sObject:
    """The one restore Job; its name ends in a hash of its pod template."""
    jobs = [j for j in manifest.of_kind("Job") if labels_of(j)["app.kubernetes.io/component"] == f"restore-{target}"]
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return jobs[0]


def restore_template(manifest: Manifest, target: str = "database") -> PodTemplate:
    return template(manifest, "Job", restore_job(manifest, target)["metadata"]["name"])


def test_restore_job_only_when_asked(production: Manifest, render_env: RenderEnv) -> None:
    assert [j for j in production.of_kind("Job") if "restore" in j["metadata"]["name"]] == []
    manifest = render_env(
        "production",
        "archangel",
        {**RESTORE, "restore.backupId": "20261101T020000Z", "restore.intoDatabase": "recovered"},
    )
    job = restore_job(manifest)
    assert job["spec"]["backoffLimit"] == 0
    assert restore_template(manifest).containers(include_init=False)[0]["command"] == [
        "archangel-helm",
        "backup",
        "restore",
        "database",
        "--backup-id",
        "20261101T020000Z",
        "--jobs",
        "2",
        "--once",
        "archangel-restore-inc-42",
        "--into",
        "recovered",
    ]


def test_the_restore_job_is_named_by_its_request_and_a_hash_of_its_template(render_env: RenderEnv) -> None:
    """A Job's template is immutable: any change of it (chart version, image, settings) makes a new Job, which
    then finds its request claimed and restores nothing, instead of an upgrade the API server refuses."""
    name = restore_job(render_env("production", "archangel", RESTORE))["metadata"]["name"]
    assert re.fullmatch(r"archangel-restore-inc-42-[0-9a-f]{8}", name)
    assert restore_job(render_env("production", "archangel", RESTORE))["metadata"]["name"] == name
    changed = render_env("production", "archangel", {**RESTORE, "tools.image.tag": "0.2.0"})
    assert restore_job(changed)["metadata"]["name"] != name
    another = render_env("production", "archangel", {**RESTORE, "restore.requestId": "inc-43"})
    assert restore_job(another)["metadata"]["name"].startswith("archangel-restore-inc-43-")


def test_the_restore_claims_its_request_with_a_role_that_can_do_nothing_else(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", RESTORE)
    pod = restore_template(manifest)
    assert pod.spec["serviceAccountName"] == "archangel-restore"
    assert pod.spec["automountServiceAccountToken"] is True
    assert labels_of(pod.template)["archangel.io/kube-api-client"] == "true"
    # The claim is made in the pod's own namespace, read from the downward API.
    (namespace,) = [e for e in pod.containers()[0]["env"] if e["name"] == "POD_NAMESPACE"]
    assert namespace["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    rules = manifest.get("Role", "archangel-restore")["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["archangel-restore-inc-42"],
            "verbs": ["get", "patch"],
        },
    ]
    account = manifest.get("ServiceAccount", "archangel-restore")
    backup_account = manifest.get("ServiceAccount", "archangel-backup")
    assert (
        annotations_of(account)["eks.amazonaws.com/role-arn"]
        == annotations_of(backup_account)["eks.amazonaws.com/role-arn"]
    )
    reader = "arn:aws:iam::111122223333:role/archangel-restore"
    own = render_env(
        "production",
        "archangel",
        {**RESTORE, "restore.serviceAccount.annotations": {"eks.amazonaws.com/role-arn": reader}},
    )
    assert annotations_of(own.get("ServiceAccount", "archangel-restore"))["eks.amazonaws.com/role-arn"] == reader


def test_a_restore_over_live_data_needs_maintenance(render_env: RenderEnv) -> None:
    for target in ("database", "vectorstore"):
        with pytest.raises(RenderError, match=r"restore\.force into the live .* needs maintenance\.enabled=true"):
            render_env("production", "archangel", {**RESTORE, "restore.target": target, "restore.force": True})
        render_env(
            "production",
            "archangel",
            {**RESTORE, "restore.target": target, "restore.force": True, "maintenance.enabled": True},
        )
    # Into another database the application does not use, nothing needs to stop.
    render_env("production", "archangel", {**RESTORE, "restore.force": True, "restore.intoDatabase": "recovered"})


def test_a_restore_needs_a_request_id(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError, match=r"restore\.requestId: name this restore"):
        render_env("production", "archangel", {"restore.enabled": True, "restore.requestId": ""})


@pytest.mark.parametrize("request_id", ["Inc_42", "a-request-id-too-long"])
def test_the_schema_refuses_a_request_id_that_cannot_name_a_configmap_and_job(
    render_env: RenderEnv, request_id: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", {"restore.enabled": True, "restore.requestId": request_id})
    a.failed_values_schema(caught.value, "restore/requestId", "pattern")


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_maintenance_holds_core_and_agents_at_zero_and_suspends_the_backups(
    render_env: RenderEnv, environment: str
) -> None:
    normal = render_env(environment, "archangel")
    held = render_env(environment, "archangel", {"maintenance.enabled": True})
    for name in ("archangel-core", "archangel-agents"):
        assert held.get("Deployment", name)["spec"]["replicas"] == 0
    assert held.of_kind("HorizontalPodAutoscaler") == []
    assert held.of_kind("ScaledObject") == []
    assert normal.of_kind("HorizontalPodAutoscaler")
    cronjobs = {c["metadata"]["name"]: c["spec"]["suspend"] for c in held.of_kind("CronJob")}
    assert cronjobs
    assert all(cronjobs.values()), cronjobs
    assert not any(c["spec"]["suspend"] for c in normal.of_kind("CronJob"))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backup.s3.bucket": ""}, "  - backup.s3.bucket: the S3 bucket for backups"),
        (
            {"backup.s3.endpoint": "https://minio.example", "backup.s3.kmsKeyId": ""},
            "backup.s3.sse is aws:kms with a custom",
        ),
        (
            {**RESTORE, "restore": {"target": "database", "collections": ["x"]}},
            "restore.collections applies to restore.target vectorstore only",
        ),
        (
            {"backup.scratch.ephemeral.storageClassName": "standard-ssd"},
            "backup.scratch.ephemeral.storageClassName: standard-ssd (storage.classes.standard) has reclaimPolicy "
            "Retain, so every verification or restore run would leave its 300Gi volume behind",
        ),
    ],
)
def test_bad_backup_settings_are_refused(render_env: RenderEnv, values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    assert message in caught.value.helm_message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"backup.database.schedule": "daily"}, "/backup/database/schedule"),
        ({"backup.s3.bucket": "Bad_Bucket"}, "/backup/s3/bucket"),
        ({"restore.backupId": "yesterday"}, "/restore/backupId"),
    ],
)
def test_bad_backup_values_are_refused_by_the_schema(render_env: RenderEnv, values: dict[str, Any], field: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    assert schema_error_names(caught.value.helm_message, field)


# --- scratch space: a restore writes the whole downloaded and decrypted dump to /scratch ------------------------


def scratch_volume(manifest: Manifest, kind: str, name: str) -> dict[str, Any]:
    (volume,) = [v for v in template(manifest, kind, name).spec["volumes"] if v["name"] == "scratch"]
    return dict(volume)


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_verification_and_restores_get_scratch_the_size_of_the_database_on_an_encrypted_class(
    render_env: RenderEnv, environment: str
) -> None:
    manifest = render_env(environment, "archangel", RESTORE)
    if environment == "production":  # CloudNativePG: each instance's data volume (its WAL has its own)
        database = manifest.get("Cluster", "archangel-postgresql")["spec"]["storage"]["size"]
    else:  # the builtin StatefulSet's claim
        claims = manifest.get("StatefulSet", "archangel-postgresql")["spec"]["volumeClaimTemplates"]
        database = claims[0]["spec"]["resources"]["requests"]["storage"]
    for kind, name in (("CronJob", "archangel-backup-verify"), ("Job", restore_job(manifest)["metadata"]["name"])):
        claim = scratch_volume(manifest, kind, name)["ephemeral"]["volumeClaimTemplate"]["spec"]
        storage = parse_quantity(claim["resources"]["requests"]["storage"])
        assert storage >= parse_quantity(database), name
        assert claim["accessModes"] == ["ReadWriteOnce"]
        storage_class = manifest.get("StorageClass", claim["storageClassName"])
        assert storage_class["parameters"]["encrypted"] == "true", "decrypted dumps land on this volume"
        assert storage_class["reclaimPolicy"] == "Delete", "a Retain class would keep one disk per run"
        mount = next(
            m
            for m in template(manifest, kind, name).containers(include_init=False)[0]["volumeMounts"]
            if m["name"] == "scratch"
        )
        assert (
            mount["mountPath"]
            == env(template(manifest, kind, name).containers(include_init=False)[0])["TMPDIR"]
            == "/scratch"
        )


def test_production_scratch_is_300_gi(production: Manifest) -> None:
    claim = scratch_volume(production, "CronJob", "archangel-backup-verify")["ephemeral"]["volumeClaimTemplate"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "300Gi"
    assert claim["spec"]["storageClassName"] == "scratch-ssd"


def test_jobs_that_stream_keep_the_small_emptydir(production: Manifest) -> None:
    """Backups stream the dump to S3 and the check writes nothing: no volume is provisioned for them."""
    for kind, name in (
        ("CronJob", "archangel-backup-database"),
        ("CronJob", "archangel-backup-vectorstore"),
        ("Job", "archangel-backup-check"),
    ):
        assert scratch_volume(production, kind, name) == {"name": "scratch", "emptyDir": {"sizeLimit": "50Gi"}}


def test_without_an_ephemeral_size_every_job_uses_the_emptydir(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production", "archangel", {"backup.scratch": {"sizeLimit": "80Gi", "ephemeral": {"size": ""}}}
    )
    volume = scratch_volume(manifest, "CronJob", "archangel-backup-verify")
    assert volume == {"name": "scratch", "emptyDir": {"sizeLimit": "80Gi"}}


def test_a_scratch_claim_is_never_taken_for_a_data_volume(production: Manifest) -> None:
    """The snapshot job snapshots the claims its selector matches: never the scratch claims."""
    claim = scratch_volume(production, "CronJob", "archangel-backup-verify")["ephemeral"]["volumeClaimTemplate"]
    command = template(production, "CronJob", "archangel-volume-snapshots").containers(include_init=False)[0]["command"]
    selector = command[command.index("--selector") + 1]
    wanted = dict(pair.split("=") for pair in selector.split(","))
    assert not matches({"matchLabels": wanted}, claim["metadata"]["labels"])
    assert claim["metadata"]["labels"]["archangel.io/scratch"] == "true"


def test_the_cluster_default_class_when_none_is_named(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"backup.scratch.ephemeral.storageClassName": ""})
    claim = scratch_volume(manifest, "CronJob", "archangel-backup-verify")["ephemeral"]["volumeClaimTemplate"]
    assert "storageClassName" not in claim["spec"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"backup.scratch.ephemeral.size": "lots"}, "/backup/scratch/ephemeral/size"),
        ({"backup.scratch.ephemeral.storageClassName": "Fast_SSD"}, "/backup/scratch/ephemeral/storageClassName"),
        ({"backup.scratch.ephemeral.accessMode": "ReadWriteMany"}, "/backup/scratch/ephemeral"),
    ],
)
def test_bad_scratch_values_are_refused_by_the_schema(
    render_env: RenderEnv, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    assert schema_error_names(caught.value.helm_message, field)


# --- the weekly verification restores into its own servers, never into production's ------------------------------


def postgresql_release(image: str) -> tuple[str, str]:
    """(PostgreSQL version, Debian release) of a PostgreSQL image: "...postgres:17.6-bookworm@sha256:..." and
    "...postgresql:17.6-standard-bookworm@sha256:..." are both ("17.6", "bookworm")."""
    parts = image.split("@", maxsplit=1)[0].rsplit(":", 1)[1].split("-")
    return parts[0], parts[-1]


@pytest.mark.parametrize("mode", SERVERS)
def test_verification_restores_into_sidecar_servers_on_its_scratch_volume(render_env: RenderEnv, mode: str) -> None:
    manifest = render_env("production", "archangel", SERVERS[mode][0])
    pod = template(manifest, "CronJob", "archangel-backup-verify")
    sidecars = {c["name"]: c for c in pod.spec["initContainers"]}
    assert set(sidecars) == {"verify-postgresql", "verify-qdrant"}
    assert all(c["restartPolicy"] == "Always" for c in sidecars.values()), "native sidecars: they stop with the job"
    # The same servers as production's, so what restores here restores there: the builtin StatefulSet's very
    # image; CloudNativePG's operand image is another build (the sidecar runs database.postgresql.image), so at
    # least the same PostgreSQL release on the same Debian.
    if mode == "builtin":
        postgres = manifest.get("StatefulSet", "archangel-postgresql")["spec"]["template"]["spec"]["containers"][0]
        assert sidecars["verify-postgresql"]["image"] == postgres["image"]
    else:
        cluster = manifest.get("Cluster", "archangel-postgresql")["spec"]
        assert postgresql_release(sidecars["verify-postgresql"]["image"]) == postgresql_release(cluster["imageName"])
    qdrant = manifest.get("StatefulSet", "archangel-qdrant")["spec"]["template"]["spec"]["containers"][0]
    assert sidecars["verify-qdrant"]["image"] == qdrant["image"]
    assert env(sidecars["verify-postgresql"])["PGDATA"].startswith("/scratch/")
    assert "listen_addresses=127.0.0.1" in sidecars["verify-postgresql"]["args"]
    assert env(sidecars["verify-qdrant"])["QDRANT__STORAGE__STORAGE_PATH"].startswith("/scratch/")
    assert "startupProbe" in sidecars["verify-postgresql"]
    assert "startupProbe" in sidecars["verify-qdrant"]
    main = env(pod.containers(include_init=False)[0])
    assert (main["PGHOST"], main["PGPORT"], main["PGSSLMODE"]) == ("127.0.0.1", "5432", "disable")
    assert main["QDRANT_URL"] == "http://127.0.0.1:6333"
    assert check_pod_security(pod) == []


@pytest.mark.parametrize("mode", SERVERS)
def test_backups_and_restores_still_talk_to_the_production_servers(render_env: RenderEnv, mode: str) -> None:
    values, read, write, sslmode = SERVERS[mode]
    manifest = render_env("production", "archangel", {**values, **RESTORE})
    for kind, name, host in (
        ("CronJob", "archangel-backup-database", read),
        ("Job", restore_job(manifest)["metadata"]["name"], write),
    ):
        pod = template(manifest, kind, name)
        assert "initContainers" not in pod.spec
        variables = env(pod.containers()[0])
        assert (variables["PGHOST"], variables["PGSSLMODE"]) == (host, sslmode)


@pytest.mark.parametrize("mode", SERVERS)
def test_verification_against_the_production_servers_is_a_choice(render_env: RenderEnv, mode: str) -> None:
    values, _, write, sslmode = SERVERS[mode]
    manifest = render_env("production", "archangel", {**values, "backup.verify.isolated": False})
    pod = template(manifest, "CronJob", "archangel-backup-verify")
    assert "initContainers" not in pod.spec
    variables = env(pod.containers()[0])
    assert (variables["PGHOST"], variables["PGSSLMODE"]) == (write, sslmode)  # it restores into scratch databases
    only_database = render_env("production", "archangel", {**values, "backup.vectorStore.enabled": False})
    sidecars = template(only_database, "CronJob", "archangel-backup-verify").spec["initContainers"]
    assert [c["name"] for c in sidecars] == ["verify-postgresql"]


def test_every_job_pod_asks_istio_for_a_native_sidecar(render_env: RenderEnv) -> None:
    # A classic istio-proxy never exits, so a Job (and a PreSync hook) in the mesh would never complete.
    manifest = render_env("production", "archangel", RESTORE)
    jobs = [t for t in manifest.pod_templates() if t.owner_kind in ("Job", "CronJob")]
    assert len(jobs) >= 7
    for pod in jobs:
        assert pod.annotations.get("sidecar.istio.io/nativeSidecar") == "true", pod.ref


def test_the_prune_job_has_its_own_identity_and_no_data_tier_access(production: Manifest) -> None:
    """A backup job that can delete could erase every copy; the prune job can delete but reaches no database."""
    prune = template(production, "CronJob", "archangel-backup-prune")
    backup = template(production, "CronJob", "archangel-backup-database")
    assert prune.spec["serviceAccountName"] == "archangel-backup-prune"
    assert backup.spec["serviceAccountName"] == "archangel-backup"
    role = "eks.amazonaws.com/role-arn"
    prune_role = annotations_of(production.get("ServiceAccount", "archangel-backup-prune"))[role]
    assert prune_role != annotations_of(production.get("ServiceAccount", "archangel-backup"))[role]
    assert "archangel.io/data-client" not in labels_of(prune.template)
    assert labels_of(prune.template)["archangel.io/object-storage-client"] == "true"
    variables = env(prune.containers()[0])
    assert not {"PGHOST", "QDRANT_URL", "ARCHANGEL_PG_PASSWORD_FILE"} & set(variables)
    assert "credentials" not in {v["name"] for v in prune.spec["volumes"]}


def test_production_refuses_a_prune_job_sharing_the_backup_identity(render_env: RenderEnv) -> None:
    with pytest.raises(
        RenderError, match=r"backup\.prune\.serviceAccount\.annotations: the prune job's own cloud identity"
    ):
        render_env("production", "archangel", {"backup.prune.serviceAccount.annotations": None})
    role = "eks.amazonaws.com/role-arn"
    shared = {
        role: annotations_of(render_env("production", "archangel").get("ServiceAccount", "archangel-backup"))[role]
    }
    with pytest.raises(RenderError, match="the prune job must have its own cloud identity"):
        render_env("production", "archangel", {"backup.prune.serviceAccount.annotations": shared})
    # Without the requirement (the chart's default), the prune job falls back to the backup identity.
    staging = render_env("staging", "archangel")
    fallback = annotations_of(staging.get("ServiceAccount", "archangel-backup-prune"))[role]
    assert fallback == annotations_of(staging.get("ServiceAccount", "archangel-backup"))[role]
