"""The local control plane's bookkeeping, without starting it: ports, stale state, stopping only our own
processes, the Go pins. tests/cluster starts the real one."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.localcluster import control_plane, processes, tools
from archangel_helm.localcluster.settings import Ports, Settings
from tests.support.project import PROJECT


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[processes.Started]:
    """A long-running process whose command line carries tmp_path, as the cluster's processes carry their
    directory."""
    started = processes.start(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(600)", str(tmp_path)],
        tmp_path / "sleeper.log",
        marker=str(tmp_path),
    )
    yield started
    processes.stop(started, grace=1)


def _settings(tmp_path: Path, base: int = 20000) -> Settings:
    return Settings(tmp_path / "cluster", Ports.from_base(base))


def test_a_base_port_that_leaves_no_room_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"ARCHANGEL_CLUSTER_PORT=65533: expected a port between"):
        Ports.from_base(65533)


def test_a_port_in_use_is_named_with_its_component_and_owner(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = Settings(tmp_path / "cluster", Ports.from_base(port - 3))  # port is the controller-manager's
        with pytest.raises(ConfigurationError) as refused:
            control_plane._check_ports(settings)
    message = str(refused.value)
    assert f"127.0.0.1:{port} (kube-controller-manager) is in use by PID " in message
    assert "ARCHANGEL_CLUSTER_PORT" in message


def test_status_tells_running_from_stopped_and_down_stops_only_recorded_processes(
    tmp_path: Path, sleeper: processes.Started
) -> None:
    settings = _settings(tmp_path)
    settings.directory.mkdir()
    dead = processes.start("gone", [sys.executable, "-c", "pass", str(tmp_path)], tmp_path / "gone.log", str(tmp_path))
    subprocess.run(["sleep", "0.5"], check=True)
    state = control_plane.State(str(settings.directory), settings.ports.named())
    state.components = [{"name": s.name, "pid": s.pid, "marker": s.marker} for s in (sleeper, dead)]
    state.save(settings.state_file)
    current = control_plane.status(settings)
    assert current.running == ["sleeper"]
    assert current.stopped == ["gone"]
    assert not current.healthy
    messages: list[str] = []
    assert control_plane.down(settings, messages.append)
    assert not processes.is_running(sleeper)
    assert not settings.directory.exists()
    assert messages[0] == f"cluster: stopped sleeper (pid {sleeper.pid})"


def test_a_recorded_pid_now_running_something_else_is_left_alone(sleeper: processes.Started) -> None:
    impostor = processes.Started("etcd", sleeper.pid, marker="/a/cluster/directory/that/is/not/in/its/command")
    assert not processes.is_running(impostor)
    assert processes.stop(impostor) is False
    assert processes.is_running(sleeper)


def test_down_refuses_a_directory_without_state(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.directory.mkdir()
    (settings.directory / "precious.txt").write_text("not ours")
    with pytest.raises(ConfigurationError, match=r"has no state\.json: not removing"):
        control_plane.down(settings)
    assert (settings.directory / "precious.txt").exists()


def test_up_refuses_a_foreign_directory_before_starting_anything(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.directory.mkdir()
    (settings.directory / "precious.txt").write_text("not ours")
    toolset = tools.Toolset(tmp_path / "no-tools")
    with pytest.raises(ConfigurationError, match=r"exists without a state\.json"):
        control_plane.up(settings, toolset)
    assert (settings.directory / "precious.txt").exists()


def test_a_state_file_from_another_version_is_an_error_naming_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.directory.mkdir()
    settings.state_file.write_text(json.dumps({"directory": "x", "ports": {}, "processes": []}))
    with pytest.raises(ConfigurationError, match="is not a state file this version wrote"):
        control_plane.status(settings)


def test_without_go_the_build_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigurationError, match=r"`go` is not on PATH: install Go >= 1\.26"):
        tools.build(PROJECT)
    assert tools.find_built(PROJECT) is None


def test_the_go_module_pins_what_the_build_stamps() -> None:
    go_mod = (PROJECT / "tools" / "cluster" / "go.mod").read_text()
    kubernetes = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", go_mod, re.MULTILINE)
    assert kubernetes
    assert kubernetes[1] == tools.KUBERNETES_VERSION
    minor = tools.KUBERNETES_VERSION.split(".")[1]
    for replaced in re.findall(r"^\s*(k8s\.io/\S+) => k8s\.io/\S+ (v\S+)$", go_mod, re.MULTILINE):
        assert replaced[1] == f"v0.{minor}.{tools.KUBERNETES_VERSION.split('.')[2]}", replaced
    chart_testing = re.search(r"^\s*github\.com/helm/chart-testing/v3 (v\S+)", go_mod, re.MULTILINE)
    ct = next(b for b in tools.BINARIES if b.name == "ct")
    assert chart_testing
    assert any(flag.endswith(f"={chart_testing[1]}") for flag in ct.ldflags)


def test_the_build_key_changes_with_the_pins_and_the_go_version(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "go.mod").write_text("module x\n")
    (module / "go.sum").write_text("")
    first = tools.build_key(module, "go1.26.8")
    assert tools.build_key(module, "go1.26.9") != first
    (module / "go.sum").write_text("example.com/x v1.0.0 h1:abc=\n")
    assert tools.build_key(module, "go1.26.8") != first


def test_listening_sockets_decode_ipv4_and_ipv6_addresses() -> None:
    assert processes._decode_address("0100007F:3F0B") == "127.0.0.1:16139"
    assert processes._decode_address("00000000000000000000000001000000:0050") == "[::1]:80"
