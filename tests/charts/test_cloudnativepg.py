"""database.mode=cloudnativepg: a CloudNativePG Cluster (3 instances, quorum synchronous replication, one per
node, spread over zones), PgBouncer, WAL archiving and base backups through the Barman Cloud plugin, a
point-in-time recovery Cluster on demand, verify-full TLS from every client, and the policies around it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from archangel_helm import Chart, Manifest
from archangel_helm.core.helm import Helm
from archangel_helm.plan.environments import Environment
from archangel_helm.testing import assertions as a
from archangel_helm.validate import CrdSchemas, SchemaValidator, supported_kube_versions
from archangel_helm.validate.graph import check_graph
from archangel_helm.validate.references import check_references
from archangel_helm.validate.workload_rules import check_pdbs_allow_disruption
from tests.charts.test_data_tier import credentials, template_of
from tests.support.project import PROJECT

RenderEnv = Callable[..., Manifest]
CNPG_APIS = ["postgresql.cnpg.io/v1/Cluster", "postgresql.cnpg.io/v1/Pooler", "postgresql.cnpg.io/v1/ScheduledBackup",
             "barmancloud.cnpg.io/v1/ObjectStore"]  # fmt: skip
SITE = str(PROJECT / "values" / "examples" / "production-site.yaml")
CNPG = {"database.mode": "cloudnativepg", "database.cloudnativepg.image.digest": "sha256:" + "ab" * 32}
CLUSTER, POOLER, STORE = "archangel-postgresql", "archangel-pgbouncer", "archangel-pg-object-store"
NOON = "2026-12-04T10:30:00Z"
INSTANCES = {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
POD = "spec.template.spec"  # the pod spec of a Deployment, a Job or a Pooler
CRONJOB_POD = "spec.jobTemplate.spec.template.spec"
CA_FILE = "/etc/archangel/database-ca/ca.crt"


def env(pod: str, variable: str) -> str:
    """The path to the value of an environment variable of a pod spec's first container."""
    return f'{pod}.containers[0].env[?name=="{variable}"].value'


@pytest.fixture(scope="module")
def render_cnpg(helm: Helm, environments: dict[str, Environment]) -> RenderEnv:
    """Production with its example site values (cloudnativepg mode), on a cluster serving the operator's APIs or,
    with `apis`, only those."""
    env = environments["production"]
    inputs = env.inputs("archangel").with_values(SITE)

    def _render(values: dict[str, Any] | None = None, apis: list[str] | None = None) -> Manifest:
        served = [a for a in env.api_versions if a not in CNPG_APIS] + (CNPG_APIS if apis is None else apis)
        return inputs.render({**CNPG, **(values or {})}, helm=helm, api_versions=served)

    return _render


@pytest.fixture(scope="module")
def cnpg(render_cnpg: RenderEnv) -> Manifest:
    return render_cnpg()


def test_the_cluster_is_three_instances_with_a_quorum_one_per_node_spread_over_zones(cnpg: Manifest) -> None:
    a.contains_document(cnpg, "StatefulSet", name=CLUSTER, negate=True)
    a.contains_document(cnpg, "Service", name=CLUSTER, negate=True)  # the operator's -rw, -ro, -r services replace it
    cluster = a.one(cnpg, "Cluster", CLUSTER)
    a.equal(cluster, "spec.instances", 3)
    a.equal(cluster, "spec.postgresql.synchronous", {"method": "any", "number": 1, "dataDurability": "required"})
    a.equal(
        cluster,
        "spec.affinity",
        {"enablePodAntiAffinity": True, "podAntiAffinityType": "required", "topologyKey": "kubernetes.io/hostname"},
    )
    a.length_equal(cluster, "spec.topologySpreadConstraints", 1)
    a.equal(cluster, "spec.topologySpreadConstraints[0].topologyKey", "topology.kubernetes.io/zone")
    a.equal(cluster, "spec.topologySpreadConstraints[0].labelSelector.matchLabels", INSTANCES)
    a.equal(cluster, "spec.enableSuperuserAccess", False)
    a.match_regex(cluster, "spec.imageName", "@sha256:" + "ab" * 32 + "$")


