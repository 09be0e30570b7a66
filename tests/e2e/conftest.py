"""End-to-end fixtures: real processes and servers on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import servers
from tests.support.backup_env import BackupEnv
from tests.support.kube_emulator import KubeEmulator


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
