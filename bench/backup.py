"""Benchmark: backup and restore throughput of the engine against the shell pipeline, and its peak memory.

    python bench/backup.py [--sizes-mb 256,1100] [--runs 1]

For each database size it seeds a throwaway PostgreSQL (127.0.0.1), starts moto's S3 server as its own process,
and measures:
- backup:  `archangel-helm backup database`  vs  `pg_dump -Fc -Z0 | gzip -6 | openssl enc ... | upload`
- restore: `archangel-helm backup restore`   vs  `download | openssl enc -d | gunzip > file; pg_restore`
with the same PBKDF2 iterations, gzip level and upload settings (boto3, 4 threads, the engine's part size and
read-ahead) on both sides, plus the peak
resident memory of the engine's Python process (VmHWM) at each size. Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.e2e.servers import PostgresServer, free_port, postgres_server  # noqa: E402

from archangel_helm.backup.crypto import PBKDF2_ITERATIONS  # noqa: E402
from archangel_helm.backup.postgres import psql  # noqa: E402
from archangel_helm.backup.storage import part_size_for  # noqa: E402

# Runs the CLI in this interpreter and reports its own peak RSS on exit.
PEAK_WRAPPER = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('VmHWM_KB', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = ['archangel-helm'] + sys.argv[1:]\n"
    "runpy.run_module('archangel_helm.cli', run_name='__main__')\n"
)
UPLOAD = (
    "import boto3, sys\n"
    "from boto3.s3.transfer import TransferConfig\n"
    "s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1')\n"
    "part = int(sys.argv[4])\n"
    "cfg = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)\n"
    "cfg.max_in_memory_upload_chunks = 4\n"
    "s3.upload_fileobj(sys.stdin.buffer, sys.argv[2], sys.argv[3], Config=cfg)\n"
)
DOWNLOAD = (
    "import boto3, sys\n"
    "s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1')\n"
    "body = s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body']\n"
    "for chunk in iter(lambda: body.read(1 << 20), b''):\n"
    "    sys.stdout.buffer.write(chunk)\n"
)


@contextmanager
def moto_process() -> Iterator[str]:
    port = free_port()
    binary = shutil.which("moto_server")
    assert binary, "moto_server not installed (make setup)"
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def seed(server: PostgresServer, name: str, megabytes: int) -> int:
    admin = server.connection()
    psql(admin, f"CREATE DATABASE {name};")
    rows = megabytes * 1024 * 1024 // 260  # ~260 bytes per row on disk, text that compresses like real data
    psql(
        server.connection(name),
        f"""
        CREATE TABLE events (id bigint PRIMARY KEY, kind text, a text, b text, body text, at timestamptz);
        INSERT INTO events SELECT i, (ARRAY['decision','task','memory','audit'])[1 + i % 4], md5(i::text),
               md5((i * 7)::text), repeat(md5((i % 1000)::text), 3) || ' agent ' || (i % 97), now() - i * interval '1 s'
        FROM generate_series(1, {rows}) i;
        CREATE INDEX events_kind ON events (kind);""",
        name,
    )
    psql(server.connection(name), "VACUUM ANALYZE events;", name)
    return int(psql(admin, f"SELECT pg_database_size('{name}');"))


def timed(command: list[str] | str, env: dict[str, str], shell: bool = False) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        command,
        env=env,
        shell=shell,
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/bash" if shell else None,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{command!r} failed: {result.stderr[-2000:]}")
    return elapsed, result.stderr


def measure(server: PostgresServer, endpoint: str, megabytes: int, workdir: Path) -> dict[str, float]:
    name = f"bench_{megabytes}"
    size = seed(server, name, megabytes)
    bucket = f"bench-{secrets.token_hex(4)}"
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    ).create_bucket(Bucket=bucket)
    key_file, mac_file = workdir / "enc", workdir / "mac"
    key_file.write_text(secrets.token_urlsafe(48))
    mac_file.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGUSER": "postgres",
        "PGDATABASE": name,
        "PGPASSWORD": server.password_file.read_text().strip(),
        "ARCHANGEL_PG_PASSWORD_FILE": str(server.password_file),
        "ARCHANGEL_BACKUP_BUCKET": bucket,
        "ARCHANGEL_BACKUP_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE": str(key_file),
        "ARCHANGEL_BACKUP_MAC_KEY_FILE": str(mac_file),
        "TMPDIR": str(workdir),
    }
    openssl = f"-aes-256-cbc -pbkdf2 -iter {PBKDF2_ITERATIONS} -md sha256 -pass file:{key_file}"

    engine_backup, log = timed([sys.executable, "-c", PEAK_WRAPPER, "backup", "database"], env)
    peak_backup_kb = int(log.rsplit("VmHWM_KB", 1)[1].split()[0])
    shell_backup, _ = timed(
        f"set -o pipefail; pg_dump -Fc -Z0 {name} | gzip -6 | openssl enc {openssl} -salt | "
        f'{sys.executable} -c "{UPLOAD}" {endpoint} {bucket} shell/{name}.dump.gz.enc {part_size_for(size)}',
        env,
        shell=True,
    )

    engine_restore, log = timed(
        [
            sys.executable,
            "-c",
            PEAK_WRAPPER,
            "backup",
            "restore",
            "database",
            "--into",
            f"{name}_engine",
            "--jobs",
            "2",
        ],
        env,
    )
    peak_restore_kb = int(log.rsplit("VmHWM_KB", 1)[1].split()[0])
    dump = workdir / f"{name}.dump"
    shell_restore, _ = timed(
        f'set -o pipefail; {sys.executable} -c "{DOWNLOAD}" {endpoint} {bucket} shell/{name}.dump.gz.enc | '
        f"openssl enc -d {openssl} | gunzip > {dump} && createdb {name}_shell && "
        f"pg_restore --exit-on-error --no-owner --jobs 2 -d {name}_shell {dump}",
        env,
        shell=True,
    )
    dump.unlink(missing_ok=True)
    mib = size / 2**20
    return {
        "db_bytes": size,
        "engine_backup_s": engine_backup,
        "shell_backup_s": shell_backup,
        "engine_restore_s": engine_restore,
        "shell_restore_s": shell_restore,
        "engine_backup_mib_s": mib / engine_backup,
        "shell_backup_mib_s": mib / shell_backup,
        "engine_restore_mib_s": mib / engine_restore,
        "shell_restore_mib_s": mib / shell_restore,
        "peak_backup_mib": peak_backup_kb / 1024,
        "peak_restore_mib": peak_restore_kb / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="256,1100", help="database sizes to seed, MiB of table data")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    results = []
    with postgres_server() as server, moto_process() as endpoint, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for size in sizes:
            results.append(measure(server, endpoint, size, Path(tmp)))
            print(f"measured {size} MiB: {results[-1]}", file=sys.stderr)
    print(
        f"# Backup benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; PostgreSQL, moto S3 and the jobs on one machine)\n"
    )
    print(
        "| database | engine backup | shell backup | ratio | engine restore | shell restore | ratio | "
        "peak RSS backup | peak RSS restore |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['db_bytes'] / 2**30:.2f} GiB | "
            f"{r['engine_backup_s']:.1f} s ({r['engine_backup_mib_s']:.0f} MiB/s) | "
            f"{r['shell_backup_s']:.1f} s ({r['shell_backup_mib_s']:.0f} MiB/s) | "
            f"{r['shell_backup_s'] / r['engine_backup_s']:.2f} | "
            f"{r['engine_restore_s']:.1f} s ({r['engine_restore_mib_s']:.0f} MiB/s) | "
            f"{r['shell_restore_s']:.1f} s ({r['shell_restore_mib_s']:.0f} MiB/s) | "
            f"{r['shell_restore_s'] / r['engine_restore_s']:.2f} | {r['peak_backup_mib']:.0f} MiB | "
            f"{r['peak_restore_mib']:.0f} MiB |"
        )
    largest = max(results, key=lambda r: r["db_bytes"])
    rate = largest["engine_restore_mib_s"]
    print(
        f"\nRatio = shell time / engine time (above 1: the engine is faster). Restore rate at the largest size: "
        f"{rate:.0f} MiB of database per second, so 10 GiB restores in about {10 * 1024 / rate / 60:.0f} min and "
        f"100 GiB in about {100 * 1024 / rate / 60:.0f} min on this machine (S3 download bandwidth and disk speed "
        f"in a cluster change both)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