def test_wal_and_base_backups_go_encrypted_to_the_backup_bucket_for_30_days(cnpg: Manifest) -> None:
    cluster = a.one(cnpg, "Cluster", CLUSTER)
    plugin = {
        "name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": True,
        "parameters": {"barmanObjectName": STORE, "serverName": CLUSTER},
    }
    a.equal(cluster, "spec.plugins", [plugin])
    store = a.one(cnpg, "ObjectStore", STORE)
    a.equal(store, "spec.retentionPolicy", "30d")
    destination = "s3://archangel-backups-prod-example/archangel/archangel/cloudnativepg"
    a.equal(store, "spec.configuration.destinationPath", destination)
    a.equal(store, "spec.configuration.s3Credentials", {"inheritFromIAMRole": True})
    a.equal(store, "spec.configuration.wal.encryption", "aws:kms")
    a.equal(store, "spec.configuration.data.encryption", "aws:kms")
    a.equal(store, "spec.configuration.wal.compression", "zstd")
    a.equal(store, "spec.configuration.data.compression", "lz4")
    # The IAM role reaches the instances, whose sidecar ships the WAL.
    role = {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/archangel-backup"}
    a.equal(cluster, "spec.serviceAccountTemplate.metadata.annotations", role)
    scheduled = a.one(cnpg, "ScheduledBackup", "archangel-pg-base-backup")
    a.equal(scheduled, "spec.schedule", "0 0 2 * * *")
    a.is_subset(scheduled, "spec", {"method": "plugin", "cluster": {"name": CLUSTER}, "immediate": True})


def test_static_s3_keys_and_a_kms_key_reach_the_object_store(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"backup.s3.existingSecret": "s3-keys", "backup.s3.kmsKeyId": "alias/archangel"})
    store = a.one(manifest, "ObjectStore", STORE)
    a.equal(
        store,
        "spec.configuration.s3Credentials",
        {
            "accessKeyId": {"name": "s3-keys", "key": "accessKeyId"},
            "secretAccessKey": {"name": "s3-keys", "key": "secretAccessKey"},
        },
    )
    a.equal(store, "spec.configuration.wal.archiveAdditionalCommandArgs", ["--sse-kms-key-id=alias/archangel"])
    a.equal(store, "spec.configuration.data.additionalCommandArgs", ["--sse-kms-key-id=alias/archangel"])


def test_core_and_agents_reach_pgbouncer_with_verify_full_against_the_operators_ca(cnpg: Manifest) -> None:
    # verify-full through the pooler checks this very name
    a.contains(a.one(cnpg, "Cluster", CLUSTER), "spec.certificates.serverAltDNSNames", f"{POOLER}.archangel.svc")
    for workload in ("archangel-core", "archangel-agents"):
        deployment = a.one(cnpg, "Deployment", workload)
        a.equal(deployment, env(POD, "DATABASE_HOST"), f"{POOLER}.archangel.svc")
        a.equal(deployment, env(POD, "DATABASE_SSLMODE"), "verify-full")
        a.equal(deployment, env(POD, "DATABASE_SSLROOTCERT"), CA_FILE)
        a.contains(deployment, f"{POD}.volumes", {"name": "database-ca"}, any=True, count=1)
        ca = f'{POD}.volumes[?name=="database-ca"].secret'
        a.equal(deployment, f"{ca}.secretName", f"{CLUSTER}-ca")
        a.equal(deployment, f"{ca}.items", [{"key": "ca.crt", "path": "ca.crt"}])  # never the CA's private key
        mount = f'{POD}.containers[0].volumeMounts[?name=="database-ca"].mountPath'
        a.equal(deployment, mount, "/etc/archangel/database-ca")
        template = template_of(cnpg, "Deployment", workload)
        assert credentials(template)["database-password"] == {"name": "archangel-generated", "key": "password"}


def test_dumps_read_a_replica_and_restores_write_the_primary_directly(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"restore.enabled": True, "restore.requestId": "inc-42"})
    dump = a.one(manifest, "CronJob", "archangel-backup-database")
    a.equal(dump, env(CRONJOB_POD, "PGHOST"), f"{CLUSTER}-ro.archangel.svc")
    a.equal(dump, env(CRONJOB_POD, "PGSSLMODE"), "verify-full")
    a.equal(dump, env(CRONJOB_POD, "PGSSLROOTCERT"), CA_FILE)
    restore = a.select(manifest, kind="Job", template="backup/restore-job.yaml", match_many=False)
    a.equal(restore, env(POD, "PGHOST"), f"{CLUSTER}-rw.archangel.svc")  # not through PgBouncer
    single = render_cnpg({"database.cloudnativepg.instances": 1, "database.cloudnativepg.synchronous.number": 0})
    dump = a.one(single, "CronJob", "archangel-backup-database")
    a.equal(dump, env(CRONJOB_POD, "PGHOST"), f"{CLUSTER}-r.archangel.svc")  # no replica: -ro would have no endpoint


