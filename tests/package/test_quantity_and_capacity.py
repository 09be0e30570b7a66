"""Resource quantities and the capacity figures `plan` prints."""

from __future__ import annotations

from decimal import Decimal

import pytest

from archangel_helm.core.manifest import Manifest, PodTemplate
from archangel_helm.core.quantity import format_bytes, format_cpu, parse_quantity
from archangel_helm.plan.capacity import Resources, count_rules, pod_resources, release_capacity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("1Gi", Decimal(2**30)),
        ("512Mi", Decimal(2**29)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("128974848", Decimal(128974848)),
        (3, Decimal(3)),
        ("100k", Decimal(100000)),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1 Gi", "abc", "1Gb", "--1"])
def test_parse_quantity_rejects_nonsense_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_formatting() -> None:
    assert format_cpu(Decimal("0.25")) == "250m"
    assert format_cpu(Decimal(3)) == "3"
    assert format_bytes(Decimal(2**31)) == "2Gi"
    assert format_bytes(Decimal(1536 * 2**20)) == "1.5Gi"


def _pod(containers: list[dict[str, object]], init: list[dict[str, object]] | None = None) -> PodTemplate:
    owner = {
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": containers, "initContainers": init or []}}},
    }
    return PodTemplate(owner, ("spec", "template"))


def _c(cpu: str, memory: str, **extra: object) -> dict[str, object]:
    return {"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}


def test_pod_requests_sum_containers_and_sidecars_and_take_the_larger_init() -> None:
    template = _pod(
        [_c("500m", "1Gi"), _c("250m", "256Mi")], [_c("100m", "64Mi", restartPolicy="Always"), _c("2", "128Mi")]
    )
    assert pod_resources(template, "requests") == Resources(Decimal("2"), Decimal(2**30 + 2**28 + 2**26))


def test_release_capacity_reads_autoscalers_volumes_backups_and_rules() -> None:
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: agents}
spec:
  template: {spec: {containers: [{name: a, resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "1", memory: 2Gi}}}]}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: agents}
spec: {scaleTargetRef: {kind: Deployment, name: agents}, minReplicas: 3, maxReplicas: 20}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  template: {spec: {containers: [{name: p, resources: {requests: {cpu: "1", memory: 4Gi}}}]}}
  volumeClaimTemplates: [{metadata: {name: data}, spec: {storageClassName: fast-ssd, resources: {requests: {storage: 100Gi}}}}]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: backup
  annotations: {archangel.io/backup-target: database, archangel.io/retention: 30d}
