"""The load checker against a real aiohttp server on 127.0.0.1 that injects known latency and errors and
keeps its own record of every request it served.

Tolerances (stated once, here): the checker's count and error figures must equal the server's record
exactly. Its latencies must be >= the server's handler time for the same requests (the client clock wraps
the server's) and at most 25 ms above it at P50 and 60 ms at P95/P99. The extra covers loopback,
HTTP parsing and scheduling: the server shares this process (and the GIL, with a 5 ms switch interval) and
the 2-core test machine runs other suites at the same time; tails get more room because one stall lands
on them. Measured here the excess is 0.5-2 ms at P50 and 1-4 ms at P99, idle or with three CPU-bound processes
competing for the two cores, so the tolerances leave an order of magnitude of room.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from archangel_helm.loadcheck import (
    ErrorPolicy,
    LoadCheckConfig,
    main,
    percentile,
    run_load_check,
    run_load_check_async,
)

pytestmark = pytest.mark.e2e

P50_TOLERANCE = 0.025
TAIL_TOLERANCE = 0.060
FAST_DELAY, SLOW_DELAY = 0.010, 0.200  # /mix: every 10th request slow, every 20th a 503


@dataclass(frozen=True)
class Served:
    path: str
    status: int
    handler_seconds: float
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class InjectingServer:
    """aiohttp on 127.0.0.1:<free port> in a background thread with its own loop."""

    def __init__(self) -> None:
        self.record: list[Served] = []
        self._counters: Counter[str] = Counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def served(self, path: str) -> list[Served]:
        return [s for s in self.record if s.path == path]

    def reset(self) -> None:
        self.record.clear()
        self._counters.clear()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/mix", self._mix)
        app.router.add_get("/fast", self._fast)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_route("*", "/echo", self._echo)
        # Cancel a handler whose client went away (a timed-out /slow), so stopping the server does not wait 5 s.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _next(self, path: str) -> int:
        self._counters[path] += 1
        return self._counters[path]

    async def _respond(self, request: web.Request, status: int, delay: float) -> web.Response:
        start = time.perf_counter()
        if delay:
            await asyncio.sleep(delay)
        body = await request.read()
        self.record.append(
            Served(request.path, status, time.perf_counter() - start, request.method, dict(request.headers), body)
        )
        return web.Response(status=status, text="ok")

    async def _mix(self, request: web.Request) -> web.Response:
        number = self._next("/mix")
        delay = SLOW_DELAY if number % 10 == 0 else FAST_DELAY
        return await self._respond(request, 503 if number % 20 == 19 else 200, delay)

    async def _fast(self, request: web.Request) -> web.Response:
        return await self._respond(request, 200, 0.0)

    async def _slow(self, request: web.Request) -> web.Response:
        return await self._respond(request, 200, 5.0)

    async def _status(self, request: web.Request) -> web.Response:
        return await self._respond(request, int(request.match_info["code"]), 0.0)

    async def _echo(self, request: web.Request) -> web.Response:
        return await self._respond(request, 200, 0.0)


@pytest.fixture(scope="module")
def module_server() -> Iterator[InjectingServer]:
    server = InjectingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(module_server: InjectingServer) -> InjectingServer:
    module_server.reset()
    return module_server


def free_port() -> int:
    """A port nobody listens on: bound, read and released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def assert_close_above(checker: float, server: float, tolerance: float, name: str) -> None:
    assert server <= checker <= server + tolerance, f"{name}: checker {checker:.4f} s, server {server:.4f} s"


def test_percentiles_and_error_rate_agree_with_the_servers_record(server: InjectingServer) -> None:
    result = run_load_check(LoadCheckConfig(server.url("/mix"), concurrency=10, duration=None, requests=400))
    served = server.served("/mix")
    server_503 = sum(1 for s in served if s.status == 503)

    assert result.requests == len(served) == 400
    assert result.errors.statuses == {503: server_503} == {503: 20}
    assert result.error_rate == server_503 / len(served) == 0.05
    assert result.statuses == {200: 380, 503: 20}

    handler = sorted(s.handler_seconds for s in served)
    latency = result.latency
    assert latency is not None
    assert latency.count == 400
    assert_close_above(latency.p50, percentile(handler, 50), P50_TOLERANCE, "P50")
    assert_close_above(latency.p95, percentile(handler, 95), TAIL_TOLERANCE, "P95")
    assert_close_above(latency.p99, percentile(handler, 99), TAIL_TOLERANCE, "P99")
    # And against the injected distribution itself: 90 % at 10 ms, 10 % at 200 ms.
    assert FAST_DELAY <= latency.p50 <= FAST_DELAY + P50_TOLERANCE
    assert SLOW_DELAY <= latency.p95 <= latency.p99 <= SLOW_DELAY + TAIL_TOLERANCE
    assert sum(result.histogram.counts) == 400

    assert [c.name for c in result.verdict.failures] == ["error rate"]


