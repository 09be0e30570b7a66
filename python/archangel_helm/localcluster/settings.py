"""Where and how the local cluster runs: its directory, ports, advertised addresses and nodes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archangel_helm.core.errors import ConfigurationError

DIRECTORY_ENV = "ARCHANGEL_CLUSTER_DIR"
PORT_ENV = "ARCHANGEL_CLUSTER_PORT"
CRDS_ENV = "ARCHANGEL_CLUSTER_CRDS"
DEFAULT_BASE_PORT = 16443  # not 6443, so a kind or kubeadm cluster on the same machine does not collide
CONTEXT = "archangel-local"
READY_TIMEOUT = 120.0

# Addresses the cluster advertises. Only 127.0.0.1 is ever bound; these are what objects in the cluster say
# (the `kubernetes` Service's endpoint, Service and pod IPs), chosen to sit inside the example ranges the
# values files use (pods 10.0.0.0/16, Services 172.20.0.0/16, API server 10.1.0.0/24), as on an EKS cluster.
ADVERTISE_ADDRESS = "10.1.0.10"
SERVICE_CIDR = "172.20.0.0/16"
SERVICE_API_IP = "172.20.0.1"
POD_CIDR = "10.0.0.0/16"
REGION = "us-east-1"


@dataclass(frozen=True)
class NodeSpec:
    """A simulated node. The name carries the zone (`<zone>-node-<n>`): the provisioner stage reads it."""

    zone: str
    index: int
    cpu: str = "8"
    memory: str = "32Gi"
    # What an m6i.2xlarge kubelet reports allocatable after its reservations (EKS AMI defaults).
    allocatable_cpu: str = "7910m"
    allocatable_memory: str = "31Gi"
    pods: str = "110"

    @property
    def name(self) -> str:
        return f"{self.zone}-node-{self.index}"

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "m6i.2xlarge",
                    "topology.kubernetes.io/region": REGION,
                    "topology.kubernetes.io/zone": self.zone,
                    "topology.ebs.csi.aws.com/zone": self.zone,
                    "type": "kwok",
                },
            },
            "status": {
                "capacity": {"cpu": self.cpu, "memory": self.memory, "pods": self.pods, "ephemeral-storage": "100Gi"},
                "allocatable": {
                    "cpu": self.allocatable_cpu,
                    "memory": self.allocatable_memory,
                    "pods": self.pods,
                    "ephemeral-storage": "95Gi",
                },
            },
        }


def default_nodes() -> tuple[NodeSpec, ...]:
    """Six nodes of 8 CPU / 32Gi, two in each of three zones."""
    return tuple(NodeSpec(f"{REGION}{zone}", index) for zone in "abc" for index in (1, 2))


@dataclass(frozen=True)
class Ports:
    apiserver: int
    etcd_client: int
    etcd_peer: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def from_base(cls, base: int) -> Ports:
        if not 1024 <= base <= 65535 - 5:
            raise ConfigurationError(f"{PORT_ENV}={base}: expected a port between 1024 and 65530 (it uses 6 ports)")
        return cls(base, base + 1, base + 2, base + 3, base + 4, base + 5)

    def named(self) -> dict[str, int]:
        return {
            "kube-apiserver": self.apiserver,
            "etcd (client)": self.etcd_client,
            "etcd (peer)": self.etcd_peer,
            "kube-controller-manager": self.controller_manager,
            "kube-scheduler": self.scheduler,
            "kwok": self.kwok,
        }


@dataclass(frozen=True)
class Settings:
    directory: Path
    ports: Ports
    crd_directories: tuple[Path, ...] = ()
    nodes: tuple[NodeSpec, ...] = field(default_factory=default_nodes)

    @classmethod
    def from_environment(cls, project: Path, crd_directories: tuple[Path, ...] | None = None) -> Settings:
        directory = Path(os.environ.get(DIRECTORY_ENV) or project / "build" / "cluster")
        raw_port = os.environ.get(PORT_ENV) or str(DEFAULT_BASE_PORT)
        try:
            base = int(raw_port)
        except ValueError:
            raise ConfigurationError(f"{PORT_ENV}={raw_port!r}: expected a port number") from None
        if crd_directories is None:
            crd_directories = default_crd_directories(project)
        return cls(directory.resolve(), Ports.from_base(base), crd_directories)

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"


def default_crd_directories(project: Path) -> tuple[Path, ...]:
    """The upstream CRD manifests the cluster installs: the base set (below) and the CRDs of Go modules in Go's
    module cache (cert-manager's, which ../shared/crds lacks: see crds.gomod)."""
    from archangel_helm.crds import gomod

    base = _base_crd_directories(project)
    return base + tuple(d for d in gomod.directories() if d not in base)


def _base_crd_directories(project: Path) -> tuple[Path, ...]:
    """Full upstream CRD manifests: $ARCHANGEL_CLUSTER_CRDS (colon-separated), else ../shared/crds beside the
    repository (the test data), else what `archangel-helm crds fetch` downloaded; none is not an error (the
    cluster then serves no optional API, and the tests that need one skip saying so)."""
    configured = os.environ.get(CRDS_ENV)
    if configured:
        directories = tuple(Path(p) for p in configured.split(os.pathsep) if p)
        missing = [str(d) for d in directories if not d.is_dir()]
        if missing:
            raise ConfigurationError(f"{CRDS_ENV} names directories that do not exist: {', '.join(missing)}")
        return directories
    shared = project.parent / "shared" / "crds"
    if shared.is_dir():
        return (shared,)
    from archangel_helm.crds.fetch import default_fetch_directory

    fetched = default_fetch_directory()
    return (fetched,) if fetched.is_dir() and any(fetched.glob("*.yaml")) else ()
