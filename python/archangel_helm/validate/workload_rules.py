"""Rules about workloads: availability at minimum scale, autoscaler sanity, and what every long-running
container must declare."""

from __future__ import annotations

import math
import re
from typing import Any

from archangel_helm.core.manifest import Manifest, PodTemplate, name_of
from archangel_helm.validate.operators import selectable_pod_templates
from archangel_helm.validate.problems import Problem
from archangel_helm.validate.selectors import selected_pod_templates

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
SUFFIXED = {"CronJob", "StatefulSet"}


def minimum_replicas(manifest: Manifest, template: PodTemplate) -> int:
    for hpa in manifest.of_kind("HorizontalPodAutoscaler"):
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if (target.get("kind"), target.get("name")) == (template.owner_kind, template.owner_name):
            return int(hpa["spec"].get("minReplicas", 1))
    for scaled in manifest.of_kind("ScaledObject"):
        target = (scaled.get("spec") or {}).get("scaleTargetRef") or {}
        if (target.get("kind", "Deployment"), target.get("name")) == (template.owner_kind, template.owner_name):
            return int(scaled["spec"].get("minReplicaCount", 0))
    return int((template.owner.get("spec") or {}).get("replicas", 1))


def _disruptions_allowed(pdb_spec: dict[str, Any], replicas: int) -> int:
    if "maxUnavailable" in pdb_spec:
        value = pdb_spec["maxUnavailable"]
        if isinstance(value, str) and value.endswith("%"):
            return math.ceil(int(value[:-1]) * replicas / 100)
        return int(value)
    value = pdb_spec.get("minAvailable", 0)
    if isinstance(value, str) and value.endswith("%"):
        return replicas - math.ceil(int(value[:-1]) * replicas / 100)
    return replicas - int(value)


def check_pdbs_allow_disruption(manifest: Manifest) -> list[Problem]:
    problems = []
    for pdb in manifest.of_kind("PodDisruptionBudget"):
        spec = pdb.get("spec") or {}
        for template in selected_pod_templates(spec.get("selector"), selectable_pod_templates(manifest)):
            replicas = minimum_replicas(manifest, template)
            if replicas > 0 and _disruptions_allowed(spec, replicas) < 1:
                problems.append(
                    Problem(
                        "PodDisruptionBudget",
                        name_of(pdb),
                        "spec",
                        f"allows no voluntary disruption of {template.ref} at its minimum of {replicas} "
                        "replicas: node drains would block",
                        "availability/pdb-disruption",
                    )
                )
    return problems


def check_autoscalers(manifest: Manifest) -> list[Problem]:
    problems = []
    for hpa in manifest.of_kind("HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        if int(spec.get("minReplicas", 1)) > int(spec.get("maxReplicas", 0)):
            problems.append(
                Problem(
                    "HorizontalPodAutoscaler",
                    name_of(hpa),
                    "spec.minReplicas",
                    f"minReplicas {spec.get('minReplicas')} is above maxReplicas {spec.get('maxReplicas')}",
                    "autoscaling/min-max",
                )
            )
    owned = set()
    for kind, field in (("HorizontalPodAutoscaler", "scaleTargetRef"), ("ScaledObject", "scaleTargetRef")):
        for obj in manifest.of_kind(kind):
            target = (obj.get("spec") or {}).get(field) or {}
            owned.add((target.get("kind", "Deployment"), target.get("name")))
    for kind, name in owned:
        target = manifest.find(str(kind), str(name))
        if target is not None and "replicas" in (target.get("spec") or {}):
            problems.append(
                Problem(
                    str(kind),
                    str(name),
                    "spec.replicas",
                    "an autoscaler owns this workload's replicas, so it must not set spec.replicas "
                    "(every sync would reset the autoscaler's choice)",
                    "autoscaling/no-replicas",
                )
            )
    return problems


def check_containers(manifest: Manifest) -> list[Problem]:
    """Resources on every container; probes on long-running ones; images pinned to a version."""
    problems = []
    for template in manifest.pod_templates():
        base = ".".join((*template.path, "spec")) if template.path else "spec"
        for field in ("initContainers", "containers"):
            for index, container in enumerate(template.spec.get(field) or []):
                where = f"{base}.{field}[{index}]"
                name = container.get("name", "?")
                resources = container.get("resources") or {}
                missing = [
                    f"{kind}.{res}"
                    for kind in ("requests", "limits")
                    for res in ("cpu", "memory")
                    if res not in (resources.get(kind) or {}) and not (kind == "limits" and res == "cpu")
                ]
                if missing:
                    problems.append(
                        Problem(
                            template.owner_kind,
                            template.owner_name,
                            f"{where}.resources",
                            f"container {name} sets no {', '.join(missing)}",
                            "containers/resources",
                        )
                    )
                image = str(container.get("image", ""))
                if not _pinned(image):
                    problems.append(
                        Problem(
                            template.owner_kind,
                            template.owner_name,
                            f"{where}.image",
                            f"container {name} image {image!r} is not pinned to a version tag or digest",
                            "containers/pinned-image",
                        )
                    )
                long_running = template.owner_kind in LONG_RUNNING and field == "containers"
                if long_running and container.get("restartPolicy") != "Always":
                    for probe in ("readinessProbe", "livenessProbe"):
                        if probe not in container:
                            problems.append(
                                Problem(
                                    template.owner_kind,
                                    template.owner_name,
                                    f"{where}.{probe}",
                                    f"long-running container {name} has no {probe}",
                                    "containers/probes",
                                )
                            )
    return problems


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return tag not in ("latest", "") and bool(re.search(r"\d", tag))


def check_names(manifest: Manifest) -> list[Problem]:
    problems = []
    for obj in manifest:
        name = name_of(obj)
        limit = 52 if obj["kind"] in SUFFIXED else 63
        if len(name) > limit:
            problems.append(
                Problem(
                    str(obj["kind"]),
                    name,
                    "metadata.name",
                    f"{len(name)} characters; at most {limit} fit (controllers append suffixes)",
                    "names/length",
                )
            )
    return problems
