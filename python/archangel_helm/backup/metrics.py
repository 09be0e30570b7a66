"""Backup health as metrics: pushed to a Pushgateway with push-add (POST), so a failed run records its
failure without erasing the last success, and printed in the text format for the job log."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, generate_latest, pushadd_to_gateway

from archangel_helm.backup.errors import BackupError

JOB = "archangel-backup"


def _registry(target: str, values: dict[str, float]) -> CollectorRegistry:
    registry = CollectorRegistry()
    docs = {
        "archangel_backup_last_success_timestamp_seconds": "End of the last successful backup.",
        "archangel_backup_last_failure_timestamp_seconds": "End of the last failed backup.",
        "archangel_backup_size_bytes": "Size of the last successful backup (encrypted).",
        "archangel_backup_duration_seconds": "Duration of the last successful backup.",
        "archangel_backup_restore_verified_timestamp_seconds": "End of the last verified test restore.",
    }
    for name, value in values.items():
        Gauge(name, docs[name], ["target"], registry=registry).labels(target=target).set(value)
    return registry


class MetricsPushError(BackupError):
    """The Pushgateway did not take the metrics (the backup itself is unaffected)."""


def report(target: str, values: dict[str, float], gateway: str | None, log: Callable[[str], None] = print) -> None:
    registry = _registry(target, values)
    log(generate_latest(registry).decode().strip())
    if gateway:
        try:
            pushadd_to_gateway(gateway, job=JOB, grouping_key={"target": target}, registry=registry, timeout=15)
        except OSError as error:  # URLError, HTTPError and timeouts are all OSErrors
            raise MetricsPushError(f"could not push metrics to {gateway}: {error}") from error
        log(f"metrics pushed to {gateway} (job {JOB}, target {target})")


def success(
    target: str, size_bytes: int, duration_seconds: float, gateway: str | None, log: Callable[[str], None] = print
) -> None:
    report(
        target,
        {
            "archangel_backup_last_success_timestamp_seconds": time.time(),
            "archangel_backup_size_bytes": size_bytes,
            "archangel_backup_duration_seconds": duration_seconds,
        },
        gateway,
        log,
    )


def failure(target: str, gateway: str | None, log: Callable[[str], None] = print) -> None:
    report(target, {"archangel_backup_last_failure_timestamp_seconds": time.time()}, gateway, log)


def verified(target: str, gateway: str | None, log: Callable[[str], None] = print) -> None:
    report(target, {"archangel_backup_restore_verified_timestamp_seconds": time.time()}, gateway, log)


def report_snapshots(
    ready_at: dict[str, float], gateway: str | None, failed: bool = False, log: Callable[[str], None] = print
) -> None:
    """archangel_volume_snapshot_last_success_timestamp_seconds per claim (job archangel-volume-snapshots)."""
    registry = CollectorRegistry()
    success = Gauge(
        "archangel_volume_snapshot_last_success_timestamp_seconds",
        "When the last VolumeSnapshot of the claim became ready.",
        ["pvc"],
        registry=registry,
    )
    for pvc, when in ready_at.items():
        success.labels(pvc=pvc).set(when)
    failure = Gauge(
        "archangel_volume_snapshot_last_failure_timestamp_seconds",
        "When the last snapshot run failed.",
        registry=registry,
    )
    if failed:
        failure.set(time.time())
    log(generate_latest(registry).decode().strip())
    if gateway:
        try:
            pushadd_to_gateway(gateway, job="archangel-volume-snapshots", registry=registry, timeout=15)
        except OSError as error:
            raise MetricsPushError(f"could not push metrics to {gateway}: {error}") from error