def test_the_generated_secret_holds_the_username_and_password_cloudnativepg_bootstraps_from(cnpg: Manifest) -> None:
    spec = json.loads(cnpg.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    keys = {k["name"]: k for k in spec["keys"]}
    assert keys["username"] == {"name": "username", "value": "archangel"}
    assert keys["password"] == {"name": "password", "length": 32, "alphabet": "alphanumeric"}
    assert "database-password" not in keys
    initdb = {"database": "archangel", "owner": "archangel", "secret": {"name": spec["secret"]["name"]}}
    a.equal(a.one(cnpg, "Cluster", CLUSTER), "spec.bootstrap.initdb", initdb)


def test_the_recovery_cluster_replays_to_the_target_from_the_object_store(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"database.cloudnativepg.recovery": {"enabled": True, "targetTime": "2026-12-04T10:30:00Z"}})
    recovery = a.one(manifest, "Cluster", "archangel-pg-recovery")
    a.equal(recovery, "spec.bootstrap.recovery.recoveryTarget", {"targetTime": "2026-12-04T10:30:00Z"})
    a.length_equal(recovery, "spec.externalClusters", 1)
    a.equal(recovery, "spec.externalClusters[0].plugin.parameters", {"barmanObjectName": STORE, "serverName": CLUSTER})
    origin = a.value_at(manifest.get("Cluster", "archangel-pg-recovery"), "spec.externalClusters[0].name")
    a.equal(recovery, "spec.bootstrap.recovery.source", origin)
    a.exists(recovery, "spec.plugins", negate=True)  # it never archives into the origin's serverName


def test_network_policies_admit_the_clients_the_operator_and_prometheus_only(cnpg: Manifest) -> None:
    instances = a.one(cnpg, "NetworkPolicy", CLUSTER)
    a.equal(instances, "spec.podSelector.matchLabels", INSTANCES)
    policy = cnpg.get("NetworkPolicy", CLUSTER)["spec"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {5432, 8000, 9187}
    assert by_port[8000] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}}]
    peers = [p.get("podSelector", {}).get("matchLabels", {}) for p in by_port[5432]]
    assert {"cnpg.io/poolerName": POOLER} in peers
    assert INSTANCES in peers  # replication
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 5432, 443, 6443} <= egress_ports  # DNS, replication, the API server and S3
    a.equal(a.one(cnpg, "NetworkPolicy", POOLER), "spec.podSelector.matchLabels", {"cnpg.io/poolerName": POOLER})


def test_every_object_validates_and_the_graph_resolves(cnpg: Manifest, crd_schemas: CrdSchemas) -> None:
    validator = SchemaValidator(supported_kube_versions(Chart.load(PROJECT / "charts" / "archangel")), crd_schemas)
    a.is_valid_schema(cnpg, validator)
    assert [str(p) for p in check_graph(cnpg)] == []
    assert [str(p) for p in check_references(cnpg)] == []  # the CA Secret is the operator's


@pytest.mark.parametrize(
    ("values", "apis", "message"),
    [
        ({}, [], "database.mode is cloudnativepg, but the cluster does not serve postgresql.cnpg.io/v1"),
        ({}, ["postgresql.cnpg.io/v1/Cluster"], "the cluster does not serve barmancloud.cnpg.io/v1"),
        (
            {"backup.s3.bucket": "", "backup.enabled": False},  # no logical backups, still the WAL archive
            None,
            "set backup.s3.bucket, where the WAL archive and base backups go",
        ),
        (
            {"database.cloudnativepg.instances": 2, "database.cloudnativepg.synchronous.number": 2},
            None,
            "2 synchronous replicas need at least 3 instances",
        ),
        (
            {"database.cloudnativepg.recovery": {"enabled": True, "targetTime": NOON, "targetLSN": "0/3000060"}},
            None,
            "set targetTime or targetLSN, not both",
        ),
        (
            {"database.auth.existingSecret": "db", "database.auth.existingSecretPasswordKey": "pw"},
            None,
            'existingSecretPasswordKey must be "password" in cloudnativepg mode',
        ),
    ],
)
def test_what_cannot_work_is_refused_with_the_field_named(
    render_cnpg: RenderEnv, values: dict[str, Any], apis: list[str] | None, message: str
) -> None:
    a.failed_template(lambda: render_cnpg(values, apis), message=message)


