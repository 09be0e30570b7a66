"""Production against the loss of one node or one zone: every component a request of the API needs (core,
PgBouncer, the PostgreSQL instances, the Qdrant nodes) runs at least two copies, never two on one node, and
the stateful ones and PgBouncer never two in one zone (a hard spread: two database instances in one zone
could be the primary and the only replica that confirmed the last commits; two Qdrant nodes, both copies of a
shard). Voluntary disruptions take one at a time. Core, stateless with three replicas, spreads over zones
softly (losing a zone that happened to hold two of them leaves one serving)."""

from __future__ import annotations

from archangel_helm import Manifest
from archangel_helm.testing import assertions as a

HOST = "kubernetes.io/hostname"
# The zone constraint of a topologySpreadConstraints list; a list without one fails naming the keys there.
ZONE_SPREAD = 'topologySpreadConstraints[?topologyKey=="topology.kubernetes.io/zone"]'
HARD = {"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}
REQUIRED_HOSTS = "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[*].topologyKey"
ONE_AT_A_TIME = "spec.maxUnavailable"


def test_the_database_instances_one_per_node_and_zone(production: Manifest) -> None:
    cluster = a.one(production, "Cluster", "archangel-postgresql")
    a.equal(cluster, "spec.instances", 3)
    a.is_subset(cluster, "spec.affinity", {"podAntiAffinityType": "required", "topologyKey": HOST})
    a.is_subset(cluster, f"spec.{ZONE_SPREAD}", HARD)
    # A zone lost: the other two instances are the quorum (one synchronous standby confirms each commit).
    a.equal(cluster, "spec.postgresql.synchronous", {"method": "any", "number": 1, "dataDurability": "required"})


def test_pgbouncer_two_in_two_zones(production: Manifest) -> None:
    pooler = a.one(production, "Pooler", "archangel-pgbouncer")
    a.greater_or_equal(pooler, "spec.instances", 2)
    a.is_subset(pooler, f"spec.template.spec.{ZONE_SPREAD}", HARD)
    a.equal(a.one(production, "PodDisruptionBudget", "archangel-pgbouncer"), ONE_AT_A_TIME, 1)


def test_qdrant_one_node_per_node_and_zone_each_shard_twice(production: Manifest) -> None:
    qdrant = a.one(production, "StatefulSet", "archangel-qdrant")
    a.equal(qdrant, "spec.replicas", 3)
    a.length_equal(
        qdrant, "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution", 1
    )
    a.equal(qdrant, f"spec.template.spec.{REQUIRED_HOSTS}", HOST)
    a.is_subset(qdrant, f"spec.template.spec.{ZONE_SPREAD}", HARD)
    env = 'spec.template.spec.containers[0].env[?name=="QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"].value'
    a.equal(qdrant, env, "2")
    a.equal(a.one(production, "PodDisruptionBudget", "archangel-qdrant"), ONE_AT_A_TIME, 1)


def test_core_three_on_three_nodes_spread_over_zones(production: Manifest) -> None:
    core = a.one(production, "Deployment", "archangel-core")
    a.equal(core, "spec.replicas", 3)
    a.length_equal(
        core, "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution", 1
    )
    a.equal(core, f"spec.template.spec.{REQUIRED_HOSTS}", HOST)
    a.equal(core, f"spec.template.spec.{ZONE_SPREAD}.maxSkew", 1)
    a.equal(a.one(production, "PodDisruptionBudget", "archangel-core"), ONE_AT_A_TIME, 1)