spec: {schedule: "0 2 * * *", timeZone: Etc/UTC, jobTemplate: {spec: {template: {spec: {containers: []}}}}}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: r}
spec: {groups: [{name: g, rules: [{alert: A, expr: up == 0}, {record: "x:y", expr: up}]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rules, labels: {archangel.io/prometheus-rules: "true"}}
data:
  a.yaml: |
    groups: [{name: h, rules: [{alert: B, expr: up == 0}]}]
"""
    report = release_capacity("r", Manifest.parse(text))
    agents, db = report.workloads
    assert (agents.min_replicas, agents.max_replicas, agents.scaler, agents.scale_text) == (3, 20, "HPA", "3-20 (HPA)")
    assert agents.limits == Resources(Decimal(1), Decimal(2 * 2**30))
    assert (db.min_replicas, db.scaler) == (1, "fixed")
    (volume,) = report.volumes
    assert (volume.claim, volume.storage_class, volume.size, volume.count) == (
        "data",
        "fast-ssd",
        Decimal(100 * 2**30),
        1,
    )
    (backup,) = report.backups
    assert (backup.target, backup.schedule, backup.time_zone, backup.retention) == (
        "database",
        "0 2 * * *",
        "Etc/UTC",
        "30d",
    )
    assert (report.alerts, report.recording_rules) == (2, 1)
    assert count_rules(Manifest.parse("")) == (0, 0)


VPA_TARGET = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: core}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - {name: main, resources: {requests: {cpu: "1", memory: 2Gi}, limits: {cpu: "2", memory: 4Gi}}}
        - {name: proxy, resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 200m, memory: 256Mi}}}
---
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: core}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: core}
  updatePolicy: {updateMode: "%s"}
  resourcePolicy:
    containerPolicies:
      - {containerName: main, maxAllowed: {cpu: "4", memory: 8Gi}, controlledValues: %s}
      - {containerName: "*", mode: "Off"}
"""


def test_a_vpa_raises_the_maximum_to_its_max_allowed_and_scales_limits_with_requests() -> None:
    (core,) = release_capacity("r", Manifest.parse(VPA_TARGET % ("Initial", "RequestsAndLimits"))).workloads
    gi = Decimal(2**30)
    assert core.scale_text == "3 + VPA"
    assert core.requests == Resources(Decimal("1.1"), 2 * gi + gi / 8)
    assert core.peak_requests == Resources(Decimal("4.1"), 8 * gi + gi / 8)  # main at maxAllowed, proxy as is
    assert core.peak_limits == Resources(Decimal("8.2"), 16 * gi + gi / 4)  # main's limits x4, proxy's unchanged


def test_a_vpa_that_controls_requests_only_leaves_limits_and_one_that_is_off_changes_nothing() -> None:
    (core,) = release_capacity("r", Manifest.parse(VPA_TARGET % ("Auto", "RequestsOnly"))).workloads
    assert core.peak_limits == core.limits
    assert core.peak_requests.cpu == Decimal("4.1")
    (off,) = release_capacity("r", Manifest.parse(VPA_TARGET % ("Off", "RequestsAndLimits"))).workloads
    assert off.vpa_requests is None
    assert off.peak_requests == off.requests
    assert off.scale_text == "3"


def test_the_production_plan_counts_core_at_its_vpa_ceiling(render_env: object) -> None:
    from collections.abc import Callable

    assert callable(render_env)
    render: Callable[..., Manifest] = render_env
    capacity = release_capacity("archangel", render("production", "archangel"))
    core = next(w for w in capacity.workloads if w.name == "archangel-core")
    assert core.vpa_requests is not None
    assert core.peak_requests * core.max_replicas == Resources(Decimal(12), Decimal(24 * 2**30))


def test_release_capacity_counts_the_pods_and_volumes_an_operator_runs_for_the_release() -> None:
    text = """
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: db}
spec:
  instances: 3
  resources: {requests: {cpu: "2", memory: 8Gi}, limits: {cpu: "4", memory: 8Gi}}
  storage: {size: 200Gi, storageClass: fast-ssd}
  walStorage: {size: 50Gi, storageClass: fast-ssd}
---
apiVersion: postgresql.cnpg.io/v1
kind: Pooler
metadata: {name: pgbouncer}
spec:
  cluster: {name: db}
  instances: 2
  template: {spec: {containers: [{name: pgbouncer, resources: {requests: {cpu: 100m, memory: 64Mi}}}]}}
"""
    report = release_capacity("r", Manifest.parse(text))
    instances, pooler = report.workloads
    assert (instances.kind, instances.name, instances.min_replicas, instances.max_replicas) == ("Cluster", "db", 3, 3)
    assert instances.requests == Resources(Decimal(2), Decimal(8 * 2**30))
    assert (pooler.kind, pooler.min_replicas, pooler.requests) == (
        "Pooler",
        2,
        Resources(Decimal("0.1"), Decimal(64 * 2**20)),
    )
    assert [(v.owner, v.claim, v.storage_class, v.size, v.count) for v in report.volumes] == [
        ("Cluster/db", "pgdata", "fast-ssd", Decimal(200 * 2**30), 3),
        ("Cluster/db", "pg-wal", "fast-ssd", Decimal(50 * 2**30), 3),
    ]
