"""Daily VolumeSnapshots of the data volumes: create one per claim, wait until the CSI driver reports it
ready, then prune those past retention while always keeping the newest few ready ones.

CSI snapshots are crash-consistent copies of the disk: good for PostgreSQL (its WAL is on the same volume)
and a fast way back from a lost volume; the logical backups remain the ones proven by test restores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archangel_helm.backup.errors import BackupConfigError, BackupError
from archangel_helm.core.labelselector import matches, parse_selector

GROUP, VERSION, PLURAL = "snapshot.storage.k8s.io", "v1", "volumesnapshots"
MANAGED_BY = "archangel-volume-snapshots"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
PVC_LABEL = "archangel.io/pvc"


@dataclass
class SnapshotReport:
    created: dict[str, str] = field(default_factory=dict)  # pvc -> snapshot
    ready_at: dict[str, float] = field(default_factory=dict)  # pvc -> unix time it became ready
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def snapshot_name(pvc: str, now: datetime) -> str:
    suffix = now.strftime("-%Y%m%d%H%M")
    return pvc[: 63 - len(suffix)].rstrip("-") + suffix


def _created(snapshot: dict[str, Any]) -> datetime:
    text = (snapshot.get("metadata") or {}).get("creationTimestamp") or (snapshot.get("status") or {}).get(
        "creationTime"
    )
    if not text:
        return datetime.now(UTC)
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _ready(snapshot: dict[str, Any]) -> bool:
    return bool((snapshot.get("status") or {}).get("readyToUse"))


@dataclass
class VolumeSnapshotter:
    custom: Any  # kubernetes.client.CustomObjectsApi
    core: Any  # kubernetes.client.CoreV1Api
    namespace: str
    snapshot_class: str | None
    log: Callable[[str], None] = print
    poll_seconds: float = 5.0

    def claims(self, selector: str) -> list[str]:
        try:
            wanted = parse_selector(selector)
        except ValueError as error:
            raise BackupConfigError(str(error)) from error
        listing = self.core.list_namespaced_persistent_volume_claim(self.namespace, label_selector=selector)
        # The API server selected already; the same selection again, by the one implementation the checks use,
        # keeps a server (or a proxy) that ignores the parameter from having every claim snapshotted.
        names = [c.metadata.name for c in listing.items if matches(wanted, dict(c.metadata.labels or {}))]
        if not names:
            raise BackupConfigError(f"no PersistentVolumeClaim in {self.namespace} matches {selector!r}")
        return sorted(names)

    def create(self, pvc: str, now: datetime) -> str:
        name = snapshot_name(pvc, now)
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "VolumeSnapshot",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {MANAGED_LABEL: MANAGED_BY, PVC_LABEL: pvc},
            },
            "spec": {"source": {"persistentVolumeClaimName": pvc}},
        }
        if self.snapshot_class:
            body["spec"]["volumeSnapshotClassName"] = self.snapshot_class
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)
        self.log(f"snapshots: created {name} of {pvc}")
        return name

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
            if _ready(snapshot):
                return
            error = (snapshot.get("status") or {}).get("error")
            if error:
                raise BackupError(f"VolumeSnapshot {name} failed: {error.get('message', error)}")
            if time.monotonic() > deadline:
                raise BackupError(
                    f"VolumeSnapshot {name} was not ready after {timeout:.0f} s; check the CSI driver "
                    "and the snapshot-controller"
                )
            time.sleep(self.poll_seconds)

    def managed(self) -> list[dict[str, Any]]:
        listing = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=f"{MANAGED_LABEL}={MANAGED_BY}"
        )
        return [
            s for s in listing.get("items", []) if (s["metadata"].get("labels") or {}).get(MANAGED_LABEL) == MANAGED_BY
        ]

    def prune(self, retention: timedelta, keep_ready: int, now: datetime, report: SnapshotReport) -> None:
        by_claim: dict[str, list[dict[str, Any]]] = {}
        for snapshot in self.managed():
            by_claim.setdefault(snapshot["metadata"]["labels"].get(PVC_LABEL, "?"), []).append(snapshot)
        for snapshots in by_claim.values():
            snapshots.sort(key=_created, reverse=True)
            protected = {s["metadata"]["name"] for s in [s for s in snapshots if _ready(s)][:keep_ready]}
            for snapshot in snapshots:
                name = snapshot["metadata"]["name"]
                if name in protected or now - _created(snapshot) <= retention:
                    report.kept.append(name)
                    continue
                self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
                report.deleted.append(name)
                self.log(f"snapshots: deleted {name} (older than {retention.days} days)")

    def run(
        self, selector: str, retention: timedelta, keep_ready: int, timeout: float, now: datetime | None = None
    ) -> SnapshotReport:
        now = now or datetime.now(UTC)
        report = SnapshotReport()
        for pvc in self.claims(selector):
            report.created[pvc] = self.create(pvc, now)
        for pvc, name in report.created.items():
            self.wait_ready(name, timeout)
            report.ready_at[pvc] = time.time()
            self.log(f"snapshots: {name} is ready to use")
        self.prune(retention, keep_ready, now, report)
        return report
