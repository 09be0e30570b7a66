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

from archangel_helm import Chart, Manifest, RenderError
from archangel_helm.core.helm import Helm
from archangel_helm.plan.environments import Environment
from archangel_helm.validate import CrdSchemas, SchemaValidator, supported_kube_versions
from archangel_helm.validate.graph import check_graph
from archangel_helm.validate.references import check_references
from archangel_helm.validate.workload_rules import check_pdbs_allow_disruption
from tests.charts.test_data_tier import credentials, env_of, template_of
from tests.support.project import PROJECT

RenderEnv = Callable[..., Manifest]
CNPG_APIS = ["postgresql.cnpg.io/v1/Cluster", "postgresql.cnpg.io/v1/Pooler", "postgresql.cnpg.io/v1/ScheduledBackup",
             "barmancloud.cnpg.io/v1/ObjectStore"]  # fmt: skip
SITE = str(PROJECT / "values" / "examples" / "production-site.yaml")
CNPG = {"database.mode": "cloudnativepg", "database.cloudnativepg.image.digest": "sha256:" + "ab" * 32}
CLUSTER, POOLER, STORE = "archangel-postgresql", "archangel-pgbouncer", "archangel-pg-object-store"
NOON = "2026-12-04T10:30:00Z"


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
    assert cnpg.find("StatefulSet", CLUSTER) is None
    assert cnpg.find("Service", CLUSTER) is None  # the operator's -rw, -ro, -r services replace it
    spec = cnpg.get("Cluster", CLUSTER)["spec"]
    assert spec["instances"] == 3
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
    assert spec["affinity"] == {
        "enablePodAntiAffinity": True,
        "podAntiAffinityType": "required",
        "topologyKey": "kubernetes.io/hostname",
    }
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
    assert spec["enableSuperuserAccess"] is False
    assert spec["imageName"].endswith("@sha256:" + "ab" * 32)


def test_wal_and_base_backups_go_encrypted_to_the_backup_bucket_for_30_days(cnpg: Manifest) -> None:
    (plugin,) = cnpg.get("Cluster", CLUSTER)["spec"]["plugins"]
    assert plugin == {
        "name": "barman-cloud.cloudnative-pg.io",
        "isWALArchiver": True,
        "parameters": {"barmanObjectName": STORE, "serverName": CLUSTER},
    }
    store = cnpg.get("ObjectStore", STORE)["spec"]
    assert store["retentionPolicy"] == "30d"
    config = store["configuration"]
    assert config["destinationPath"] == "s3://archangel-backups-prod-example/archangel/archangel/cloudnativepg"
    assert config["s3Credentials"] == {"inheritFromIAMRole": True}
    assert (config["wal"]["encryption"], config["data"]["encryption"]) == ("aws:kms", "aws:kms")
    assert (config["wal"]["compression"], config["data"]["compression"]) == ("zstd", "lz4")
    # The IAM role reaches the instances, whose sidecar ships the WAL.
    annotations = cnpg.get("Cluster", CLUSTER)["spec"]["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations == {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/archangel-backup"}
    scheduled = cnpg.get("ScheduledBackup", "archangel-pg-base-backup")["spec"]
    assert scheduled["schedule"] == "0 0 2 * * *"
    assert (scheduled["method"], scheduled["cluster"]["name"], scheduled["immediate"]) == ("plugin", CLUSTER, True)


def test_static_s3_keys_and_a_kms_key_reach_the_object_store(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"backup.s3.existingSecret": "s3-keys", "backup.s3.kmsKeyId": "alias/archangel"})
    config = manifest.get("ObjectStore", STORE)["spec"]["configuration"]
    assert config["s3Credentials"] == {
        "accessKeyId": {"name": "s3-keys", "key": "accessKeyId"},
        "secretAccessKey": {"name": "s3-keys", "key": "secretAccessKey"},
    }
    assert config["wal"]["archiveAdditionalCommandArgs"] == ["--sse-kms-key-id=alias/archangel"]
    assert config["data"]["additionalCommandArgs"] == ["--sse-kms-key-id=alias/archangel"]


