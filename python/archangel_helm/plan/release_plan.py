"""`archangel-helm plan ENV`: render every release of an environment, validate it, write the manifests and
report what the environment asks of its cluster."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from archangel_helm.core.chart import Chart, format_kube_version
from archangel_helm.core.errors import ReleaseRenderErrors, RenderError
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.output import table, write_objects
from archangel_helm.core.quantity import format_bytes, format_cpu
from archangel_helm.plan.capacity import ReleaseCapacity, Resources, release_capacity
from archangel_helm.plan.environments import Environment
from archangel_helm.validate import CrdSchemas, Problem, SchemaValidator, supported_kube_versions


@dataclass
class PlanResult:
    environment: str
    manifests: dict[str, Manifest] = field(default_factory=dict)
    capacity: list[ReleaseCapacity] = field(default_factory=list)
    problems: list[tuple[str, Problem]] = field(default_factory=list)
    # Custom resources whose CRD schema was not loaded, when the caller chose to list them rather than fail.
    unvalidated: list[tuple[str, Problem]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def plan(
    environment: Environment, crds: CrdSchemas, output: Path | None, *, missing_crd_schemas: str = "error"
) -> PlanResult:
    """Render, validate and size every release. missing_crd_schemas="warn" lists custom resources without a loaded
    CRD schema apart instead of counting them as problems (for a machine with no CRDs at hand)."""
    if missing_crd_schemas not in ("error", "warn"):
        raise ValueError(f"missing_crd_schemas: {missing_crd_schemas!r}; allowed: error, warn")
    result = PlanResult(environment.name)
    manifests: dict[str, Manifest] = {}
    failures: dict[str, RenderError] = {}
    for release in environment.releases:  # every release first, so one run names every missing value
        try:
            manifests[release.name] = environment.inputs(release).render()
        except RenderError as error:
            failures[release.name] = error
    if failures:
        raise ReleaseRenderErrors(environment.name, failures)
    for release in environment.releases:
        chart = Chart.load(release.chart)
        manifest = manifests[release.name]
        validator = SchemaValidator(supported_kube_versions(chart), crds)
        for problem in validator.validate(manifest):
            unvalidated = missing_crd_schemas == "warn" and problem.rule == "schema/missing"
            (result.unvalidated if unvalidated else result.problems).append((release.name, problem))
        result.manifests[release.name] = manifest
        result.capacity.append(release_capacity(release.name, manifest))
        if output is not None:
            write_objects(manifest, output / release.name)
    if output is not None:
        (output / "plan.json").write_text(json.dumps(plan_json(result), indent=2, default=str) + "\n")
    return result


def plan_json(result: PlanResult) -> dict[str, Any]:
    return {
        "environment": result.environment,
        "releases": [asdict(c) for c in result.capacity],
        "problems": [{"release": r, **p.as_dict()} for r, p in result.problems],
        "unvalidated": [{"release": r, **p.as_dict()} for r, p in result.unvalidated],
    }


def _res(resources: Resources) -> str:
    return f"{format_cpu(resources.cpu)} CPU / {format_bytes(resources.memory)}"


def report(result: PlanResult, environment: Environment, kube_versions: Sequence[str]) -> str:
    rendered_for = environment.kube_version or "helm default"
    sections = [
        f"Plan for {result.environment} (rendered for Kubernetes {rendered_for}; "
        f"validated against {', '.join(kube_versions)})",
        _objects_section(result),
        _workloads_section(result),
        _storage_section(result),
        _backups_section(result),
        f"Alerting rules: {sum(c.alerts for c in result.capacity)}; "
        f"recording rules: {sum(c.recording_rules for c in result.capacity)}",
        _validation_section(result),
    ]
    return "\n\n".join(sections)


def _objects_section(result: PlanResult) -> str:
    kinds: dict[str, dict[str, int]] = {}
    for capacity in result.capacity:
        for kind, count in capacity.objects_per_kind.items():
            kinds.setdefault(kind, {})[capacity.release] = count
    releases = [c.release for c in result.capacity]
    rows = [[kind, *(per_release.get(r, 0) for r in releases)] for kind, per_release in sorted(kinds.items())]
    return "Objects per kind\n" + table(["kind", *releases], rows)


def _workloads_section(result: PlanResult) -> str:
    workloads = [w for c in result.capacity for w in c.workloads]
    rows: list[list[object]] = []
    req_min, lim_min, req_max, lim_max = Resources(), Resources(), Resources(), Resources()
    for w in workloads:
        rows.append(
            [
                w.release,
                f"{w.kind}/{w.name}",
                w.scale_text,
                _res(w.requests),
                _res(w.limits),
                _res(w.requests * w.min_replicas),
                _res(w.limits * w.min_replicas),
                _res(w.peak_requests * w.max_replicas),
                _res(w.peak_limits * w.max_replicas),
            ]
        )
        req_min += w.requests * w.min_replicas
        lim_min += w.limits * w.min_replicas
        req_max += w.peak_requests * w.max_replicas
        lim_max += w.peak_limits * w.max_replicas
    rows.append(["", "TOTAL", "", "", "", _res(req_min), _res(lim_min), _res(req_max), _res(lim_max)])
    minimum = ", ".join(f"{w.name}={w.min_replicas}" for w in workloads)
    maximum = ", ".join(f"{w.name}={w.max_replicas}" for w in workloads)
    headers = [
        "release",
        "workload",
        "replicas",
        "requests/pod",
        "limits/pod",
        "requests@min",
        "limits@min",
        "requests@max",
        "limits@max",
    ]
    notes = (
        "\n  @max: every autoscaler at its top; with a VPA (+ VPA), pods at its maxAllowed"
        if any(w.vpa_requests is not None for w in workloads)
        else ""
    )
    heading = f"Workloads and capacity\n  minimum scale: {minimum}\n  maximum scale: {maximum}{notes}"
    return heading + "\n" + table(headers, rows)


def _storage_section(result: PlanResult) -> str:
    volumes = [v for c in result.capacity for v in c.volumes]
    if not volumes:
        return "Persistent storage\n  (none)"
    total = sum((v.size * v.count for v in volumes), Decimal(0))
    rows: list[list[object]] = [
        [v.release, v.owner, v.claim, v.storage_class, format_bytes(v.size), v.count, format_bytes(v.size * v.count)]
        for v in volumes
    ]
    rows.append(["", "TOTAL", "", "", "", "", format_bytes(total)])
    return "Persistent storage\n" + table(["release", "owner", "claim", "class", "size", "count", "total"], rows)


def _backups_section(result: PlanResult) -> str:
    backups = [b for c in result.capacity for b in c.backups]
    if not backups:
        return "Backups\n  (none)"
    rows = [
        [b.release, b.cronjob, b.target, b.schedule + (" (suspended)" if b.suspended else ""), b.time_zone, b.retention]
        for b in backups
    ]
    return "Backups\n" + table(["release", "cronjob", "target", "schedule", "timezone", "retention"], rows)


def _validation_section(result: PlanResult) -> str:
    if result.problems:
        lines = [f"Validation: {len(result.problems)} problem(s)"]
    elif result.unvalidated:
        lines = ["Validation: built-in objects clean; custom resources not validated (below)"]
    else:
        lines = ["Validation: clean"]
    lines += [f"  [{release}] {problem}" for release, problem in result.problems]
    if result.unvalidated:
        kinds = sorted({f"{p.kind}" for _, p in result.unvalidated})
        lines += [
            f"WARNING: {len(result.unvalidated)} custom resources NOT validated, no CRD schema loaded for "
            f"{', '.join(kinds)}.",
            "  Load them with `archangel-helm crds fetch`, --crd-dir DIR or $ARCHANGEL_CRD_SCHEMAS "
            "(e.g. `kubectl get crd -o yaml` from the target cluster).",
        ]
    return "\n".join(lines)


def kube_version_labels(environment: Environment) -> list[str]:
    labels: set[str] = set()
    for release in environment.releases:
        labels.update(format_kube_version(v) for v in supported_kube_versions(Chart.load(release.chart)))
    return sorted(labels, key=lambda v: tuple(int(p) for p in v.split(".")))
