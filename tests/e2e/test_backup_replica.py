"""Logical backups read a streaming replica (cloudnativepg mode points the dump at the -ro service), so the
primary carries no dump load: the engine's snapshot, row counts and pg_dump work on a hot standby, and the
backup restores with every row the replica had when it started, while the primary keeps writing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from archangel_helm.backup.postgres import Connection, psql, row_counts
from tests.e2e.test_backup_database import SEED, backup_once, catalog_for, fingerprint, pg_env
from tests.support import servers
from tests.support.backup_env import BackupEnv


@pytest.fixture
def replica(postgres: servers.PostgresServer) -> Iterator[servers.PostgresServer]:
    """A hot standby of the session's PostgreSQL, cloned by pg_basebackup and streaming from it."""
    binaries = servers.postgres_bin()
    assert binaries is not None
    owner = postgres.owner
    directory = Path(tempfile.mkdtemp(prefix="archangel-pg-"))
    password = directory / "password"
    shutil.copyfile(postgres.password_file, password)
    if owner:
        shutil.chown(directory, owner, owner)
        shutil.chown(password, owner, owner)
    data = directory / "data"
    command = [str(binaries / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
               "-D", str(data), "-R", "-X", "stream", "--no-sync"]  # fmt: skip
    environment = {**os.environ, "PGPASSWORD": password.read_text()}
    subprocess.run(["runuser", "-u", owner, "--", *command] if owner else command, env=environment, check=True,
                   capture_output=True)  # fmt: skip
    # What production sets: a long dump on a replica is not cancelled by the primary's vacuum.
    with servers.running_postgres(directory, data, password, owner, " -c hot_standby_feedback=on") as standby:
        assert psql(standby.connection(), "SELECT pg_is_in_recovery();") == "t"
        yield standby


def _caught_up(primary: Connection, standby: Connection) -> None:
    target = psql(primary, "SELECT pg_current_wal_lsn();")
    for _ in range(200):
        if psql(standby, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn;") == "t":
            return
        time.sleep(0.05)
    raise AssertionError(f"the replica did not replay up to {target}")


def test_a_backup_from_a_replica_restores_everything_the_replica_had_while_the_primary_writes(
    backup_env: BackupEnv, postgres: servers.PostgresServer, replica: servers.PostgresServer
) -> None:
    name = f"app_{os.urandom(4).hex()}"
    admin = postgres.connection()
    psql(admin, f"CREATE DATABASE {name};")
    psql(admin, SEED, name)
    _caught_up(admin, replica.connection())

    stop = threading.Event()
    errors: list[Exception] = []
    writes = 0

    def keep_writing() -> None:  # the application goes on, on the primary, during the dump
        nonlocal writes
        primary = postgres.connection(name)
        try:
            while not stop.is_set():
                psql(primary, "INSERT INTO audit.events SELECT now(), 'during' FROM generate_series(1, 200);")
                psql(primary, "DELETE FROM audit.events WHERE what = 'during';")
                psql(primary, "VACUUM audit.events;")  # what would cancel a replica's dump without the feedback
                writes += 1
        except Exception as error:
            errors.append(error)

    writer = threading.Thread(target=keep_writing, daemon=True)
    writer.start()
    try:
        backup_id = backup_once(backup_env, pg_env(backup_env, replica, name))  # PGHOST: the replica
    finally:
        stop.set()
        writer.join(timeout=60)
    assert errors == []
    assert writes > 0
    assert catalog_for(backup_env).manifest("database", backup_id).source["port"] == replica.port

    restored = f"{name}_from_replica"
    code, out, err = backup_env.run(
        "restore", "database", "--into", restored, extra_env=pg_env(backup_env, postgres, name)
    )
    assert code == 0, err
    assert f"restored {backup_id} into database {restored}" in out
    # The manifest's counts came from the replica's snapshot, and the restore matched them table by table.
    counts = row_counts(admin, restored)
    assert counts["public.agents"] == 500
    assert counts["public.decisions"] == 20000
    assert counts["audit.events"] >= 1000
    assert fingerprint(admin, restored)["public.decisions"] == fingerprint(admin, name)["public.decisions"]
