"""PostgreSQL backups end to end: a real PostgreSQL server, a local S3 server (moto) and the openssl CLI.

`archangel-helm backup database` then `archangel-helm restore database` (the same as `backup restore`)
round-trips a database, the objects interoperate with the openssl CLI in both directions, and damaged or
mismatched backups are refused before anything is written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path

import pytest

from archangel_helm.backup.catalog import Catalog
from archangel_helm.backup.crypto import PBKDF2_ITERATIONS
from archangel_helm.backup.database import TocCopy, verify
from archangel_helm.backup.errors import IntegrityError
from archangel_helm.backup.keys import load_keys
from archangel_helm.backup.manifest import Artifact, BackupManifest
from archangel_helm.backup.postgres import Connection, psql, row_counts
from archangel_helm.backup.storage import ObjectStore, StoreConfig
from tests.support.backup_env import BackupEnv
from tests.support.servers import PostgresServer

SEED = """
CREATE TYPE mood AS ENUM ('calm', 'alert');
CREATE TABLE agents (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, mood mood NOT NULL DEFAULT 'calm',
                     config jsonb NOT NULL DEFAULT '{}', created timestamptz NOT NULL DEFAULT now());
CREATE TABLE decisions (id bigserial PRIMARY KEY, agent_id bigint NOT NULL REFERENCES agents(id), score numeric(10,4),
                        payload bytea, note text);
CREATE INDEX decisions_agent ON decisions (agent_id);
CREATE SCHEMA audit;
CREATE TABLE audit.events (at timestamptz NOT NULL, what text NOT NULL);
CREATE VIEW busy_agents AS SELECT agent_id, count(*) FROM decisions GROUP BY agent_id;
INSERT INTO agents (name, mood, config) SELECT 'agent-' || i, CASE WHEN i % 3 = 0 THEN 'alert'::mood ELSE 'calm' END,
       jsonb_build_object('i', i, 'tags', jsonb_build_array('a', i)) FROM generate_series(1, 500) i;
INSERT INTO decisions (agent_id, score, payload, note) SELECT 1 + (i % 500), i / 7.0, decode(md5(i::text), 'hex'),
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'note ' || i END FROM generate_series(1, 20000) i;
INSERT INTO audit.events SELECT now() - (i || ' minutes')::interval, 'event ' || i FROM generate_series(1, 1000) i;
"""


def fingerprint(connection: Connection, database: str) -> dict[str, str]:
    """md5 of every table's full content, ordered: equal fingerprints mean every row survived."""
    tables = row_counts(connection, database)
    return {
        table: psql(connection, f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t;", database)
        for table in tables
    }


def schema(connection: Connection, database: str) -> str:
    out = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--restrict-key=fixed", database],
        capture_output=True,
        text=True,
        env=connection.env(database),
        check=True,
    ).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith("--"))


@pytest.fixture
def source_db(postgres: PostgresServer) -> tuple[Connection, str]:
    name = f"app_{os.urandom(4).hex()}"
    admin = postgres.connection()
    psql(admin, f"CREATE DATABASE {name};")
    psql(admin, SEED, name)
    return postgres.connection(name), name


def pg_env(backup_env: BackupEnv, postgres: PostgresServer, database: str) -> dict[str, str]:
    return {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "PGUSER": "postgres",
        "PGDATABASE": database,
        "ARCHANGEL_PG_PASSWORD_FILE": str(postgres.password_file),
    }


def catalog_for(backup_env: BackupEnv) -> Catalog:
    store = ObjectStore(
        StoreConfig(backup_env.bucket, "prod", "us-east-1", backup_env.s3.endpoint), backup_env.s3.client()
    )
    return Catalog(store, load_keys(backup_env.encryption_key, backup_env.mac_key), log=lambda _: None)


def backup_once(backup_env: BackupEnv, env: dict[str, str]) -> str:
    code, out, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 0, err
    return out.strip().rsplit("backup id: ", 1)[1]


# --- round trip ----------------------------------------------------------------------------------------------


