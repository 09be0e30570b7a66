"""Storage classes, PostgreSQL and Qdrant: kept volumes, hardening, credentials from the generated or an existing
Secret, and the external modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest, RenderError
from archangel_helm.core.manifest import PodTemplate, annotations_of
from archangel_helm.core.quantity import parse_quantity
from archangel_helm.validate.selectors import selected_pod_templates
from tests.support.project import PROJECT

RenderEnv = Callable[..., Manifest]
# Production's PostgreSQL is a CloudNativePG Cluster (database.mode cloudnativepg). The builtin StatefulSet is
# tested as production would run it in the builtin mode: production's other settings (storage and priority
# classes, mesh, policies, site values) still apply, and its database sizing, now the Cluster's, moves to the
# StatefulSet. The site values pin the Cluster's image now, not the exporter's: its digest is set here.
_PRODUCTION_DATABASE = yaml.safe_load((PROJECT / "values" / "production.yaml").read_text())["database"]["cloudnativepg"]
BUILTIN: dict[str, Any] = {
    "database.mode": "builtin",
    "database.postgresql.metrics.image.digest": "sha256:" + "cd" * 32,
    "database.postgresql.resources": _PRODUCTION_DATABASE["resources"],
    "database.postgresql.parameters": _PRODUCTION_DATABASE["parameters"],
    "database.postgresql.persistence.size": _PRODUCTION_DATABASE["storage"]["size"],
    "database.postgresql.priorityClassName": _PRODUCTION_DATABASE["priorityClassName"],
}


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


@pytest.fixture(scope="module")
def builtin(render_env: RenderEnv) -> Manifest:
    """Production with the builtin StatefulSet (BUILTIN): what the StatefulSet's own tests render."""
    return render_env("production", "archangel", BUILTIN)


