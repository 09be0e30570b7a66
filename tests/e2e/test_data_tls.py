"""TLS on the data tier, for real: PostgreSQL runs with the configuration and pg_hba.conf the chart renders and
a certificate made by the secrets hook's code from the chart's own spec (the names clients use); libpq and the
backup engine connect with verify-full as the chart's pods do; a wrong CA, a wrong name and plaintext are
refused. The Qdrant stand-in serves https with a certificate from the same code, and the backup engine
verifies it by the CA file the chart mounts."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.hooks.certificates import (
    CaSpec,
    PemKeyPair,
    ServerCertificateSpec,
    issue_server_certificate,
    new_ca,
    parse_certificates,
)
from tests.charts.test_data_tier import env_of, template_of
from tests.support import servers
from tests.support.backup_env import BackupEnv
from tests.support.qdrant_standin import QdrantStandIn

pytestmark = pytest.mark.skipif(servers.missing_postgres_reason() is not None, reason="no PostgreSQL binaries")
NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def staging(render_env: Callable[..., Manifest]) -> Manifest:
    """Builtin PostgreSQL and Qdrant, no cert-manager: the hook makes the certificates."""
    return render_env("staging", "archangel")


@dataclass(frozen=True)
class ChartTls:
    ca: PemKeyPair
    postgresql: PemKeyPair
    postgresql_names: tuple[str, ...]
    qdrant: ServerCertificateSpec


@pytest.fixture(scope="module")
def chart_tls(staging: Manifest) -> ChartTls:
    """The CA and PostgreSQL's certificate, made as the hook makes them from the spec the chart renders."""
    spec = json.loads(staging.get("ConfigMap", "archangel-secrets-hook")["data"]["spec.json"])
    certificates = parse_certificates(spec["certificates"], "certificates")
    ca = new_ca(certificates.ca, NOW)
    servers_by_secret = {s.secret: s for s in certificates.servers}
    postgresql = servers_by_secret["archangel-postgresql-tls"]
    return ChartTls(
        ca,
        issue_server_certificate(ca, postgresql, NOW),
        postgresql.dns_names,
        servers_by_secret["archangel-qdrant-tls"],
    )


@pytest.fixture(scope="module")
def server(staging: Manifest, chart_tls: ChartTls) -> Iterator[servers.PostgresServer]:
    """PostgreSQL with the chart's postgresql.conf and pg_hba.conf and the hook-made certificate."""
    with servers.chart_postgres_server(
        staging.get("ConfigMap", "archangel-postgresql")["data"], chart_tls.postgresql
    ) as started:
        yield started


