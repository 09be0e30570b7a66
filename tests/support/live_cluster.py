"""What the live-cluster tests (tests/live, kind in the GitHub workflow) share: whether a cluster is there, the
release under test, kubectl, and waiting for a condition."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest
import yaml

from tests.support.background import stop

REQUIRE_CLUSTER_ENV = "ARCHANGEL_REQUIRE_LIVE_CLUSTER"  # not the local-cluster variable: .ci/run has no kind


T = TypeVar("T")


def cluster_unavailable_reason() -> str | None:
    path = os.environ.get("KUBECONFIG")
    if not path:
        return "no live cluster: KUBECONFIG is not set (cluster tests run in the GitHub workflow on kind)"
    if not Path(path).exists():
        return f"no live cluster: KUBECONFIG names {path}, which does not exist"
    try:
        config = yaml.safe_load(Path(path).read_text())
        current = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        server = urlparse(cluster["server"])
        socket.create_connection((server.hostname, server.port or 443), timeout=2).close()
    except (OSError, KeyError, StopIteration, TypeError, yaml.YAMLError) as error:
        return f"no live cluster: {path} is not reachable ({error})"
    if _nodes_are_simulated(path):
        return (
            f"no live cluster: {path} is the local control plane, whose nodes kwok simulates (no containers, "
            "probes, pod network or metrics); tests/live run on kind in the GitHub workflow"
        )
    return None


def _nodes_are_simulated(kubeconfig: str) -> bool:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return False
    result = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "get", "nodes", "-o", "jsonpath={.items[*].metadata.annotations}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "kwok.x-k8s.io/node" in result.stdout


@dataclass(frozen=True)
class ReleaseUnderTest:
    name: str
    namespace: str
    fullname: str

    @classmethod
    def from_environment(cls) -> ReleaseUnderTest:
        name = os.environ.get("ARCHANGEL_RELEASE", "archangel")
        namespace = os.environ.get("ARCHANGEL_NAMESPACE", "archangel")
        # The chart's archangel.fullname: the release name when it contains "archangel", else
        # "<release>-archangel"; capped at 30 characters.
        default = name if "archangel" in name else f"{name}-archangel"
        fullname = os.environ.get("ARCHANGEL_FULLNAME") or default[:30].rstrip("-")
        return cls(name, namespace, fullname)

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name}"

    def component(self, component: str) -> str:
        return f"{self.fullname}-{component}"


@dataclass(frozen=True)
class ServiceAddress:
    namespace: str
    service: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ServiceAddress:
        match = re.fullmatch(r"([a-z0-9-]+)/([a-z0-9-]+):(\d+)", text.strip())
        if not match:
            raise ValueError(f"expected namespace/service:port, got {text!r}")
        return cls(match[1], match[2], int(match[3]))


class Kubectl:
    """kubectl against the cluster under test; JSON in, JSON out, errors with kubectl's own message."""

    def __init__(self, kube_config: str) -> None:
        executable = shutil.which("kubectl")
        if executable is None:
            pytest.fail("kubectl is not on PATH (make setup installs it into .venv/bin)")
        self.executable = executable
        self.kube_config = kube_config

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [self.executable, "--kubeconfig", self.kube_config, *args]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command[3:])} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def items(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace]
        if selector:
            args += ["-l", selector]
        items: list[dict[str, Any]] = self.json(*args)["items"]
        return items

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = self.run("get", kind, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise AssertionError(f"get {kind} {name} -n {namespace} failed: {result.stderr.strip()}")
        found: dict[str, Any] = json.loads(result.stdout)
        return found

    @contextmanager
    def port_forward(self, namespace: str, target: str, remote_port: int) -> Iterator[int]:
        """`kubectl port-forward` to a free local port; yields the port. Traffic enters the pod's own network
        namespace, so the release's NetworkPolicies (which admit only known clients) do not apply to it."""
        process = subprocess.Popen(
            [
                self.executable,
                "--kubeconfig",
                self.kube_config,
                "port-forward",
                "-n",
                namespace,
                target,
                f":{remote_port}",
                "--address",
                "127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"127\.0\.0\.1:(\d+)", line)
            if not match:
                process.kill()
                _, stderr = process.communicate(timeout=10)
                raise AssertionError(f"port-forward {namespace}/{target}:{remote_port} failed: {line}{stderr}".strip())
            yield int(match[1])
        finally:
            stop(process)


def wait_for(what: str, probe: Callable[[], tuple[T | None, str]], timeout: float, interval: float = 5.0) -> T:
    """Poll `probe` until its value is not None. `probe` returns (value, state): the state, a short
    description of what it saw, is in the failure message when the wait times out."""
    deadline = time.monotonic() + timeout
    while True:
        value, state = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {state}")
        time.sleep(interval)
