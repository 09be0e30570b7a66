"""barman-cloud, the tool the CloudNativePG Barman Cloud plugin runs, driven as the plugin drives it: WAL shipped
by PostgreSQL's archive_command, base backups, and a recovery into a fresh data directory to a target time.

The binaries come from the environment `make setup` builds from requirements/barman-lock.txt: under
/opt/archangel-helm/barman-venv when set-up ran as root (PostgreSQL then runs archive_command as the postgres
user, which must be able to execute them), else .venv-barman in the checkout."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from archangel_helm.backup.postgres import Connection, psql
from tests.support import servers
from tests.support.project import PROJECT

TOOLS = ("barman-cloud-backup", "barman-cloud-backup-list", "barman-cloud-restore", "barman-cloud-wal-archive",
         "barman-cloud-wal-restore")  # fmt: skip


def barman_bin() -> Path | None:
    candidates = [Path("/opt/archangel-helm/barman-venv"), PROJECT / ".venv-barman"]
    if chosen := os.environ.get("ARCHANGEL_BARMAN_VENV"):
        candidates.insert(0, Path(chosen))
    for candidate in candidates:
        if all((candidate / "bin" / tool).exists() for tool in TOOLS):
            return candidate / "bin"
    return None


def missing_barman_reason() -> str | None:
    if barman_bin() is None:
        return "barman-cloud is not installed (make setup builds it from requirements/barman-lock.txt)"
    return None


@dataclass
class BarmanCloud:
    """One object-store location (`destination`/`server_name`) and the options of an ObjectStore's
    configuration: compression of base backups and of WAL, server-side encryption."""

    endpoint: str
    destination: str  # s3://bucket/path
    server_name: str
    data_compression: str = "lz4"
    wal_compression: str = "zstd"
    encryption: str = "AES256"
    credentials: dict[str, str] = field(
        default_factory=lambda: {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )

    def _tool(self, name: str) -> str:
        binaries = barman_bin()
        assert binaries is not None, missing_barman_reason()
        return str(binaries / name)

    def _common(self) -> list[str]:
        return ["--cloud-provider", "aws-s3", "--endpoint-url", self.endpoint]

    def wal_archive_command(self) -> str:
        """archive_command: the credentials go in the command itself, since PostgreSQL's environment lacks them."""
        command = [
            self._tool("barman-cloud-wal-archive"),
            *self._common(),
            f"--{self.wal_compression}",
            "--encryption",
            self.encryption,
            self.destination,
            self.server_name,
        ]
        return f"{self._env_prefix()} {shlex.join(command)} %p"

    def wal_restore_command(self) -> str:
        command = [self._tool("barman-cloud-wal-restore"), *self._common(), self.destination, self.server_name]
        return f"{self._env_prefix()} {shlex.join(command)} %f %p"

    def _env_prefix(self) -> str:
        return " ".join(f"{name}={shlex.quote(value)}" for name, value in self.credentials.items())

    def _run(self, command: list[str], env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            command, env={**os.environ, **self.credentials, **(env or {})}, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed (exit {result.returncode}): {result.stderr[-3000:]}")
        return result.stdout

    def backup(self, connection: Connection) -> str:
        """A base backup of the running server (its data directory is read locally, as the plugin's sidecar does)."""
        self._run(
            [
                self._tool("barman-cloud-backup"),
                *self._common(),
                f"--{self.data_compression}",
                "--encryption",
                self.encryption,
                "--immediate-checkpoint",
                "--jobs",
                "2",
                "-h",
                connection.host,
                "-p",
                str(connection.port),
                "-U",
                connection.user,
                "-d",
                connection.database,
                self.destination,
                self.server_name,
            ],
            env=connection.env(),
        )
        return self.backups()[-1]

    def backups(self) -> list[str]:
        out = self._run(
            [self._tool("barman-cloud-backup-list"), *self._common(), "--format", "json", self.destination,
             self.server_name]
        )  # fmt: skip
        return [b["backup_id"] for b in json.loads(out)["backups_list"]]

    def restore(self, backup_id: str, data: Path, owner: str | None) -> None:
        """The base backup into an empty data directory, owned by the server's user."""
        self._run([self._tool("barman-cloud-restore"), *self._common(), self.destination, self.server_name, backup_id,
                   str(data)])  # fmt: skip
        if owner:
            entry = pwd.getpwnam(owner)
            for path in [data, *data.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        data.chmod(0o700)


def prepare_recovery(data: Path, barman: BarmanCloud, target: dict[str, str]) -> None:
    """What a recovery Cluster's bootstrap does: recovery.signal, restore_command from the object store, the
    target, promotion at the end; and no archiving of its own into the source's location."""
    settings = {
        "restore_command": barman.wal_restore_command(),
        "recovery_target_action": "promote",
        "archive_mode": "off",
        **target,
    }
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.writelines(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in settings.items())
    (data / "recovery.signal").touch()
    owner = data.owner()
    if owner != "root":
        entry = pwd.getpwnam(owner)
        for name in ("postgresql.auto.conf", "recovery.signal"):
            os.chown(data / name, entry.pw_uid, entry.pw_gid)


def wait_archived(connection: Connection, lsn: str, timeout: float = 60.0) -> float:
    """Wait until the WAL segment holding `lsn` is in the archive; returns the seconds waited."""
    segment = psql(connection, f"SELECT pg_walfile_name('{lsn}');")
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        # Segment names order by timeline, then position: the archive holds `lsn` once it reached its segment.
        if psql(connection, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver;")[:24] >= segment:
            return time.monotonic() - started
        time.sleep(0.1)
    failed = psql(connection, "SELECT coalesce(last_failed_wal, '') FROM pg_stat_archiver;")
    raise AssertionError(f"WAL segment {segment} (LSN {lsn}) not archived in {timeout:.0f} s; last failed: {failed!r}")


def wait_promoted(connection: Connection, timeout: float = 120.0) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if psql(connection, "SELECT pg_is_in_recovery();") == "f":
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"recovery did not finish within {timeout:.0f} s")


@contextmanager
def recovered(
    barman: BarmanCloud,
    backup_id: str,
    source: servers.PostgresServer,
    target: dict[str, str],
    *,
    timeout: float = 120,
    timings: dict[str, float] | None = None,
) -> Iterator[servers.PostgresServer]:
    """A base backup restored into a fresh data directory, WAL replayed from the archive up to `target` (to the
    archive's end when empty), promoted, and started on its own port; the source's password still logs in.
    `timings` receives the seconds the base restore took ("restore") and the whole recovery ("recovery")."""
    started = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="archangel-pg-"))
    password_file = directory / "password"
    shutil.copyfile(source.password_file, password_file)
    if source.owner:
        shutil.chown(directory, source.owner, source.owner)
    data = directory / "data"
    barman.restore(backup_id, data, source.owner)
    restored = time.monotonic() - started
    prepare_recovery(data, barman, target)
    with servers.running_postgres(directory, data, password_file, source.owner) as server:
        wait_promoted(server.connection(), timeout)
        if timings is not None:
            timings.update(restore=restored, recovery=time.monotonic() - started)
        yield server
