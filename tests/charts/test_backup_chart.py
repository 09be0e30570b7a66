"""The backup, verification, snapshot and restore jobs the chart renders."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import PodTemplate
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
# Where each kind keeps its pod template: paths into a Job's or a CronJob's pod start here.
POD = {"CronJob": "spec.jobTemplate.spec.template", "Job": "spec.template"}
CRONJOB_POD = POD["CronJob"]
ROLE_ARN = 'metadata.annotations["eks.amazonaws.com/role-arn"]'


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def template(manifest: Manifest, kind: str, name: str) -> PodTemplate:
    return next(t for t in manifest.pod_templates() if (t.owner_kind, t.owner_name) == (kind, name))


def env_var(kind: str, name: str, container: str = "containers[0]") -> str:
    """The path to an environment variable's value in a Job's or CronJob's container (every entry so named)."""
    return f'{POD[kind]}.spec.{container}.env[?name=="{name}"].value'


def volume(job: a.Documents, kind: str, name: str) -> str:
    """The path to the pod's volume of that name, once asserted that there is exactly one."""
    volumes = f"{POD[kind]}.spec.volumes"
    a.contains(job, volumes, {"name": name}, any=True, count=1)
    return f'{volumes}[?name=="{name}"]'


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
    cronjob = a.one(production, "CronJob", name)
    a.equal(cronjob, "spec.schedule", schedule)
    a.equal(cronjob, "spec.timeZone", "Etc/UTC")
    a.equal(cronjob, "spec.concurrencyPolicy", "Forbid")
    a.equal(cronjob, "spec.startingDeadlineSeconds", 3600)
    a.equal(cronjob, "spec.successfulJobsHistoryLimit", 3)
    a.equal(cronjob, "spec.failedJobsHistoryLimit", 3)
    a.equal(cronjob, "spec.jobTemplate.spec.backoffLimit", 1)
    a.equal(cronjob, "spec.jobTemplate.spec.activeDeadlineSeconds", 14400)
    a.equal(cronjob, f"{CRONJOB_POD}.spec.restartPolicy", "Never")
    a.equal(cronjob, 'metadata.annotations["archangel.io/backup-target"]', target)
    a.equal(cronjob, 'metadata.annotations["archangel.io/retention"]', retention)
    assert len(name) <= 52


def test_backups_and_retention_run_as_separate_jobs(production: Manifest) -> None:
    def runs(name: str, script: str) -> None:
        command = f"{CRONJOB_POD}.spec.containers[0].command"
        a.equal(a.one(production, "CronJob", name), command, ["/bin/sh", "-ec", script])

    runs("archangel-backup-database", "archangel-helm backup database")
    runs("archangel-backup-vectorstore", "archangel-helm backup vectorstore")
    runs(
        "archangel-backup-prune",
        "archangel-helm backup prune database --retention-days 30 --keep-verified 3 && "
        "archangel-helm backup prune vectorstore --retention-days 56 --keep-verified 2",
    )
    runs(
        "archangel-backup-verify",
        "archangel-helm backup verify database --restore --backup-id latest && "
        "archangel-helm backup verify vectorstore --restore --backup-id latest",
    )


