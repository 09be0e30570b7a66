"""The local control planes as the tests use them: the cluster layer's files are split into two groups
(CLUSTER_GROUPS), each with a control plane of its own, so two pytest-xdist workers run them side by side (the
layer mostly waits on controllers). Group 0 uses the default cluster (reused when `make cluster-up` started it);
group 1 one beside it (its own directory, ports 100 higher). Each starts when a test first asks for it, under a
file lock, and is stopped at the end of the session only when this session started it."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.localcluster import control_plane, tools
from archangel_helm.localcluster.settings import ADVERTISE_ADDRESS, Ports, Settings

SESSION_ENV = "ARCHANGEL_TEST_SESSION"  # set by the controlling pytest process; xdist workers inherit it
REQUIRE_ENV = "ARCHANGEL_REQUIRE_CLUSTER"  # CI: a cluster that cannot start fails the run instead of skipping


def mark_session(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex)


# The cluster layer's files, in two groups of about equal time (docs/BENCHMARKS.md), each on its own control
# plane; a file not listed runs in group 0.
CLUSTER_GROUPS: dict[str, int] = {
    "test_control_plane.py": 0,
    "test_chart_testing.py": 0,
    "test_rollout_and_drain.py": 0,
    "test_istio_discovery.py": 0,
    "test_cloudnativepg_discovery.py": 0,
    "test_rbac.py": 0,
    "test_server_validation.py": 1,
    "test_deploy.py": 1,
    "test_upgrade.py": 1,
    "test_rollback_and_uninstall.py": 1,
}
GROUP_PORT_OFFSET = 100


def group_of(path: Path) -> int:
    return CLUSTER_GROUPS.get(path.name, 0)


def group_settings(project: Path, group: int, crd_directories: Sequence[Path] | None = None) -> Settings:
    """Group 0: the default cluster ($ARCHANGEL_CLUSTER_DIR, $ARCHANGEL_CLUSTER_PORT); group N: beside it."""
    base = Settings.from_environment(project, None if crd_directories is None else tuple(crd_directories))
    if group == 0:
        return base
    directory = base.directory.with_name(f"{base.directory.name}-{group + 1}")
    return replace(base, directory=directory, ports=Ports.from_base(base.ports.apiserver + GROUP_PORT_OFFSET * group))


def stop_if_ours(project: Path, config: pytest.Config) -> None:
    """At the end of the controlling session: stop every cluster this session started."""
    if hasattr(config, "workerinput"):
        return
    for group in sorted(set(CLUSTER_GROUPS.values())):
        settings = group_settings(project, group, crd_directories=())
        current = control_plane.status(settings)
        if current.state is not None and current.state.owner == os.environ.get(SESSION_ENV):
            control_plane.down(settings, log=lambda _: None)


@dataclass(frozen=True)
class LocalCluster:
    settings: Settings
    state: control_plane.State
    toolset: tools.Toolset

    @property
    def kubeconfig(self) -> Path:
        return self.settings.kubeconfig

    @property
    def env(self) -> dict[str, str]:
        """The environment for helm, kubectl, ct and archangel-helm run against this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.toolset.bin}:{os.environ['PATH']}"}

    @property
    def has_crds(self) -> bool:
        return bool(self.state.crds)

    def run(self, *command: str, stdin: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a command against the cluster; a failure is an AssertionError carrying its output."""
        result = self.try_run(*command, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def try_run(
        self, *command: str, stdin: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(command), input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self.run("kubectl", *args, stdin=stdin).stdout

    def helm(self, *args: str, timeout: float = 600) -> str:
        return self.run("helm", *args, timeout=timeout).stdout


def unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{REQUIRE_ENV} is set but the local cluster cannot run: {reason}")
    pytest.skip(reason)


def start(project: Path, crd_directories: Sequence[Path] | None = None, group: int = 0) -> LocalCluster:
    toolset = tools.find_built(project)
    if toolset is None:
        try:
            tools.find_go()
        except ConfigurationError as error:
            unavailable(str(error))
        unavailable("the local control plane is not built for the current pins: run `make cluster-tools`")
    assert toolset is not None
    settings = group_settings(project, group, crd_directories)
    settings.directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.directory) + ".lock"):
        try:
            state = control_plane.up(settings, toolset, log=lambda _: None, owner=os.environ.get(SESSION_ENV))
        except ConfigurationError as error:
            unavailable(f"the local cluster did not start: {error}")
    return LocalCluster(settings, state, toolset)


def cluster_values(cluster: LocalCluster, directory: Path) -> Path:
    """The application chart's values for this cluster, after the environment's: the API server's real endpoint
    (its address and port), as an operator sets networkPolicy.kubeAPIServer for theirs."""
    path = directory / "local-cluster-values.yaml"
    path.write_text(
        "networkPolicy:\n"
        "  kubeAPIServer:\n"
        f"    cidrs: [{ADVERTISE_ADDRESS}/32]\n"
        f"    ports: [{cluster.settings.ports.apiserver}]\n"
    )
    return path


def service_account_kubeconfig(cluster: LocalCluster, account: str, namespace: str, directory: Path) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount, with a short-lived token from the TokenRequest API
    (what the kubelet mounts into the account's pods): its requests meet the RBAC the chart grants it."""
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=15m").strip()
    path = directory / f"{namespace}-{account}.kubeconfig"
    ca = base64.b64encode((cluster.settings.pki / "ca.crt").read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": cluster.settings.server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account, "namespace": namespace}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
