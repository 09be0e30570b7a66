"""End-to-end fixtures: real processes and servers on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import servers


@dataclass
class KubeEmulator:
    """kmock's stateful Kubernetes API emulator, and a kubeconfig that points the real client at it."""

    server: Any
    kubeconfig: Path

    async def run(self, *args: str) -> tuple[int, str, str]:
        """Run `python -m <args>` against the emulator; the event loop keeps serving while it runs."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *args,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), "POD_NAMESPACE": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    def writes(self) -> list[Any]:
        return [
            r for r in self.server if str(r.method).rsplit(".", 1)[-1].upper() in ("POST", "PUT", "PATCH", "DELETE")
        ]


@pytest.fixture
async def kube(kmock: Any, tmp_path: Path) -> KubeEmulator:
    kmock.resources["v1/secrets"] = kmock.ResourceInfo(
        kind="Secret", namespaced=True, verbs={"get", "list", "create", "patch", "update", "delete"}
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "hook"}}],
        "users": [{"name": "hook", "user": {"token": "test-token"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    return KubeEmulator(kmock, path)


# --- backup engine: PostgreSQL, S3 (moto), Pushgateway, keys -----------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.PostgresServer]:
    reason = servers.missing_postgres_reason()
    if reason:
        pytest.skip(reason)
    with servers.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_tls() -> Iterator[servers.PostgresServer]:
    """A second PostgreSQL that serves TLS (its CA: `postgres_tls.directory / "ca.crt"`)."""
    if reason := servers.missing_postgres_reason():
        pytest.skip(reason)
    with servers.postgres_server(tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[servers.S3Server]:
    with servers.s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def openssl_cli() -> str:
    """The openssl command, for the tests that prove backups interoperate with it; skips when absent."""
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("the openssl CLI is not installed (make setup installs the Debian package `openssl`)")
    return found


@pytest.fixture(scope="session")
def pushgateway() -> Iterator[servers.Pushgateway]:
    if not (shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")):
        pytest.skip("prometheus-pushgateway is not installed (make setup installs the Debian package)")
    with servers.pushgateway() as gateway:
        yield gateway


@dataclass
class BackupEnv:
    """Everything a `archangel-helm backup ...` run needs, as the CronJobs pass it: environment variables."""

    env: dict[str, str]
    bucket: str
    s3: servers.S3Server
    encryption_key: Path
    mac_key: Path
    workdir: Path

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str, str]:
        executable = shutil.which("archangel-helm")
        assert executable, "archangel-helm is not installed (make setup)"
        result = subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            env={**self.env, **(extra_env or {})},
            check=False,
            timeout=600,
        )
        return result.returncode, result.stdout, result.stderr

    def objects(self) -> dict[str, int]:
        listing = self.s3.client().list_objects_v2(Bucket=self.bucket)
        return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}


@pytest.fixture
def backup_env(s3: servers.S3Server, tmp_path: Path) -> BackupEnv:
    bucket = f"backups-{secrets.token_hex(6)}"
    s3.client().create_bucket(Bucket=bucket)
    encryption_key = tmp_path / "encryption-key"
    mac_key = tmp_path / "mac-key"
    encryption_key.write_text(secrets.token_urlsafe(48))  # as the secrets hook generates them
    mac_key.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "AWS_", "ARCHANGEL_"))}
    env.update(
        {
            "ARCHANGEL_BACKUP_BUCKET": bucket,
            "ARCHANGEL_BACKUP_ENDPOINT_URL": s3.endpoint,
            "ARCHANGEL_BACKUP_PREFIX": "prod",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE": str(encryption_key),
            "ARCHANGEL_BACKUP_MAC_KEY_FILE": str(mac_key),
        }
    )
    return BackupEnv(env, bucket, s3, encryption_key, mac_key, tmp_path)