def test_backup_pods_get_keys_and_credentials_as_files_and_no_api_access(production: Manifest) -> None:
    backup = a.one(production, "CronJob", "archangel-backup-database")
    for variable, value in {
        "ARCHANGEL_BACKUP_BUCKET": "archangel-backups-prod-example",
        "ARCHANGEL_BACKUP_PREFIX": "archangel/archangel",
        "ARCHANGEL_BACKUP_SSE": "aws:kms",
        "ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE": "/etc/archangel/backup-keys/encryption-key",
        "PGHOST": "archangel-postgresql-ro.archangel.svc",  # a replica of the Cluster
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": CA_FILE,
        "QDRANT_API_KEY_FILE": "/etc/archangel/credentials/qdrant-api-key",
        "TMPDIR": "/scratch",
    }.items():
        a.equal(backup, env_var("CronJob", variable), value)
    a.exists(backup, f"{CRONJOB_POD}.spec.containers[*].env[*].valueFrom.secretKeyRef", negate=True)
    a.is_subset(
        backup,
        f"{volume(backup, 'CronJob', 'backup-keys')}.secret",
        {
            "secretName": "archangel-generated",
            "items": [
                {"key": "backup-encryption-key", "path": "encryption-key"},
                {"key": "backup-mac-key", "path": "mac-key"},
            ],
        },
    )
    a.equal(backup, f"{CRONJOB_POD}.spec.automountServiceAccountToken", False)
    a.equal(backup, f"{CRONJOB_POD}.spec.serviceAccountName", "archangel-backup")
    a.match_regex(a.one(production, "ServiceAccount", "archangel-backup"), ROLE_ARN, r":role/archangel-backup\Z")


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
    snapshots = a.one(production, "CronJob", "archangel-volume-snapshots")
    a.equal(snapshots, f"{CRONJOB_POD}.spec.automountServiceAccountToken", True)
    a.equal(snapshots, f'{CRONJOB_POD}.metadata.labels["archangel.io/kube-api-client"]', "true")
    a.exists(snapshots, f'{CRONJOB_POD}.metadata.labels["archangel.io/data-client"]', negate=True)
    # Its only volume is tmp: no data-tier credentials, no backup keys.
    a.equal(snapshots, f"{CRONJOB_POD}.spec.volumes[*].name", "tmp")
    command = f"{CRONJOB_POD}.spec.containers[0].command"
    a.contains(snapshots, command, "app.kubernetes.io/name=archangel,app.kubernetes.io/instance=archangel")
    arguments = a.value_at(production.get("CronJob", "archangel-volume-snapshots"), command)
    assert arguments[:3] == ["archangel-helm", "backup", "snapshots"]
    assert arguments[arguments.index("--snapshot-class") + 1] == "archangel-snapshots"
    a.equal(
        a.one(production, "Role", "archangel-volume-snapshots"),
        "rules",
        [
            {
                "apiGroups": ["snapshot.storage.k8s.io"],
                "resources": ["volumesnapshots"],
                "verbs": ["create", "get", "list", "watch", "delete"],
            },
            {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list"]},
        ],
    )
    # Delete: the job prunes VolumeSnapshots, and only Delete takes the EBS snapshot with them (retention holds).
    snapshot_class = a.one(production, "VolumeSnapshotClass", "archangel-snapshots")
    a.equal(snapshot_class, "driver", "ebs.csi.aws.com")
    a.equal(snapshot_class, "deletionPolicy", "Delete")


def test_the_snapshot_selector_matches_the_data_volumes(production: Manifest) -> None:
    command = template(production, "CronJob", "archangel-volume-snapshots").containers(include_init=False)[0]["command"]
    selector = dict(term.split("=") for term in command[command.index("--selector") + 1].split(","))
    claims = [c for s in production.of_kind("StatefulSet") for c in s["spec"]["volumeClaimTemplates"]]
    assert claims
    assert all(matches({"matchLabels": selector}, c["metadata"]["labels"]) for c in claims)


def test_no_snapshot_job_without_the_snapshot_api(render_env: RenderEnv, environments: Any) -> None:
    apis = [api for api in environments["production"].api_versions if not api.startswith("snapshot.storage")]
    manifest = render_env("production", "archangel", api_versions=apis)
    a.contains_document(manifest, "CronJob", name="archangel-volume-snapshots", negate=True)
    a.contains_document(manifest, "CronJob", name="archangel-backup-database")


def test_the_backup_check_runs_after_install_and_upgrade(production: Manifest) -> None:
    check = a.one(production, "Job", "archangel-backup-check")
    a.equal(check, 'metadata.annotations["helm.sh/hook"]', "post-install,post-upgrade")
    a.equal(
        check,
        "spec.template.spec.containers[0].command",
        ["archangel-helm", "backup", "check", "--targets", "database", "vectorstore"],
    )
    report = {h.name: h for h in hook_report(production)}
    assert report["archangel-backup-check"].argo_phases == ("PostSync",)


def test_backup_jobs_reach_the_data_tier_the_bucket_and_the_pushgateway_only(production: Manifest) -> None:
    backup = a.one(production, "NetworkPolicy", "archangel-backup-jobs")
    # backup.s3.egressExcept, then networkPolicy.clusterCIDRs (the pods of a cluster outside RFC 1918 too)
    private = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    anywhere_but_the_cluster = {"cidr": "0.0.0.0/0", "except": [*private, "10.0.0.0/16", "172.20.0.0/16"]}
    a.equal(backup, "spec.egress[-1].to", [{"ipBlock": anywhere_but_the_cluster}])  # S3
    a.equal(backup, "spec.egress[-1].ports", [{"port": 443, "protocol": "TCP"}])
    selector = production.get("NetworkPolicy", "archangel-backup-jobs")["spec"]["podSelector"]
    pods = {t.ref for t in production.pod_templates() if matches(selector, t.labels)}
    assert pods == {
        "CronJob/archangel-backup-database",
        "CronJob/archangel-backup-vectorstore",
        "CronJob/archangel-backup-verify",
        "Job/archangel-backup-check",
    }
    pushgateway = a.one(production, "NetworkPolicy", "archangel-pushgateway-clients")
    a.equal(pushgateway, "spec.egress[0].ports", [{"port": 9091, "protocol": "TCP"}])
    a.contains(
        a.one(production, "NetworkPolicy", "archangel-postgresql"),
        "spec.ingress[0].from",
        {"podSelector": {"matchLabels": {"archangel.io/data-client": "true"}}},
        any=True,
    )


RESTORE = {"restore.enabled": True, "restore.requestId": "inc-42"}


def restore_job(manifest: Manifest, target: str = "database") -> a.Documents:
    """The one restore Job; its name ends in a hash of its pod template."""
    component = {"app.kubernetes.io/component": f"restore-{target}"}
    return a.select(manifest, kind="Job", labels=component, match_many=False)


def restore_job_name(manifest: Manifest, target: str = "database") -> str:
    (job,) = restore_job(manifest, target)
    return str(a.value_at(job, "metadata.name"))


def test_restore_job_only_when_asked(production: Manifest, render_env: RenderEnv) -> None:
    a.match_regex(a.select(production, kind="Job"), "metadata.name", "restore", negate=True)
    manifest = render_env(
        "production",
        "archangel",
        {**RESTORE, "restore.backupId": "20261101T020000Z", "restore.intoDatabase": "recovered"},
    )
    job = restore_job(manifest)
    a.equal(job, "spec.backoffLimit", 0)
    a.equal(
        job,
        "spec.template.spec.containers[0].command",
        [
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
        ],
    )


def test_the_restore_job_is_named_by_its_request_and_a_hash_of_its_template(render_env: RenderEnv) -> None:
    """A Job's template is immutable: any change of it (chart version, image, settings) makes a new Job, which
    then finds its request claimed and restores nothing, instead of an upgrade the API server refuses."""
    manifest = render_env("production", "archangel", RESTORE)
    a.match_regex(restore_job(manifest), "metadata.name", r"^archangel-restore-inc-42-[0-9a-f]{8}\Z")
    name = restore_job_name(manifest)
    assert restore_job_name(render_env("production", "archangel", RESTORE)) == name
    changed = render_env("production", "archangel", {**RESTORE, "tools.image.tag": "0.2.0"})
    assert restore_job_name(changed) != name
    another = render_env("production", "archangel", {**RESTORE, "restore.requestId": "inc-43"})
    a.match_regex(restore_job(another), "metadata.name", r"^archangel-restore-inc-43-")


def test_the_restore_claims_its_request_with_a_role_that_can_do_nothing_else(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", RESTORE)
    restore = restore_job(manifest)
    a.equal(restore, "spec.template.spec.serviceAccountName", "archangel-restore")
    a.equal(restore, "spec.template.spec.automountServiceAccountToken", True)
    a.equal(restore, 'spec.template.metadata.labels["archangel.io/kube-api-client"]', "true")
    # The claim is made in the pod's own namespace, read from the downward API.
    variables = "spec.template.spec.containers[0].env"
    a.contains(restore, variables, {"name": "POD_NAMESPACE"}, any=True, count=1)
    a.equal(
        restore,
        f'{variables}[?name=="POD_NAMESPACE"].valueFrom',
        {"fieldRef": {"fieldPath": "metadata.namespace"}},
    )
    a.equal(
        a.one(manifest, "Role", "archangel-restore"),
        "rules",
        [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["archangel-restore-inc-42"],
                "verbs": ["get", "patch"],
            },
        ],
    )
    backup_role = a.value_at(manifest.get("ServiceAccount", "archangel-backup"), ROLE_ARN)
    a.equal(a.one(manifest, "ServiceAccount", "archangel-restore"), ROLE_ARN, backup_role)
    reader = "arn:aws:iam::111122223333:role/archangel-restore"
    own = render_env(
        "production",
        "archangel",
        {**RESTORE, "restore.serviceAccount.annotations": {"eks.amazonaws.com/role-arn": reader}},
    )
    a.equal(a.one(own, "ServiceAccount", "archangel-restore"), ROLE_ARN, reader)


def test_a_restore_over_live_data_needs_maintenance(render_env: RenderEnv) -> None:
    for target in ("database", "vectorstore"):
        force = {**RESTORE, "restore.target": target, "restore.force": True}
        a.failed_template(
            partial(render_env, "production", "archangel", force),
            pattern=r"restore\.force into the live .* needs maintenance\.enabled=true",
        )
        a.renders(partial(render_env, "production", "archangel", {**force, "maintenance.enabled": True}))
    # Into another database the application does not use, nothing needs to stop.
    a.renders(
        lambda: render_env(
            "production", "archangel", {**RESTORE, "restore.force": True, "restore.intoDatabase": "recovered"}
        )
    )


def test_a_restore_needs_a_request_id(render_env: RenderEnv) -> None:
    a.failed_template(
        lambda: render_env("production", "archangel", {"restore.enabled": True, "restore.requestId": ""}),
        message="restore.requestId: name this restore",
    )


@pytest.mark.parametrize("request_id", ["Inc_42", "a-request-id-too-long"])
def test_the_schema_refuses_a_request_id_that_cannot_name_a_configmap_and_job(
    render_env: RenderEnv, request_id: str
) -> None:
    a.failed_values_schema(
        lambda: render_env("production", "archangel", {"restore.enabled": True, "restore.requestId": request_id}),
        "restore/requestId",
        "pattern",
    )


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_maintenance_holds_core_and_agents_at_zero_and_suspends_the_backups(
    render_env: RenderEnv, environment: str
) -> None:
    normal = render_env(environment, "archangel")
    held = render_env(environment, "archangel", {"maintenance.enabled": True})
    for name in ("archangel-core", "archangel-agents"):
        a.equal(a.one(held, "Deployment", name), "spec.replicas", 0)
    a.has_documents(held, 0, kind="HorizontalPodAutoscaler")
    a.has_documents(held, 0, kind="ScaledObject")
    a.has_documents(normal, kind="HorizontalPodAutoscaler")
    a.equal(a.select(held, kind="CronJob"), "spec.suspend", True)
    a.equal(a.select(normal, kind="CronJob"), "spec.suspend", False)


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
    a.failed_template(lambda: render_env("production", "archangel", values), message=message)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"backup.database.schedule": "daily"}, "/backup/database/schedule"),
        ({"backup.s3.bucket": "Bad_Bucket"}, "/backup/s3/bucket"),
        ({"restore.backupId": "yesterday"}, "/restore/backupId"),
    ],
)
def test_bad_backup_values_are_refused_by_the_schema(render_env: RenderEnv, values: dict[str, Any], field: str) -> None:
    a.failed_values_schema(lambda: render_env("production", "archangel", values), field)


