"""python -m archangel_helm.monitoring.healthcheck against real HTTP servers on 127.0.0.1: the probes it makes,
what it pushes (push-add, the archangel_healthcheck_* metrics) and its exit codes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from archangel_helm.monitoring import healthcheck
from archangel_helm.monitoring.healthcheck import Check, UsageError, parse_check, run, run_check
from tests.support.monitoring import LocalHTTPServer, Recorded, Route, free_port, local_http_server


def _ok(_request: Recorded) -> tuple[int, str, bytes]:
    return 200, "text/plain", b"ok\n"


def _unavailable(_request: Recorded) -> tuple[int, str, bytes]:
    return 503, "text/plain", b"not ready\n"


def _redirect(_request: Recorded) -> tuple[int, str, bytes]:
    return 302, "text/plain", b""


def _slow(_request: Recorded) -> tuple[int, str, bytes]:
    time.sleep(1.5)
    return 200, "text/plain", b"late\n"


def _accepted(_request: Recorded) -> tuple[int, str, bytes]:
    return 200, "text/plain", b""


def _refused(_request: Recorded) -> tuple[int, str, bytes]:
    return 500, "text/plain", b"storage full\n"


@pytest.fixture
def targets() -> Iterator[LocalHTTPServer]:
    routes: dict[str, Route] = {"/healthz/ready": _ok, "/down": _unavailable, "/moved": _redirect, "/slow": _slow}
    with local_http_server(LocalHTTPServer(routes=routes)) as server:
        yield server


@pytest.fixture
def pushgateway() -> Iterator[LocalHTTPServer]:
    """Answers as a Pushgateway does; records what is pushed."""
    routes: dict[str, Route] = {
        "/metrics/job/archangel-healthcheck": _accepted,
        "/metrics/job/custom/env/prod": _accepted,
    }
    with local_http_server(LocalHTTPServer(routes=routes)) as server:
        yield server


def test_parse_check() -> None:
    assert parse_check("core=http://archangel-core.archangel.svc/healthz/ready") == Check(
        "core", "http://archangel-core.archangel.svc/healthz/ready"
    )
    assert parse_check("x=https://h:8443/p?q=1=2").url == "https://h:8443/p?q=1=2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("core", "expected NAME=URL"),
        ("Core=http://x/", "must be lower-case"),
        ("core=ftp://x/", "is not an http(s) URL"),
        ("core=http:///nohost", "is not an http(s) URL"),
    ],
)
def test_parse_check_refuses_by_name(text: str, message: str) -> None:
    with pytest.raises(UsageError, match="--check") as caught:
        parse_check(text)
    assert message in str(caught.value)


def test_a_2xx_passes_and_anything_else_fails(targets: LocalHTTPServer) -> None:
    with requests.Session() as session:
        ok = run_check(Check("core", f"{targets.url}/healthz/ready"), session, timeout=5)
        down = run_check(Check("core", f"{targets.url}/down"), session, timeout=5)
        moved = run_check(Check("core", f"{targets.url}/moved"), session, timeout=5)
        slow = run_check(Check("core", f"{targets.url}/slow"), session, timeout=0.3)
        refused = run_check(Check("core", f"http://127.0.0.1:{free_port()}/"), session, timeout=2)
    assert (ok.success, ok.detail) == (True, "HTTP 200")
    assert (down.success, down.detail) == (False, "HTTP 503")
    assert (moved.success, moved.detail) == (False, "HTTP 302")  # a readiness endpoint does not redirect
    assert not slow.success
    assert "Timeout" in slow.detail
    assert not refused.success
    assert "ConnectionError" in refused.detail
    assert 0 <= ok.duration_seconds < 5
    assert [r.path for r in targets.requests].count("/elsewhere") == 0


def test_results_are_pushed_with_push_add(targets: LocalHTTPServer, pushgateway: LocalHTTPServer) -> None:
    checks = [Check("core", f"{targets.url}/healthz/ready"), Check("prometheus", f"{targets.url}/down")]
    results = run(checks, pushgateway.url, timeout=5, wall_clock=lambda: 1700000000.0)
    assert [(r.name, r.success) for r in results] == [("core", True), ("prometheus", False)]
    (push,) = pushgateway.requests
    assert push.method == "POST"  # push-add: replaces only the series pushed, never the whole group
    assert push.path == "/metrics/job/archangel-healthcheck"
    body = push.body.decode()
    assert 'archangel_healthcheck_success{check="core"} 1.0' in body
    assert 'archangel_healthcheck_success{check="prometheus"} 0.0' in body
    assert 'archangel_healthcheck_duration_seconds{check="core"}' in body
    assert "archangel_healthcheck_last_run_timestamp_seconds 1.7e+09" in body


def test_grouping_keys_and_job_name(targets: LocalHTTPServer, pushgateway: LocalHTTPServer) -> None:
    run([Check("core", f"{targets.url}/healthz/ready")], pushgateway.url, job="custom", grouping_key={"env": "prod"})
    assert [r.path for r in pushgateway.requests] == ["/metrics/job/custom/env/prod"]


def test_main_reports_and_exits_0_when_pushed_even_if_a_check_fails(
    targets: LocalHTTPServer, pushgateway: LocalHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = healthcheck.main(
        [
            "--pushgateway",
            pushgateway.url,
            "--check",
            f"core={targets.url}/healthz/ready",
            "--check",
            f"alertmanager={targets.url}/down",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "core: ok (HTTP 200" in out
    assert "alertmanager: FAILED (HTTP 503" in out


def test_main_exits_1_when_the_push_fails(targets: LocalHTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    with local_http_server(LocalHTTPServer(routes={"/metrics/job/archangel-healthcheck": _refused})) as gateway:
        code = healthcheck.main(["--pushgateway", gateway.url, "--check", f"core={targets.url}/healthz/ready"])
    assert code == 1
    assert f"could not push to {gateway.url}" in capsys.readouterr().err
    closed = f"http://127.0.0.1:{free_port()}"
    assert (
        healthcheck.main(["--pushgateway", closed, "--check", f"core={targets.url}/healthz/ready", "--timeout", "2"])
        == 1
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give at least one --check"),
        (["--check", "core=http://a/", "--check", "core=http://b/"], "repeated: core"),
        (["--check", "core=http://a/", "--timeout", "0"], "must be positive"),
        (["--check", "core=http://a/", "--grouping-key", "bad"], "expected LABEL=VALUE"),
        (["--check", "nonsense"], "expected NAME=URL"),
    ],
)
def test_main_exits_2_on_bad_usage(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["--pushgateway", "http://127.0.0.1:9/", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_runs_as_a_module(targets: LocalHTTPServer, pushgateway: LocalHTTPServer) -> None:
    """The CronJob's command: python -m archangel_helm.monitoring.healthcheck."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "archangel_helm.monitoring.healthcheck",
            f"--pushgateway={pushgateway.url}",
            f"--check=core={targets.url}/healthz/ready",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "core: ok" in result.stdout
    assert len(pushgateway.requests) == 1
