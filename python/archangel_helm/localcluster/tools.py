"""Build the control plane's binaries from the pinned Go module in tools/cluster, with the machine's Go.

Builds land in a cache outside the work tree, keyed by everything that decides their bytes (go.mod, go.sum,
the package list and link flags, the Go version), so a second `make test` builds nothing and a change to the
pins builds a fresh set beside the old one. Go's own build and module caches (GOCACHE, GOMODCACHE) stay where
Go keeps them, so even a rebuild after a pin change only compiles what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archangel_helm.core.errors import ConfigurationError

TOOLS_CACHE_ENV = "ARCHANGEL_TOOLS_CACHE"
KUBERNETES_VERSION = "v1.37.2"  # must match k8s.io/kubernetes in tools/cluster/go.mod (a test keeps them in step)
_KUBE_LDFLAGS = (
    f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
    "-X k8s.io/component-base/version.gitMajor=1",
    f"-X k8s.io/component-base/version.gitMinor={KUBERNETES_VERSION.split('.')[1]}",
    "-X k8s.io/component-base/version.gitTreeState=clean",
)


_CT_VERSION_VARIABLE = "github.com/helm/chart-testing/v3/ct/cmd.Version"


@dataclass(frozen=True)
class Binary:
    name: str
    package: str
    ldflags: tuple[str, ...] = ()


# What `go build` makes, from which package of the pinned module. ct is chart-testing's own binary.
BINARIES: tuple[Binary, ...] = (
    Binary("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver", _KUBE_LDFLAGS),
    Binary("kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager", _KUBE_LDFLAGS),
    Binary("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler", _KUBE_LDFLAGS),
    Binary("etcd", "go.etcd.io/etcd/server/v3"),
    Binary("kwok", "sigs.k8s.io/kwok/cmd/kwok"),
    Binary(
        "ct", "github.com/helm/chart-testing/v3/ct", ("-X github.com/helm/chart-testing/v3/ct/cmd.Version=v3.14.0",)
    ),
)

# kwok's own lifecycle stages, taken from the pinned module's source (upstream bytes, not copies of ours): the
# node stages keep simulated kubelets heartbeating through leases; the pod stages make pods Ready and Job pods
# complete, as kwokctl installs them by default.
KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
_STAMP = "build.json"


@dataclass(frozen=True)
class Toolset:
    """A complete build: every binary and kwok's stages, in one directory."""

    directory: Path

    @property
    def bin(self) -> Path:
        return self.directory / "bin"

    @property
    def stages(self) -> Path:
        return self.directory / "stages"

    def binary(self, name: str) -> Path:
        return self.bin / name

    @property
    def complete(self) -> bool:
        return (self.directory / _STAMP).is_file() and all(self.binary(b.name).is_file() for b in BINARIES)


def tools_module(project: Path) -> Path:
    module = project / "tools" / "cluster"
    if not (module / "go.mod").is_file():
        raise ConfigurationError(f"{module}/go.mod not found: run from the archangel-helm repository")
    return module


def cache_root() -> Path:
    configured = os.environ.get(TOOLS_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archangel-helm" / "tools"


def find_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ConfigurationError(
            "the local control plane is built from Go modules, and `go` is not on PATH: install Go >= 1.26 "
            "(Debian: the golang packages are older; use the toolchain from go.dev or your image), or run the "
            "other test layers alone (make test-fast); the cluster tests skip, naming this"
        )
    return go


def _go_version(go: str) -> str:
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def build_key(module: Path, go_version: str) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((module / name).read_bytes())
    digest.update(json.dumps([[b.name, b.package, list(b.ldflags)] for b in BINARIES]).encode())
    digest.update(json.dumps(KWOK_STAGES).encode())
    digest.update(go_version.encode())
    return digest.hexdigest()[:16]


def _go_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")  # static binaries; none of these needs cgo
    env["GOFLAGS"] = "-mod=readonly -trimpath -buildvcs=false"  # go.sum is the pin: a build never rewrites it
    return env


def build(project: Path, log: Callable[[str], None] = print) -> Toolset:
    """Build (or find already built) every binary; return where they are."""
    module = tools_module(project)
    go = find_go()
    go_version = _go_version(go)
    toolset = Toolset(cache_root() / build_key(module, go_version))
    if toolset.complete:
        log(f"cluster tools: up to date in {toolset.directory}")
        return toolset
    staging = toolset.directory.with_name(toolset.directory.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    env = _go_environment()
    started = time.monotonic()
    timings: dict[str, float] = {}
    for binary in BINARIES:
        log(f"cluster tools: go build {binary.package} ({go_version})")
        begin = time.monotonic()
        command = [go, "build", "-ldflags", " ".join(("-s", "-w", *binary.ldflags))]
        command += ["-o", str(staging / "bin" / binary.name), binary.package]
        result = subprocess.run(command, cwd=module, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigurationError(
                f"go build {binary.package} failed in {module} (exit {result.returncode}):\n"
                f"{result.stderr.strip()[-4000:]}"
            )
        timings[binary.name] = round(time.monotonic() - begin, 1)
    _copy_kwok_stages(go, module, staging / "stages", env)
    (staging / _STAMP).write_text(
        json.dumps({"go": go_version, "seconds": timings, "total_seconds": round(time.monotonic() - started, 1)}) + "\n"
    )
    if toolset.directory.exists():  # an incomplete earlier build (interrupted): replace it
        shutil.rmtree(toolset.directory)
    staging.rename(toolset.directory)
    log(f"cluster tools: built in {time.monotonic() - started:.0f} s into {toolset.directory}")
    return toolset


def _copy_kwok_stages(go: str, module: Path, target: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [go, "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    source = Path(result.stdout.strip())
    target.mkdir(parents=True)
    for relative in KWOK_STAGES:
        shutil.copyfile(source / relative, target / Path(relative).name)


def find_built(project: Path) -> Toolset | None:
    """The complete build for the current pins, without building; None if there is none (or no Go)."""
    try:
        module = tools_module(project)
        go = find_go()
        toolset = Toolset(cache_root() / build_key(module, _go_version(go)))
    except (ConfigurationError, subprocess.CalledProcessError):
        return None
    return toolset if toolset.complete else None