# --- scratch space: a restore writes the whole downloaded and decrypted dump to /scratch ------------------------


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
    for kind, job in (
        ("CronJob", a.one(manifest, "CronJob", "archangel-backup-verify")),
        ("Job", restore_job(manifest)),
    ):
        claim = f"{volume(job, kind, 'scratch')}.ephemeral.volumeClaimTemplate.spec"
        a.greater_or_equal(job, f"{claim}.resources.requests.storage", database)
        a.equal(job, f"{claim}.accessModes", ["ReadWriteOnce"])
        (owner,) = job
        storage_class = a.one(manifest, "StorageClass", a.value_at(owner, f"{claim}.storageClassName"))
        a.equal(storage_class, "parameters.encrypted", "true")  # decrypted dumps land on this volume
        a.equal(storage_class, "reclaimPolicy", "Delete")  # a Retain class would keep one disk per run
        a.equal(job, f'{POD[kind]}.spec.containers[0].volumeMounts[?name=="scratch"].mountPath', "/scratch")
        a.equal(job, env_var(kind, "TMPDIR"), "/scratch")


def test_production_scratch_is_300_gi(production: Manifest) -> None:
    verify = a.one(production, "CronJob", "archangel-backup-verify")
    claim = f"{volume(verify, 'CronJob', 'scratch')}.ephemeral.volumeClaimTemplate.spec"
    a.equal(verify, f"{claim}.resources.requests.storage", "300Gi")
    a.equal(verify, f"{claim}.storageClassName", "scratch-ssd")


