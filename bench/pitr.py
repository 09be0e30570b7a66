"""Benchmark: point-in-time recovery with barman-cloud (what CloudNativePG's Barman Cloud plugin runs).

    python bench/pitr.py [--size-mb 1024] [--wal-mb 256] [--archive-timeout 60]

Seeds a throwaway PostgreSQL (127.0.0.1) that archives its WAL through barman-cloud to moto's S3 server (its own
process), as production does (zstd WAL, lz4 base backup, SSE), and measures on this machine:
- the RPO: how long a commit takes to reach the archive with no pg_switch_wal, only archive_timeout;
- the base backup's time;
- the recovery time: base backup restored into a fresh data directory, then `--wal-mb` of WAL written after it
  replayed to the last commit, and the recovered server promoted; and the rate that gives for 10 and 100 GiB.
Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.support import servers  # noqa: E402
from tests.support.barman import BarmanCloud, recovered, wait_archived  # noqa: E402

from archangel_helm.backup.postgres import psql  # noqa: E402
from bench.backup import moto_process, seed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="database size to seed, MiB of table data")
    parser.add_argument("--wal-mb", type=int, default=256, help="rows updated after the base backup, MiB")
    parser.add_argument("--archive-timeout", type=int, default=60, help="archive_timeout, seconds (production: 60)")
    args = parser.parse_args()
    with moto_process() as endpoint:
        bucket = f"pitr-{secrets.token_hex(4)}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
        s3.create_bucket(Bucket=bucket)
        barman = BarmanCloud(endpoint, f"s3://{bucket}/archangel", "archangel-db")
        settings = {
            "wal_level": "replica",
            "archive_mode": "on",
            "archive_command": barman.wal_archive_command(),
            "archive_timeout": f"{args.archive_timeout}s",
            "max_wal_size": "4GB",
        }
        with servers.postgres_server(settings=settings) as server:
            size = seed(server, "bench", args.size_mb)
            connection = server.connection("bench")
            started = time.monotonic()
            backup_id = barman.backup(connection)
            backup_seconds = time.monotonic() - started
            # WAL after the base backup: what a recovery replays.
            rows = args.wal_mb * 1024 * 1024 // 260
            before = psql(connection, "SELECT pg_current_wal_lsn();")
            psql(connection, f"UPDATE events SET kind = kind || '' WHERE id <= {rows};")
            wal_bytes = int(psql(connection, f"SELECT pg_current_wal_lsn() - '{before}'::pg_lsn;"))
            psql(connection, "CREATE TABLE marker (at timestamptz DEFAULT clock_timestamp());")
            psql(connection, "INSERT INTO marker DEFAULT VALUES;")
            last = psql(connection, "SELECT pg_current_wal_lsn();")
            rpo = wait_archived(connection, last, timeout=args.archive_timeout * 3)  # no pg_switch_wal
            marker = psql(connection, "SELECT at FROM marker;")
            timings: dict[str, float] = {}
            with recovered(barman, backup_id, server, {}, timeout=3600, timings=timings) as copy:
                assert psql(copy.connection("bench"), "SELECT at FROM marker;") == marker
            restored, total = timings["restore"], timings["recovery"]
    mib = size / 2**20
    rate = mib / total
    print(
        f"# Point-in-time recovery ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} CPUs; PostgreSQL, moto S3 and barman-cloud on one machine)\n"
    )
    print(
        "| database | base backup | commit to archive (archive_timeout) | base restore | WAL replayed "
        "| recovery to promoted | rate |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {size / 2**30:.2f} GiB | {backup_seconds:.1f} s | {rpo:.1f} s ({args.archive_timeout} s) "
        f"| {restored:.1f} s | {wal_bytes / 2**20:.0f} MiB in {total - restored:.1f} s | {total:.1f} s "
        f"| {rate:.0f} MiB/s |"
    )
    print(f"\nAt {rate:.0f} MiB/s a 10 GiB database recovers in about {10 * 1024 / rate / 60:.1f} min and 100 GiB in "
          f"about {100 * 1024 / rate / 60:.0f} min on this machine (plus WAL replay, which grows with the writes "
          "since the last base backup).")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
