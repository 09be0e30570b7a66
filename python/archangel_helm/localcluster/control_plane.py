"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built from the pinned Go modules, with kwok simulating the nodes' kubelets.

What is real: every API call, admission (Pod Security, NodeRestriction, LimitRanger, ResourceQuota,
DefaultStorageClass and the API server's defaults), RBAC, CRD structural schemas and CEL rules, the
controllers (Deployments, ReplicaSets, StatefulSets, Jobs, CronJobs, HPA, disruption, endpoints, the PV
controller, garbage collection, service accounts and tokens) and the scheduler (affinity, spread, resources,
volume zones). What is simulated, by kwok: the kubelets (a scheduled pod becomes Running and Ready, a Job's
pod Succeeded, with no container run), the EBS CSI provisioner and the load balancer controller (see
manifests/stages.yaml). There is no pod network, no container, no probe and no metric.

Everything the cluster writes lives in one directory (`build/cluster` by default): state.json records the
processes it started, by PID, so `down` stops exactly those and removes the directory.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.localcluster import components, credentials, processes, seed
from archangel_helm.localcluster.settings import DIRECTORY_ENV, PORT_ENV, READY_TIMEOUT, Settings
from archangel_helm.localcluster.tools import Toolset

# --- state -------------------------------------------------------------------------------------------------


@dataclass
class State:
    """What `up` started; written after every process starts, so a crash part-way leaves what `down` needs."""

    directory: str
    ports: dict[str, int]
    components: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""
    ready_seconds: float | None = None
    owner: str | None = None  # who started it (a pytest session id), so only its owner stops it
    crds: list[str] = field(default_factory=list)  # the CRD manifests applied

    def started(self) -> list[processes.Started]:
        return [processes.Started(p["name"], int(p["pid"]), p["marker"]) for p in self.components]

    def save(self, path: Path) -> None:
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps(asdict(self), indent=2) + "\n")
        staging.replace(path)

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            raise ConfigurationError(
                f"{path} is not a state file this version wrote ({error}); stop its processes by hand and "
                f"remove {path.parent}"
            ) from error


@dataclass(frozen=True)
class ControlPlaneStatus:
    running: list[str]
    stopped: list[str]
    state: State | None

    @property
    def healthy(self) -> bool:
        return self.state is not None and not self.stopped and bool(self.running)


def status(settings: Settings) -> ControlPlaneStatus:
    state = State.load(settings.state_file)
    if state is None:
        return ControlPlaneStatus([], [], None)
    running: list[str] = []
    stopped: list[str] = []
    for started in state.started():
        (running if processes.is_running(started) else stopped).append(started.name)
    return ControlPlaneStatus(running, stopped, state)


# --- up ----------------------------------------------------------------------------------------------------

Log = Callable[[str], None]


def up(settings: Settings, toolset: Toolset, log: Log = print, owner: str | None = None) -> State:
    """Start the cluster, or return the one already running in the directory. A stale cluster (a crashed run
    left some of its processes dead) is stopped and removed first, saying so."""
    current = status(settings)
    if current.state is not None:
        if current.healthy and _api_ready(settings):
            log(f"cluster: already running ({settings.server}, kubeconfig {settings.kubeconfig})")
            return current.state
        log(
            f"cluster: found a stale cluster in {settings.directory} (not running: "
            f"{', '.join(current.stopped) or 'API server not answering'}); stopping what is left and removing it"
        )
        down(settings, log)
    elif settings.directory.exists() and any(settings.directory.iterdir()):
        raise ConfigurationError(
            f"{settings.directory} exists without a state.json: it is not a cluster directory this tool made "
            f"(or its state was lost); remove it, or point {DIRECTORY_ENV} elsewhere"
        )
    _check_ports(settings)
    begin = time.monotonic()
    for directory in (settings.pki, settings.logs, settings.directory / "etcd"):
        directory.mkdir(parents=True, exist_ok=True)
    (settings.directory / "etcd").chmod(0o700)
    state = State(
        directory=str(settings.directory),
        ports=settings.ports.named(),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        owner=owner,
    )
    state.save(settings.state_file)
    try:
        credentials.create_pki(settings)
        credentials.write_kubeconfigs(settings)
        _start(settings, state, "etcd", components.etcd_command(settings, toolset))
        _wait(f"etcd on 127.0.0.1:{settings.ports.etcd_client}", lambda: _etcd_ready(settings), settings, "etcd")
        _start(settings, state, "kube-apiserver", components.apiserver_command(settings, toolset))
        _wait(f"kube-apiserver on {settings.server}", lambda: _api_ready(settings), settings, "kube-apiserver")
        seed.kubectl(
            settings,
            "apply",
            "--server-side",
            "-f",
            "-",
            identity="super-admin",
            stdin=components.resource("bootstrap.yaml"),
        )
        state.crds = [str(p) for p in seed.install_crds(settings, log)]
        state.save(settings.state_file)
        _start(settings, state, "kube-controller-manager", components.controller_manager_command(settings, toolset))
        _start(settings, state, "kube-scheduler", components.scheduler_command(settings, toolset))
        snapshots = seed.has_crd(settings, "volumesnapshots.snapshot.storage.k8s.io")
        components.write_kwok_config(settings, toolset, snapshots=snapshots)
        _start(settings, state, "kwok", components.kwok_command(settings, toolset))
        for name, port in (
            ("kube-controller-manager", settings.ports.controller_manager),
            ("kube-scheduler", settings.ports.scheduler),
        ):
            _wait(f"{name} healthz", _https_probe(settings, port, "/healthz"), settings, name)
        _wait("kwok healthz", lambda: _http_ok(settings.ports.kwok, "/healthz"), settings, "kwok")
        seed.seed(settings)
        state.ready_seconds = round(time.monotonic() - begin, 1)
        state.save(settings.state_file)
    except BaseException:
        log(f"cluster: start failed; logs are in {settings.logs}; stopping what was started")
        _stop_all(state, log)
        raise
    log(
        f"cluster: ready in {state.ready_seconds:.0f} s: {settings.server}, {len(settings.nodes)} nodes, "
        f"kubeconfig {settings.kubeconfig}"
    )
    return state


