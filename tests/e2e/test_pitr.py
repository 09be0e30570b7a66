"""Point-in-time recovery for real: PostgreSQL ships its WAL through barman-cloud (what the CloudNativePG Barman
Cloud plugin runs) to the S3 server, a base backup is taken, writes go on, and a fresh data directory is
recovered to a target time between two known writes: everything up to it is there, nothing after it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from archangel_helm.backup.postgres import psql
from tests.support import servers
from tests.support.barman import BarmanCloud, missing_barman_reason, recovered, wait_archived

ARCHIVE_TIMEOUT_SECONDS = 2  # production sets its own (values: database.cloudnativepg.archiveTimeout)


@dataclass
class Archiving:
    server: servers.PostgresServer
    barman: BarmanCloud
    base_backup: str


@pytest.fixture
def archiving(s3: servers.S3Server) -> Iterator[Archiving]:
    """A PostgreSQL archiving every WAL segment to S3, with one base backup taken."""
    if reason := servers.missing_postgres_reason() or missing_barman_reason():
        pytest.skip(reason)
    bucket = f"pitr-{secrets.token_hex(4)}"
    s3.client().create_bucket(Bucket=bucket)
    barman = BarmanCloud(s3.endpoint, f"s3://{bucket}/archangel", "archangel-db")
    settings = {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": barman.wal_archive_command(),
        "archive_timeout": f"{ARCHIVE_TIMEOUT_SECONDS}s",
    }
    with servers.postgres_server(settings=settings) as server:
        connection = server.connection()
        psql(
            connection, "CREATE TABLE ledger (id int PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp());"
        )
        psql(
            connection,
            "INSERT INTO ledger (id, note) SELECT i, 'before the base backup' FROM generate_series(1, 1000) i;",
        )
        yield Archiving(server, barman, barman.backup(connection))


def _ids_after_the_backup(server: servers.PostgresServer) -> list[str]:
    return psql(server.connection(), "SELECT id FROM ledger WHERE id > 1000 ORDER BY id;").split()


@pytest.mark.parametrize("kind", ["time", "lsn"])
def test_recovery_to_a_point_between_two_writes_keeps_the_first_and_not_the_second(
    archiving: Archiving, kind: str
) -> None:
    connection = archiving.server.connection()
    psql(connection, "INSERT INTO ledger (id, note) VALUES (2001, 'committed before the target');")
    time.sleep(0.3)
    point = psql(connection, "SELECT clock_timestamp();" if kind == "time" else "SELECT pg_current_wal_insert_lsn();")
    time.sleep(0.3)
    psql(connection, "INSERT INTO ledger (id, note) VALUES (2002, 'committed after the target');")
    # No pg_switch_wal: archive_timeout alone ships the segment holding the last commit (the RPO mechanism).
    wait_archived(connection, psql(connection, "SELECT pg_current_wal_lsn();"))

    with recovered(
        archiving.barman, archiving.base_backup, archiving.server, {f"recovery_target_{kind}": point}
    ) as server:
        assert _ids_after_the_backup(server) == ["2001"]
        assert psql(server.connection(), "SELECT count(*) FROM ledger WHERE id <= 1000;") == "1000"
    with recovered(
        archiving.barman, archiving.base_backup, archiving.server, {}
    ) as server:  # to the end of the archive: the second write was there to lose
        assert _ids_after_the_backup(server) == ["2001", "2002"]


def test_wal_and_base_backups_are_compressed_and_encrypted_at_rest(archiving: Archiving, s3: servers.S3Server) -> None:
    bucket, prefix = archiving.barman.destination.removeprefix("s3://").split("/", 1)
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    wal = [k for k in keys if "/wals/" in k]
    data = [k for k in keys if k.endswith((".tar.lz4", ".tar"))]
    assert wal
    assert all(k.endswith(".zst") for k in wal if not k.endswith(".history")), wal
    assert data
    assert all(k.endswith(".tar.lz4") for k in data), data
    for key in (wal[0], data[0]):
        assert client.head_object(Bucket=bucket, Key=key).get("ServerSideEncryption") == "AES256", key
