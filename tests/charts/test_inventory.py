"""The exact set of (kind, name) each shipped values file renders: an object appearing or disappearing is
always a deliberate change made here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import name_of
from archangel_helm.plan.shipped import ShippedValues
from tests.support.project import SHIPPED_VALUES

WORKLOAD_OBJECTS = {
    (kind, f"archangel-{component}")
    for component in ("core", "agents")
    for kind in ("ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget")
}
DATA_OBJECTS = {
    ("ServiceAccount", "archangel-postgresql"),
    ("Service", "archangel-postgresql"),
    ("Service", "archangel-postgresql-hl"),
    ("StatefulSet", "archangel-postgresql"),
    ("ConfigMap", "archangel-postgresql"),
    ("ServiceAccount", "archangel-qdrant"),
    ("ConfigMap", "archangel-qdrant"),
    ("Service", "archangel-qdrant"),
    ("Service", "archangel-qdrant-hl"),
    ("StatefulSet", "archangel-qdrant"),
    ("StorageClass", "fast-ssd"),
    ("StorageClass", "standard-ssd"),
    ("StorageClass", "scratch-ssd"),
}
SECRETS_HOOK = {
    (kind, "archangel-secrets-hook") for kind in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job")
}
NETWORK_POLICIES = {
    ("NetworkPolicy", f"archangel-{name}")
    for name in ("default-deny", "allow-dns", "core", "agents", "postgresql", "qdrant", "kube-api-clients", "helm-test")
}
HELM_TEST = {("Pod", "archangel-helm-test")}
MONITORS = {("ServiceMonitor", f"archangel-{name}") for name in ("core", "agents", "postgresql", "qdrant")}
INGRESS = {("Ingress", "archangel-core")}  # the custom-headers ConfigMap is opt-in
AUTOSCALERS = {("HorizontalPodAutoscaler", "archangel-agents"), ("VerticalPodAutoscaler", "archangel-core")}
BACKUPS = {
    ("ServiceAccount", "archangel-backup"),
    ("CronJob", "archangel-backup-database"),
    ("CronJob", "archangel-backup-vectorstore"),
    ("CronJob", "archangel-backup-verify"),
    ("CronJob", "archangel-backup-prune"),
    ("ServiceAccount", "archangel-backup-prune"),
    ("Job", "archangel-backup-check"),
    ("NetworkPolicy", "archangel-backup-jobs"),
    ("NetworkPolicy", "archangel-pushgateway-clients"),
    ("ServiceAccount", "archangel-volume-snapshots"),
    ("Role", "archangel-volume-snapshots"),
    ("RoleBinding", "archangel-volume-snapshots"),
    ("CronJob", "archangel-volume-snapshots"),
}
APP_STAGING = (
    BACKUPS
    | WORKLOAD_OBJECTS
    | DATA_OBJECTS
    | SECRETS_HOOK
    | AUTOSCALERS
    | NETWORK_POLICIES
    | MONITORS
    | INGRESS
    | HELM_TEST
)
# One per workload that accepts connections: portLevelMtls needs a workload selector, and selectors must not overlap.
PEER_AUTHENTICATIONS = {
    ("PeerAuthentication", f"archangel-{name}") for name in ("core", "agents", "postgresql", "qdrant")
}
BUILTIN_POSTGRESQL = {
    (kind, f"archangel-{name}")
    for kind, name in (("ServiceAccount", "postgresql"), ("Service", "postgresql"), ("Service", "postgresql-hl"),
                       ("StatefulSet", "postgresql"), ("ConfigMap", "postgresql"), ("ServiceMonitor", "postgresql"),
                       ("PeerAuthentication", "postgresql"))
}  # fmt: skip
# Production's PostgreSQL is a CloudNativePG Cluster: the operator runs the instances, their services and
# Secrets; the release renders what it asks of the operator, PgBouncer, the WAL archive's store and policies.
CLOUDNATIVEPG = {
    ("Cluster", "archangel-postgresql"),
    ("Pooler", "archangel-pgbouncer"),
    ("ObjectStore", "archangel-pg-object-store"),
    ("ScheduledBackup", "archangel-pg-base-backup"),
    ("PodMonitor", "archangel-postgresql"),
    ("PodMonitor", "archangel-pgbouncer"),
    ("NetworkPolicy", "archangel-pgbouncer"),
    ("PodDisruptionBudget", "archangel-pgbouncer"),
    ("PodDisruptionBudget", "archangel-qdrant"),  # Qdrant's distributed mode
}
# Production's clusters run cert-manager: it makes the data tier's CA and Qdrant's server certificate.
DATA_TLS_CERT_MANAGER = {
    ("Issuer", "archangel-data-ca-selfsigned"),
    ("Certificate", "archangel-data-ca"),
    ("Issuer", "archangel-data-ca"),
    ("Certificate", "archangel-qdrant-tls"),
}
APP_PRODUCTION = (
    (APP_STAGING - BUILTIN_POSTGRESQL)
    | CLOUDNATIVEPG
    | DATA_TLS_CERT_MANAGER
    | {
        ("PriorityClass", "archangel-critical"),
        ("PriorityClass", "archangel-high"),
        ("VirtualService", "archangel-core"),
        ("DestinationRule", "archangel-core"),
        ("NetworkPolicy", "archangel-allow-istiod"),
        ("VolumeSnapshotClass", "archangel-snapshots"),
    }
    | (PEER_AUTHENTICATIONS - BUILTIN_POSTGRESQL)
)
MONITORING_RULES = {
    ("PrometheusRule", f"archangel-monitoring-rules-{name}")
    for name in ("availability", "backups", "performance", "platform", "recording", "resources", "slo")
}
MONITORING_DASHBOARDS = {
    ("ConfigMap", f"archangel-monitoring-dashboard-{name}") for name in ("overview", "agents", "data")
}
MONITORING_PUSHGATEWAY = {
    (kind, "archangel-monitoring-pushgateway")
    for kind in ("ServiceAccount", "Service", "StatefulSet", "ServiceMonitor", "NetworkPolicy")
}
MONITORING_HEALTHCHECK = {
    (kind, "archangel-monitoring-healthcheck") for kind in ("ServiceAccount", "CronJob", "NetworkPolicy")
}
MONITORING_NETWORK = {("NetworkPolicy", f"archangel-monitoring-{name}") for name in ("default-deny", "allow-dns")}
MONITORING_HELM_TEST = {(kind, "archangel-monitoring-helm-test") for kind in ("Pod", "NetworkPolicy")}
MONITORING_PRODUCTION = (
    MONITORING_RULES
    | MONITORING_DASHBOARDS
    | MONITORING_PUSHGATEWAY
    | MONITORING_HEALTHCHECK
    | MONITORING_NETWORK
    | MONITORING_HELM_TEST
    | {("AlertmanagerConfig", "archangel-monitoring-alerting")}
)
MONITORING_STAGING = set(MONITORING_PRODUCTION)

EXPECTED = {
    "values/production.yaml": APP_PRODUCTION,
    "values/staging.yaml": APP_STAGING,
    "values/monitoring-production.yaml": MONITORING_PRODUCTION,
    "values/monitoring-staging.yaml": MONITORING_STAGING,
}


def test_every_shipped_values_file_has_an_inventory() -> None:
    assert {s.id for s in SHIPPED_VALUES if not s.id.startswith("charts/")} == set(EXPECTED)


@pytest.mark.parametrize("shipped", [s for s in SHIPPED_VALUES if s.id in EXPECTED], ids=lambda s: s.id)
def test_inventory(shipped: ShippedValues, render_shipped: Callable[..., Manifest]) -> None:
    manifest = render_shipped(shipped)
    identities = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in manifest}
    assert len(identities) == len(manifest), "two objects share a kind, namespace and name"
    assert manifest.refs() == EXPECTED[shipped.id]


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_claim_templates_carry_api_version_and_kind(shipped: ShippedValues) -> None:
    """The API server stores them with apiVersion and kind; a template without them is a permanent diff for
    Argo CD's server-side apply comparison."""
    for statefulset in shipped.render().of_kind("StatefulSet"):
        for claim in statefulset["spec"].get("volumeClaimTemplates") or []:
            assert (claim.get("apiVersion"), claim.get("kind")) == ("v1", "PersistentVolumeClaim"), name_of(statefulset)