async def test_async_api_in_a_running_loop(server: InjectingServer) -> None:
    result = await run_load_check_async(LoadCheckConfig(server.url("/fast"), concurrency=3, requests=30))
    assert result.requests == len(server.served("/fast")) == 30
    assert result.passed


def test_duration_bounds_when_requests_start(server: InjectingServer) -> None:
    result = run_load_check(LoadCheckConfig(server.url("/fast"), concurrency=4, duration=0.5))
    assert result.requests == len(server.served("/fast")) > 0
    # No request starts after 0.5 s; in-flight ones finish, a fast route adds little.
    assert 0.5 <= result.window < 1.5
    assert result.throughput == pytest.approx(result.requests / result.window)


def test_warmup_requests_are_served_but_not_counted(server: InjectingServer) -> None:
    result = run_load_check(LoadCheckConfig(server.url("/fast"), concurrency=2, duration=0.3, warmup=0.3))
    assert result.warmup_requests > 0
    assert result.requests > 0
    assert result.requests + result.warmup_requests == len(server.served("/fast"))


def test_timeouts_count_as_errors_and_keep_their_elapsed_time(server: InjectingServer) -> None:
    result = run_load_check(LoadCheckConfig(server.url("/slow"), concurrency=2, requests=4, timeout=0.2))
    assert (result.requests, result.timeouts, result.errors.timeout, result.error_rate) == (4, 4, 4, 1.0)
    assert result.latency is not None
    assert result.latency.min >= 0.2
    assert "timeout" in result.error_examples
    assert not result.passed


def test_connection_errors_count_as_errors() -> None:
    result = run_load_check(LoadCheckConfig(f"http://127.0.0.1:{free_port()}/", concurrency=2, requests=6))
    assert (result.requests, result.errors.connection, result.error_rate) == (6, 6, 1.0)
    assert result.latency is None
    assert [c.name for c in result.verdict.failures] == ["P95", "P99", "error rate"]
    assert "Cannot connect" in result.error_examples["connection"]


def test_error_status_policy(server: InjectingServer) -> None:
    default = run_load_check(LoadCheckConfig(server.url("/status/404"), concurrency=1, requests=5))
    assert (default.statuses, default.errors.total) == ({404: 5}, 0)
    strict = ErrorPolicy(statuses=frozenset({404}))
    counted = run_load_check(LoadCheckConfig(server.url("/status/404"), concurrency=1, requests=5, error_policy=strict))
    assert counted.errors.statuses == {404: 5}


def test_method_headers_and_body_reach_the_server(server: InjectingServer) -> None:
    config = LoadCheckConfig(
        server.url("/echo"),
        method="POST",
        headers={"X-Trace": "load", "user-agent": "custom"},
        body=b'{"q": 1}',
        concurrency=1,
        requests=2,
    )
    result = run_load_check(config)
    assert result.statuses == {200: 2}
    seen = server.served("/echo")
    assert [(s.method, s.body) for s in seen] == [("POST", b'{"q": 1}')] * 2
    assert seen[0].headers["X-Trace"] == "load"
    assert seen[0].headers["User-Agent"] == "custom"


# --- the command's exit codes -------------------------------------------------------------------------------


def test_cli_exits_0_when_thresholds_hold(server: InjectingServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([server.url("/fast"), "--concurrency", "2", "--requests", "20"]) == 0
    out = capsys.readouterr().out
    assert "requests   20 in" in out
    assert "verdict    PASS" in out


def test_cli_exits_1_when_a_threshold_breaks(server: InjectingServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([server.url("/status/503"), "-c", "2", "-n", "20"]) == 1
    assert "verdict    FAIL: error rate 100.00 % >= 1.00 %" in capsys.readouterr().out
    assert main([server.url("/mix"), "-c", "5", "-n", "20", "--max-p99", "0.1", "--max-error-percent", "50"]) == 1
    assert "FAIL: P99 " in capsys.readouterr().out


def test_cli_json_output(server: InjectingServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([server.url("/fast"), "-n", "10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requests"] == 10
    assert data["verdict"]["passed"] is True


def test_python_dash_m_runs_the_command(server: InjectingServer) -> None:
    command = [sys.executable, "-m", "archangel_helm.loadcheck", server.url("/fast"), "-c", "2", "-d", "0.3"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "verdict    PASS" in completed.stdout
