"""Benchmark: backup and restore throughput of the engine against plain pg_dump / pg_restore, and its peak memory.

    python bench/backup.py [--sizes-mb 1024,4096]

For each database size it seeds a throwaway PostgreSQL (127.0.0.1), starts moto's S3 server as its own process,
and measures, on the same database in the same run:
- backup:  `archangel-helm backup database` (dump, compress, encrypt, MAC, upload)  vs  `pg_dump -Fc -f FILE`
- restore: `archangel-helm backup restore` (download, verify, decrypt, pg_restore -j2)  vs  `pg_restore -j2 FILE`
(the engine with --jobs 2, the chart's restore.jobs default) plus the peak resident memory of the
engine's Python process (VmHWM) at each size. Prints a Markdown report.
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

from tests.support.servers import PostgresServer, free_port, postgres_server  # noqa: E402

from archangel_helm.backup.postgres import psql  # noqa: E402

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
    engine_backup, log = timed([sys.executable, "-c", PEAK_WRAPPER, "backup", "database"], env)
    peak_backup_kb = int(log.rsplit("VmHWM_KB", 1)[1].split()[0])
    dump = workdir / f"{name}.dump"
    # The baselines: what a DBA runs by hand, to and from a local file (no encryption, no upload).
    plain_backup, _ = timed(["pg_dump", "-Fc", "-f", str(dump), name], env)
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
    plain_restore, _ = timed(
        f"createdb {name}_plain && pg_restore --exit-on-error --no-owner --jobs 2 -d {name}_plain {dump}",
        env,
        shell=True,
    )
    dump.unlink(missing_ok=True)
    mib = size / 2**20
    return {
        "db_bytes": size,
        "engine_backup_s": engine_backup,
        "plain_backup_s": plain_backup,
        "engine_restore_s": engine_restore,
        "plain_restore_s": plain_restore,
        "engine_backup_mib_s": mib / engine_backup,
        "plain_backup_mib_s": mib / plain_backup,
        "engine_restore_mib_s": mib / engine_restore,
        "plain_restore_mib_s": mib / plain_restore,
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
        "| database | engine backup | pg_dump -Fc to a file | ratio | engine restore | "
        "pg_restore -j2 from a file | ratio | peak RSS backup | peak RSS restore |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['db_bytes'] / 2**30:.2f} GiB | "
            f"{r['engine_backup_s']:.1f} s ({r['engine_backup_mib_s']:.0f} MiB/s) | "
            f"{r['plain_backup_s']:.1f} s ({r['plain_backup_mib_s']:.0f} MiB/s) | "
            f"{r['plain_backup_s'] / r['engine_backup_s']:.2f} | "
            f"{r['engine_restore_s']:.1f} s ({r['engine_restore_mib_s']:.0f} MiB/s) | "
            f"{r['plain_restore_s']:.1f} s ({r['plain_restore_mib_s']:.0f} MiB/s) | "
            f"{r['plain_restore_s'] / r['engine_restore_s']:.2f} | {r['peak_backup_mib']:.0f} MiB | "
            f"{r['peak_restore_mib']:.0f} MiB |"
        )
    largest = max(results, key=lambda r: r["db_bytes"])
    rate = largest["engine_restore_mib_s"]
    print(
        f"\nRatio = plain time / engine time (the target is >= 0.8). Restore rate at the largest size: "
        f"{rate:.0f} MiB of database per second, so 10 GiB restores in about {10 * 1024 / rate / 60:.0f} min and "
        f"100 GiB in about {100 * 1024 / rate / 60:.0f} min on this machine (S3 download bandwidth and disk speed "
        f"in a cluster change both)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
