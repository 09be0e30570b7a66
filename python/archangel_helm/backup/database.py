"""PostgreSQL backup, verification, test restore and disaster-recovery restore."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archangel_helm import __name__ as package_name
from archangel_helm.backup.catalog import BackupRun, Catalog, run_checked, run_with_progress
from archangel_helm.backup.crypto import PBKDF2_ITERATIONS
from archangel_helm.backup.errors import BackupConfigError, BackupError, IntegrityError, RefusedError
from archangel_helm.backup.manifest import BackupManifest
from archangel_helm.backup.postgres import (
    Connection,
    SnapshotSession,
    check_client_not_older,
    database_exists,
    empty_database,
    major,
    psql,
    quote_ident,
    quote_literal,
    row_counts,
    server_version,
    tool,
    tool_version,
    user_objects,
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
    run = catalog.start(TARGET, started)  # the bucket is checked before pg_dump starts
    backup_id = run.backup_id
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
                run,
                connection,
                # -Z0: compression happens once, in the sealing pipeline (zstd, readable with openssl + zstd -d).
                [tool("pg_dump"), "-Fc", "-Z0", f"--snapshot={snapshot}", "--no-password", connection.database],
                name="database",
                file_name=f"database.dump{catalog.suffix}",
                format_="pg_dump-custom",
                expected=size,
                details={"row_counts": counts, "tables": len(counts)},
            )
        globals_ = _seal_command(
            catalog,
            run,
            connection,
            [tool("pg_dumpall"), "--globals-only", "--no-role-passwords", "--no-password", "-l", connection.database],
            name="globals",
            file_name=f"globals.sql{catalog.suffix}",
            format_="sql",
            expected=None,
            details={},
        )
    except BaseException:
        catalog.abandon(run)  # no manifest was written; remove what this run uploaded, and only that
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
        compression=catalog.compression_record(),
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
    try:
        catalog.commit(manifest, run)
    except BaseException:
        catalog.abandon(run)
        raise
    catalog.log(
        f"database: backup {backup_id} complete: {manifest.total_bytes:,} bytes in {manifest.duration_seconds:.1f} s"
    )
    return manifest


def _seal_command(
    catalog: Catalog,
    run: BackupRun,
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
                run,
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


def verify(catalog: Catalog, backup_id: str, workdir: Path) -> BackupManifest:
    """Authenticate both artifacts end to end and read the archive's table of contents, which is all that is
    kept (in `workdir`): nothing decrypted beyond it touches the disk."""
    manifest = catalog.manifest(TARGET, backup_id)
    catalog.derive_keys_ahead(manifest)
    toc = workdir / "database.toc.dump"
    with TocCopy(toc) as copy:
        catalog.stream_plain(manifest, manifest.artifact("database"), copy)
    entries = len(archive_entries(toc))  # read once the whole object proved authentic
    if entries == 0:
        raise IntegrityError(f"backup {backup_id}: the archive decrypts but lists no entries")
    with Path(os.devnull).open("wb") as discard:
        catalog.stream_plain(manifest, manifest.artifact("globals"), discard)
    catalog.log(
        f"database: backup {backup_id} verified: {entries} archive entries, "
        f"{manifest.artifact('database').details.get('tables', 0)} tables"
    )
    return manifest


def archive_entries(dump: Path) -> list[str]:
    toc = run_checked([tool("pg_restore"), "--list", str(dump)], what="pg_restore --list")
    return [line for line in toc.splitlines() if line and not line.startswith(";")]


def restore(
    catalog: Catalog,
    connection: Connection,
    backup_id: str,
    *,
    database: str,
    force: bool = False,
    jobs: int = 1,
    workdir: Path | None = None,
) -> RestoreResult:
    """Restore a backup into `database` and check every table's row count against the manifest.

    Refused before anything is written: a database holding any user object (unless forced), a server older than
    the backup's. The dump streams from S3 through the HMAC, decryption and decompression into
    `pg_restore --single-transaction`, whose last bytes are held back until the whole object's HMAC matched: an
    object that fails it (or any error, or a signal) is rolled back, never committed. With one job (the
    default) nothing decrypted touches the disk. With more, the stream carries the schema and the data, and the
    archive's table of contents, kept on the way (no data: kilobytes), feeds the indexes and constraints to a
    parallel `pg_restore --jobs`; a failure there drops the database this restore created, or empties again the
    empty one it was given. A restore over existing objects always runs as one transaction."""
    started = time.monotonic()
    if jobs < 1:
        raise BackupConfigError(f"--jobs {jobs}: pg_restore needs at least 1 job")
    backup_id = catalog.resolve(TARGET, backup_id)
    manifest = catalog.manifest(TARGET, backup_id)
    catalog.derive_keys_ahead(manifest)
    _refuse_older_server(connection, manifest)
    target = inspect_target(connection, database, force)
    tables_total = len(manifest.artifact("database").details.get("row_counts", {}))
    with tempfile.TemporaryDirectory(prefix="archangel-restore-", dir=workdir) as tmp:
        if target.objects and jobs > 1:
            catalog.log(f"database: {database} holds objects; restoring in one transaction (--jobs {jobs} unused)")
            jobs = 1  # over existing objects everything stays in one transaction: all or nothing
        _create_if_missing(catalog, connection, target)  # while the keys are derived
        toc = Path(tmp) / "database.toc.dump" if jobs > 1 else None
        try:
            catalog.fetch_plain(manifest, manifest.artifact("globals"), Path(tmp) / "globals.sql")  # authentic too
            how = "streamed" if toc is None else f"streamed, then {jobs} jobs for indexes and constraints"
            catalog.log(f"database: restoring {backup_id} into {database} ({how}, {tables_total} tables)")
            _stream_restore(catalog, connection, manifest, target, tables_total=tables_total, toc=toc)
            if toc is not None:
                run_with_progress(
                    [*_restore_command(database, replace=False), "--section=post-data", "--jobs", str(jobs), str(toc)],
                    env=connection.env(database),
                    what="pg_restore (indexes and constraints)",
                    on_line=RestoreProgress(catalog.log, tables_total),
                )
        except BaseException:
            _undo_partial_restore(catalog, connection, target, atomic=toc is None)
            raise
    counts = row_counts(connection, database)
    _compare_counts(manifest, counts, database, catalog.log)
    seconds = time.monotonic() - started
    catalog.log(f"database: restored {backup_id} into {database} in {seconds:.1f} s; {tables_total} tables match")
    return RestoreResult(backup_id, database, counts, seconds)


def _create_if_missing(catalog: Catalog, connection: Connection, target: Target) -> None:
    if not target.exists:
        psql(connection, f"CREATE DATABASE {quote_ident(target.database)};", "postgres")
        catalog.log(f"database: created {target.database}")


def _restore_command(database: str, *, replace: bool) -> list[str]:
    command = [tool("pg_restore"), "--exit-on-error", "--no-owner", "--verbose", "--dbname", database]
    return command + (["--clean", "--if-exists"] if replace else [])


def _stream_restore(
    catalog: Catalog,
    connection: Connection,
    manifest: BackupManifest,
    target: Target,
    *,
    tables_total: int,
    toc: Path | None,
) -> None:
    """pg_restore --single-transaction reading the dump as it downloads; with `toc`, only the schema and the
    data, and the archive's table of contents is kept there for the parallel index and constraint builds."""
    artifact = manifest.artifact("database")
    command = [*_restore_command(target.database, replace=bool(target.objects)), "--single-transaction"]
    if toc is not None:
        command += ["--section=pre-data", "--section=data"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=connection.env()
    )
    assert process.stdin is not None
    assert process.stderr is not None
    stderr = StderrReader(process.stderr, RestoreProgress(catalog.log, tables_total))
    held = HeldBack(process.stdin)
    try:
        try:
            if toc is None:
                catalog.stream_plain(manifest, artifact, held)
            else:
                with TocCopy(toc, connection.env()) as copy:
                    catalog.stream_plain(manifest, artifact, Tee(held, copy))
            held.release()  # authentic: pg_restore may now read its last bytes and commit
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its own error, below, says why
        code = process.wait()
    except BaseException:
        process.kill()  # before its last bytes: the transaction is rolled back, nothing is committed
        process.wait()
        raise
    finally:
        held.close()
        stderr.join()
    if code != 0:
        raise BackupError(f"pg_restore failed (exit {code}), nothing was committed: {stderr.tail()}")


