"""docs/DISASTER_RECOVERY.md as an operator follows it: the by-hand recipe (openssl, zstd, jq, xxd and the
PostgreSQL client, no archangel code) run step by step on a real backup, and every environment variable the
backup commands read named in their --help and in the runbook."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from archangel_helm.backup.command import ENVIRONMENT
from tests.e2e.test_backup_database import backup_once, fingerprint, pg_env
from tests.support.backup_env import BackupEnv
from tests.support.servers import PostgresServer

PROJECT = Path(__file__).resolve().parents[2]
RUNBOOK = PROJECT / "docs" / "DISASTER_RECOVERY.md"
BACKUP_SOURCES = PROJECT / "python" / "archangel_helm" / "backup"


def by_hand_steps() -> list[str]:
    section = RUNBOOK.read_text().split("## By hand, with standard tools only", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def _fetch(backup_env: BackupEnv, backup_id: str, workdir: Path) -> None:
    client = backup_env.s3.client()
    for name in ("manifest.json", "database.dump.zst.enc"):
        client.download_file(backup_env.bucket, f"prod/database/{backup_id}/{name}", str(workdir / name))
    # Key files as a Secret mounted or copied by hand often end in a newline: the recipe must agree with the tool.
    (workdir / "enc.key").write_bytes(backup_env.encryption_key.read_bytes() + b"\n")
    (workdir / "mac.key").write_bytes(backup_env.mac_key.read_bytes() + b"\n")


def _run(step: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.usefixtures("openssl_cli")
def test_the_runbooks_by_hand_recipe_restores_a_backup_step_by_step(
    backup_env: BackupEnv, postgres: PostgresServer, tmp_path: Path
) -> None:
    from archangel_helm.backup.postgres import psql

    psql(postgres.connection(), "CREATE DATABASE by_hand_source;")
    psql(postgres.connection(), "CREATE TABLE t AS SELECT i, md5(i::text) AS m FROM generate_series(1, 5000) i;",
         "by_hand_source")  # fmt: skip
    env = {**backup_env.env, **pg_env(backup_env, postgres, "by_hand_source")}
    env["PGPASSWORD"] = postgres.password_file.read_text().strip()
    backup_id = backup_once(backup_env, pg_env(backup_env, postgres, "by_hand_source"))
    _fetch(backup_env, backup_id, tmp_path)
    steps = by_hand_steps()
    assert len(steps) == 3
    for number, step in enumerate(steps, 1):
        result = _run(step, tmp_path, env)
        assert result.returncode == 0, f"step {number} failed: {result.stdout}{result.stderr}"
        if number == 1:
            assert result.stdout.strip() == "HMAC OK"
    assert fingerprint(postgres.connection(), "archangel_restored") == fingerprint(
        postgres.connection(), "by_hand_source"
    )


@pytest.mark.usefixtures("openssl_cli")
def test_the_runbooks_hmac_step_stops_on_a_changed_byte(
    backup_env: BackupEnv, postgres: PostgresServer, source_db_name: str, tmp_path: Path
) -> None:
    backup_id = backup_once(backup_env, pg_env(backup_env, postgres, source_db_name))
    _fetch(backup_env, backup_id, tmp_path)
    sealed = tmp_path / "database.dump.zst.enc"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 1
    sealed.write_bytes(bytes(data))
    result = _run(by_hand_steps()[0], tmp_path, dict(backup_env.env))
    assert result.returncode == 1
    assert "HMAC MISMATCH: do not use this file" in result.stdout


@pytest.fixture
def source_db_name(postgres: PostgresServer) -> str:
    from archangel_helm.backup.postgres import psql

    name = f"hmac_{id(object()):x}"
    psql(postgres.connection(), f"CREATE DATABASE {name};")
    psql(postgres.connection(), "CREATE TABLE t (i int); INSERT INTO t VALUES (1);", name)
    return name


def variables_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for source in BACKUP_SOURCES.glob("*.py"):
        text = source.read_text()
        names |= set(re.findall(r'_env\("([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]"([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'_ENV = "([A-Z0-9_]+)"', text))
    return names | {"POD_NAMESPACE", "TMPDIR", "HOSTNAME"}  # read through hooks.kube, tempfile and os.environ


def test_every_variable_the_backup_commands_read_is_documented() -> None:
    documented = {name for group in ENVIRONMENT.values() for name in group}
    read = variables_read_by_the_code()
    assert read - documented == set()
    runbook = RUNBOOK.read_text()
    assert sorted(name for name in documented if f"`{name}`" not in runbook) == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["backup", "database"], ["ARCHANGEL_PG_PASSWORD_FILE", "PGPASSWORD", "PGPASSFILE", "PGSSLROOTCERT",
                                  "ARCHANGEL_BACKUP_ENDPOINT_URL", "ARCHANGEL_BACKUP_MAC_KEY_FILE"]),
        (["restore", "database"], ["ARCHANGEL_RESTORE_REQUEST", "POD_NAMESPACE", "TMPDIR", "PGSSLROOTCERT"]),
        (["backup", "snapshots"], ["ARCHANGEL_VOLUME_SNAPSHOT_CLASS", "KUBECONFIG"]),
    ],
)  # fmt: skip
def test_help_lists_the_variables_a_command_reads(command: list[str], expected: list[str]) -> None:
    result = subprocess.run(["archangel-helm", *command, "--help"], capture_output=True, text=True, check=True)
    assert "environment (each read only when its option is not given):" in result.stdout
    for name in expected:
        assert name in result.stdout, name
