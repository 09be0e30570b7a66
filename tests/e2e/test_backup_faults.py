"""The backup engine under concurrency, faults and operators' mistakes: a real PostgreSQL, a real S3 server (moto)
and the CLI as the CronJobs and an operator run it. Each test names the defect it guards against (issue 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from archangel_helm.backup import database
from archangel_helm.backup.catalog import Catalog
from archangel_helm.backup.errors import BackupError, RefusedError
from archangel_helm.backup.keys import load_keys
from archangel_helm.backup.manifest import BackupManifest
from archangel_helm.backup.postgres import Connection, psql, row_counts, user_objects
from archangel_helm.backup.storage import ObjectStore, StoreConfig
from tests.e2e.test_backup_database import SEED, backup_once, catalog_for, fingerprint, pg_env, schema
from tests.support.backup_env import BackupEnv
from tests.support.servers import PostgresServer, S3Server


@pytest.fixture
def source_db(postgres: PostgresServer) -> tuple[Connection, str]:
    name = f"app_{os.urandom(4).hex()}"
    psql(postgres.connection(), f"CREATE DATABASE {name};")
    psql(postgres.connection(), SEED, name)
    return postgres.connection(name), name


def _new_database(postgres: PostgresServer, sql: str = "") -> str:
    name = f"target_{os.urandom(4).hex()}"
    psql(postgres.connection(), f"CREATE DATABASE {name};")
    if sql:
        psql(postgres.connection(), sql, name)
    return name


def _exists(postgres: PostgresServer, database_name: str) -> bool:
    return psql(postgres.connection(), f"SELECT count(*) FROM pg_database WHERE datname = '{database_name}';") == "1"


# --- ids, concurrency, cleanup -------------------------------------------------------------------------------


def test_two_backups_started_in_the_same_second_get_their_own_ids_and_both_restore(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = {**backup_env.env, **pg_env(backup_env, postgres, name)}
    runs = [
        subprocess.Popen(["archangel-helm", "backup", "database"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    ids = [out.strip().rsplit("backup id: ", 1)[1] for out in outputs]
    assert ids[0] != ids[1]
    for backup_id in ids:
        code, _, err = backup_env.run("backup", "verify", "database", "--backup-id", backup_id, extra_env=env)
        assert code == 0, err


def _fail_upload_of(store: ObjectStore, suffix: str, action: Any = None) -> None:
    """Make the S3 client fail (or run `action`) when it starts to upload a key ending in `suffix`."""

    def hook(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Key", "")).endswith(suffix):
            if action is not None:
                action()
            else:
                raise ConnectionError(f"injected: upload of {suffix} lost its connection")

    for operation in ("PutObject", "CreateMultipartUpload"):
        store.client.meta.events.register(f"before-parameter-build.s3.{operation}", hook)


def test_a_failed_run_removes_only_its_own_objects_never_a_concurrent_backups(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    connection, name = source_db
    same_second = datetime(2026, 12, 4, 2, 0, 0, tzinfo=UTC)
    good = database.backup(catalog_for(backup_env), connection, now=same_second)
    failing = catalog_for(backup_env)
    _fail_upload_of(failing.store, "globals.sql.zst.enc")  # after its database artifact is stored
    with pytest.raises(BackupError, match=r"injected: upload of globals\.sql\.zst\.enc lost its connection"):
        database.backup(failing, connection, now=same_second)
    objects = backup_env.objects()
    assert {k.split("/")[2] for k in objects} == {good.backup_id}  # the failed run's objects are gone, only them
    assert set(objects) == {a.key for a in good.artifacts} | {f"prod/database/{good.backup_id}/manifest.json"}
    result = database.restore(catalog_for(backup_env), connection, good.backup_id, database=f"{name}_good")
    assert fingerprint(postgres.connection(), f"{name}_good") == fingerprint(postgres.connection(), name)
    assert result.backup_id.startswith("20261204T020000Z-")


def test_with_s3_gone_the_error_is_the_upload_failure_not_the_cleanups(
    postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = S3Server(f"http://{host}:{port}")
    s3.client().create_bucket(Bucket="going-away")
    (tmp_path / "e").write_text("e" * 43)
    (tmp_path / "m").write_text("m" * 64)
    logged: list[str] = []
    catalog = Catalog(
        ObjectStore(StoreConfig("going-away", "prod", "us-east-1", s3.endpoint), s3.client()),
        load_keys(tmp_path / "e", tmp_path / "m"),
        log=logged.append,
    )
    _fail_upload_of(catalog.store, "database.dump.zst.enc", action=server.stop)  # S3 dies as the upload starts
    with pytest.raises(BackupError) as raised:
        database.backup(catalog, source_db[0])
    assert "upload of s3://going-away/prod/database/" in str(raised.value)
    assert "listing" not in str(raised.value)
    assert "deleting" not in str(raised.value)
    assert any("the partial upload was not removed" in line for line in logged)


def test_a_bucket_that_does_not_exist_is_refused_before_pg_dump_starts(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = {**pg_env(backup_env, postgres, name), "ARCHANGEL_BACKUP_BUCKET": "no-such-bucket-here"}
    code, out, err = backup_env.run("backup", "database", extra_env=env)
    assert code == 2, err
    assert "bucket s3://no-such-bucket-here does not exist" in err
    assert "backing up" not in out  # pg_dump never started
    assert "Traceback" not in err


# --- what counts as a backup ---------------------------------------------------------------------------------


def test_a_manifest_that_is_not_json_is_damaged_not_a_traceback_and_not_counted(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    env = pg_env(backup_env, postgres, source_db[1])
    older, newer = backup_once(backup_env, env), backup_once(backup_env, env)
    backup_env.s3.client().put_object(
        Bucket=backup_env.bucket, Key=f"prod/database/{newer}/manifest.json", Body=b'{"format_version": 1, '
    )
    code, _, err = backup_env.run("backup", "verify", "database", "--backup-id", newer, extra_env=env)
    assert code == 3, err
    assert "manifest.json is not valid JSON" in err
    assert "Traceback" not in err
    code, out, _ = backup_env.run("backup", "list", "database", extra_env=env)
    assert f"database/{older}  complete\n" in out
    assert f"database/{newer}  damaged  (s3://{backup_env.bucket}/prod/database/{newer}/manifest.json is not" in out
    code, out, err = backup_env.run("backup", "verify", "database", extra_env=env)  # latest
    assert code == 0, err
    assert f"verified: database {older}" in out


def test_a_backup_whose_dump_object_is_gone_is_not_counted(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    env = pg_env(backup_env, postgres, source_db[1])
    older, newer = backup_once(backup_env, env), backup_once(backup_env, env)
    backup_env.s3.client().delete_object(Bucket=backup_env.bucket, Key=f"prod/database/{newer}/database.dump.zst.enc")
    code, out, _ = backup_env.run("backup", "list", "database", extra_env=env)
    assert f"database/{newer}  damaged" in out
    assert "artifact database is gone" in out
    code, out, err = backup_env.run("backup", "check", "--targets", "database", extra_env=env)
    assert code == 0, err
    assert f"database: 1 backups, newest {older}" in out


# --- restore: decide before writing, and compare what the backup holds -------------------------------------------


def test_a_forced_restore_keeps_tables_the_backup_does_not_hold_and_succeeds(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    connection, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    psql(connection, "CREATE TABLE added_later (id int); INSERT INTO added_later VALUES (1), (2);", name)
    psql(connection, "DELETE FROM audit.events WHERE what LIKE 'event 1%';", name)
    code, out, err = backup_env.run("backup", "restore", "database", "--into", name, "--force", extra_env=env)
    assert code == 0, err
    assert "also holds 1 table(s) the backup does not: public.added_later" in out
    counts = row_counts(connection, name)
    assert (counts["audit.events"], counts["public.added_later"]) == (1000, 2)


@pytest.mark.parametrize(
    ("existing", "named"),
    [
        ("CREATE TYPE mood AS ENUM ('other');", "type mood"),
        ("CREATE SCHEMA audit;", "schema audit"),
        ("CREATE SEQUENCE agents_id_seq;", "sequence agents_id_seq"),
        ("CREATE FUNCTION busy_agents() RETURNS int LANGUAGE sql AS 'SELECT 1';", "function busy_agents()"),
    ],
)
def test_a_database_holding_any_object_is_refused_before_anything_is_written(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], existing: str, named: str
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    target = _new_database(postgres, existing)
    before = user_objects(postgres.connection(), target)
    code, out, err = backup_env.run("backup", "restore", "database", "--into", target, extra_env=env)
    assert code == 4, err
    assert f"database '{target}' is not empty (1 objects: {named})" in err
    assert "downloading" not in out
    assert user_objects(postgres.connection(), target) == before == [named]


def test_an_empty_existing_database_is_restored_in_parallel(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    _, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    target = _new_database(postgres)
    code, out, err = backup_env.run("backup", "restore", "database", "--into", target, "--jobs", "2", extra_env=env)
    assert code == 0, err
    assert "(streamed, then 2 jobs for indexes and constraints, 3 tables)" in out
    assert fingerprint(postgres.connection(), target) == fingerprint(postgres.connection(), name)
    # the indexes, unique and foreign-key constraints built from the table of contents alone
    assert schema(postgres.connection(), target) == schema(postgres.connection(), name)


def test_a_forced_restore_that_fails_part_way_leaves_the_database_as_it_was(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    # A view of another schema over `agents` makes pg_restore's DROP TABLE fail after other objects were dropped
    # and recreated: in one transaction, all of that is rolled back.
    connection, name = source_db
    env = pg_env(backup_env, postgres, name)
    backup_once(backup_env, env)
    psql(connection, "CREATE SCHEMA reports; CREATE VIEW reports.agent_names AS SELECT name FROM agents;", name)
    psql(connection, "INSERT INTO audit.events VALUES (now(), 'after the backup');", name)
    before = fingerprint(postgres.connection(), name)
    code, out, err = backup_env.run("backup", "restore", "database", "--into", name, "--force", extra_env=env)
    assert code == 1, err
    assert "pg_restore failed (exit 1), nothing was committed" in err
    assert "streamed" in out
    assert fingerprint(postgres.connection(), name) == before
    code, out, err = backup_env.run(
        "backup", "restore", "database", "--into", name, "--force", "--jobs", "2", extra_env=env
    )
    assert code == 1, err
    assert "restoring in one transaction (--jobs 2 unused)" in out
    assert fingerprint(postgres.connection(), name) == before


def test_a_server_older_than_the_backups_is_refused_up_front(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str]
) -> None:
    connection, _ = source_db
    manifest = database.backup(catalog_for(backup_env), connection)
    newer = BackupManifest(**{**manifest.__dict__, "versions": {**manifest.versions, "server": "99.1"}})
    with pytest.raises(RefusedError, match=r"comes from PostgreSQL 99.1; this server is 15"):
        database._refuse_older_server(connection, newer)


# --- signals: nothing decrypted is left on disk --------------------------------------------------------------


@pytest.fixture(scope="module")
def big_source(postgres: PostgresServer) -> Iterator[str]:
    """A database large enough (about 60 MB) that a restore is still running when the signal arrives."""
    name = f"big_{os.urandom(4).hex()}"
    psql(postgres.connection(), f"CREATE DATABASE {name};")
    psql(
        postgres.connection(name),
        "CREATE TABLE events (id bigint PRIMARY KEY, body text); "
        "INSERT INTO events SELECT i, md5(i::text) || repeat(md5((i % 97)::text), 2) FROM generate_series(1, 500000) i;"
        "CREATE INDEX events_body ON events (body);",
        name,
    )
    yield name
    psql(postgres.connection(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


def _run_until(env: dict[str, str], args: list[str], marker: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        ["archangel-helm", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if marker in line:
            return process
    process.wait()
    raise AssertionError(f"{marker!r} never printed; exit {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "jobs_and_phase",
    [("1", "downloading"), ("2", "downloading"), ("2", "restoring")],  # streamed, or through a file
)
def test_sigterm_during_a_restore_removes_decrypted_data_and_the_database_it_created(
    backup_env: BackupEnv, postgres: PostgresServer, big_source: str, tmp_path: Path, jobs_and_phase: tuple[str, str]
) -> None:
    jobs, phase = jobs_and_phase
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**backup_env.env, **pg_env(backup_env, postgres, big_source), "TMPDIR": str(scratch)}
    backup_once(backup_env, pg_env(backup_env, postgres, big_source))
    target = f"{big_source}_{phase}_{jobs}"
    args = ["backup", "restore", "database", "--into", target, "--jobs", jobs]
    process = _run_until(
        env, args, "database database: downloading" if phase == "downloading" else "database: restoring"
    )
    if phase == "restoring":
        time.sleep(0.3)  # pg_restore is running
        kept = list(scratch.rglob("*.dump"))
        assert [p.name for p in kept] == ["database.toc.dump"]  # the table of contents kept for the index builds
        assert kept[0].stat().st_size < 1 << 20  # not the data: the dump is ~60 MB
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    assert list(scratch.iterdir()) == []  # no decrypted byte left
    assert not _exists(postgres, target)  # the database this restore created is dropped
    left = subprocess.run(["pgrep", "-f", f"pg_restore.*{target}"], capture_output=True, text=True, check=False)
    assert left.stdout == ""


def test_sigterm_during_a_restore_into_an_empty_database_empties_it_again(
    backup_env: BackupEnv, postgres: PostgresServer, big_source: str, tmp_path: Path
) -> None:
    env = {**backup_env.env, **pg_env(backup_env, postgres, big_source), "TMPDIR": str(tmp_path)}
    backup_once(backup_env, pg_env(backup_env, postgres, big_source))
    target = _new_database(postgres)
    process = _run_until(env, ["backup", "restore", "database", "--into", target], "data for table")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert _exists(postgres, target)
    assert user_objects(postgres.connection(), target) == []


def test_sigterm_during_a_backup_removes_its_partial_upload(
    backup_env: BackupEnv, postgres: PostgresServer, big_source: str
) -> None:
    env = {**backup_env.env, **pg_env(backup_env, postgres, big_source)}
    process = _run_until(env, ["backup", "database"], "backing up")
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert backup_env.objects() == {}


# --- libpq's environment ------------------------------------------------------------------------------------


def test_libpq_password_variables_are_honoured(
    backup_env: BackupEnv, postgres: PostgresServer, source_db: tuple[Connection, str], tmp_path: Path
) -> None:
    _, name = source_db
    password = postgres.password_file.read_text().strip()
    env = {k: v for k, v in pg_env(backup_env, postgres, name).items() if k != "ARCHANGEL_PG_PASSWORD_FILE"}
    code, _, err = backup_env.run("backup", "database", extra_env={**env, "PGPASSWORD": password})
    assert code == 0, err
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:*:postgres:{password}\n")
    passfile.chmod(0o600)
    code, _, err = backup_env.run("backup", "database", extra_env={**env, "PGPASSFILE": str(passfile)})
    assert code == 0, err


def test_pgsslrootcert_reaches_libpq_and_a_wrong_ca_is_refused(
    backup_env: BackupEnv, postgres_tls: PostgresServer, tmp_path: Path
) -> None:
    psql(postgres_tls.connection(), "CREATE DATABASE tls_app;")
    psql(postgres_tls.connection("tls_app"), "CREATE TABLE t AS SELECT generate_series(1, 10) AS i;", "tls_app")
    env = {**pg_env(backup_env, postgres_tls, "tls_app"), "PGSSLMODE": "verify-full"}
    ca = postgres_tls.directory / "ca.crt"
    code, _, err = backup_env.run("backup", "database", extra_env={**env, "PGSSLROOTCERT": str(ca)})
    assert code == 0, err
    other = tmp_path / "other"
    other.mkdir()
    from tests.support.servers import make_tls_files

    wrong_ca = make_tls_files(other, None)
    code, _, err = backup_env.run("backup", "database", extra_env={**env, "PGSSLROOTCERT": str(wrong_ca)})
    assert code == 1
    assert "certificate verify failed" in err