class TocCopy:
    """Keeps the head of a custom-format archive: its header and table of contents, without the data.

    pg_restore's parallel mode needs a file, but the post-data section (indexes, constraints, triggers) is all
    in the table of contents, which pg_dump writes first; the data blocks are never read for it. Writing the
    whole plaintext to disk for that cost the restore a second of I/O per GiB. How far the table of contents
    goes is left to pg_restore itself: `pg_restore --list` reads the same bytes and exits once it has read the
    table of contents; every byte it was offered is kept, and its success proves the copy holds all of it."""

    def __init__(self, path: Path, env: dict[str, str] | None = None) -> None:
        self.path = path
        self._file = path.open("wb")
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__, like the file)
        self._lister: subprocess.Popen[bytes] | None = subprocess.Popen(
            [tool("pg_restore"), "--list"],
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
            env=env,
        )

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while self._lister is not None and view:
            assert self._lister.stdin is not None
            try:
                accepted = self._lister.stdin.write(view) or 0  # unbuffered: the bytes the pipe took
            except BrokenPipeError:
                self._finish()  # it has read the whole table of contents: nothing more is needed
                break
            self._file.write(view[:accepted])  # the file holds every byte the lister could have read
            view = view[accepted:]
        return len(data)

    def _finish(self) -> None:
        if self._lister is None:
            return
        lister, self._lister = self._lister, None
        assert lister.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            lister.stdin.close()
        self._file.close()
        if lister.wait() != 0:
            self._errors.seek(0)
            message = self._errors.read().decode(errors="replace").strip()[-1000:]
            raise IntegrityError(f"the archive's table of contents cannot be read: {message}")

    def __enter__(self) -> TocCopy:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if kind is None:
                self._finish()  # the archive ended: the lister has all of it and must have succeeded
            elif self._lister is not None:
                self._lister.kill()
                self._lister.wait()
                with contextlib.suppress(OSError):
                    self._lister.stdin.close()  # type: ignore[union-attr]
        finally:
            self._file.close()
            self._errors.close()