def test_jobs_that_stream_keep_the_small_emptydir(production: Manifest) -> None:
    """Backups stream the dump to S3 and the check writes nothing: no volume is provisioned for them."""
    for kind, name in (
        ("CronJob", "archangel-backup-database"),
        ("CronJob", "archangel-backup-vectorstore"),
        ("Job", "archangel-backup-check"),
    ):
        job = a.one(production, kind, name)
        a.equal(job, volume(job, kind, "scratch"), {"name": "scratch", "emptyDir": {"sizeLimit": "50Gi"}})


def test_without_an_ephemeral_size_every_job_uses_the_emptydir(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production", "archangel", {"backup.scratch": {"sizeLimit": "80Gi", "ephemeral": {"size": ""}}}
    )
    verify = a.one(manifest, "CronJob", "archangel-backup-verify")
    a.equal(verify, volume(verify, "CronJob", "scratch"), {"name": "scratch", "emptyDir": {"sizeLimit": "80Gi"}})


def test_a_scratch_claim_is_never_taken_for_a_data_volume(production: Manifest) -> None:
    """The snapshot job snapshots the claims its selector matches: never the scratch claims."""
    verify = a.one(production, "CronJob", "archangel-backup-verify")
    labels = f"{volume(verify, 'CronJob', 'scratch')}.ephemeral.volumeClaimTemplate.metadata.labels"
    a.equal(verify, f'{labels}["archangel.io/scratch"]', "true")
    command = template(production, "CronJob", "archangel-volume-snapshots").containers(include_init=False)[0]["command"]
    selector = command[command.index("--selector") + 1]
    wanted = dict(pair.split("=") for pair in selector.split(","))
    (owner,) = verify
    assert not matches({"matchLabels": wanted}, a.value_at(owner, labels))


