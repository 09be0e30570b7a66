"""Benchmark: the load checker's achievable request rate and percentile accuracy, against wrk.

    python bench/load.py [--duration 5] [--concurrency 10 --concurrency 50] [--delay 0.05]

Starts an aiohttp server (one process, no access log) on 127.0.0.1 and, per concurrency, runs the checker
and then `wrk -t2 -cN -d<duration>s --latency` against the same route. Reports requests/s of both and the
ratio, their P50/P99, and the CPU each side used (which one saturates explains the ratio). Then, against a
route with a fixed injected delay, reports each tool's P50/P99 minus that delay: the percentile accuracy.
Prints Markdown; figures go in docs/LOADCHECK.md. Without wrk it says so and reports the checker alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from archangel_helm.loadcheck import LoadCheckConfig, run_load_check

_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Figures:
    rps: float
    p50: float
    p99: float
    cpu_self: float | None  # CPU seconds per wall second of the load generator
    cpu_server: float | None  # the same for the server process
    errors: int


# --- the server (a child process, so it does not share the checker's interpreter) -------------------------


async def _serve(delay: float) -> None:
    async def handle(_: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


@contextmanager
def server(delay: float) -> Iterator[tuple[str, int]]:
    """(URL, pid) of a server process on a free 127.0.0.1 port, stopped on exit."""
    command = [sys.executable, __file__, "--serve", "--delay", str(delay)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _process_cpu(pid: int) -> float | None:
    """utime + stime of a process in seconds, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _share(before: float | None, after: float | None, wall: float) -> float | None:
    return (after - before) / wall if before is not None and after is not None else None


# --- the two load generators --------------------------------------------------------------------------------


def run_checker(url: str, server_pid: int, concurrency: int, duration: float, warmup: float) -> Figures:
    config = LoadCheckConfig(url, concurrency=concurrency, duration=duration, warmup=warmup, timeout=5.0)
    wall, cpu, server_cpu = time.perf_counter(), time.process_time(), _process_cpu(server_pid)
    result = run_load_check(config)
    wall = time.perf_counter() - wall
    assert result.latency is not None, f"no responses from {url}"
    return Figures(
        rps=result.throughput,
        p50=result.latency.p50,
        p99=result.latency.p99,
        cpu_self=(time.process_time() - cpu) / wall,
        cpu_server=_share(server_cpu, _process_cpu(server_pid), wall),
        errors=result.errors.total,
    )


def _wrk_seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}: expected a number with us/ms/s/m/h")
    return float(match[1]) * _WRK_UNITS[match[2]]


def parse_wrk(output: str) -> tuple[float, float, float, int]:
    """(requests/s, P50 s, P99 s, errors) from `wrk --latency` output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (rps and p50 and p99):
        raise ValueError(f"wrk output without Requests/sec or a latency distribution:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return float(rps[1]), _wrk_seconds(p50[1]), _wrk_seconds(p99[1]), errors


def run_wrk(wrk: str, url: str, server_pid: int, concurrency: int, duration: float) -> Figures:
    threads = min(2, concurrency)
    command = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{duration:g}s", "--latency", url]
    wall, server_cpu, before = time.perf_counter(), _process_cpu(server_pid), os.times()
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    wall, after = time.perf_counter() - wall, os.times()
    # wrk has exited and been waited for, so its CPU time is in this process's children counters.
    wrk_cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    rps, p50, p99, errors = parse_wrk(completed.stdout)
    return Figures(
        rps=rps,
        p50=p50,
        p99=p99,
        cpu_self=wrk_cpu / wall,
        cpu_server=_share(server_cpu, _process_cpu(server_pid), wall),
        errors=errors,
    )


# --- report -------------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _cpu(share: float | None) -> str:
    return f"{share * 100:.0f} %" if share is not None else "n/a"


def throughput_table(wrk: str | None, concurrencies: list[int], duration: float, warmup: float) -> None:
    print("## Achievable rate against a no-delay route\n")
    print(
        "| concurrency | checker req/s | wrk req/s | ratio | checker P50 / P99 | wrk P50 / P99 "
        "| CPU checker / server | CPU wrk / server |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with server(0.0) as (url, pid):
        for concurrency in concurrencies:
            checker = run_checker(url, pid, concurrency, duration, warmup)
            other = run_wrk(wrk, url, pid, concurrency, duration) if wrk else None
            ratio = f"{checker.rps / other.rps:.2f}" if other else "n/a"
            wrk_rps = f"{other.rps:.0f}" if other else "wrk missing"
            wrk_latency = f"{_ms(other.p50)} / {_ms(other.p99)}" if other else "n/a"
            wrk_cpu = f"{_cpu(other.cpu_self)} / {_cpu(other.cpu_server)}" if other else "n/a"
            print(
                f"| {concurrency} | {checker.rps:.0f} | {wrk_rps} | {ratio} | {_ms(checker.p50)} / {_ms(checker.p99)} "
                f"| {wrk_latency} | {_cpu(checker.cpu_self)} / {_cpu(checker.cpu_server)} | {wrk_cpu} |"
            )
            if checker.errors or (other and other.errors):
                print(f"\n(errors: checker {checker.errors}, wrk {other.errors if other else 'n/a'})\n")


def accuracy_table(wrk: str | None, delay: float, concurrency: int, duration: float, warmup: float) -> None:
    print(f"\n## Percentile accuracy against a fixed {_ms(delay)} delay, concurrency {concurrency}\n")
    print("| tool | requests/s | P50 | P50 - delay | P99 | P99 - delay |")
    print("|---|---|---|---|---|---|")
    with server(delay) as (url, pid):
        runs = [("checker", run_checker(url, pid, concurrency, duration, warmup))]
        if wrk:
            runs.append(("wrk", run_wrk(wrk, url, pid, concurrency, duration)))
        for name, figures in runs:
            print(
                f"| {name} | {figures.rps:.0f} | {_ms(figures.p50)} | {_ms(figures.p50 - delay)} "
                f"| {_ms(figures.p99)} | {_ms(figures.p99 - delay)} |"
            )


def _wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout or completed.stderr).split("Copyright")[0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--concurrency", type=int, action="append", help="(repeatable; default 10 and 50)")
    parser.add_argument("--delay", type=float, default=0.05, help="injected delay for the accuracy run (0.05)")
    parser.add_argument("--warmup", type=float, default=0.5, help="checker warm-up, not counted (default 0.5)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.delay))
        return 0

    wrk = shutil.which("wrk")
    print("# load checker benchmark\n")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__} (client and server), "
        f"{_wrk_version(wrk) if wrk else 'wrk not installed (apt-get install wrk): checker figures only'}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.duration:g} s per run\n"
    )
    throughput_table(wrk, args.concurrency or [10, 50], args.duration, args.warmup)
    accuracy_table(wrk, args.delay, 10, args.duration, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