def down(settings: Settings, log: Log = print) -> bool:
    """Stop the processes `up` recorded (by PID, only while they still run our command) and remove the
    directory. Returns whether there was a cluster."""
    state = State.load(settings.state_file)
    if state is None:
        if settings.directory.exists():
            raise ConfigurationError(
                f"{settings.directory} has no state.json: not removing a directory this tool did not make"
            )
        log("cluster: none running")
        return False
    _stop_all(state, log)
    shutil.rmtree(settings.directory)
    log(f"cluster: stopped; removed {settings.directory}")
    return True


def _stop_all(state: State, log: Log) -> None:
    # Reverse order: the simulator and controllers before the API server, the API server before etcd.
    for started in reversed(state.started()):
        if processes.stop(started):
            log(f"cluster: stopped {started.name} (pid {started.pid})")


def _check_ports(settings: Settings) -> None:
    busy = []
    for name, port in settings.ports.named().items():
        if not processes.port_is_free(port):
            owner = processes.port_owner(port) or "a process this user cannot see"
            busy.append(f"127.0.0.1:{port} ({name}) is in use by {owner}")
    if busy:
        raise ConfigurationError(
            "cannot start the local cluster: " + "; ".join(busy) + f". Stop that process, or set {PORT_ENV} to "
            f"another base port (the cluster uses it and the next 5)"
        )


def _start(settings: Settings, state: State, name: str, command: list[str]) -> None:
    started = processes.start(name, command, settings.logs / f"{name}.log", marker=str(settings.directory))
    state.components.append(asdict(started))
    state.save(settings.state_file)


def _wait(what: str, probe: Callable[[], bool], settings: Settings, component: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    state = State.load(settings.state_file)
    mine = next((s for s in (state.started() if state else []) if s.name == component), None)
    while not probe():
        if mine is not None and not processes.is_running(mine):
            raise ConfigurationError(
                f"{component} exited during start-up:\n{_tail(settings.logs / f'{component}.log')}"
            )
        if time.monotonic() > deadline:
            raise ConfigurationError(
                f"timed out after {READY_TIMEOUT:.0f} s waiting for {what}:\n"
                f"{_tail(settings.logs / f'{component}.log')}"
            )
        time.sleep(0.2)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} not written)"


# --- readiness probes --------------------------------------------------------------------------------------


def _get(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _etcd_ready(settings: Settings) -> bool:
    return _get(
        f"https://127.0.0.1:{settings.ports.etcd_client}/health",
        credentials.client_context(settings, "apiserver-etcd-client"),
    )


def _api_ready(settings: Settings) -> bool:
    return _get(f"{settings.server}/readyz", credentials.client_context(settings, "admin-client"))


def _https_probe(settings: Settings, port: int, path: str) -> Callable[[], bool]:
    context = credentials.client_context(settings, "admin-client")
    return lambda: _get(f"https://127.0.0.1:{port}{path}", context)


def _http_ok(port: int, path: str) -> bool:
    return _get(f"http://127.0.0.1:{port}{path}", None)
