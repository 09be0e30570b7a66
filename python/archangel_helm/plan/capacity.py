"""What a rendered release asks of a cluster: replicas, CPU and memory at minimum and maximum scale,
persistent storage, backup schedules and alert rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from archangel_helm.core import yamlio
from archangel_helm.core.manifest import K8sObject, Manifest, PodTemplate, annotations_of, labels_of, name_of
from archangel_helm.core.quantity import parse_quantity
from archangel_helm.validate.operators import operator_workloads

# Annotations the chart puts on backup CronJobs so tools can read what each one protects and keeps.
BACKUP_TARGET_ANNOTATION = "archangel.io/backup-target"
BACKUP_RETENTION_ANNOTATION = "archangel.io/retention"
RULES_CONFIGMAP_LABEL = "archangel.io/prometheus-rules"


@dataclass(frozen=True)
class Resources:
    cpu: Decimal = Decimal(0)  # cores
    memory: Decimal = Decimal(0)  # bytes

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory)

    def __mul__(self, factor: int) -> Resources:
        return Resources(self.cpu * factor, self.memory * factor)

    def max(self, other: Resources) -> Resources:
        return Resources(max(self.cpu, other.cpu), max(self.memory, other.memory))


@dataclass(frozen=True)
class WorkloadCapacity:
    release: str
    kind: str
    name: str
    min_replicas: int
    max_replicas: int
    scaler: str  # "fixed", "HPA", "KEDA"
    requests: Resources  # per pod, as rendered
    limits: Resources  # per pod, as rendered
    # Per pod at the top of a VerticalPodAutoscaler's range (its maxAllowed; limits scaled in proportion when it
    # controls RequestsAndLimits). None without a VPA that may change them.
    vpa_requests: Resources | None = None
    vpa_limits: Resources | None = None

    @property
    def scale_text(self) -> str:
        vpa = " + VPA" if self.vpa_requests is not None else ""
        if self.scaler == "fixed":
            return f"{self.min_replicas}{vpa}"
        return f"{self.min_replicas}-{self.max_replicas} ({self.scaler}){vpa}"

    @property
    def peak_requests(self) -> Resources:
        """Per pod at maximum scale: the VPA may raise requests up to its maxAllowed."""
        return self.vpa_requests if self.vpa_requests is not None else self.requests

    @property
    def peak_limits(self) -> Resources:
        return self.vpa_limits if self.vpa_limits is not None else self.limits


@dataclass(frozen=True)
class Volume:
    release: str
    owner: str
    claim: str
    storage_class: str
    size: Decimal  # bytes per claim
    count: int


@dataclass(frozen=True)
class BackupSchedule:
    release: str
    cronjob: str
    target: str
    schedule: str
    time_zone: str
    retention: str
    suspended: bool


@dataclass
class ReleaseCapacity:
    release: str
    objects_per_kind: dict[str, int] = field(default_factory=dict)
    workloads: list[WorkloadCapacity] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    backups: list[BackupSchedule] = field(default_factory=list)
    alerts: int = 0
    recording_rules: int = 0


def pod_resources(template: PodTemplate, which: str) -> Resources:
    """Effective per-pod requests or limits, as the scheduler counts them.

    Regular containers and restartable init containers (native sidecars) run together; a plain init
    container runs alone, so the pod needs the larger of the two.
    """
    running = Resources()
    init_peak = Resources()
    spec = template.spec
    for container in spec.get("containers") or []:
        running = running + _container_resources(container, which)
    for container in spec.get("initContainers") or []:
        amount = _container_resources(container, which)
        if container.get("restartPolicy") == "Always":
            running = running + amount
        else:
            init_peak = init_peak.max(amount)
    return running.max(init_peak)


def _container_resources(container: dict[str, Any], which: str) -> Resources:
    values = (container.get("resources") or {}).get(which) or {}
    cpu = parse_quantity(values["cpu"]) if "cpu" in values else Decimal(0)
    memory = parse_quantity(values["memory"]) if "memory" in values else Decimal(0)
    return Resources(cpu, memory)


def release_capacity(release: str, manifest: Manifest) -> ReleaseCapacity:
    report = ReleaseCapacity(release, dict(sorted(manifest.kinds().items())))
    scalers = autoscaler_ranges(manifest)
    vpas = _vertical_autoscalers(manifest)
    for template in manifest.pod_templates():
        if template.owner_kind not in ("Deployment", "StatefulSet"):
            continue
        owner = template.owner
        key = (template.owner_kind, template.owner_name)
        if key in scalers:
            low, high, kind = scalers[key]
        else:
            replicas = int((owner.get("spec") or {}).get("replicas", 1))
            low, high, kind = replicas, replicas, "fixed"
        report.workloads.append(
            WorkloadCapacity(
                release,
                template.owner_kind,
                template.owner_name,
                low,
                high,
                kind,
                pod_resources(template, "requests"),
                pod_resources(template, "limits"),
                *(vpa_peak(template, vpas[key]) if key in vpas else (None, None)),
            )
        )
        if template.owner_kind == "StatefulSet":
            for claim in (owner.get("spec") or {}).get("volumeClaimTemplates") or []:
                report.volumes.append(_volume(release, template.ref, claim, high))
    for workload in operator_workloads(manifest):  # a CloudNativePG Cluster's instances, its PgBouncer pods
        template = workload.template
        per_pod = pod_resources(template, "requests"), pod_resources(template, "limits")
        report.workloads.append(
            WorkloadCapacity(
                release, template.owner_kind, template.owner_name, workload.replicas, workload.replicas, "fixed",
                *per_pod,
            )
        )  # fmt: skip
        for claim in workload.claims:
            report.volumes.append(_volume(release, template.ref, claim, workload.replicas))
    for claim in manifest.of_kind("PersistentVolumeClaim"):
        report.volumes.append(_volume(release, "-", claim, 1))
    for cronjob in manifest.of_kind("CronJob"):
        annotations = annotations_of(cronjob)
        if BACKUP_TARGET_ANNOTATION in annotations:
            spec = cronjob.get("spec") or {}
            report.backups.append(
                BackupSchedule(
                    release,
                    name_of(cronjob),
                    annotations[BACKUP_TARGET_ANNOTATION],
                    str(spec.get("schedule")),
                    str(spec.get("timeZone", "controller local time")),
                    annotations.get(BACKUP_RETENTION_ANNOTATION, "-"),
                    bool(spec.get("suspend", False)),
                )
            )
    report.alerts, report.recording_rules = count_rules(manifest)
    return report


def _volume(release: str, owner: str, claim: K8sObject, count: int) -> Volume:
    spec = claim.get("spec") or {}
    size = parse_quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage", 0))
    return Volume(release, owner, name_of(claim), str(spec.get("storageClassName", "(default)")), size, count)


def autoscaler_ranges(manifest: Manifest) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(kind, name) of each workload an HPA or KEDA scales -> (minimum, maximum, "HPA" or "KEDA")."""
    found: dict[tuple[str, str], tuple[int, int, str]] = {}
    for hpa in manifest.of_kind("HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        found[(str(target.get("kind")), str(target.get("name")))] = (
            int(spec.get("minReplicas", 1)),
            int(spec["maxReplicas"]),
            "HPA",
        )
    for scaled in manifest.of_kind("ScaledObject"):
        spec = scaled.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        kind = str(target.get("kind", "Deployment"))
        found[(kind, str(target.get("name")))] = (
            int(spec.get("minReplicaCount", 0)),
            int(spec.get("maxReplicaCount", 100)),
            "KEDA",
        )
    return found