def test_the_cluster_default_class_when_none_is_named(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"backup.scratch.ephemeral.storageClassName": ""})
    verify = a.one(manifest, "CronJob", "archangel-backup-verify")
    claim = f"{volume(verify, 'CronJob', 'scratch')}.ephemeral.volumeClaimTemplate.spec"
    a.exists(verify, claim)
    a.exists(verify, f"{claim}.storageClassName", negate=True)


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
    a.failed_values_schema(lambda: render_env("production", "archangel", values), field)


# --- the weekly verification restores into its own servers, never into production's ------------------------------


def postgresql_release(image: str) -> tuple[str, str]:
    """(PostgreSQL version, Debian release) of a PostgreSQL image: "...postgres:17.6-bookworm@sha256:..." and
    "...postgresql:17.6-standard-bookworm@sha256:..." are both ("17.6", "bookworm")."""
    parts = image.split("@", maxsplit=1)[0].rsplit(":", 1)[1].split("-")
    return parts[0], parts[-1]


@pytest.mark.parametrize("mode", SERVERS)
def test_verification_restores_into_sidecar_servers_on_its_scratch_volume(render_env: RenderEnv, mode: str) -> None:
    manifest = render_env("production", "archangel", SERVERS[mode][0])
    verify = a.one(manifest, "CronJob", "archangel-backup-verify")
    pod = template(manifest, "CronJob", "archangel-backup-verify")
    sidecars = {c["name"]: c for c in pod.spec["initContainers"]}
    assert set(sidecars) == {"verify-postgresql", "verify-qdrant"}
    postgresql = 'initContainers[?name=="verify-postgresql"]'
    qdrant = 'initContainers[?name=="verify-qdrant"]'
    init = f"{CRONJOB_POD}.spec.initContainers"
    a.equal(verify, f"{init}[*].restartPolicy", "Always")  # native sidecars: they stop with the job
    # The same servers as production's, so what restores here restores there: the builtin StatefulSet's very
    # image; CloudNativePG's operand image is another build (the sidecar runs database.postgresql.image), so at
    # least the same PostgreSQL release on the same Debian.
    image = "spec.template.spec.containers[0].image"
    if mode == "builtin":
        postgres_image = a.value_at(manifest.get("StatefulSet", "archangel-postgresql"), image)
        a.equal(verify, f"{CRONJOB_POD}.spec.{postgresql}.image", postgres_image)
    else:
        cluster = manifest.get("Cluster", "archangel-postgresql")["spec"]
        assert postgresql_release(sidecars["verify-postgresql"]["image"]) == postgresql_release(cluster["imageName"])
    qdrant_image = a.value_at(manifest.get("StatefulSet", "archangel-qdrant"), image)
    a.equal(verify, f"{CRONJOB_POD}.spec.{qdrant}.image", qdrant_image)
    a.match_regex(verify, env_var("CronJob", "PGDATA", postgresql), r"^/scratch/")
    a.contains(verify, f"{CRONJOB_POD}.spec.{postgresql}.args", "listen_addresses=127.0.0.1")
    a.match_regex(verify, env_var("CronJob", "QDRANT__STORAGE__STORAGE_PATH", qdrant), r"^/scratch/")
    a.exists(verify, f"{init}[*].startupProbe")
    for variable, value in {
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGSSLMODE": "disable",
        "QDRANT_URL": "http://127.0.0.1:6333",
    }.items():
        a.equal(verify, env_var("CronJob", variable), value)
    assert check_pod_security(pod) == []


