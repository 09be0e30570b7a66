"""What operators make from the release's custom resources, for the object-graph checks: the pods a
CloudNativePG Cluster or Pooler runs (their labels and ports, as the operator sets them) and the Secrets the
operator creates. A NetworkPolicy or PodMonitor selecting those pods, or a workload mounting the operator's CA,
refers to something real, though the release never renders it.

These stand-ins are used only where the graph asks "which pods carry these labels, on which ports": the policy
checks (security context, resources, probes) never see them; the operator owns those pods' spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..manifest import K8sObject, Manifest, PodTemplate, name_of

CNPG_GROUP = "postgresql.cnpg.io/"
# CloudNativePG's instance and pooler containers and their named ports (operator v1.30).
_INSTANCE_PORTS = [{"name": "postgresql", "containerPort": 5432}, {"name": "metrics", "containerPort": 9187},
                   {"name": "status", "containerPort": 8000}]  # fmt: skip
_POOLER_PORTS = [{"name": "pgbouncer", "containerPort": 5432}, {"name": "metrics", "containerPort": 9127}]
# Secrets the operator creates for every Cluster: its CA (ca.crt, ca.key), the server's and the replication
# user's certificates.
_CLUSTER_SECRETS = ("-ca", "-server", "-replication")


def _stand_in(source: K8sObject, labels: dict[str, str], container: str, ports: list[dict[str, Any]]) -> PodTemplate:
    owner: K8sObject = {
        "apiVersion": source.get("apiVersion"),
        "kind": source.get("kind"),
        "metadata": dict(source.get("metadata") or {}),
        "podTemplate": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": container, "ports": ports}]}},
    }
    return PodTemplate(owner, ("podTemplate",))


def operator_pod_templates(manifest: Manifest) -> Iterator[PodTemplate]:
    for obj in manifest:
        if not str(obj.get("apiVersion", "")).startswith(CNPG_GROUP):
            continue
        if obj.get("kind") == "Cluster":
            labels = {"cnpg.io/cluster": name_of(obj), "cnpg.io/podRole": "instance"}
            yield _stand_in(obj, labels, "postgres", _INSTANCE_PORTS)
        elif obj.get("kind") == "Pooler":
            cluster = str(((obj.get("spec") or {}).get("cluster") or {}).get("name", ""))
            labels = {"cnpg.io/poolerName": name_of(obj), "cnpg.io/podRole": "pooler", "cnpg.io/cluster": cluster}
            yield _stand_in(obj, labels, "pgbouncer", _POOLER_PORTS)


def selectable_pod_templates(manifest: Manifest) -> list[PodTemplate]:
    """The release's pod templates and the operators' pods: what a selector may legitimately name."""
    return [*manifest.pod_templates(), *operator_pod_templates(manifest)]


def operator_secrets(manifest: Manifest) -> set[str]:
    return {
        name_of(obj) + suffix
        for obj in manifest
        if str(obj.get("apiVersion", "")).startswith(CNPG_GROUP) and obj.get("kind") == "Cluster"
        for suffix in _CLUSTER_SECRETS
    }