def test_core_and_agents_reach_pgbouncer_with_verify_full_against_the_operators_ca(cnpg: Manifest) -> None:
    alt_names = cnpg.get("Cluster", CLUSTER)["spec"]["certificates"]["serverAltDNSNames"]
    for workload in ("archangel-core", "archangel-agents"):
        template = template_of(cnpg, "Deployment", workload)
        env = env_of(template.containers()[0])
        assert env["DATABASE_HOST"] == f"{POOLER}.archangel.svc"
        assert env["DATABASE_HOST"] in alt_names  # verify-full through the pooler checks this very name
        assert (env["DATABASE_SSLMODE"], env["DATABASE_SSLROOTCERT"]) == (
            "verify-full",
            "/etc/archangel/database-ca/ca.crt",
        )
        (ca,) = [v for v in template.spec["volumes"] if v["name"] == "database-ca"]
        assert ca["secret"]["secretName"] == f"{CLUSTER}-ca"
        assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]  # never the CA's private key
        mounts = {m["name"]: m["mountPath"] for m in template.containers()[0]["volumeMounts"]}
        assert mounts["database-ca"] == "/etc/archangel/database-ca"
        assert credentials(template)["database-password"] == {"name": "archangel-generated", "key": "password"}


def test_dumps_read_a_replica_and_restores_write_the_primary_directly(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"restore.enabled": True, "restore.requestId": "inc-42"})
    dump = env_of(template_of(manifest, "CronJob", "archangel-backup-database").containers()[0])
    assert dump["PGHOST"] == f"{CLUSTER}-ro.archangel.svc"
    assert (dump["PGSSLMODE"], dump["PGSSLROOTCERT"]) == ("verify-full", "/etc/archangel/database-ca/ca.crt")
    restore = next(t for t in manifest.pod_templates() if t.owner_kind == "Job" and "restore" in t.owner_name)
    assert env_of(restore.containers()[0])["PGHOST"] == f"{CLUSTER}-rw.archangel.svc"  # not through PgBouncer
    single = render_cnpg({"database.cloudnativepg.instances": 1, "database.cloudnativepg.synchronous.number": 0})
    dump = env_of(template_of(single, "CronJob", "archangel-backup-database").containers()[0])
    assert dump["PGHOST"] == f"{CLUSTER}-r.archangel.svc"  # no replica: -ro would have no endpoint


def test_the_generated_secret_holds_the_username_and_password_cloudnativepg_bootstraps_from(cnpg: Manifest) -> None:
    spec = json.loads(cnpg.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    keys = {k["name"]: k for k in spec["keys"]}
    assert keys["username"] == {"name": "username", "value": "archangel"}
    assert keys["password"] == {"name": "password", "length": 32, "alphabet": "alphanumeric"}
    assert "database-password" not in keys
    initdb = cnpg.get("Cluster", CLUSTER)["spec"]["bootstrap"]["initdb"]
    assert initdb == {"database": "archangel", "owner": "archangel", "secret": {"name": spec["secret"]["name"]}}


def test_the_recovery_cluster_replays_to_the_target_from_the_object_store(render_cnpg: RenderEnv) -> None:
    manifest = render_cnpg({"database.cloudnativepg.recovery": {"enabled": True, "targetTime": "2026-12-04T10:30:00Z"}})
    spec = manifest.get("Cluster", "archangel-pg-recovery")["spec"]
    assert spec["bootstrap"]["recovery"]["recoveryTarget"] == {"targetTime": "2026-12-04T10:30:00Z"}
    (origin,) = spec["externalClusters"]
    assert origin["plugin"]["parameters"] == {"barmanObjectName": STORE, "serverName": CLUSTER}
    assert spec["bootstrap"]["recovery"]["source"] == origin["name"]
    assert "plugins" not in spec  # it never archives into the origin's serverName


def test_network_policies_admit_the_clients_the_operator_and_prometheus_only(cnpg: Manifest) -> None:
    policy = cnpg.get("NetworkPolicy", CLUSTER)["spec"]
    assert policy["podSelector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {5432, 8000, 9187}
    assert by_port[8000] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}}]
    peers = [p.get("podSelector", {}).get("matchLabels", {}) for p in by_port[5432]]
    assert {"cnpg.io/poolerName": POOLER} in peers
    assert {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"} in peers  # replication
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 5432, 443, 6443} <= egress_ports  # DNS, replication, the API server and S3
    pooler = cnpg.get("NetworkPolicy", POOLER)["spec"]
    assert pooler["podSelector"]["matchLabels"] == {"cnpg.io/poolerName": POOLER}


