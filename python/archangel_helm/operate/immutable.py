"""Changes Kubernetes refuses in place, found before Helm applies anything.

An upgrade that changes an immutable field fails half-way (Helm has already applied the objects before it):
the API server refuses a StatefulSet whose claim templates, selector or service name changed, a Deployment
whose selector changed, a StorageClass whose parameters changed, a PersistentVolumeClaim that shrinks or
moves class, a PriorityClass whose value changed, a Job whose pod template changed. This module compares the
objects Helm recorded for the installed revision with the new render, field by field, and names each refused
change with the procedure that does it safely (docs/UPGRADING.md, "Changes Kubernetes refuses in place").

Helm hooks are left out: Helm deletes and re-creates them (hook-delete-policy before-hook-creation).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from archangel_helm.core.manifest import K8sObject, annotations_of, name_of
from archangel_helm.core.quantity import parse_quantity

GUIDE = "docs/UPGRADING.md#changes-kubernetes-refuses-in-place"  # the tables and procedures


@dataclass(frozen=True)
class ImmutableChange:
    kind: str
    name: str
    field: str
    old: Any
    new: Any
    procedure: str  # one line: what to do instead, with the guide's section

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.field} {_show(self.old)} -> {_show(self.new)}: {self.procedure}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


_SIZE = "spec.resources.requests.storage"


def _claim_template_changes(old: K8sObject, new: K8sObject) -> Iterator[tuple[str, Any, Any, str]]:
    """Per claim template (by name): size, class, access modes, volume mode; or one added or removed."""
    before = {name_of(c): c for c in _get(old, "spec.volumeClaimTemplates") or []}
    after = {name_of(c): c for c in _get(new, "spec.volumeClaimTemplates") or []}
    for name in sorted(set(before) | set(after)):
        field = f"spec.volumeClaimTemplates[{name}]"
        if name not in before or name not in after:
            yield field, "present" if name in before else None, "present" if name in after else None, "orphan"
            continue
        for path, procedure in (
            (_SIZE, "expand"),
            ("spec.storageClassName", "migrate"),
            ("spec.accessModes", "migrate"),
            ("spec.volumeMode", "migrate"),
        ):
            a, b = _get(before[name], path), _get(after[name], path)
            if path == _SIZE and a is not None and b is not None and parse_quantity(a) == parse_quantity(b):
                continue
            if a != b:
                yield f"{field}.{path}", a, b, procedure


PROCEDURES = {
    "expand": "grow each claim (kubectl patch pvc), then orphan-delete the StatefulSet "
    "(kubectl delete statefulset NAME --cascade=orphan) and upgrade; its pods and volumes stay",
    "migrate": "a volume cannot change class or mode: restore from a backup into a new claim (or keep the old value)",
    "orphan": "orphan-delete the StatefulSet (kubectl delete statefulset NAME --cascade=orphan), then upgrade",
    "selector": "selectors follow nameOverride and the release name: keep them, or uninstall (claims are kept) and "
    "install again",
    "storageclass": "delete the StorageClass (kubectl delete storageclass NAME; existing volumes keep theirs), "
    "then upgrade: new volumes get the new settings",
    "shrink": "a claim cannot shrink: restore from a backup into a smaller new claim",
    "priority": "delete the PriorityClass (running pods keep theirs), then upgrade",
    "job": "a Job's pod template is fixed: delete the Job (kubectl delete job NAME) before upgrading, or let it "
    "finish and expire",
}


def _fields(kind: str) -> tuple[tuple[str, str], ...]:
    """(field, procedure key) of every immutable field this module compares, per kind."""
    return {
        "StatefulSet": (
            ("spec.selector", "selector"),
            ("spec.serviceName", "orphan"),
            ("spec.podManagementPolicy", "orphan"),
        ),
        "Deployment": (("spec.selector", "selector"),),
        "DaemonSet": (("spec.selector", "selector"),),
        "ReplicaSet": (("spec.selector", "selector"),),
        "StorageClass": (
            ("provisioner", "storageclass"),
            ("parameters", "storageclass"),
            ("reclaimPolicy", "storageclass"),
            ("volumeBindingMode", "storageclass"),
        ),
        "PersistentVolumeClaim": (("spec.storageClassName", "migrate"), ("spec.accessModes", "migrate")),
        "PriorityClass": (("value", "priority"),),
        "Job": (("spec.template", "job"),),
    }.get(kind, ())


Comparer = Callable[[K8sObject, K8sObject], Iterator[tuple[str, Any, Any, str]]]


def _special(kind: str) -> Comparer | None:
    if kind == "StatefulSet":
        return _claim_template_changes
    if kind == "PersistentVolumeClaim":
        return _claim_shrink
    return None


def _claim_shrink(old: K8sObject, new: K8sObject) -> Iterator[tuple[str, Any, Any, str]]:
    a, b = _get(old, _SIZE), _get(new, _SIZE)
    if a is not None and b is not None and parse_quantity(b) < parse_quantity(a):
        yield _SIZE, a, b, "shrink"


def _key(obj: K8sObject) -> tuple[str, str, str]:
    return (str(obj.get("kind")), str((obj.get("metadata") or {}).get("namespace") or ""), name_of(obj))


def immutable_changes(
    installed: Iterable[K8sObject], rendered: Iterable[K8sObject], namespace: str = ""
) -> list[ImmutableChange]:
    """The refused changes between the objects of the installed revision and the new render (hooks apart).
    Objects without a namespace in either are taken to be in `namespace` (Helm's manifests leave it out)."""

    def index(objects: Iterable[K8sObject]) -> dict[tuple[str, str, str], K8sObject]:
        found = {}
        for obj in objects:
            if "helm.sh/hook" in annotations_of(obj):
                continue
            kind, ns, name = _key(obj)
            found[(kind, ns or namespace, name)] = obj
        return found

    before, after = index(installed), index(rendered)
    changes = []
    for key in sorted(set(before) & set(after)):
        kind, _, name = key
        old, new = before[key], after[key]
        found = [(f, _get(old, f), _get(new, f), p) for f, p in _fields(kind) if _get(old, f) != _get(new, f)]
        special = _special(kind)
        if special is not None:
            found += list(special(old, new))
        changes += [ImmutableChange(kind, name, f, a, b, f"{PROCEDURES[p]} ({GUIDE})") for f, a, b, p in found]
    return changes
