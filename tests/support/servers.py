"""Real local servers for the end-to-end tests, each on 127.0.0.1 and a free port, started and stopped by
fixtures: a throwaway PostgreSQL cluster, moto's S3 server, and Prometheus' Pushgateway."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from archangel_helm.backup.postgres import Connection
from archangel_helm.hooks.certificates import PemKeyPair
from tests.support.background import stop

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


def missing_postgres_reason() -> str | None:
    if postgres_bin() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql (make setup installs the Debian package postgresql)"
    for client in ("psql", "pg_dump", "pg_restore", "pg_dumpall"):
        if shutil.which(client) is None:
            return f"{client} is not on PATH (postgresql-client)"
    return None


@dataclass
class PostgresServer:
    directory: Path
    port: int
    password_file: Path
    owner: str | None

    def connection(self, database: str = "postgres") -> Connection:
        return Connection("127.0.0.1", self.port, "postgres", database, self.password_file)


def _as_owner(owner: str | None, command: list[str]) -> list[str]:
    # initdb refuses to run as root: when the tests run as root, the cluster belongs to the postgres user.
    return ["runuser", "-u", owner, "--", *command] if owner else command


def make_tls_files(directory: Path, owner: str | None) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI); returns the CA certificate."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=archangel-test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    (directory / "server.key").chmod(0o600)
    if owner:
        entry = pwd.getpwnam(owner)
        for name in ("server.key", "server.crt"):
            os.chown(directory / name, entry.pw_uid, entry.pw_gid)
    return directory / "ca.crt"


@contextmanager
def postgres_server(
    config_file: str | None = None, tls: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[PostgresServer]:
    """A PostgreSQL on 127.0.0.1. With config_file (a postgresql.conf as the chart renders it), the server runs
    with it as its configuration file, as the chart's StatefulSet does; its data-directory paths are this one's.
    With tls, it also serves TLS with a certificate for 127.0.0.1 from a CA at `directory / "ca.crt"`.
    `settings` are added to the data directory's postgresql.conf (archive_command and the like)."""
    binaries = postgres_bin()
    assert binaries is not None
    owner = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="archangel-pg-"))
    password = "backup-test-" + os.urandom(8).hex()
    password_file = directory / "password"
    password_file.write_text(password)
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        os.chown(password_file, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    subprocess.run(
        _as_owner(
            owner,
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        ),
        check=True,
        capture_output=True,
    )
    if settings:
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {conf_value(value)}\n" for name, value in settings.items())
    options = ""
    if tls:
        make_tls_files(directory, owner)
        options += f" -c ssl=on -c ssl_cert_file={directory}/server.crt -c ssl_key_file={directory}/server.key"
    if config_file is not None:
        conf_path = directory / "postgresql.conf"
        conf_path.write_text(config_file.replace("/var/lib/postgresql/data/pgdata", str(data)))
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(conf_path, entry.pw_uid, entry.pw_gid)
        options += f" -c config_file={conf_path}"
    with running_postgres(directory, data, password_file, owner, options) as server:
        yield server


def as_the_kubelet_mounts_it(path: Path) -> None:
    """A Secret volume's file as the kubelet writes it for the chart's PostgreSQL pod: owned by root, group the
    pod's fsGroup (999, postgres), mode 0440 (defaultMode). PostgreSQL accepts a root-owned key with group read
    only. Not running as root, the files belong to this user, and PostgreSQL then wants 0600."""
    if os.geteuid() == 0:
        os.chown(path, 0, pwd.getpwnam("postgres").pw_gid)
        path.chmod(0o440)
    else:
        path.chmod(0o600)


@contextmanager
def chart_postgres_server(configmap: Mapping[str, str], certificate: PemKeyPair | None) -> Iterator[PostgresServer]:
    """PostgreSQL with the configuration the chart renders (its ConfigMap's postgresql.conf and, with data-tier
    TLS, pg_hba.conf and the server certificate), the paths the pod mounts pointed at local files."""
    files = Path(tempfile.mkdtemp(prefix="archangel-pg-chart-"))  # under /tmp: the postgres user can reach it
    files.chmod(0o755)
    try:
        conf = configmap["postgresql.conf"]
        if "pg_hba.conf" in configmap:
            if certificate is None:
                raise ValueError("the chart's PostgreSQL serves TLS: give it a certificate")
            (files / "pg_hba.conf").write_text(configmap["pg_hba.conf"])
            (files / "pg_hba.conf").chmod(0o644)
            (files / "tls.crt").write_text(certificate.certificate_pem)
            (files / "tls.key").write_text(certificate.key_pem)
            for name in ("tls.crt", "tls.key"):
                as_the_kubelet_mounts_it(files / name)
            conf = conf.replace("/etc/postgresql-tls/", f"{files}/").replace(
                "/etc/postgresql/pg_hba.conf", f"{files}/pg_hba.conf"
            )
        with postgres_server(config_file=conf) as started:
            yield started
    finally:
        shutil.rmtree(files, ignore_errors=True)


def conf_value(value: str) -> str:
    """A postgresql.conf value: quoted, with quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


@contextmanager
def running_postgres(
    directory: Path, data: Path, password_file: Path, owner: str | None, options: str = ""
) -> Iterator[PostgresServer]:
    """Start the cluster in `data` on a free port (sockets in `directory`); stop it and remove `directory` after."""
    binaries = postgres_bin()
    assert binaries is not None
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off -c full_page_writes=off{options}"
    started = subprocess.run(
        _as_owner(
            owner,
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w", "-o", options, "start"],
        ),
        capture_output=True,
        check=False,
    )
    try:
        if started.returncode != 0:
            log = (directory / "log").read_text(errors="replace")[-3000:] if (directory / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed (exit {started.returncode}): {started.stderr!r}\n{log}")
        yield PostgresServer(directory, port, password_file, owner)
    finally:
        subprocess.run(
            _as_owner(owner, [str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class S3Server:
    endpoint: str

    def client(self) -> S3Client:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


@contextmanager
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@dataclass
class Pushgateway:
    url: str

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text


@contextmanager
def pushgateway() -> Iterator[Pushgateway]:
    binary = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
    assert binary is not None
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("the Pushgateway did not become ready")
        yield Pushgateway(url)
    finally:
        stop(process)