@pytest.fixture(scope="module")
def ca_file(chart_tls: ChartTls, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("client") / "ca.crt"
    path.write_text(chart_tls.ca.certificate_pem)
    return path


@pytest.fixture(scope="module")
def wrong_ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wrong") / "ca.crt"
    path.write_text(new_ca(CaSpec("wrong", "another data-tier CA", 30), NOW).certificate_pem)
    return path


def chart_client_env(staging: Manifest) -> dict[str, Any]:
    """The backup CronJob's libpq settings, exactly as the chart renders them."""
    return env_of(template_of(staging, "CronJob", "archangel-backup-database").containers()[0])


def libpq(server: servers.PostgresServer, host: str, sslmode: str, ca: Path | None) -> dict[str, str]:
    """The connection as the chart's pods make it: PGHOST is the Service name the certificate is checked
    against; PGHOSTADDR is where that name resolves to here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=host,
        PGHOSTADDR="127.0.0.1",
        PGPORT=str(server.port),
        PGUSER="postgres",
        PGDATABASE="postgres",
        PGSSLMODE=sslmode,
        PGPASSWORD=server.password_file.read_text().strip(),
        PGCONNECT_TIMEOUT="10",
    )
    if ca is not None:
        env["PGSSLROOTCERT"] = str(ca)
    return env


def psql(env: dict[str, str], sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["psql", "-qAtX", "-c", sql], env=env, capture_output=True, text=True, check=False)


def test_libpq_connects_with_verify_full_by_the_name_the_chart_gives_its_clients(
    server: servers.PostgresServer, staging: Manifest, ca_file: Path
) -> None:
    chart = chart_client_env(staging)
    assert chart["PGSSLMODE"] == "verify-full"
    result = psql(
        libpq(server, chart["PGHOST"], chart["PGSSLMODE"], ca_file),
        "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()",
    )
    assert result.returncode == 0, result.stderr
    ssl_on, version = result.stdout.strip().split("|")
    assert ssl_on == "t"
    assert version in ("TLSv1.2", "TLSv1.3")


def test_a_wrong_ca_a_wrong_name_and_plaintext_are_refused(
    server: servers.PostgresServer, staging: Manifest, chart_tls: ChartTls, ca_file: Path, wrong_ca_file: Path
) -> None:
    host = chart_client_env(staging)["PGHOST"]
    wrong_ca = psql(libpq(server, host, "verify-full", wrong_ca_file), "select 1")
    assert wrong_ca.returncode != 0
    assert "certificate verify failed" in wrong_ca.stderr
    assert "archangel-other.example" not in chart_tls.postgresql_names
    wrong_name = psql(libpq(server, "archangel-other.example", "verify-full", ca_file), "select 1")
    assert wrong_name.returncode != 0
    assert "does not match host name" in wrong_name.stderr
    plaintext = psql(libpq(server, host, "disable", None), "select 1")
    assert plaintext.returncode != 0
    assert "pg_hba.conf rejects connection" in plaintext.stderr
    assert "no encryption" in plaintext.stderr


def test_the_backup_engine_backs_up_over_verified_tls_and_refuses_a_wrong_ca(
    server: servers.PostgresServer, staging: Manifest, backup_env: BackupEnv, ca_file: Path, wrong_ca_file: Path
) -> None:
    admin = libpq(server, chart_client_env(staging)["PGHOST"], "verify-full", ca_file)
    assert psql(admin, "drop database if exists tls_app").returncode == 0
    assert psql(admin, "create database tls_app").returncode == 0
    chart = chart_client_env(staging)
    env = {
        "PGHOST": chart["PGHOST"],
        "PGHOSTADDR": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGUSER": "postgres",
        "PGDATABASE": "tls_app",
        "PGSSLMODE": chart["PGSSLMODE"],
        "PGSSLROOTCERT": str(ca_file),
        "ARCHANGEL_PG_PASSWORD_FILE": str(server.password_file),
    }
    code, out, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 0, err
    assert "backup id: " in out
    code, _, err = backup_env.run("backup", "database", extra_env={**env, "PGSSLROOTCERT": str(wrong_ca_file)})
    assert code == 1
    assert "certificate verify failed" in err


@pytest.fixture
def qdrant_tls(chart_tls: ChartTls, tmp_path: Path) -> Iterator[QdrantStandIn]:  # its API key: tmp_path / "api-key"
    """The stand-in over https with a certificate made by the hook's code from the chart's Qdrant spec; the
    names are the chart's plus localhost, the name under which the stand-in is reached here."""
    spec = chart_tls.qdrant
    local = ServerCertificateSpec(spec.secret, spec.common_name, (*spec.dns_names, "localhost"), 825, 180)
    pair = issue_server_certificate(chart_tls.ca, local, NOW)
    (tmp_path / "tls.crt").write_text(pair.certificate_pem)
    (tmp_path / "tls.key").write_text(pair.key_pem)
    with QdrantStandIn(
        "qdrant-test-key-" + "k" * 20, tls=(tmp_path / "tls.crt", tmp_path / "tls.key"), host="localhost"
    ) as qdrant:
        (tmp_path / "api-key").write_text(qdrant.state.api_key)
        qdrant.state.collections["memories"] = [{"id": i, "vector": [0.1, 0.9], "payload": {}} for i in range(20)]
        yield qdrant


def test_the_backup_engine_verifies_qdrants_certificate_by_the_ca_file(
    qdrant_tls: QdrantStandIn, staging: Manifest, backup_env: BackupEnv, ca_file: Path, wrong_ca_file: Path
) -> None:
    chart = env_of(template_of(staging, "CronJob", "archangel-backup-vectorstore").containers()[0])
    assert chart["QDRANT_URL"].startswith("https://")
    assert chart["QDRANT_CA_CERT_FILE"] == "/etc/archangel/vectorstore-ca/ca.crt"
    key = backup_env.workdir / "api-key"  # the tests tmp_path, where qdrant_tls wrote it
    env = {"QDRANT_URL": qdrant_tls.url, "QDRANT_API_KEY_FILE": str(key), "QDRANT_CA_CERT_FILE": str(ca_file)}
    code, out, err = backup_env.run("backup", "vectorstore", extra_env=env)
    assert code == 0, err
    assert "backup id: " in out
    code, _, err = backup_env.run("backup", "vectorstore", extra_env={**env, "QDRANT_CA_CERT_FILE": str(wrong_ca_file)})
    assert code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in err
    # Without the CA file, the system's CAs do not know the data tier's private CA either.
    code, _, err = backup_env.run("backup", "vectorstore", extra_env={**env, "QDRANT_CA_CERT_FILE": ""})
    assert code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in err


def test_a_ca_file_with_a_plain_http_url_is_a_configuration_error(backup_env: BackupEnv, ca_file: Path) -> None:
    env = {"QDRANT_URL": "http://127.0.0.1:1", "QDRANT_CA_CERT_FILE": str(ca_file)}
    code, _, err = backup_env.run("backup", "vectorstore", extra_env=env)
    assert code == 2, err
    assert "--qdrant-ca-file is set but --qdrant-url http://127.0.0.1:1 is not https" in err