class HeldBack:
    """A writer that keeps the last `hold` bytes back until release(): pg_restore cannot reach its COMMIT before
    the caller has checked the HMAC of everything it was sent."""

    def __init__(self, target: IO[bytes], hold: int = 1 << 16) -> None:
        self._target = target
        self._hold = hold
        self._tail = b""

    def write(self, data: bytes) -> int:
        pending = self._tail + data
        if len(pending) > self._hold:
            self._target.write(pending[: -self._hold])
            pending = pending[-self._hold :]
        self._tail = pending
        return len(data)

    def release(self) -> None:
        self._target.write(self._tail)
        self._tail = b""
        self._target.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._target.close()


class Tee:
    def __init__(self, *targets: HeldBack | TocCopy | IO[bytes]) -> None:
        self._targets = targets

    def write(self, data: bytes) -> int:
        for target in self._targets:
            target.write(data)
        return len(data)


class StderrReader:
    """Reads a child's stderr on a thread (so it never blocks on a full pipe), hands each line on, keeps the end."""

    def __init__(self, stream: IO[bytes], on_line: Callable[[str], None]) -> None:
        self._lines: deque[str] = deque(maxlen=40)
        self._thread = threading.Thread(target=self._run, args=(stream, on_line), name="pg_restore-stderr", daemon=True)
        self._thread.start()

    def _run(self, stream: IO[bytes], on_line: Callable[[str], None]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            self._lines.append(line)
            with contextlib.suppress(Exception):
                on_line(line)

    def join(self) -> None:
        self._thread.join(timeout=30)

    def tail(self) -> str:
        return "\n".join(self._lines)[-2000:]


@dataclass(frozen=True)
class Target:
    database: str
    exists: bool
    objects: list[str]  # user objects already in it ("table public.agents", ...)


def inspect_target(connection: Connection, database: str, force: bool) -> Target:
    """Whether `database` exists and which user objects it holds; refuses a database with any, unless forced.

    Tables are not enough: a schema, type, function or sequence of the same name makes the restore fail half
    way, so every kind of object a dump can create counts."""
    exists = database_exists(connection, database)
    objects = user_objects(connection, database) if exists else []
    if objects and not force:
        shown = ", ".join(objects[:8]) + (f" and {len(objects) - 8} more" if len(objects) > 8 else "")
        raise RefusedError(
            f"database {database!r} is not empty ({len(objects)} objects: {shown}); a restore would collide with "
            "them. Restore into an empty or new database (--into), or pass --force to replace the backup's objects"
        )
    return Target(database, exists, objects)


def _refuse_older_server(connection: Connection, manifest: BackupManifest) -> None:
    source = str(manifest.versions.get("server", ""))
    if not source:
        return
    target = server_version(connection)
    if major(target) < major(source):
        raise RefusedError(
            f"backup {manifest.backup_id} comes from PostgreSQL {source}; this server is {target}. pg_restore into "
            "an older major version fails part way: restore into PostgreSQL >= " + str(major(source))
        )


def _undo_partial_restore(catalog: Catalog, connection: Connection, target: Target, *, atomic: bool) -> None:
    """After a failed or interrupted restore: a database we created is dropped; an empty one is emptied again
    unless the restore ran in one transaction (PostgreSQL rolled it back). Never hides the restore's error."""
    database = target.database
    if target.exists and (atomic or target.objects):
        return
    try:
        if not target.exists:
            psql(connection, f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE);", "postgres")
            catalog.log(f"database: dropped {database}, which this restore had created")
        else:
            left = empty_database(connection, database)
            catalog.log(
                f"database: removed what the failed restore wrote into {database}"
                + (f"; still there: {', '.join(left)}" if left else "")
            )
    except Exception as error:
        catalog.log(f"database: could not undo the partial restore of {database}: {error}")


_TABLE_DATA = re.compile(r'processing data for table ("[^"]*")')
_BUILD_STEP = re.compile(r"creating (?:FK )?(?:INDEX|CONSTRAINT) .*$")


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


def _compare_counts(
    manifest: BackupManifest, counts: dict[str, int], database: str, log: Callable[[str], None]
) -> None:
    """Every table the backup holds has its rows; tables the target had besides (a forced restore keeps them)
    are named, not counted against the backup."""
    expected = manifest.artifact("database").details.get("row_counts", {})
    differing = {t: (expected[t], counts.get(t)) for t in expected if expected[t] != counts.get(t)}
    if extra := sorted(set(counts) - set(expected)):
        log(f"database: {database} also holds {len(extra)} table(s) the backup does not: {', '.join(extra[:10])}")
    if differing:
        shown = ", ".join(f"{t}: backup {e}, restored {a}" for t, (e, a) in sorted(differing.items())[:10])
        raise IntegrityError(f"restored {database} differs from backup {manifest.backup_id}: {shown}")


def verify_restore(catalog: Catalog, connection: Connection, backup_id: str, jobs: int = 1) -> RestoreResult:
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
