"""TLS on the data tier the chart runs: who makes the certificates (cert-manager when its API is served, else
the secrets hook), that every name a client uses is in the server's certificate, that every client verifies,
and that PostgreSQL refuses plaintext. Staging has builtin PostgreSQL and no cert-manager (the hook makes the
certificates); production, CloudNativePG's certificates and cert-manager's for Qdrant. The servers and clients
themselves run in tests/e2e/test_data_tls.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from archangel_helm import Manifest, RenderError
from tests.charts.test_data_tier import BUILTIN, env_of, template_of

RenderEnv = Callable[..., Manifest]


def hook_spec(manifest: Manifest) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(manifest.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    return document


def server_names(manifest: Manifest, secret: str) -> list[str]:
    """The DNS names of the server certificate stored in `secret`, from the hook's spec or the Certificate."""
    certificates = hook_spec(manifest).get("certificates")
    if certificates:
        for server in certificates["servers"]:
            if server["secret"] == secret:
                return list(server["dnsNames"])
    for certificate in manifest.of_kind("Certificate"):
        if certificate["spec"]["secretName"] == secret:
            return list(certificate["spec"]["dnsNames"])
    raise AssertionError(f"no certificate is stored in {secret}")


def client_env(manifest: Manifest, component: str = "core") -> dict[str, Any]:
    return env_of(template_of(manifest, "Deployment", f"archangel-{component}").containers()[0])


def volume(manifest: Manifest, kind: str, name: str, volume_name: str) -> dict[str, Any]:
    (found,) = [v for v in template_of(manifest, kind, name).spec["volumes"] if v["name"] == volume_name]
    return dict(found)


def test_without_cert_manager_the_hook_makes_a_ca_and_a_certificate_per_server(staging: Manifest) -> None:
    certificates = hook_spec(staging)["certificates"]
    assert certificates["ca"] == {
        "secret": "archangel-data-ca",
        "commonName": "archangel data-tier CA",
        "validityDays": 3650,
    }
    assert [s["secret"] for s in certificates["servers"]] == ["archangel-postgresql-tls", "archangel-qdrant-tls"]
    assert not staging.of_kind("Certificate")
    assert not staging.of_kind("Issuer")
    # The hook may read and patch exactly those Secrets besides the generated one.
    (rule,) = [r for r in staging.get("Role", "archangel-secrets-hook")["rules"] if "resourceNames" in r]
    assert set(rule["resourceNames"]) == {
        "archangel-generated",
        "archangel-data-ca",
        "archangel-postgresql-tls",
        "archangel-qdrant-tls",
    }


def test_every_name_a_client_uses_is_in_the_servers_certificate(staging: Manifest, production: Manifest) -> None:
    for manifest in (staging, production):
        env = client_env(manifest)
        qdrant = urlsplit(env["QDRANT_URL"])
        assert qdrant.scheme == "https"
        assert qdrant.hostname in server_names(manifest, "archangel-qdrant-tls")
    backup = env_of(template_of(staging, "CronJob", "archangel-backup-database").containers()[0])
    for host in (client_env(staging)["DATABASE_HOST"], backup["PGHOST"]):
        assert host in server_names(staging, "archangel-postgresql-tls")
    # Qdrant's peers and PostgreSQL's pod address one another through the headless Service.
    assert "*.archangel-qdrant-hl.archangel-staging.svc" in server_names(staging, "archangel-qdrant-tls")