@pytest.mark.parametrize("mode", SERVERS)
def test_backups_and_restores_still_talk_to_the_production_servers(render_env: RenderEnv, mode: str) -> None:
    values, read, write, sslmode = SERVERS[mode]
    manifest = render_env("production", "archangel", {**values, **RESTORE})
    for kind, job, host in (
        ("CronJob", a.one(manifest, "CronJob", "archangel-backup-database"), read),
        ("Job", restore_job(manifest), write),
    ):
        a.equal(job, env_var(kind, "PGHOST"), host)
        a.equal(job, env_var(kind, "PGSSLMODE"), sslmode)
        a.exists(job, f"{POD[kind]}.spec.initContainers", negate=True)


@pytest.mark.parametrize("mode", SERVERS)
def test_verification_against_the_production_servers_is_a_choice(render_env: RenderEnv, mode: str) -> None:
    values, _, write, sslmode = SERVERS[mode]
    manifest = render_env("production", "archangel", {**values, "backup.verify.isolated": False})
    verify = a.one(manifest, "CronJob", "archangel-backup-verify")
    a.equal(verify, env_var("CronJob", "PGHOST"), write)  # it restores into scratch databases
    a.equal(verify, env_var("CronJob", "PGSSLMODE"), sslmode)
    a.exists(verify, f"{CRONJOB_POD}.spec.initContainers", negate=True)
    only_database = render_env("production", "archangel", {**values, "backup.vectorStore.enabled": False})
    only_database_verify = a.one(only_database, "CronJob", "archangel-backup-verify")
    a.length_equal(only_database_verify, f"{CRONJOB_POD}.spec.initContainers", 1)
    a.equal(only_database_verify, f"{CRONJOB_POD}.spec.initContainers[0].name", "verify-postgresql")


