"""PostgreSQL backup, verification, test restore and disaster-recovery restore."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __name__ as package_name
from .catalog import Catalog, new_backup_id, run_checked, run_with_progress
from .crypto import PBKDF2_ITERATIONS
from .errors import BackupConfigError, BackupError, IntegrityError, RefusedError
from .manifest import BackupManifest
from .postgres import (
    Connection,
    SnapshotSession,
    check_client_not_older,
    database_exists,
    psql,
    quote_ident,
    quote_literal,
    row_counts,
    tool,
    tool_version,
    user_table_count,
)

TARGET = "database"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("archangel-helm")
    except PackageNotFoundError:
        return package_name


def backup(catalog: Catalog, connection: Connection, now: datetime | None = None) -> BackupManifest:
    """pg_dump -Fc (in one snapshot with the row counts) and pg_dumpall --globals-only, sealed and uploaded."""
    started = now or datetime.now(UTC)
    clock = time.monotonic()
    backup_id = new_backup_id(started)
    server, client = check_client_not_older(connection)
    size = int(psql(connection, f"SELECT pg_database_size({quote_literal(connection.database)});"))
    catalog.log(
        f"database: backing up {connection.database} ({size:,} bytes on disk, PostgreSQL {server}) as {backup_id}"
    )
    try:
        with SnapshotSession(connection) as session:
            snapshot = session.export_snapshot()
            counts = session.row_counts()
            dump = _seal_command(
                catalog,
                backup_id,
                connection,
                # -Z0: compression happens once, in the sealing pipeline (gzip, readable with openssl + gunzip).
                [tool("pg_dump"), "-Fc", "-Z0", f"--snapshot={snapshot}", "--no-password", connection.database],
                name="database",
                file_name="database.dump.gz.enc",
                format_="pg_dump-custom",
                expected=size,
                details={"row_counts": counts, "tables": len(counts)},
            )
        globals_ = _seal_command(
            catalog,
            backup_id,
            connection,
            [tool("pg_dumpall"), "--globals-only", "--no-role-passwords", "--no-password", "-l", connection.database],
            name="globals",
            file_name="globals.sql.gz.enc",
            format_="sql",
            expected=None,
            details={},
        )
    except BaseException:
        catalog.discard_failed(TARGET, backup_id)  # no manifest was written; remove what was uploaded
        raise
    manifest = BackupManifest(
        target=TARGET,
        backup_id=backup_id,
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        duration_seconds=round(time.monotonic() - clock, 3),
        artifacts=[dump, globals_],
        encryption={
            "cipher": "aes-256-cbc",
            "kdf": "pbkdf2-hmac-sha256",
            "iterations": catalog.iterations or PBKDF2_ITERATIONS,
            "format": "openssl enc (Salted__)",
            "mac": "hmac-sha256 over the ciphertext",
        },
        compression={"algorithm": "gzip", "level": catalog.compression_level},
        versions={
            "server": server,
            "pg_dump": client,
            "pg_dumpall": tool_version("pg_dumpall"),
            "archangel-helm": _version(),
        },
        source={
            "host": connection.host,
            "port": connection.port,
            "database": connection.database,
            "database_size_bytes": size,
            "snapshot": snapshot,
        },
    )
    catalog.commit(manifest)
    catalog.log(
        f"database: backup {backup_id} complete: {manifest.total_bytes:,} bytes in {manifest.duration_seconds:.1f} s"
    )
    return manifest


def _seal_command(
    catalog: Catalog,
    backup_id: str,
    connection: Connection,
    command: list[str],
    *,
    name: str,
    file_name: str,
    format_: str,
    expected: int | None,
    details: dict[str, Any],
) -> Any:
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=connection.env())
        assert process.stdout is not None
        try:
            artifact = catalog.seal(
                TARGET,
                backup_id,
                process.stdout,
                name=name,
                file_name=file_name,
                format_=format_,
                expected_bytes=expected,
                details=details,
            )
        except BaseException:
            # Nothing reads its output any more: pg_dump would block on a full pipe and wait() with it.
            process.kill()
            process.wait()
            raise
        finally:
            process.stdout.close()
        code = process.wait()
        if code != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip()[-2000:]
            raise BackupError(f"{Path(command[0]).name} failed (exit {code}), the backup is discarded: {message}")
    return artifact


@dataclass
class RestoreResult:
    backup_id: str
    database: str
    row_counts: dict[str, int]
    seconds: float


def verify(catalog: Catalog, backup_id: str, workdir: Path) -> tuple[BackupManifest, Path]:
    """Fetch, check the HMACs before decrypting, decrypt, and read the archive's table of contents."""
    manifest = catalog.manifest(TARGET, backup_id)
    dump = workdir / "database.dump"
    sealed = catalog.fetch(manifest, manifest.artifact("database"), workdir)
    catalog.unseal(manifest, sealed, dump)
    sealed.unlink()
    toc = run_checked(["pg_restore", "--list", str(dump)], what="pg_restore --list")
    entries = sum(1 for line in toc.splitlines() if line and not line.startswith(";"))
    if entries == 0:
        raise IntegrityError(f"backup {backup_id}: the archive decrypts but lists no entries")
    globals_sealed = catalog.fetch(manifest, manifest.artifact("globals"), workdir)
    catalog.unseal(manifest, globals_sealed, workdir / "globals.sql")
    globals_sealed.unlink()
    catalog.log(
        f"database: backup {backup_id} verified: {entries} archive entries, "
        f"{manifest.artifact('database').details.get('tables', 0)} tables"
    )
    return manifest, dump


