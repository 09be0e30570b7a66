"""What operators make from the release's custom resources: the pods a CloudNativePG Cluster or Pooler runs
(their labels, ports and resources, as the operator sets them, and how many), the volumes they claim and the
Secrets the operator creates. A NetworkPolicy or PodMonitor selecting those pods, a workload mounting the
operator's CA, a StorageClass claimed by the instances, or the capacity they take, is real though the release
never renders the pods.

The stand-in pod templates serve the graph checks, preflight's storage claims and the capacity report only: the
policy checks (security context, probes) never see them; the operator owns those pods' spec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archangel_helm.core.manifest import K8sObject, Manifest, PodTemplate, name_of

CNPG_GROUP = "postgresql.cnpg.io/"
CERT_MANAGER_GROUP = "cert-manager.io/"
# CloudNativePG's instance and pooler containers and their named ports (operator v1.30).
_INSTANCE_PORTS = [{"name": "postgresql", "containerPort": 5432}, {"name": "metrics", "containerPort": 9187},
                   {"name": "status", "containerPort": 8000}]  # fmt: skip
_POOLER_PORTS = [{"name": "pgbouncer", "containerPort": 5432}, {"name": "metrics", "containerPort": 9127}]
# Secrets the operator creates for every Cluster: its CA (ca.crt, ca.key), the server's and the replication
# user's certificates.
_CLUSTER_SECRETS = ("-ca", "-server", "-replication")


@dataclass(frozen=True)
class OperatorWorkload:
    template: PodTemplate  # a stand-in: labels, containers with ports and resources
    replicas: int
    claims: list[K8sObject] = field(default_factory=list)  # per pod, PersistentVolumeClaim-shaped


def _stand_in(source: K8sObject, labels: dict[str, str], container: dict[str, Any], replicas: int) -> PodTemplate:
    owner: K8sObject = {
        "apiVersion": source.get("apiVersion"),
        "kind": source.get("kind"),
        "metadata": dict(source.get("metadata") or {}),
        "spec": {"replicas": replicas},  # what a PodDisruptionBudget check counts
        "podTemplate": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
    }
    return PodTemplate(owner, ("podTemplate",))


def _claim(name: str, storage: dict[str, Any]) -> K8sObject:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": storage.get("size")}}}
    if storage.get("storageClass"):
        spec["storageClassName"] = storage["storageClass"]
    return {"metadata": {"name": name}, "spec": spec}


def _cluster(obj: K8sObject) -> OperatorWorkload:
    spec = obj.get("spec") or {}
    labels = {"cnpg.io/cluster": name_of(obj), "cnpg.io/podRole": "instance"}
    container = {"name": "postgres", "ports": _INSTANCE_PORTS, "resources": spec.get("resources") or {}}
    claims = [_claim("pgdata", spec.get("storage") or {})]
    if spec.get("walStorage"):
        claims.append(_claim("pg-wal", spec["walStorage"]))
    instances = int(spec.get("instances", 1))
    return OperatorWorkload(_stand_in(obj, labels, container, instances), instances, claims)


def _pooler(obj: K8sObject) -> OperatorWorkload:
    spec = obj.get("spec") or {}
    cluster = str((spec.get("cluster") or {}).get("name", ""))
    labels = {"cnpg.io/poolerName": name_of(obj), "cnpg.io/podRole": "pooler", "cnpg.io/cluster": cluster}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    resources = next((c.get("resources") or {} for c in containers if c.get("name") == "pgbouncer"), {})
    container = {"name": "pgbouncer", "ports": _POOLER_PORTS, "resources": resources}
    instances = int(spec.get("instances", 1))
    return OperatorWorkload(_stand_in(obj, labels, container, instances), instances)


def operator_workloads(manifest: Manifest) -> Iterator[OperatorWorkload]:
    for obj in manifest:
        if not str(obj.get("apiVersion", "")).startswith(CNPG_GROUP):
            continue
        if obj.get("kind") == "Cluster":
            yield _cluster(obj)
        elif obj.get("kind") == "Pooler":
            yield _pooler(obj)


def operator_pod_templates(manifest: Manifest) -> Iterator[PodTemplate]:
    return (workload.template for workload in operator_workloads(manifest))


def selectable_pod_templates(manifest: Manifest) -> list[PodTemplate]:
    """The release's pod templates and the operators' pods: what a selector may legitimately name."""
    return [*manifest.pod_templates(), *operator_pod_templates(manifest)]


def operator_secrets(manifest: Manifest) -> set[str]:
    """Secrets an operator writes for the release's objects: CloudNativePG's for a Cluster, cert-manager's
    (spec.secretName) for a Certificate."""
    cnpg = {
        name_of(obj) + suffix
        for obj in manifest
        if str(obj.get("apiVersion", "")).startswith(CNPG_GROUP) and obj.get("kind") == "Cluster"
        for suffix in _CLUSTER_SECRETS
    }
    certificates = {
        str(obj["spec"]["secretName"])
        for obj in manifest
        if str(obj.get("apiVersion", "")).startswith(CERT_MANAGER_GROUP) and obj.get("kind") == "Certificate"
    }
    return cnpg | certificates