@pytest.mark.parametrize(
    ("values", "field", "keyword"),
    [
        ({"database.mode": "cnpg"}, "database/mode", "enum"),
        ({"database.cloudnativepg.backup.schedule": "0 2 * * *"}, "database/cloudnativepg/backup/schedule", "pattern"),
        (
            {"database.cloudnativepg.backup.retentionPolicy": "30 days"},
            "database/cloudnativepg/backup/retentionPolicy",
            "pattern",
        ),
        (
            {"database.cloudnativepg.recovery.targetTime": "yesterday"},
            "database/cloudnativepg/recovery/targetTime",
            "pattern",
        ),
        (
            {"database.cloudnativepg.synchronous.dataDurability": "maybe"},
            "database/cloudnativepg/synchronous/dataDurability",
            "enum",
        ),
    ],
)
def test_the_schema_refuses_bad_values(
    render_cnpg: RenderEnv, values: dict[str, Any], field: str, keyword: str
) -> None:
    a.failed_values_schema(lambda: render_cnpg(values), field, keyword)


def test_uninstall_and_argo_cd_pruning_leave_the_cluster_and_its_data(cnpg: Manifest) -> None:
    cluster = a.one(cnpg, "Cluster", CLUSTER)
    # the operator deletes the volumes with the Cluster
    a.equal(cluster, 'metadata.annotations["helm.sh/resource-policy"]', "keep")
    annotations = cnpg.get("Cluster", CLUSTER)["metadata"]["annotations"]
    assert set(annotations["argocd.argoproj.io/sync-options"].split(",")) >= {"Delete=false", "Prune=false"}


def test_the_owner_may_create_databases_for_restores_into_a_new_or_scratch_database(cnpg: Manifest) -> None:
    role = {
        "name": "archangel",
        "ensure": "present",
        "login": True,
        "createdb": True,
        "passwordSecret": {"name": "archangel-generated"},
    }
    a.equal(a.one(cnpg, "Cluster", CLUSTER), "spec.managed.roles", [role])


def test_the_test_restore_server_is_never_older_than_the_cluster(render_cnpg: RenderEnv) -> None:
    error = a.failed_template(
        lambda: render_cnpg({"database.postgresql.image.tag": "16.10-bookworm"}),
        message='database.postgresql.image.tag "16.10-bookworm" runs the weekly test restore',
    )
    a.failed_template(error, message="PostgreSQL 16, older than the cluster's 17")
    a.renders(lambda: render_cnpg({"database.postgresql.image.tag": "18.1-bookworm"}))  # newer restores the dump


def test_pgbouncer_survives_a_node_or_zone_and_a_drain_never_takes_every_pooler(cnpg: Manifest) -> None:
    pooler = a.one(cnpg, "Pooler", POOLER)
    a.length_equal(pooler, f"{POD}.topologySpreadConstraints", 1)
    a.equal(pooler, f"{POD}.topologySpreadConstraints[0].topologyKey", "topology.kubernetes.io/zone")
    a.equal(pooler, f"{POD}.topologySpreadConstraints[0].labelSelector.matchLabels", {"cnpg.io/poolerName": POOLER})
    pdb = {"maxUnavailable": 1, "selector": {"matchLabels": {"cnpg.io/poolerName": POOLER}}}
    a.equal(a.one(cnpg, "PodDisruptionBudget", POOLER), "spec", pdb)
    assert check_pdbs_allow_disruption(cnpg) == []
    # The check counts the operator's pods: a budget that blocks every drain of the 2 poolers is caught.
    blocking = copy.deepcopy(cnpg.get("PodDisruptionBudget", POOLER))
    blocking["spec"] = {"minAvailable": 2, "selector": blocking["spec"]["selector"]}
    objects = [o for o in cnpg if o["kind"] != "PodDisruptionBudget"] + [blocking]
    problems = check_pdbs_allow_disruption(Manifest.parse(yaml.safe_dump_all(objects)))
    assert [p.message for p in problems] == [
        "allows no voluntary disruption of Pooler/archangel-pgbouncer at its minimum of 2 replicas: node drains would block"
    ]