def test_every_object_validates_and_the_graph_resolves(cnpg: Manifest, crd_schemas: CrdSchemas) -> None:
    validator = SchemaValidator(supported_kube_versions(Chart.load(PROJECT / "charts" / "archangel")), crd_schemas)
    assert [str(p) for p in validator.validate(cnpg)] == []
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
    with pytest.raises(RenderError) as caught:
        render_cnpg(values, apis)
    assert message in caught.value.helm_message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"database.mode": "cnpg"}, "/database/mode"),
        ({"database.cloudnativepg.backup.schedule": "0 2 * * *"}, "schedule"),
        ({"database.cloudnativepg.backup.retentionPolicy": "30 days"}, "retentionPolicy"),
        ({"database.cloudnativepg.recovery.targetTime": "yesterday"}, "targetTime"),
        ({"database.cloudnativepg.synchronous.dataDurability": "maybe"}, "dataDurability"),
    ],
)
def test_the_schema_refuses_bad_values(render_cnpg: RenderEnv, values: dict[str, Any], field: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_cnpg(values)
    assert field in caught.value.helm_message


def test_uninstall_and_argo_cd_pruning_leave_the_cluster_and_its_data(cnpg: Manifest) -> None:
    annotations = cnpg.get("Cluster", CLUSTER)["metadata"]["annotations"]
    assert annotations["helm.sh/resource-policy"] == "keep"  # the operator deletes the volumes with the Cluster
    assert set(annotations["argocd.argoproj.io/sync-options"].split(",")) >= {"Delete=false", "Prune=false"}


def test_the_owner_may_create_databases_for_restores_into_a_new_or_scratch_database(cnpg: Manifest) -> None:
    (role,) = cnpg.get("Cluster", CLUSTER)["spec"]["managed"]["roles"]
    assert role == {
        "name": "archangel",
        "ensure": "present",
        "login": True,
        "createdb": True,
        "passwordSecret": {"name": "archangel-generated"},
    }


def test_the_test_restore_server_is_never_older_than_the_cluster(render_cnpg: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_cnpg({"database.postgresql.image.tag": "16.10-bookworm"})
    assert 'database.postgresql.image.tag "16.10-bookworm" runs the weekly test restore' in caught.value.helm_message
    assert "PostgreSQL 16, older than the cluster's 17" in caught.value.helm_message
    render_cnpg({"database.postgresql.image.tag": "18.1-bookworm"})  # newer restores the dump: accepted


def test_pgbouncer_survives_a_node_or_zone_and_a_drain_never_takes_every_pooler(cnpg: Manifest) -> None:
    template = cnpg.get("Pooler", POOLER)["spec"]["template"]["spec"]
    (spread,) = template["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["labelSelector"]["matchLabels"]) == (
        "topology.kubernetes.io/zone",
        {"cnpg.io/poolerName": POOLER},
    )
    pdb = cnpg.get("PodDisruptionBudget", POOLER)["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": {"cnpg.io/poolerName": POOLER}}}
    assert check_pdbs_allow_disruption(cnpg) == []
    # The check counts the operator's pods: a budget that blocks every drain of the 2 poolers is caught.
    blocking = copy.deepcopy(cnpg.get("PodDisruptionBudget", POOLER))
    blocking["spec"] = {"minAvailable": 2, "selector": blocking["spec"]["selector"]}
    objects = [o for o in cnpg if o["kind"] != "PodDisruptionBudget"] + [blocking]
    problems = check_pdbs_allow_disruption(Manifest.parse(yaml.safe_dump_all(objects)))
    assert [p.message for p in problems] == [
        "allows no voluntary disruption of Pooler/archangel-pgbouncer at its minimum of 2 replicas: node drains would block"
    ]
