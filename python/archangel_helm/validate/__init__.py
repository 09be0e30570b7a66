"""Offline validation of rendered objects: Kubernetes schemas for the oldest and newest supported versions,
CRD schemas for custom resources. An object whose kind has no schema is a problem, never a pass."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from archangel_helm.core.chart import Chart, KubeVersion, format_kube_version, kube_version_bounds
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.manifest import K8sObject, Manifest, name_of
from archangel_helm.validate import kubernetes
from archangel_helm.validate.crds import CRD_DIR_ENV, CrdSchemas
from archangel_helm.validate.problems import Problem, problems_from_schema_errors

__all__ = [
    "CrdSchemas",
    "Problem",
    "SchemaValidator",
    "default_crd_directories",
    "holds_crd_files",
    "supported_kube_versions",
]


def supported_kube_versions(chart: Chart) -> tuple[KubeVersion, KubeVersion]:
    """Oldest and newest Kubernetes minor the chart declares that strict schemas exist for."""
    lower, upper = kube_version_bounds(chart.kube_version_constraint)
    shipped = kubernetes.shipped_versions()
    if lower < shipped[0]:
        raise ConfigurationError(
            f"{chart.name}: kubeVersion {chart.kube_version_constraint!r} admits {format_kube_version(lower)}, "
            f"older than the oldest schema available ({format_kube_version(shipped[0])}); raise the lower bound"
        )
    newest = min(upper, shipped[-1]) if upper is not None else shipped[-1]
    if newest < lower:
        raise ConfigurationError(f"{chart.name}: kubeVersion {chart.kube_version_constraint!r} admits no version")
    return lower, newest


def default_crd_directories() -> list[Path]:
    """$ARCHANGEL_CRD_SCHEMAS (path list), else what `archangel-helm crds fetch` wrote, else nothing; and in
    every case the CRDs of Go modules already in Go's module cache (cert-manager's: see crds.gomod)."""
    from archangel_helm.crds import gomod

    configured = os.environ.get(CRD_DIR_ENV)
    if configured:
        chosen = [Path(entry) for entry in configured.split(os.pathsep) if entry]
    else:
        from archangel_helm.crds.fetch import default_fetch_directory

        fetched = default_fetch_directory()
        chosen = [fetched] if holds_crd_files(fetched) else []
    return chosen + [d for d in gomod.directories() if d not in chosen]


def holds_crd_files(directory: Path) -> bool:
    """A directory with at least one CRD manifest or extracted schema in it (an empty one is no source)."""
    if not directory.is_dir():
        return False
    return any(p.suffix in (".yaml", ".yml", ".json") for p in directory.rglob("*") if p.is_file())


@dataclass
class SchemaValidator:
    """Validates objects against the Kubernetes schemas of each version given and the CRD schemas known."""

    kube_versions: Sequence[KubeVersion]
    crds: CrdSchemas = field(default_factory=CrdSchemas)

    def validate(self, manifest: Manifest | Iterable[K8sObject]) -> list[Problem]:
        problems: list[Problem] = []
        for obj in manifest:
            problems.extend(self.validate_object(obj))
        return sorted(set(problems), key=lambda p: (p.kind, p.name, p.path, p.message))

    def validate_object(self, obj: K8sObject) -> list[Problem]:
        api_version, kind, name = str(obj.get("apiVersion", "")), str(obj.get("kind", "")), name_of(obj)
        if not api_version or not kind:
            return [Problem(kind or "?", name or "?", "", "object has no apiVersion or kind", "schema")]
        if kubernetes.is_builtin(api_version, kind):
            return self._validate_builtin(obj, api_version, kind, name)
        validator = self.crds.validator(api_version, kind)
        if validator is None:
            return [
                Problem(
                    kind,
                    name,
                    "apiVersion",
                    f"no schema for {api_version} {kind}: it is neither a built-in Kubernetes kind nor a loaded CRD "
                    f"(load its CRD with --crd-dir or ${CRD_DIR_ENV}, or run `archangel-helm crds fetch`)",
                    "schema/missing",
                )
            ]
        problems = problems_from_schema_errors(
            validator.iter_errors(obj), kind, name, "schema/crd", f"{api_version} {kind} CRD"
        )
        newest = max(self.kube_versions)
        meta_errors = kubernetes.object_meta_validator(newest).iter_errors(obj.get("metadata") or {})
        problems += [
            Problem(p.kind, p.name, f"metadata.{p.path}" if p.path else "metadata", p.message, p.rule)
            for p in problems_from_schema_errors(meta_errors, kind, name, "schema/crd", "ObjectMeta")
        ]
        return problems

    def _validate_builtin(self, obj: K8sObject, api_version: str, kind: str, name: str) -> list[Problem]:
        # The same problem usually appears in every version: report it once, naming the versions it applies to.
        seen: dict[tuple[str, str], list[str]] = {}
        for version in self.kube_versions:
            label = format_kube_version(version)
            validator = kubernetes.validator(version, api_version, kind)
            if validator is None:
                seen.setdefault(("apiVersion", f"{api_version} {kind} is not served"), []).append(label)
                continue
            fast = kubernetes.fast_validator(version, api_version, kind)
            if fast is not None and fast.is_valid(obj):
                continue  # the common case, decided in Rust; jsonschema explains only what is rejected
            for problem in problems_from_schema_errors(validator.iter_errors(obj), kind, name, "schema", ""):
                seen.setdefault((problem.path, problem.message), []).append(label)
        return [
            Problem(kind, name, path, f"{message} (Kubernetes {', '.join(versions)})", "schema/kubernetes")
            for (path, message), versions in seen.items()
        ]
