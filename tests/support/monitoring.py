"""Helpers shared by the monitoring tests and their end-to-end tests: paths, rendered configurations, local
servers on 127.0.0.1 and the Prometheus-ecosystem binaries."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from archangel_helm import Manifest
from tests.support.background import serving, stop
from tests.support.project import MONITORING_CHART, PROJECT

RenderMonitoring = Callable[..., Manifest]  # the render_monitoring fixture

RULES_DIR = MONITORING_CHART / "files" / "rules"
DASHBOARDS_DIR = MONITORING_CHART / "files" / "dashboards"
RULE_TESTS_DIR = PROJECT / "tests" / "monitoring" / "rules"
RUNBOOKS_DIR = PROJECT / "docs" / "runbooks"
METRICS_DOC = PROJECT / "docs" / "METRICS.md"
RUNBOOK_URL = "https://github.com/archangel-ai/archangel-helm/blob/main/docs/runbooks/{}.md"
CI_DIR = MONITORING_CHART / "ci"
RELEASE = "archangel-monitoring"
NAMESPACE = "monitoring"

# Every receiver enabled, for the rendered Alertmanager configuration.
ALL_RECEIVERS: dict[str, Any] = {
    "alerting": {
        "existingSecret": "archangel-alerting",
        "receivers": {
            "email": {
                "enabled": True,
                "to": "oncall@example.com",
                "from": "alertmanager@example.com",
                "smarthost": "smtp.example.com:587",
                "authUsername": "alertmanager",
            },
            "slack": {"enabled": True, "channel": "#archangel-alerts"},
            "pagerduty": {"enabled": True},
        },
    }
}


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*_test.yaml"))


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def binary(name: str) -> str:
    """The path of a binary the test needs, or a skip that says what to install."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)")
    return path


def run(*command: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False, cwd=cwd, timeout=timeout)


def config_of(manifest: Manifest, kind: str, name: str, key: str) -> dict[str, Any]:
    """A YAML document stored under `key` of a ConfigMap (or Secret stringData) of the manifest."""
    obj = manifest.get(kind, name)
    return dict(yaml.safe_load(obj["data"][key]))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll until predicate() returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except (requests.RequestException, KeyError, ValueError) as error:
            last_error = error
            result = None
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Callable[[Recorded], tuple[int, str, bytes]]  # an answer: status, content type, body


@dataclass
class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1 whose answers are set per path; it records every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def local_http_server(server: LocalHTTPServer | None = None) -> Iterator[LocalHTTPServer]:
    state = server or LocalHTTPServer()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(self.command, self.path, dict(self.headers), self.rfile.read(length) if length else b"")
            with lock:
                state.requests.append(recorded)
            route = state.routes.get(self.path.split("?", 1)[0])
            status, content_type, body = route(recorded) if route else (404, "text/plain", b"not found\n")
            self.send_response(status)
            if status in (301, 302, 307):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    with serving(httpd) as port:
        state.port = port
        yield state


@contextlib.contextmanager
def running_process(command: list[str], ready_url: str, log: Path, timeout: float = 30) -> Iterator[None]:
    """Start a server process, wait for its readiness URL, and stop it (terminate, then kill) afterwards."""
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            return requests.get(ready_url, timeout=2).status_code == 200

        wait_until(ready, timeout, f"{command[0]} to be ready at {ready_url}")
        yield
    finally:
        stop(process)