def test_every_client_verifies_the_server_against_the_ca_only(staging: Manifest) -> None:
    for kind, name in (
        ("Deployment", "archangel-core"),
        ("Deployment", "archangel-agents"),
        ("CronJob", "archangel-backup-database"),
        ("CronJob", "archangel-backup-vectorstore"),
    ):
        container = template_of(staging, kind, name).containers()[0]
        env = env_of(container)
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        ca_variables = {"DATABASE_SSLROOTCERT", "PGSSLROOTCERT", "QDRANT_CA_CERT_FILE"} & set(env)
        assert "QDRANT_CA_CERT_FILE" in ca_variables, name
        for variable in ca_variables:
            assert env[variable].startswith(tuple(mounts.values())), (name, variable)
        assert env.get("DATABASE_SSLMODE", env.get("PGSSLMODE")) == "verify-full", name
        for ca in ("database-ca", "vectorstore-ca"):
            # ca.crt only: the server's key never reaches a client pod.
            assert volume(staging, kind, name, ca)["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_postgresql_serves_tls_only(staging: Manifest) -> None:
    data = staging.get("ConfigMap", "archangel-postgresql")["data"]
    conf = data["postgresql.conf"]
    for line in (
        "ssl = on",
        "ssl_cert_file = '/etc/postgresql-tls/tls.crt'",
        "ssl_key_file = '/etc/postgresql-tls/tls.key'",
        "hba_file = '/etc/postgresql/pg_hba.conf'",
    ):
        assert line in conf.splitlines()
    rules = [line.split() for line in data["pg_hba.conf"].splitlines() if line and not line.startswith("#")]
    assert rules == [
        ["local", "all", "all", "trust"],
        ["hostssl", "all", "all", "all", "scram-sha-256"],
        ["hostnossl", "all", "all", "all", "reject"],
    ]
    tls = volume(staging, "StatefulSet", "archangel-postgresql", "tls")["secret"]
    # PostgreSQL refuses a key others can read; root-owned, group (fsGroup 999) read is what it accepts.
    assert (tls["secretName"], tls["defaultMode"]) == ("archangel-postgresql-tls", 0o440)
    pod = template_of(staging, "StatefulSet", "archangel-postgresql")
    exporter = env_of(next(c for c in pod.containers() if c["name"] == "metrics"))
    assert exporter["DATA_SOURCE_URI"].endswith("?sslmode=require")  # over TLS to 127.0.0.1 inside the pod
    reloader = next(c for c in pod.containers() if c["name"] == "config-reloader")
    assert "/etc/postgresql-tls/*" in reloader["command"][-1]  # a renewed certificate is reloaded
    assert {"name": "tls", "mountPath": "/etc/postgresql-tls", "readOnly": True} in reloader["volumeMounts"]


def test_qdrant_serves_https_and_its_metrics_are_scraped_verified(production: Manifest) -> None:
    qdrant = template_of(production, "StatefulSet", "archangel-qdrant").containers()[0]
    env = env_of(qdrant)
    assert env["QDRANT__SERVICE__ENABLE_TLS"] == "true"
    assert (env["QDRANT__TLS__CERT"], env["QDRANT__TLS__KEY"]) == ("/qdrant/tls/tls.crt", "/qdrant/tls/tls.key")
    (http,) = [p for p in production.get("Service", "archangel-qdrant")["spec"]["ports"] if p["name"] == "http"]
    assert http["appProtocol"] == "https"  # a mesh proxy must pass TLS through, not parse it as HTTP
    (endpoint,) = production.get("ServiceMonitor", "archangel-qdrant")["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"]["ca"] == {"secret": {"name": "archangel-qdrant-tls", "key": "ca.crt"}}
    assert endpoint["tlsConfig"]["serverName"] in server_names(production, "archangel-qdrant-tls")


def test_with_cert_manager_a_private_ca_issuer_signs_the_server_certificates(production: Manifest) -> None:
    assert "certificates" not in hook_spec(production)
    ca = production.get("Certificate", "archangel-data-ca")["spec"]
    assert ca["isCA"] is True
    assert ca["issuerRef"] == {"name": "archangel-data-ca-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}
    assert ca["privateKey"]["rotationPolicy"] == "Never"  # a renewed CA keeps the key its certificates chain to
    assert production.get("Issuer", "archangel-data-ca")["spec"] == {"ca": {"secretName": "archangel-data-ca"}}
    server = production.get("Certificate", "archangel-qdrant-tls")["spec"]
    assert server["issuerRef"]["name"] == "archangel-data-ca"
    assert {"server auth", "client auth"} <= set(server["usages"])
    # PostgreSQL is CloudNativePG's here: the operator makes its certificates.
    assert production.find("Certificate", "archangel-postgresql-tls") is None


def test_a_given_issuer_replaces_the_private_ca(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production", "archangel", {"dataTLS.certManager.issuerRef": {"name": "vault", "kind": "ClusterIssuer"}}
    )
    assert manifest.find("Certificate", "archangel-data-ca") is None
    assert not manifest.of_kind("Issuer")
    issuer = manifest.get("Certificate", "archangel-qdrant-tls")["spec"]["issuerRef"]
    assert issuer == {"name": "vault", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_tls_off_is_plaintext_everywhere(render_env: RenderEnv) -> None:
    manifest = render_env("staging", "archangel", {"dataTLS.enabled": False})
    env = client_env(manifest)
    assert env["DATABASE_SSLMODE"] == "disable"
    assert env["QDRANT_URL"].startswith("http://")
    assert "certificates" not in hook_spec(manifest)
    assert "pg_hba.conf" not in manifest.get("ConfigMap", "archangel-postgresql")["data"]


def test_builtin_in_production_gets_a_cert_manager_certificate(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", BUILTIN)
    names = manifest.get("Certificate", "archangel-postgresql-tls")["spec"]["dnsNames"]
    assert client_env(manifest)["DATABASE_HOST"] in names


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"dataTLS.certificates": "cert-manager"},
            "dataTLS.certificates is cert-manager but the cluster does not serve cert-manager.io/v1/Certificate",
        ),
        (
            {"dataTLS.hook": {"caValidityDays": 3650, "validityDays": 90, "renewBeforeDays": 90}},
            "dataTLS.hook.renewBeforeDays (90) must be less than dataTLS.hook.validityDays (90)",
        ),
        (
            {
                "secrets.generate.enabled": False,
                "database.auth.existingSecret": "db",
                "vectorStore.auth.existingSecret": "qdrant",
                "backup.encryption.existingSecret": "keys",
            },
            "secrets.generate.enabled is false but the data tier's TLS certificates would come from the secrets hook",
        ),
    ],
)
def test_impossible_choices_are_refused_naming_the_field(
    render_env: RenderEnv, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("staging", "archangel", values)
    assert message in caught.value.helm_message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"dataTLS.certificates": "acme"}, "/dataTLS/certificates"),
        ({"dataTLS.hook.validityDays": 0}, "/dataTLS/hook/validityDays"),
        ({"dataTLS.certManager.issuerRef.kind": "Vault"}, "/dataTLS/certManager/issuerRef/kind"),
        ({"dataTLS.certManager.duration": "90 days"}, "/dataTLS/certManager/duration"),
        ({"dataTLS.extra": True}, "extra"),
    ],
)
def test_the_schema_refuses_bad_values(render_env: RenderEnv, values: dict[str, Any], field: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("staging", "archangel", values)
    assert field in caught.value.helm_message
