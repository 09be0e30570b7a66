"""What a new cluster gets once its control plane answers: nodes across three zones, the default storage
class, and the CRDs of every optional API the environments use."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.localcluster.settings import READY_TIMEOUT, Settings

Log = Callable[[str], None]


def kubectl(
    settings: Settings, *args: str, identity: str = "admin", stdin: str | None = None, timeout: float = 300
) -> str:
    kubeconfig = settings.kubeconfig if identity == "admin" else settings.pki / f"{identity}.kubeconfig"
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigurationError("kubectl is not on PATH (make setup installs it into .venv/bin)")
    result = subprocess.run(
        [kubectl, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigurationError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def cluster_objects(settings: Settings) -> list[dict[str, Any]]:
    """The nodes and the storage every EKS cluster starts with: a default gp3 class on the EBS CSI driver."""
    objects: list[dict[str, Any]] = [node.manifest() for node in settings.nodes]
    objects.append(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "ebs.csi.aws.com",
            "parameters": {"type": "gp3", "encrypted": "true"},
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowVolumeExpansion": True,
        }
    )
    return objects


def crd_files(directories: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """(files of CRDs, files skipped because they hold something else): the upstream folders also ship
    admission policies (Gateway API's safe-upgrades policy), which a test cluster does not need."""
    keep: list[Path] = []
    skip: list[Path] = []
    for directory in directories:
        for path in sorted(directory.rglob("*.y*ml")):
            kinds = {
                line.split(":", 1)[1].strip()
                for line in path.read_text(errors="replace").splitlines()
                if line.startswith("kind:")
            }
            (keep if kinds == {"CustomResourceDefinition"} else skip).append(path)
    return keep, skip


def install_crds(settings: Settings, log: Log) -> list[Path]:
    """Apply every CRD manifest and wait until each is established; before the node simulator starts, whose
    stages for custom resources (VolumeSnapshots) need their API to exist."""
    files, skipped = crd_files(settings.crd_directories)
    for path in skipped:
        log(f"cluster: not applying {path} (not CRDs)")
    if files:
        arguments = [item for path in files for item in ("-f", str(path))]
        kubectl(settings, "apply", "--server-side", "--force-conflicts", *arguments)
        kubectl(settings, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
        log(f"cluster: {len(files)} CRD manifests applied from {', '.join(map(str, settings.crd_directories))}")
    else:
        log("cluster: no CRD manifests found (set ARCHANGEL_CLUSTER_CRDS or run `archangel-helm crds fetch`)")
    return files


def has_crd(settings: Settings, name: str) -> bool:
    """Whether a CRD (e.g. volumesnapshots.snapshot.storage.k8s.io) is installed."""
    try:
        kubectl(settings, "get", "customresourcedefinition", name)
    except ConfigurationError:
        return False
    return True


def seed(settings: Settings) -> None:
    """Nodes and the default storage class, then wait for the nodes and the controllers to be ready."""
    documents = "\n---\n".join(yaml.safe_dump(o, sort_keys=False) for o in cluster_objects(settings))
    kubectl(settings, "apply", "--server-side", "-f", "-", stdin=documents)
    kubectl(settings, "wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
    # The service-account controller makes `default` in every namespace: the last controller to come up.
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        with contextlib.suppress(ConfigurationError):
            kubectl(settings, "get", "serviceaccount", "default", "-n", "default")
            break
        if time.monotonic() > deadline:
            raise ConfigurationError("timed out waiting for the default ServiceAccount (kube-controller-manager)")
        time.sleep(0.5)