def restore(
    catalog: Catalog,
    connection: Connection,
    backup_id: str,
    *,
    database: str,
    force: bool = False,
    jobs: int = 2,
    workdir: Path | None = None,
) -> RestoreResult:
    """Restore a backup into `database`, refusing a database that already has tables unless forced, and check
    every table's row count against the manifest."""
    started = time.monotonic()
    if jobs < 1:
        raise BackupConfigError(f"--jobs {jobs}: pg_restore needs at least 1 job")
    backup_id = catalog.resolve(TARGET, backup_id)
    _refuse_occupied(connection, database, force)  # before an hours-long download, and again after it
    with tempfile.TemporaryDirectory(prefix="archangel-restore-", dir=workdir) as tmp:
        manifest, dump = verify(catalog, backup_id, Path(tmp))  # nothing is touched unless the backup is intact
        exists, tables = _refuse_occupied(connection, database, force)
        if not exists:
            psql(connection, f"CREATE DATABASE {quote_ident(database)};", "postgres")
            catalog.log(f"database: created {database}")
        command = [tool("pg_restore"), "--exit-on-error", "--no-owner", "--jobs", str(jobs), "--dbname", database]
        if tables:
            command += ["--clean", "--if-exists"]
        tables_total = len(manifest.artifact("database").details.get("row_counts", {}))
        catalog.log(f"database: restoring {backup_id} into {database} ({jobs} jobs, {tables_total} tables)")
        run_with_progress(
            [*command, "--verbose", str(dump)],
            env=connection.env(database),
            what="pg_restore",
            on_line=RestoreProgress(catalog.log, tables_total),
        )
    counts = row_counts(connection, database)
    _compare_counts(manifest, counts, database)
    seconds = time.monotonic() - started
    catalog.log(
        f"database: restored {backup_id} into {database} in {seconds:.1f} s; {len(counts)} tables match the manifest"
    )
    return RestoreResult(backup_id, database, counts, seconds)


_TABLE_DATA = re.compile(r'processing data for table ("[^"]*")')
_BUILD_STEP = re.compile(r"creating (?:FK )?(?:INDEX|CONSTRAINT) .*$")


def _refuse_occupied(connection: Connection, database: str, force: bool) -> tuple[bool, int]:
    """Whether `database` exists and how many tables it has; refuses when it has any and the restore is not
    forced."""
    exists = database_exists(connection, database)
    tables = user_table_count(connection, database) if exists else 0
    if tables and not force:
        raise RefusedError(
            f"database {database!r} already has {tables} tables; restoring would overwrite them. "
            "Restore into an empty or new database, or pass --force"
        )
    return exists, tables


class RestoreProgress:
    """Turns `pg_restore --verbose` into progress lines: each table's data as it finishes loading ("[12/48]"),
    then index and constraint builds, and a heartbeat at least every 30 s so a long step never looks hung."""

    HEARTBEAT_SECONDS = 30.0

    def __init__(self, log: Callable[[str], None], tables_total: int) -> None:
        self.log = log
        self.tables_total = tables_total
        self.tables_done = 0
        self.started = self.last_line = time.monotonic()
        self.step = "starting"

    def __call__(self, line: str) -> None:
        # Parallel workers write "pg_restore: " and the message in separate writes to one pipe, so a line can
        # read "pg_restore: pg_restore: processing data for table ..." or lose its prefix: search, don't anchor.
        now = time.monotonic()
        tables = _TABLE_DATA.findall(line)
        for table in tables:
            self.tables_done += 1
            self._say(f"[{self.tables_done}/{self.tables_total} tables] data for table {table}", now)
        if tables:
            return
        if build := _BUILD_STEP.search(line):
            self._say(build[0], now)
        elif now - self.last_line >= self.HEARTBEAT_SECONDS:
            self._say(f"still restoring ({self.step})", now, heartbeat=True)

    def _say(self, text: str, now: float, *, heartbeat: bool = False) -> None:
        self.log(f"database: {now - self.started:7.1f} s  {text}")
        self.last_line = now
        if not heartbeat:
            self.step = text


def _compare_counts(manifest: BackupManifest, counts: dict[str, int], database: str) -> None:
    expected = manifest.artifact("database").details.get("row_counts", {})
    differing = {
        t: (expected.get(t), counts.get(t)) for t in set(expected) | set(counts) if expected.get(t) != counts.get(t)
    }
    if differing:
        shown = ", ".join(f"{t}: backup {e}, restored {a}" for t, (e, a) in sorted(differing.items())[:10])
        raise IntegrityError(f"restored {database} differs from backup {manifest.backup_id}: {shown}")


def verify_restore(catalog: Catalog, connection: Connection, backup_id: str, jobs: int = 2) -> RestoreResult:
    """Restore into a scratch database, compare every table's row count, drop the scratch database."""
    backup_id = catalog.resolve(TARGET, backup_id)
    scratch = f"archangel_verify_{backup_id.lower()}"
    psql(connection, f"DROP DATABASE IF EXISTS {quote_ident(scratch)};", "postgres")
    try:
        result = restore(catalog, connection, backup_id, database=scratch, jobs=jobs)
    finally:
        psql(connection, f"DROP DATABASE IF EXISTS {quote_ident(scratch)} WITH (FORCE);", "postgres")
    catalog.record_verified(
        catalog.manifest(TARGET, backup_id),
        {
            "verified_at": datetime.now(UTC).isoformat(),
            "method": "restore into a scratch database",
            "tables": len(result.row_counts),
            "rows": sum(result.row_counts.values()),
            "seconds": round(result.seconds, 3),
        },
    )
    return result
