"""One restore per request: the chart's restore Job claims its request before it touches anything.

A Kubernetes Job can run again without anyone asking: Argo CD re-creates a deleted or pruned Job on its next
sync, a changed pod template gives the Job a new name (the chart names it by a hash of its template, because a
Job's template is immutable), a `helm upgrade` that still carries `restore.enabled` renders it again. A restore
that repeats overwrites whatever was written since, so the Job first creates a ConfigMap named after the
request (`restore.requestId`) in its namespace. Creating an object is atomic in the API server: the first run
gets it, every later run finds it (409), says which run held it and when, and exits 0 without reading the
bucket or touching a database. The ConfigMap then records how the run ended. It is not part of the release,
so neither `helm uninstall` nor Argo CD's prune removes it; a new restore takes a new request id.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archangel_helm.backup.errors import BackupConfigError

COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "archangel-restore"


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a request: granted (this run restores) or held by an earlier run."""

    granted: bool
    name: str
    namespace: str
    holder: Mapping[str, str]

    def describe_holder(self) -> str:
        fields = ", ".join(f"{key} {value}" for key, value in sorted(self.holder.items()))
        return f"ConfigMap {self.namespace}/{self.name}: {fields or 'no details recorded'}"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_of(error: Exception) -> int | None:
    status = getattr(error, "status", None)
    return status if isinstance(status, int) else None


class RestoreRequests:
    """Claims and records restore requests as ConfigMaps through a kubernetes CoreV1Api."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def claim(self, name: str, details: Mapping[str, str]) -> Claim:
        data = {**details, "state": "running", "startedAt": _now()}
        body = {
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY_LABEL: MANAGER, COMPONENT_LABEL: "restore-request"},
            },
            "data": data,
        }
        try:
            self.api.create_namespaced_config_map(self.namespace, body)
        except Exception as error:
            if _status_of(error) != 409:
                raise BackupConfigError(
                    f"cannot claim restore request {self.namespace}/{name} (ConfigMap create): {error}; "
                    "the job's ServiceAccount needs create/get/patch on configmaps in its namespace"
                ) from error
            existing = self.api.read_namespaced_config_map(name, self.namespace)
            return Claim(False, name, self.namespace, dict(existing.data or {}))
        return Claim(True, name, self.namespace, data)

    def finish(self, claim: Claim, outcome: str, summary: str) -> None:
        """Record how the claimed run ended; never the reason a restore fails."""
        patch = {"data": {"state": outcome, "finishedAt": _now(), "summary": json.dumps(summary)[1:-1][:1000]}}
        self.api.patch_namespaced_config_map(claim.name, claim.namespace, patch)