def test_backup_then_restore_round_trips_schema_and_every_row(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_id = backup_once(backup_env, env)
    keys = set(backup_env.objects())
    assert keys == {
        f"prod/database/{backup_id}/{f}" for f in ("database.dump.zst.enc", "globals.sql.zst.enc", "manifest.json")
    }

    restored = f"{name}_restored"
    code, out, err = backup_env.run("restore", "database", "--into", restored, extra_env=env)
    assert code == 0, err
    assert f"restored {backup_id} into database {restored}: 3 tables, 21,500 rows" in out
    progress = out + err
    assert "[1/3 tables] data for table" in progress, progress  # pg_restore --verbose, as it goes
    assert "[3/3 tables] data for table" in progress
    admin = postgres.connection()
    assert schema(admin, restored) == schema(admin, name)
    assert fingerprint(admin, restored) == fingerprint(admin, name)


def test_manifest_records_what_a_restore_needs(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    backup_id = backup_once(backup_env, pg_env(backup_env, postgres, name))
    document = json.loads(
        backup_env.s3.client()
        .get_object(Bucket=backup_env.bucket, Key=f"prod/database/{backup_id}/manifest.json")["Body"]
        .read()
    )
    database = next(a for a in document["artifacts"] if a["name"] == "database")
    assert database["details"]["row_counts"] == {"audit.events": 1000, "public.agents": 500, "public.decisions": 20000}
    assert document["encryption"]["iterations"] == PBKDF2_ITERATIONS
    assert document["versions"]["server"].startswith(("15", "16", "17"))
    assert {"pg_dump", "pg_dumpall", "archangel-helm"} <= set(document["versions"])
    assert database["encrypted_bytes"] == backup_env.objects()[database["key"]]
    assert len(database["sha256"]) == len(database["hmac"]) == 64
    assert document["manifest_hmac"]


def test_row_counts_come_from_the_dumps_snapshot_even_under_writes(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    connection, name = source_db
    writer = subprocess.Popen(
        [
            "psql",
            "-X",
            "-q",
            "-c",
            "INSERT INTO audit.events SELECT now(), 'late ' || i FROM generate_series(1, 300000) i;",
        ],
        env=connection.env(name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        backup_id = backup_once(backup_env, pg_env(backup_env, postgres, name))
    finally:
        writer.wait()
    restored = f"{name}_snap"
    code, _, err = backup_env.run(
        "backup",
        "restore",
        "database",
        "--backup-id",
        backup_id,
        "--into",
        restored,
        extra_env=pg_env(backup_env, postgres, name),
    )
    assert code == 0, err  # the restore compares every table's count with the manifest


# --- openssl interoperability ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("openssl_cli")
def test_the_openssl_cli_checks_and_decrypts_a_backup(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    _, name = source_db
    backup_id = backup_once(backup_env, pg_env(backup_env, postgres, name))
    key = f"prod/database/{backup_id}/database.dump.zst.enc"
    sealed = tmp_path / "database.dump.zst.enc"
    backup_env.s3.client().download_file(backup_env.bucket, key, str(sealed))
    manifest = json.loads(
        backup_env.s3.client()
        .get_object(Bucket=backup_env.bucket, Key=f"prod/database/{backup_id}/manifest.json")["Body"]
        .read()
    )
    expected = next(a["hmac"] for a in manifest["artifacts"] if a["name"] == "database")
    mac_hex = backup_env.mac_key.read_bytes().strip().hex()
    dgst = subprocess.run(
        ["openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{mac_hex}", str(sealed)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert dgst.strip().endswith(expected)
    dump = tmp_path / "database.dump"
    subprocess.run(
        f"openssl enc -d -aes-256-cbc -pbkdf2 -iter {PBKDF2_ITERATIONS} -md sha256 "
        f"-pass file:{backup_env.encryption_key} -in {sealed} | zstd -d > {dump}",
        shell=True,
        check=True,
    )
    toc = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public decisions" in toc


@pytest.mark.usefixtures("openssl_cli")
@pytest.mark.parametrize(
    "made_by",
    [
        # the format of backups made before 0.2.0: gzip, and an id without its random part
        ("gzip -6", "gzip", "gz", "20261101T020000Z"),
        ("zstd -q -3", "zstd", "zst", "20261101T020000Z-0a1b2c3d"),
    ],
)
def test_the_engine_restores_a_backup_made_with_the_shell_tools(
    backup_env: BackupEnv,
    postgres: PostgresServer,
    source_db: tuple[Connection, str],
    tmp_path: Path,
    made_by: tuple[str, str, str, str],
) -> None:
    compress, algorithm, suffix, backup_id = made_by
    connection, name = source_db
    sealed = tmp_path / f"database.dump.{suffix}.enc"
    # What an operator could do by hand, with no archangel code involved.
    subprocess.run(
        f"pg_dump -Fc -Z0 {name} | {compress} | openssl enc -aes-256-cbc -salt -pbkdf2 -iter {PBKDF2_ITERATIONS} "
        f"-md sha256 -pass file:{backup_env.encryption_key} -out {sealed}",
        shell=True,
        check=True,
        env=connection.env(name),
    )
    globals_sealed = tmp_path / f"globals.sql.{suffix}.enc"
    subprocess.run(
        f"pg_dumpall --globals-only --no-role-passwords | {compress} | openssl enc -aes-256-cbc -salt -pbkdf2 "
        f"-iter {PBKDF2_ITERATIONS} -md sha256 -pass file:{backup_env.encryption_key} -out {globals_sealed}",
        shell=True,
        check=True,
        env=connection.env(name),
    )
    catalog = catalog_for(backup_env)
    artifacts = []
    for artifact_name, path, fmt in (("database", sealed, "pg_dump-custom"), ("globals", globals_sealed, "sql")):
        data = path.read_bytes()
        key = catalog.store.key("database", backup_id, path.name)
        backup_env.s3.client().put_object(Bucket=backup_env.bucket, Key=key, Body=data)
        mac = hmac.new(backup_env.mac_key.read_bytes().strip(), data, hashlib.sha256).hexdigest()
        details = {"row_counts": row_counts(connection, name)} if artifact_name == "database" else {}
        artifacts.append(
            Artifact(
                artifact_name,
                key,
                fmt,
                0,
                0,
                len(data),
                hashlib.sha256(data).hexdigest(),
                mac,
                data[8:16].hex(),
                details,
            )
        )
    catalog.commit(
        BackupManifest(
            "database",
            backup_id,
            "",
            "",
            0.0,
            artifacts,
            {"iterations": PBKDF2_ITERATIONS},
            {"algorithm": algorithm},
            {},
            {},
        )
    )
    code, _, err = backup_env.run(
        "backup",
        "restore",
        "database",
        "--backup-id",
        backup_id,
        "--into",
        f"{name}_fromcli",
        extra_env=pg_env(backup_env, postgres, name),
    )
    assert code == 0, err
    assert fingerprint(postgres.connection(), f"{name}_fromcli") == fingerprint(postgres.connection(), name)


# --- damaged, truncated, mismatched: refused before anything is written --------------------------------------


def _damage(backup_env: BackupEnv, key: str, change: str) -> None:
    client = backup_env.s3.client()
    data = bytearray(client.get_object(Bucket=backup_env.bucket, Key=key)["Body"].read())
    if change == "flip":
        data[len(data) // 2] ^= 0x01
    elif change == "truncate":
        del data[-4096:]
    client.put_object(Bucket=backup_env.bucket, Key=key, Body=bytes(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [("flip", "HMAC-SHA256 mismatch"), ("truncate", "(truncated or replaced)")],
)
def test_a_damaged_object_is_refused_before_the_restore_writes_anything(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], change: str, message: str
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_id = backup_once(backup_env, env)
    _damage(backup_env, f"prod/database/{backup_id}/database.dump.zst.enc", change)
    code, _, err = backup_env.run("backup", "verify", "database", extra_env=env)
    assert (code, message in err) == (3, True), err
    target = f"{name}_never"
    code, _, err = backup_env.run("backup", "restore", "database", "--into", target, extra_env=env)
    assert code == 3, err
    assert psql(postgres.connection(), f"SELECT count(*) FROM pg_database WHERE datname = '{target}';") == "0"


def test_a_wrong_mac_key_is_refused_at_the_manifest(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    other = tmp_path / "other-mac"
    other.write_text("f" * 64)
    code, _, err = backup_env.run(
        "backup", "verify", "database", extra_env={**env, "ARCHANGEL_BACKUP_MAC_KEY_FILE": str(other)}
    )
    assert code == 3
    assert "manifest HMAC mismatch" in err


def test_a_wrong_encryption_key_fails_before_pg_restore_touches_the_database(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    other = tmp_path / "other-encryption"
    other.write_text("not-the-passphrase-" + "x" * 30)
    target = f"{name}_wrongkey"
    code, _, err = backup_env.run(
        "backup",
        "restore",
        "database",
        "--into",
        target,
        extra_env={**env, "ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE": str(other)},
    )
    assert code == 3, err
    assert "wrong encryption key" in err
    assert psql(postgres.connection(), f"SELECT count(*) FROM pg_database WHERE datname = '{target}';") == "0"


def test_a_signed_manifest_copied_under_a_newer_id_is_refused(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    # The HMAC proves the manifest is ours, not where it belongs: a replayed one would restore old data as latest.
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_id = backup_once(backup_env, env)
    newer = "20991231T000000Z"
    client = backup_env.s3.client()
    client.copy_object(
        Bucket=backup_env.bucket,
        CopySource={"Bucket": backup_env.bucket, "Key": f"prod/database/{backup_id}/manifest.json"},
        Key=f"prod/database/{newer}/manifest.json",
    )
    code, _, err = backup_env.run("backup", "verify", "database", "--backup-id", newer, extra_env=env)
    assert code == 3, err
    assert f"is the manifest of database/{backup_id}, not of database/{newer}" in err
    # `latest` is the newest backup that verifies: the replayed one is named and passed over.
    code, out, err = backup_env.run("backup", "verify", "database", "--backup-id", "latest", extra_env=env)
    assert code == 0, err
    assert f"WARNING: database/{newer} is newer but damaged, not used" in out
    assert f"verified: database {backup_id}" in out
    code, out, _ = backup_env.run("backup", "list", "database", extra_env=env)
    assert f"database/{newer}  damaged  (s3://" in out


def test_a_missing_manifest_is_refused(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_id = backup_once(backup_env, env)
    backup_env.s3.client().delete_object(Bucket=backup_env.bucket, Key=f"prod/database/{backup_id}/manifest.json")
    code, _, err = backup_env.run("backup", "verify", "database", "--backup-id", backup_id, extra_env=env)
    assert code == 5, err
    assert f"backup database/{backup_id} is incomplete: no manifest" in err
    code, out, err = backup_env.run("backup", "list", "database", extra_env=env)
    assert out.strip() == f"database/{backup_id}  incomplete  (no manifest)"
    code, _, err = backup_env.run("backup", "verify", "database", extra_env=env)  # latest
    assert code == 5, err
    assert "no restorable database backup in s3://" in err


def test_an_unknown_id_is_not_found(backup_env: BackupEnv, postgres: PostgresServer) -> None:
    env = pg_env(backup_env, postgres, "postgres")
    code, _, err = backup_env.run(
        "backup", "restore", "database", "--backup-id", "20261101T020000Z-00000000", extra_env=env
    )
    assert code == 5, err
    assert "backup database/20261101T020000Z-00000000 not found" in err
    assert "integrity" not in err.lower()


def test_restore_refuses_a_database_with_tables_unless_forced(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    connection, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    psql(connection, "INSERT INTO audit.events VALUES (now(), 'written after the backup');", name)
    code, out, err = backup_env.run("backup", "restore", "database", "--into", name, extra_env=env)
    assert code == 4
    assert f"database {name!r} is not empty (6 objects: schema audit, table agents, table audit.events" in err
    assert "downloading" not in out + err  # refused before the download, not hours later
    assert row_counts(connection, name)["audit.events"] == 1001  # untouched
    code, _, err = backup_env.run("backup", "restore", "database", "--into", name, "--force", extra_env=env)
    assert code == 0, err
    assert row_counts(connection, name)["audit.events"] == 1000


def test_verify_restore_uses_a_scratch_database_and_records_the_result(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_id = backup_once(backup_env, env)
    code, out, err = backup_env.run("backup", "verify", "database", "--restore", extra_env=env)
    assert code == 0, err
    assert f"verified: database {backup_id} (test restore)" in out
    verified = json.loads(
        backup_env.s3.client()
        .get_object(Bucket=backup_env.bucket, Key=f"prod/database/{backup_id}/verified.json")["Body"]
        .read()
    )
    assert verified["rows"] == 21500
    scratch = psql(postgres.connection(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'archangel_verify_%';")
    assert scratch == "0"


# --- keys and configuration ------------------------------------------------------------------------------------


def test_a_missing_key_fails_before_any_work(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = {**pg_env(backup_env, postgres, name), "ARCHANGEL_BACKUP_MAC_KEY_FILE": ""}
    code, _, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 2
    assert "no mac key: pass --mac-key-file or set ARCHANGEL_BACKUP_MAC_KEY" in err
    assert backup_env.objects() == {}


def test_a_failed_dump_leaves_no_backup_behind(backup_env: BackupEnv, postgres: PostgresServer) -> None:
    env = pg_env(backup_env, postgres, "no_such_database")
    code, _, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 1
    assert "no_such_database" in err
    assert backup_env.objects() == {}


def test_backup_metrics_reach_the_pushgateway_and_a_failure_keeps_the_last_success(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], pushgateway: object
) -> None:
    from tests.support.servers import Pushgateway

    assert isinstance(pushgateway, Pushgateway)
    _, name = source_db
    env = {**pg_env(backup_env, postgres, name), "ARCHANGEL_PUSHGATEWAY_URL": pushgateway.url}
    backup_once(backup_env, env)
    metrics = pushgateway.metrics()
    assert (
        'archangel_backup_last_success_timestamp_seconds{instance="",job="archangel-backup",target="database"}'
        in metrics
    )
    assert 'archangel_backup_size_bytes{instance="",job="archangel-backup",target="database"}' in metrics
    code, _, _ = backup_env.run("backup", "database", extra_env={**env, "PGDATABASE": "no_such_database"})
    assert code == 1
    after = pushgateway.metrics()
    assert "archangel_backup_last_failure_timestamp_seconds" in after
    assert (
        'archangel_backup_last_success_timestamp_seconds{instance="",job="archangel-backup",target="database"}' in after
    )


def test_a_pushgateway_that_is_down_does_not_fail_a_backup_that_is_safely_stored(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = {**pg_env(backup_env, postgres, name), "ARCHANGEL_PUSHGATEWAY_URL": "http://127.0.0.1:9"}
    code, out, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 0, err
    backup_id = out.strip().rsplit("backup id: ", 1)[1]
    assert f"prod/database/{backup_id}/manifest.json" in backup_env.objects()
    assert "WARNING: could not push metrics to http://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_an_unreachable_bucket_fails_the_backup_with_exit_1_and_no_traceback(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = {**pg_env(backup_env, postgres, name), "ARCHANGEL_BACKUP_ENDPOINT_URL": "http://127.0.0.1:9"}
    code, _, err = backup_env.run("backup", "database", extra_env=env)
    assert code in (1, 2), err
    assert "Traceback" not in err
    assert "127.0.0.1:9" in err


# --- the table of contents kept for parallel index builds --------------------------------------------------------


def _plain_dump(connection: Connection, database: str) -> bytes:
    # As the engine dumps: to a pipe (no data offsets in the table of contents), compression left to the pipeline.
    command = ["pg_dump", "-Fc", "-Z0", database]
    return subprocess.run(command, capture_output=True, env=connection.env(database), check=True).stdout


def _listing(connection: Connection, archive: Path) -> list[str]:
    out = subprocess.run(
        ["pg_restore", "--list", str(archive)], capture_output=True, text=True, env=connection.env(), check=True
    ).stdout
    return [line for line in out.splitlines() if not line.startswith(";")]


def test_the_kept_table_of_contents_lists_every_entry_without_the_data(
    postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    connection, name = source_db
    dump = _plain_dump(connection, name)
    whole, kept = tmp_path / "whole.dump", tmp_path / "toc.dump"
    whole.write_bytes(dump)
    with TocCopy(kept, connection.env()) as copy:
        for start in range(0, len(dump), 1 << 14):
            copy.write(dump[start : start + (1 << 14)])
    assert kept.stat().st_size < len(dump) // 4  # the head only: ~1.3 MB of data not written
    assert _listing(connection, kept) == _listing(connection, whole)


def test_an_archive_that_ends_inside_its_table_of_contents_is_refused(
    postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    connection, name = source_db
    dump = _plain_dump(connection, name)
    copy = TocCopy(tmp_path / "toc.dump", connection.env())
    copy.write(dump[:2000])
    with pytest.raises(IntegrityError, match="table of contents cannot be read"):
        copy.__exit__(None, None, None)  # the archive ended here


def test_verify_keeps_only_the_table_of_contents_on_disk(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    _, name = source_db
    backup_id = backup_once(backup_env, pg_env(backup_env, postgres, name))
    workdir = tmp_path / "verify"
    workdir.mkdir()
    manifest = verify(catalog_for(backup_env), backup_id, workdir)
    assert [p.name for p in workdir.iterdir()] == ["database.toc.dump"]
    assert (workdir / "database.toc.dump").stat().st_size < manifest.artifact("database").plain_bytes // 4
