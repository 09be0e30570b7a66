"""`archangel-helm crds fetch`: download the pinned upstream CRD manifests of every custom kind we emit.

Each source is pinned to a git commit, so the bytes behind a URL cannot change. Files are written to a
temporary name and renamed, so an interrupted fetch never leaves a half-written schema behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError

RAW_BASE = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class CrdSource:
    repository: str
    commit: str
    path: str
    kinds: tuple[str, ...]  # what the file defines that the charts emit

    @property
    def file_name(self) -> str:
        return f"{self.repository.replace('/', '_')}_{Path(self.path).name}"

    def url(self, base: str = RAW_BASE) -> str:
        return f"{base}/{self.repository}/{self.commit}/{self.path}"


_PROM_OP = ("prometheus-operator/prometheus-operator", "f8fafd475f3d132e239432ae6172de60a6cb6516")
_GATEWAY = ("kubernetes-sigs/gateway-api", "8bb74df00e56ec8f944d48c25e6c1c9c2f6848e3")
_SNAPSHOT = ("kubernetes-csi/external-snapshotter", "78e32cd84e0abec2621924a30e38c755f93e180a")
_ARGO = ("argoproj/argo-cd", "109ca7ca71139e514114499d294a492e7910a965")
_CNPG = ("cloudnative-pg/cloudnative-pg", "4b5e244a7d031f67e025c83c1555e7726ecbbfa1")  # v1.30.0
_BARMAN = ("cloudnative-pg/plugin-barman-cloud", "1e13020fe5f09fd8fc29ea03828f7b61375b3721")  # v0.14.0
_CERT_MANAGER = ("cert-manager/cert-manager", "a22e21ea38f6a8e031af99471b0a50287fed8e7f")  # v1.19.1 (as crds.gomod)

SOURCES: tuple[CrdSource, ...] = (
    CrdSource(
        *_PROM_OP, "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", ("ServiceMonitor",)
    ),
    CrdSource(*_PROM_OP, "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml", ("PodMonitor",)),
    CrdSource(
        *_PROM_OP, "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml", ("PrometheusRule",)
    ),
    CrdSource(
        *_PROM_OP,
        "example/prometheus-operator-crd/monitoring.coreos.com_alertmanagerconfigs.yaml",
        ("AlertmanagerConfig",),
    ),
    CrdSource(
        "istio/istio",
        "56df41f63e513f834c9a3af33d8aed82d1d961f2",
        "manifests/charts/base/files/crd-all.gen.yaml",
        ("VirtualService", "DestinationRule", "PeerAuthentication"),
    ),
    CrdSource(*_GATEWAY, "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml", ("HTTPRoute",)),
    CrdSource(*_GATEWAY, "config/crd/standard/gateway.networking.k8s.io_gateways.yaml", ("Gateway",)),
    CrdSource(
        "kubernetes/autoscaler",
        "352365899477910018f40d89fa3ea30b2c5d0e78",
        "vertical-pod-autoscaler/deploy/vpa-v1-crd-gen.yaml",
        ("VerticalPodAutoscaler",),
    ),
    CrdSource(*_SNAPSHOT, "client/config/crd/snapshot.storage.k8s.io_volumesnapshots.yaml", ("VolumeSnapshot",)),
    CrdSource(
        *_SNAPSHOT, "client/config/crd/snapshot.storage.k8s.io_volumesnapshotclasses.yaml", ("VolumeSnapshotClass",)
    ),
    CrdSource(
        "kedacore/keda",
        "68a5b5028f35b22d50597c69819ab32c4e92f21a",
        "config/crd/bases/keda.sh_scaledobjects.yaml",
        ("ScaledObject",),
    ),
    CrdSource(*_ARGO, "manifests/crds/application-crd.yaml", ("Application",)),
    CrdSource(*_ARGO, "manifests/crds/applicationset-crd.yaml", ("ApplicationSet",)),
    CrdSource(*_ARGO, "manifests/crds/appproject-crd.yaml", ("AppProject",)),
    # What the local control plane installs besides (archangel-helm cluster up): the rest of the APIs the
    # objects above refer to, and the data tier's operator and its backup plugin.
    CrdSource(*_GATEWAY, "config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml", ("GatewayClass",)),
    CrdSource(*_GATEWAY, "config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml", ("ReferenceGrant",)),
    CrdSource(
        *_SNAPSHOT,
        "client/config/crd/snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
        ("VolumeSnapshotContent",),
    ),
    *(
        CrdSource(*_CNPG, f"config/crd/bases/postgresql.cnpg.io_{plural}.yaml", (kind,))
        for plural, kind in (
            ("clusters", "Cluster"),
            ("poolers", "Pooler"),
            ("scheduledbackups", "ScheduledBackup"),
            ("backups", "Backup"),
            ("databases", "Database"),
        )
    ),
    CrdSource(*_BARMAN, "config/crd/bases/barmancloud.cnpg.io_objectstores.yaml", ("ObjectStore",)),
    # The data tier's certificates when cert-manager serves them.
    CrdSource(*_CERT_MANAGER, "deploy/crds/cert-manager.io_certificates.yaml", ("Certificate",)),
    CrdSource(*_CERT_MANAGER, "deploy/crds/cert-manager.io_issuers.yaml", ("Issuer",)),
)


def default_fetch_directory() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "archangel-helm" / "crds"


Getter = Callable[[str], bytes]


def _http_get(url: str) -> bytes:
    import requests  # only this command needs it; keeps `archangel-helm` start-up light

    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def fetch(
    directory: Path, base_url: str = RAW_BASE, get: Getter = _http_get, log: Callable[[str], None] = print
) -> list[Path]:
    """Download every source into directory; each must parse and define the kinds it is pinned for.

    All or nothing: every file is downloaded and checked before the first is written, so a failed fetch (no
    network) leaves no half-filled directory that later runs would take for a set of CRD schemas."""
    downloaded: list[tuple[CrdSource, bytes]] = []
    for source in SOURCES:
        url = source.url(base_url)
        try:
            data = get(url)
        except Exception as error:  # any download failure ends the same way: with the offline advice
            raise ConfigurationError(
                f"could not download {url}: {error}; without network access, point --crd-dir at the output of "
                f"`kubectl get crd -o yaml` from a cluster that has these CRDs"
            ) from error
        defined = {
            str(((doc.get("spec") or {}).get("names") or {}).get("kind"))
            for doc in yamlio.load_all(data.decode())
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        }
        missing = set(source.kinds) - defined
        if missing:
            raise ConfigurationError(f"{url} does not define {sorted(missing)} (it defines {sorted(defined)})")
        downloaded.append((source, data))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source, data in downloaded:
        target = directory / source.file_name
        fd, staging = tempfile.mkstemp(dir=directory, prefix=".fetch-", suffix=".yaml")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(staging).replace(target)
        log(f"crds: {target.name} ({', '.join(source.kinds)})")
        written.append(target)
    return written