def template_of(manifest: Manifest, kind: str, name: str) -> PodTemplate:
    return next(t for t in manifest.pod_templates() if (t.owner_kind, t.owner_name) == (kind, name))


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def credentials(template: PodTemplate) -> dict[str, dict[str, str]]:
    """File name under /etc/archangel/credentials -> the Secret and key it comes from."""
    (volume,) = [v for v in template.spec["volumes"] if v["name"] == "credentials"]
    return {
        item["path"]: {"name": source["secret"]["name"], "key": item["key"]}
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


# --- storage classes ---------------------------------------------------------------------------------------


def test_production_has_encrypted_expandable_storage_classes_that_keep_data_and_drop_scratch(
    production: Manifest,
) -> None:
    classes = {o["metadata"]["name"]: o for o in production.of_kind("StorageClass")}
    assert set(classes) == {"fast-ssd", "standard-ssd", "scratch-ssd"}
    assert classes["fast-ssd"]["parameters"] == {"type": "io2", "iopsPerGB": "50", "encrypted": "true"}
    assert classes["standard-ssd"]["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert classes["scratch-ssd"]["parameters"] == {"type": "gp3", "encrypted": "true"}
    for storage_class in classes.values():
        assert storage_class["provisioner"] == "ebs.csi.aws.com"
        assert storage_class["allowVolumeExpansion"] is True
        assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
        assert "namespace" not in storage_class["metadata"]
    # Data volumes outlive their claims; the jobs' ephemeral scratch volumes must not (one disk per run).
    assert {n: c["reclaimPolicy"] for n, c in classes.items()} == {
        "fast-ssd": "Retain",
        "standard-ssd": "Retain",
        "scratch-ssd": "Delete",
    }


def test_a_kms_key_is_passed_to_the_provisioner(render_env: RenderEnv) -> None:
    key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd"
    manifest = render_env("production", "archangel", {"storage.classes.fast.kmsKeyId": key})
    assert manifest.get("StorageClass", "fast-ssd")["parameters"]["kmsKeyId"] == key


def test_an_unencrypted_ebs_class_is_refused(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env(
            "production", "archangel", {"storage.classes.standard.parameters": {"type": "gp3", "encrypted": "false"}}
        )
    assert 'storage.classes.standard.parameters.encrypted must be "true"' in caught.value.helm_message


def test_every_claim_uses_a_rendered_storage_class(production: Manifest) -> None:
    classes = {o["metadata"]["name"] for o in production.of_kind("StorageClass")}
    claims = [c["spec"] for s in production.of_kind("StatefulSet") for c in s["spec"]["volumeClaimTemplates"]]
    claims += [
        volume["ephemeral"]["volumeClaimTemplate"]["spec"]
        for pod in production.pod_templates()
        for volume in pod.spec.get("volumes", [])
        if "ephemeral" in volume
    ]
    used = {c["storageClassName"] for c in claims}
    # The CloudNativePG operator claims each instance's data and WAL volumes from the Cluster's storage classes.
    (cluster,) = production.of_kind("Cluster")
    used |= {cluster["spec"][volume]["storageClass"] for volume in ("storage", "walStorage")}
    assert used == classes


# --- PostgreSQL ---------------------------------------------------------------------------------------------
# The builtin StatefulSet's own behaviour: production with BUILTIN (production itself runs CloudNativePG, whose
# Cluster, clients and policies tests/charts/test_cloudnativepg.py covers).


def test_postgresql_statefulset_keeps_its_data(builtin: Manifest) -> None:
    statefulset = builtin.get("StatefulSet", "archangel-postgresql")["spec"]
    assert statefulset["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (claim,) = statefulset["volumeClaimTemplates"]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "fast-ssd",
        "resources": {"requests": {"storage": "200Gi"}},
    }
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false"


def test_postgresql_runs_the_pinned_official_image_as_the_postgres_user(builtin: Manifest) -> None:
    template = template_of(builtin, "StatefulSet", "archangel-postgresql")
    postgres = template.containers()[0]
    assert postgres["image"].split("@")[0] == "docker.io/library/postgres:17.6-bookworm"
    assert template.spec["securityContext"]["runAsUser"] == 999
    assert template.spec["securityContext"]["fsGroup"] == 999
    env = env_of(postgres)
    assert env["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert env["POSTGRES_PASSWORD_FILE"] == "/etc/archangel/credentials/database-password"
    assert "POSTGRES_PASSWORD" not in env  # a file, never an environment variable
    (volume,) = [v for v in template.spec["volumes"] if v["name"] == "password"]
    assert volume["secret"]["secretName"] == "archangel-generated"
    assert volume["secret"]["items"] == [{"key": "database-password", "path": "database-password"}]
    mounts = {m["name"]: m["mountPath"] for m in postgres["volumeMounts"]}
    assert mounts["data"] == "/var/lib/postgresql/data"
    assert mounts["run"] == "/var/run/postgresql"
    assert mounts["shm"] == "/dev/shm"


def test_postgresql_probes_use_pg_isready(builtin: Manifest) -> None:
    postgres = template_of(builtin, "StatefulSet", "archangel-postgresql").containers()[0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert "pg_isready" in postgres[probe]["exec"]["command"][-1]


def test_postgresql_settings_come_from_values_through_its_configuration_file(builtin: Manifest) -> None:
    postgres = template_of(builtin, "StatefulSet", "archangel-postgresql")
    assert postgres.containers()[0]["args"] == ["-c", "config_file=/etc/postgresql/postgresql.conf"]
    conf = builtin.get("ConfigMap", "archangel-postgresql")["data"]["postgresql.conf"]
    assert "shared_buffers = '2GB'" in conf.splitlines()
    assert "max_connections = '300'" in conf.splitlines()
    volume = next(v for v in postgres.spec["volumes"] if v["name"] == "config")
    assert volume == {"name": "config", "configMap": {"name": "archangel-postgresql"}}  # no subPath: it updates


def pod_template(manifest: Manifest, name: str) -> dict[str, Any]:
    template: dict[str, Any] = manifest.get("StatefulSet", name)["spec"]["template"]
    return template


@pytest.mark.parametrize(
    ("parameters", "restarts"),
    [
        ({"work_mem": "32MB", "random_page_cost": "1.5", "log_min_duration_statement": "500"}, False),
        ({"shared_buffers": "3GB"}, True),
        ({"max_connections": "400"}, True),
    ],
)
def test_only_a_start_only_parameter_restarts_postgresql(
    builtin: Manifest, render_env: RenderEnv, parameters: dict[str, str], restarts: bool
) -> None:
    """Reloadable parameters reach the server through the mounted ConfigMap and the config-reloader; a change to
    the pod template (a rolling restart of the database) is for the parameters PostgreSQL reads at start only."""
    key = "database.postgresql.parameters"
    tuned = render_env("production", "archangel", {**BUILTIN, key: {**BUILTIN[key], **parameters}})
    assert tuned.get("ConfigMap", "archangel-postgresql") != builtin.get("ConfigMap", "archangel-postgresql")
    changed = pod_template(tuned, "archangel-postgresql") != pod_template(builtin, "archangel-postgresql")
    assert changed is restarts


@pytest.mark.parametrize("name", ["archangel-postgresql", "archangel-qdrant"])
def test_a_chart_release_does_not_restart_the_data_tier(builtin: Manifest, name: str) -> None:
    """helm.sh/chart and app.kubernetes.io/version change with every chart release; in a pod template they would
    roll PostgreSQL and Qdrant each time for nothing they run differently. (The builtin StatefulSet: a Cluster's
    pods are the operator's; Qdrant's StatefulSet is production's in either mode.)"""
    labels = pod_template(builtin, name)["metadata"]["labels"]
    assert "helm.sh/chart" not in labels
    assert "app.kubernetes.io/version" not in labels
    statefulset = builtin.get("StatefulSet", name)
    assert statefulset["metadata"]["labels"]["helm.sh/chart"].startswith("archangel-")  # the object keeps them
    assert set(statefulset["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())


def test_postgresql_has_client_and_headless_services(builtin: Manifest) -> None:
    client = builtin.get("Service", "archangel-postgresql")
    headless = builtin.get("Service", "archangel-postgresql-hl")
    assert headless["spec"]["clusterIP"] == "None"
    assert builtin.get("StatefulSet", "archangel-postgresql")["spec"]["serviceName"] == "archangel-postgresql-hl"
    for service in (client, headless):
        (selected,) = selected_pod_templates(service["spec"]["selector"], builtin.pod_templates(), plain=True)
        assert selected.ref == "StatefulSet/archangel-postgresql"
    assert {p["name"]: p["port"] for p in client["spec"]["ports"]} == {"postgresql": 5432, "metrics": 9187}


def test_postgres_exporter_reads_the_same_password_file(builtin: Manifest) -> None:
    containers = template_of(builtin, "StatefulSet", "archangel-postgresql").containers()
    (exporter,) = [c for c in containers if c["name"] == "metrics"]
    assert env_of(exporter)["DATA_SOURCE_PASS_FILE"] == "/etc/archangel/credentials/database-password"
    assert {"name": "password", "mountPath": "/etc/archangel/credentials", "readOnly": True} in exporter["volumeMounts"]


def test_an_existing_password_secret_replaces_the_generated_one(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {**BUILTIN, "database.auth": {"existingSecret": "pg-creds", "existingSecretPasswordKey": "pw"}},
    )
    statefulset = template_of(manifest, "StatefulSet", "archangel-postgresql")
    (volume,) = [v for v in statefulset.spec["volumes"] if v["name"] == "password"]
    assert (volume["secret"]["secretName"], volume["secret"]["items"][0]["key"]) == ("pg-creds", "pw")
    core = credentials(template_of(manifest, "Deployment", "archangel-core"))
    assert core["database-password"] == {"name": "pg-creds", "key": "pw"}
    spec = manifest.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"]
    assert "database-password" not in spec


def test_an_existing_secret_bootstraps_the_production_cluster(render_env: RenderEnv) -> None:
    """CloudNativePG reads the keys username and password of the Secret (the key cannot be chosen)."""
    manifest = render_env("production", "archangel", {"database.auth.existingSecret": "pg-creds"})
    initdb = manifest.get("Cluster", "archangel-postgresql")["spec"]["bootstrap"]["initdb"]
    assert initdb["secret"] == {"name": "pg-creds"}
    core = credentials(template_of(manifest, "Deployment", "archangel-core"))
    assert core["database-password"] == {"name": "pg-creds", "key": "password"}
    keys = {
        k["name"] for k in json.loads(manifest.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])["keys"]
    }
    assert not keys & {"username", "password", "database-password"}


def test_external_database_renders_no_statefulset(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "database.mode": "external",
            "database.external": {
                "host": "pg.example.internal",
                "port": 6432,
                "sslmode": "verify-full",
            },
            "database.auth.existingSecret": "pg-external",
        },
    )
    assert manifest.find("StatefulSet", "archangel-postgresql") is None
    assert manifest.find("Service", "archangel-postgresql") is None
    env = env_of(template_of(manifest, "Deployment", "archangel-core").containers()[0])
    assert (env["DATABASE_HOST"], env["DATABASE_PORT"], env["DATABASE_SSLMODE"]) == (
        "pg.example.internal",
        "6432",
        "verify-full",
    )
    assert credentials(template_of(manifest, "Deployment", "archangel-core"))["database-password"] == {
        "name": "pg-external",
        "key": "password",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"database.mode": "external", "database.external": {"host": "pg.example"}},
            "database.mode is external: set database.auth.existingSecret",
        ),
        (
            {"database.mode": "external", "database.auth.existingSecret": "s"},
            "database.external.host is required when database.mode is external",
        ),
        ({"vectorStore.external.enabled": True}, "vectorStore.external.url is required"),
    ],
)
def test_external_modes_refuse_missing_settings(render_env: RenderEnv, values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    assert message in caught.value.helm_message


# --- Qdrant ---------------------------------------------------------------------------------------------------


def test_qdrant_statefulset(production: Manifest) -> None:
    template = template_of(production, "StatefulSet", "archangel-qdrant")
    qdrant = template.containers()[0]
    assert qdrant["image"].split("@")[0] == "docker.io/qdrant/qdrant:v1.16.3-unprivileged"
    assert {p["name"]: p["containerPort"] for p in qdrant["ports"]} == {"http": 6333, "grpc": 6334, "p2p": 6335}
    # Over TLS: the kubelet's probe speaks https (it checks no certificate; clients do).
    assert qdrant["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTPS"}
    assert qdrant["livenessProbe"]["httpGet"]["scheme"] == qdrant["startupProbe"]["httpGet"]["scheme"] == "HTTPS"
    env = env_of(qdrant)
    assert env["QDRANT__SERVICE__API_KEY"] == {"secretKeyRef": {"name": "archangel-generated", "key": "qdrant-api-key"}}
    assert env["QDRANT__STORAGE__SNAPSHOTS_PATH"] == "/qdrant/snapshots"
    assert env["QDRANT_INIT_FILE_PATH"].startswith("/qdrant/init/")
    mounts = {m["mountPath"] for m in qdrant["volumeMounts"]}
    assert {"/qdrant/storage", "/qdrant/snapshots", "/qdrant/init", "/tmp"} <= mounts
    (claim,) = production.get("StatefulSet", "archangel-qdrant")["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "standard-ssd"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize(
    ("mode", "host", "password_key"),
    [
        # production: through PgBouncer, and the password under the key CloudNativePG reads
        ("cloudnativepg", "archangel-pgbouncer.archangel.svc", "password"),
        ("builtin", "archangel-postgresql.archangel.svc", "database-password"),
    ],
)
def test_workloads_reach_the_data_tier_with_credentials_as_files(
    production: Manifest, builtin: Manifest, mode: str, host: str, password_key: str
) -> None:
    manifest = production if mode == "cloudnativepg" else builtin
    for component in ("core", "agents"):
        template = template_of(manifest, "Deployment", f"archangel-{component}")
        main = template.containers()[0]
        env = env_of(main)
        assert env["QDRANT_URL"] == "https://archangel-qdrant.archangel.svc:6333"
        assert env["QDRANT_CA_CERT_FILE"] == "/etc/archangel/vectorstore-ca/ca.crt"
        assert env["DATABASE_HOST"] == host
        assert env["DATABASE_SSLMODE"] == "verify-full"
        assert env["DATABASE_PASSWORD_FILE"] == "/etc/archangel/credentials/database-password"
        assert env["QDRANT_API_KEY_FILE"] == "/etc/archangel/credentials/qdrant-api-key"
        assert not [e for e in main["env"] if "secretKeyRef" in e.get("valueFrom", {})]
        assert credentials(template) == {
            "database-password": {"name": "archangel-generated", "key": password_key},
            "qdrant-api-key": {"name": "archangel-generated", "key": "qdrant-api-key"},
        }


def test_external_qdrant(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "vectorStore.external": {"enabled": True, "url": "https://qdrant.example:6333"},
            "vectorStore.auth.existingSecret": "qdrant-cloud",
        },
    )
    assert manifest.find("StatefulSet", "archangel-qdrant") is None
    template = template_of(manifest, "Deployment", "archangel-agents")
    assert env_of(template.containers()[0])["QDRANT_URL"] == "https://qdrant.example:6333"
    assert credentials(template)["qdrant-api-key"] == {"name": "qdrant-cloud", "key": "api-key"}


def test_every_volume_claim_is_kept(production: Manifest) -> None:
    claims = [c for s in production.of_kind("StatefulSet") for c in s["spec"]["volumeClaimTemplates"]]
    claims += production.of_kind("PersistentVolumeClaim")
    assert claims
    for claim in claims:
        assert annotations_of(claim)["helm.sh/resource-policy"] == "keep"
        assert annotations_of(claim)["argocd.argoproj.io/sync-options"] == "Delete=false"


def test_qdrant_stages_snapshots_on_its_data_volume_not_the_node_disk(production: Manifest) -> None:
    statefulset = production.get("StatefulSet", "archangel-qdrant")
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    for path, sub_path in (("/qdrant/storage", "storage"), ("/qdrant/snapshots", "snapshots"), ("/qdrant/tmp", "tmp")):
        assert (mounts[path]["name"], mounts[path]["subPath"]) == ("storage", sub_path)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QDRANT__STORAGE__SNAPSHOTS_PATH"] == "/qdrant/snapshots"
    assert env["QDRANT__STORAGE__TEMP_PATH"] == "/qdrant/tmp"
    # What is left on the node's disk is small and bounded (besides the certificate's Secret).
    for volume in statefulset["spec"]["template"]["spec"]["volumes"]:
        if "secret" in volume:
            continue
        assert parse_quantity(volume["emptyDir"]["sizeLimit"]) <= parse_quantity("256Mi"), volume["name"]