def test_every_job_pod_asks_istio_for_a_native_sidecar(render_env: RenderEnv) -> None:
    # A classic istio-proxy never exits, so a Job (and a PreSync hook) in the mesh would never complete.
    manifest = render_env("production", "archangel", RESTORE)
    assert len(manifest.of_kind("Job")) + len(manifest.of_kind("CronJob")) >= 7
    for kind, pod in POD.items():
        a.equal(a.select(manifest, kind=kind), f'{pod}.metadata.annotations["sidecar.istio.io/nativeSidecar"]', "true")


def test_the_prune_job_has_its_own_identity_and_no_data_tier_access(production: Manifest) -> None:
    """A backup job that can delete could erase every copy; the prune job can delete but reaches no database."""
    prune = a.one(production, "CronJob", "archangel-backup-prune")
    account = f"{CRONJOB_POD}.spec.serviceAccountName"
    a.equal(prune, account, "archangel-backup-prune")
    a.equal(a.one(production, "CronJob", "archangel-backup-database"), account, "archangel-backup")
    backup_role = a.value_at(production.get("ServiceAccount", "archangel-backup"), ROLE_ARN)
    a.equal(a.one(production, "ServiceAccount", "archangel-backup-prune"), ROLE_ARN, backup_role, negate=True)
    a.exists(prune, f'{CRONJOB_POD}.metadata.labels["archangel.io/data-client"]', negate=True)
    a.equal(prune, f'{CRONJOB_POD}.metadata.labels["archangel.io/object-storage-client"]', "true")
    for variable in ("PGHOST", "QDRANT_URL", "ARCHANGEL_PG_PASSWORD_FILE"):
        a.contains(prune, f"{CRONJOB_POD}.spec.containers[0].env", {"name": variable}, any=True, negate=True)
    a.contains(prune, f"{CRONJOB_POD}.spec.volumes", {"name": "credentials"}, any=True, negate=True)


def test_production_refuses_a_prune_job_sharing_the_backup_identity(render_env: RenderEnv) -> None:
    a.failed_template(
        lambda: render_env("production", "archangel", {"backup.prune.serviceAccount.annotations": None}),
        message="backup.prune.serviceAccount.annotations: the prune job's own cloud identity",
    )
    backup_role = a.value_at(render_env("production", "archangel").get("ServiceAccount", "archangel-backup"), ROLE_ARN)
    shared = {"eks.amazonaws.com/role-arn": backup_role}
    a.failed_template(
        lambda: render_env("production", "archangel", {"backup.prune.serviceAccount.annotations": shared}),
        message="the prune job must have its own cloud identity",
    )
    # Without the requirement (the chart's default), the prune job falls back to the backup identity.
    staging = render_env("staging", "archangel")
    fallback = a.value_at(staging.get("ServiceAccount", "archangel-backup"), ROLE_ARN)
    a.equal(a.one(staging, "ServiceAccount", "archangel-backup-prune"), ROLE_ARN, fallback)
