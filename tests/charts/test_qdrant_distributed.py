"""Qdrant's distributed mode (vectorStore.qdrant.replicas 3 or more; production runs 3): peers that find one
another, each shard on two nodes, one node per Kubernetes node across zones, drains one node at a time, and
the peer port open between the nodes only. Staging keeps a single node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, RenderError
from tests.charts.test_data_tier import env_of, template_of

RenderEnv = Callable[..., Manifest]
PEER = "https://{pod}.archangel-qdrant-hl.archangel.svc:6335"


def qdrant(manifest: Manifest) -> dict[str, Any]:
    return dict(template_of(manifest, "StatefulSet", "archangel-qdrant").containers()[0])


def test_production_runs_three_nodes_that_join_one_cluster(production: Manifest) -> None:
    statefulset = production.get("StatefulSet", "archangel-qdrant")
    assert statefulset["spec"]["replicas"] == 3
    # Parallel: a whole-cluster restart must not wait for pod 0's readiness, which waits for its peers.
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    container = qdrant(production)
    env = env_of(container)
    assert env["QDRANT__CLUSTER__ENABLED"] == "true"
    assert env["QDRANT__CLUSTER__P2P__PORT"] == "6335"
    assert env["QDRANT__CLUSTER__P2P__ENABLE_TLS"] == "true"  # mutual TLS between the peers, the same CA
    assert env["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] == "2"
    assert env["QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR"] == "1"
    script = container["args"][0]
    assert container["command"] == ["/bin/bash", "-c"]
    assert 'exec ./entrypoint.sh --uri "$self"' in script  # pod 0 starts the cluster
    assert f'--bootstrap "{PEER.format(pod="archangel-qdrant-0")}" --uri "$self"' in script  # the others join it
    assert f'self="{PEER.format(pod="${HOSTNAME}")}"' in script
    assert {"name": "p2p", "containerPort": 6335, "protocol": "TCP"} in container["ports"]
    headless = production.get("Service", "archangel-qdrant-hl")["spec"]
    assert headless["publishNotReadyAddresses"] is True  # a node must join before it can be ready
    assert {"name": "p2p", "port": 6335, "targetPort": "p2p", "protocol": "TCP"} in headless["ports"]


def test_the_peer_names_are_in_the_certificate(production: Manifest) -> None:
    names = production.get("Certificate", "archangel-qdrant-tls")["spec"]["dnsNames"]
    assert "*.archangel-qdrant-hl.archangel.svc" in names  # archangel-qdrant-1.archangel-qdrant-hl.archangel.svc
    usages = production.get("Certificate", "archangel-qdrant-tls")["spec"]["usages"]
    assert "client auth" in usages  # each peer presents it to the others


def test_one_node_per_kubernetes_node_spread_over_zones_and_drained_one_at_a_time(production: Manifest) -> None:
    spec = template_of(production, "StatefulSet", "archangel-qdrant").spec
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "qdrant"
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    budget = production.get("PodDisruptionBudget", "archangel-qdrant")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["unhealthyPodEvictionPolicy"] == "IfHealthyBudget"
    assert budget["selector"]["matchLabels"]["app.kubernetes.io/component"] == "qdrant"


def test_the_peer_port_is_open_between_the_nodes_only(production: Manifest, staging: Manifest) -> None:
    policy = production.get("NetworkPolicy", "archangel-qdrant")["spec"]
    own = policy["podSelector"]["matchLabels"]
    peer_rules = [r for r in policy["ingress"] if {"port": 6335, "protocol": "TCP"} in r["ports"]]
    assert [r["from"] for r in peer_rules] == [[{"podSelector": {"matchLabels": own}}]]
    assert policy["egress"] == [
        {"to": [{"podSelector": {"matchLabels": own}}], "ports": [{"port": 6335, "protocol": "TCP"}]}
    ]
    single = staging.get("NetworkPolicy", "archangel-qdrant")["spec"]
    assert single["egress"] == []
    assert not [r for r in single["ingress"] if {"port": 6335, "protocol": "TCP"} in r["ports"]]


def test_staging_keeps_a_single_node(staging: Manifest) -> None:
    statefulset = staging.get("StatefulSet", "archangel-qdrant")
    assert statefulset["spec"]["replicas"] == 1
    assert statefulset["spec"]["podManagementPolicy"] == "OrderedReady"
    container = qdrant(staging)
    assert "command" not in container
    assert "QDRANT__CLUSTER__ENABLED" not in env_of(container)
    assert staging.find("PodDisruptionBudget", "archangel-qdrant") is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"vectorStore.qdrant.replicas": 3, "vectorStore.qdrant.cluster.replicationFactor": 4},
            "vectorStore.qdrant.cluster.replicationFactor (4) is more than vectorStore.qdrant.replicas (3)",
        ),
        (
            {"vectorStore.qdrant.replicas": 3, "vectorStore.qdrant.cluster.writeConsistencyFactor": 3},
            "vectorStore.qdrant.cluster.writeConsistencyFactor (3) is more than",
        ),
        (
            {"vectorStore.qdrant.replicas": 3, "vectorStore.qdrant.cluster.maxUnavailable": 2},
            "vectorStore.qdrant.cluster.maxUnavailable (2) must be less than vectorStore.qdrant.cluster.replicationFactor (2)",
        ),
    ],
)
def test_impossible_clusters_are_refused_naming_the_field(
    render_env: RenderEnv, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("staging", "archangel", values)
    assert message in caught.value.helm_message


def test_two_nodes_are_refused_by_the_schema(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("staging", "archangel", {"vectorStore.qdrant.replicas": 2})
    assert "/vectorStore/qdrant/replicas" in caught.value.helm_message