def _vertical_autoscalers(manifest: Manifest) -> dict[tuple[str, str], dict[str, Any]]:
    """VPAs that may change their target's resources (updateMode other than Off), by target."""
    found = {}
    for vpa in manifest.of_kind("VerticalPodAutoscaler"):
        spec = vpa.get("spec") or {}
        if ((spec.get("updatePolicy") or {}).get("updateMode") or "Auto") == "Off":
            continue
        target = spec.get("targetRef") or {}
        found[(str(target.get("kind")), str(target.get("name")))] = spec
    return found


def vpa_peak(template: PodTemplate, vpa: dict[str, Any]) -> tuple[Resources, Resources]:
    """Per-pod requests and limits with every VPA-controlled container at its maxAllowed.

    A container without maxAllowed for a resource is counted at its rendered request (the VPA is unbounded
    there; the chart's schema requires maxAllowed, so this is only for foreign charts). With controlledValues
    RequestsAndLimits (the default) limits grow in proportion to requests, as the VPA admission controller does.
    """
    policies = {p.get("containerName"): p for p in (vpa.get("resourcePolicy") or {}).get("containerPolicies") or []}
    requests, limits = Resources(), Resources()
    for container in template.spec.get("containers") or []:
        policy = policies.get(container.get("name")) or policies.get("*") or {}
        request = _container_resources(container, "requests")
        limit = _container_resources(container, "limits")
        if policy.get("mode") == "Off":
            requests, limits = requests + request, limits + limit
            continue
        controlled = set(policy.get("controlledResources") or ["cpu", "memory"])
        ceiling = policy.get("maxAllowed") or {}
        peak_cpu = parse_quantity(ceiling["cpu"]) if "cpu" in ceiling and "cpu" in controlled else request.cpu
        peak_mem = (
            parse_quantity(ceiling["memory"]) if "memory" in ceiling and "memory" in controlled else request.memory
        )
        peak = Resources(max(peak_cpu, request.cpu), max(peak_mem, request.memory))
        if policy.get("controlledValues", "RequestsAndLimits") == "RequestsAndLimits":
            limit = Resources(
                limit.cpu * peak.cpu / request.cpu if request.cpu else limit.cpu,
                limit.memory * peak.memory / request.memory if request.memory else limit.memory,
            )
        requests, limits = requests + peak, limits + limit
    return requests, limits


def count_rules(manifest: Manifest) -> tuple[int, int]:
    """(alerting rules, recording rules) in PrometheusRules and in rules ConfigMaps of standalone Prometheus."""
    groups: list[dict[str, Any]] = []
    for rule in manifest.of_kind("PrometheusRule"):
        groups += (rule.get("spec") or {}).get("groups") or []
    for configmap in manifest.of_kind("ConfigMap"):
        if labels_of(configmap).get(RULES_CONFIGMAP_LABEL) == "true":
            for text in (configmap.get("data") or {}).values():
                groups += (yamlio.load(text) or {}).get("groups") or []
    rules = [rule for group in groups for rule in group.get("rules") or []]
    return sum(1 for r in rules if "alert" in r), sum(1 for r in rules if "record" in r)
