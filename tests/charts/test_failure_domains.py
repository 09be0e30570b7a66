"""Production against the loss of one node or one zone: every component a request of the API needs (core,
PgBouncer, the PostgreSQL instances, the Qdrant nodes) runs at least two copies, never two on one node, and
the stateful ones and PgBouncer never two in one zone (a hard spread: two database instances in one zone
could be the primary and the only replica that confirmed the last commits; two Qdrant nodes, both copies of a
shard). Voluntary disruptions take one at a time. Core, stateless with three replicas, spreads over zones
softly (losing a zone that happened to hold two of them leaves one serving)."""

from __future__ import annotations

from typing import Any

from archangel_helm import Manifest

ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"


def zone_spread(spread: list[dict[str, Any]]) -> dict[str, Any]:
    (zone,) = [c for c in spread if c["topologyKey"] == ZONE]
    return zone


def required_hosts(affinity: dict[str, Any]) -> list[str]:
    terms = affinity.get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    return [t["topologyKey"] for t in terms]


def test_the_database_instances_one_per_node_and_zone(production: Manifest) -> None:
    spec = production.get("Cluster", "archangel-postgresql")["spec"]
    assert spec["instances"] == 3
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["affinity"]["topologyKey"] == HOST
    spread = zone_spread(spec["topologySpreadConstraints"])
    assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    # A zone lost: the other two instances are the quorum (one synchronous standby confirms each commit).
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}


def test_pgbouncer_two_in_two_zones(production: Manifest) -> None:
    spec = production.get("Pooler", "archangel-pgbouncer")["spec"]
    assert spec["instances"] >= 2
    spread = zone_spread(spec["template"]["spec"]["topologySpreadConstraints"])
    assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    assert production.get("PodDisruptionBudget", "archangel-pgbouncer")["spec"]["maxUnavailable"] == 1


def test_qdrant_one_node_per_node_and_zone_each_shard_twice(production: Manifest) -> None:
    statefulset = production.get("StatefulSet", "archangel-qdrant")
    pod = statefulset["spec"]["template"]["spec"]
    assert statefulset["spec"]["replicas"] == 3
    assert required_hosts(pod["affinity"]) == [HOST]
    spread = zone_spread(pod["topologySpreadConstraints"])
    assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] == "2"
    assert production.get("PodDisruptionBudget", "archangel-qdrant")["spec"]["maxUnavailable"] == 1


def test_core_three_on_three_nodes_spread_over_zones(production: Manifest) -> None:
    deployment = production.get("Deployment", "archangel-core")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert required_hosts(pod["affinity"]) == [HOST]
    assert zone_spread(pod["topologySpreadConstraints"])["maxSkew"] == 1
    assert production.get("PodDisruptionBudget", "archangel-core")["spec"]["maxUnavailable"] == 1
