"""A collection of a distributed Qdrant, shard by shard.

In distributed mode a collection snapshot holds only the shards of the node that makes it, so a backup takes
one snapshot per shard, from a node holding an active replica of it, addressed directly (the Service in
front of the nodes would send each request to any of them). The manifest records the collection's
configuration; a restore creates the collection again with the same shard count, recovers each shard on one
node holding a replica of it (priority "snapshot": Qdrant then marks the shard's other replicas dead and
copies the recovered one to them), and waits until every replica is active again. A single-node Qdrant (the
verification's scratch server) takes the same backup: the same shards, all on itself, one copy each.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archangel_helm.backup.errors import BackupError, IntegrityError
from archangel_helm.backup.manifest import Artifact
from archangel_helm.backup.qdrant import QdrantClient

SHARD_FORMAT = "qdrant-shard-snapshot"
ACTIVE = "Active"
# Collection settings a new collection takes, as GET /collections/{name} reports them -> as PUT takes them.
_CONFIG_SECTIONS = {
    "hnsw_config": "hnsw_config",
    "optimizer_config": "optimizers_config",
    "wal_config": "wal_config",
    "quantization_config": "quantization_config",
}
_PARAMS = ("vectors", "sparse_vectors", "on_disk_payload")


@dataclass(frozen=True)
class ShardSource:
    shard_id: int
    peer_id: int | None  # None: a single node
    node: QdrantClient


class Nodes:
    """The nodes of the Qdrant behind `service`: each addressed directly, by the peer URIs of GET /cluster."""

    def __init__(self, service: QdrantClient) -> None:
        status = service.cluster()
        self.service = service
        self.distributed = status.get("status") == "enabled"
        self.peers: dict[int, QdrantClient] = {}
        if self.distributed:
            self.peers = {int(peer): service.node(info["uri"]) for peer, info in status.get("peers", {}).items()}
            self.answering = int(status["peer_id"])

    def node(self, peer_id: int | None) -> QdrantClient:
        if peer_id is None or not self.distributed:
            return self.service
        if peer_id not in self.peers:
            raise BackupError(f"Qdrant peer {peer_id} holds a shard but is not in the cluster's peer list")
        return self.peers[peer_id]

    def observer(self) -> QdrantClient:
        """One node to read a collection's shard layout from, consistently (not whichever the Service picks)."""
        return self.node(self.answering if self.distributed else None)


def replicas(layout: dict[str, Any]) -> dict[int, list[tuple[int | None, str]]]:
    """shard id -> [(peer id, state)] of every replica, from GET /collections/{name}/cluster."""
    found: dict[int, list[tuple[int | None, str]]] = defaultdict(list)
    for shard in layout.get("local_shards") or []:
        found[int(shard["shard_id"])].append((layout.get("peer_id"), str(shard["state"])))
    for shard in layout.get("remote_shards") or []:
        found[int(shard["shard_id"])].append((int(shard["peer_id"]), str(shard["state"])))
    return dict(found)


def shard_sources(nodes: Nodes, collection: str) -> list[ShardSource]:
    """For each shard, a node with an active replica of it; refuses a shard without one (its points would
    be missing from the backup without anyone noticing)."""
    layout = nodes.observer().collection_cluster(collection)
    found = replicas(layout)
    count = int(layout.get("shard_count") or len(found))
    if missing := [s for s in range(count) if s not in found]:
        raise BackupError(f"collection {collection}: shards {missing} have no replica on any node")
    sources = []
    for shard_id in sorted(found):
        active = [peer for peer, state in found[shard_id] if state == ACTIVE]
        if not active:
            states = ", ".join(f"peer {peer}: {state}" for peer, state in found[shard_id])
            raise BackupError(
                f"collection {collection}: shard {shard_id} has no active replica ({states}); a backup now would "
                "miss its points. Wait for the cluster to recover it (GET /collections/{name}/cluster)"
            )
        peer = layout.get("peer_id") if layout.get("peer_id") in active else active[0]
        sources.append(ShardSource(shard_id, peer if nodes.distributed else None, nodes.node(peer)))
    return sources


def creation_body(config: dict[str, Any], *, shard_number: int, replication_factor: int) -> dict[str, Any]:
    """PUT /collections/{name} for a collection configured as `config` (GET /collections/{name}'s)."""
    params = config.get("params") or {}
    if params.get("sharding_method") == "custom":
        raise BackupError("collections with custom sharding (shard keys) are not supported by these backups")
    body: dict[str, Any] = {key: params[key] for key in _PARAMS if params.get(key) is not None}
    body["shard_number"] = shard_number
    body["replication_factor"] = replication_factor
    body["write_consistency_factor"] = min(int(params.get("write_consistency_factor") or 1), replication_factor)
    for source, target in _CONFIG_SECTIONS.items():
        if config.get(source) is not None:
            body[target] = config[source]
    return body


def recover_collection(
    nodes: Nodes,
    collection: str,
    shards: list[tuple[Artifact, Path]],
    *,
    timeout_seconds: float = 900,
    log: Callable[[str], None] = print,
) -> int:
    """Create `collection` as the backup recorded it and recover every shard into it; the points it holds."""
    details = shards[0][0].details
    count = int(details["shard_count"])
    ids = sorted(int(artifact.details["shard_id"]) for artifact, _ in shards)
    if ids != list(range(count)):
        raise IntegrityError(f"collection {collection}: the backup holds shards {ids} of {count}")
    config = details["config"]
    recorded = int((config.get("params") or {}).get("replication_factor") or 1)
    copies = min(recorded, len(nodes.peers)) if nodes.distributed else 1
    service = nodes.service
    if service.collection_exists(collection):
        service.delete_collection(collection)  # the caller refused an occupied one unless forced
    service.create_collection(collection, creation_body(config, shard_number=count, replication_factor=copies))
    placed = replicas(nodes.observer().collection_cluster(collection))
    for artifact, snapshot in sorted(shards, key=lambda item: int(item[0].details["shard_id"])):
        shard_id = int(artifact.details["shard_id"])
        if shard_id not in placed:
            raise BackupError(f"collection {collection}: Qdrant placed no replica of shard {shard_id}")
        holder = placed[shard_id][0][0]
        nodes.node(holder).recover_shard_from_upload(collection, shard_id, snapshot)
        snapshot.unlink()
    _wait_until_active(nodes, collection, timeout_seconds, log)
    return service.points_count(collection)


def _wait_until_active(nodes: Nodes, collection: str, timeout_seconds: float, log: Callable[[str], None]) -> None:
    """Until every replica of every shard is active: the recovered one, and the copies Qdrant makes of it."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        found = replicas(nodes.observer().collection_cluster(collection))
        waiting = {s: [st for _, st in r if st != ACTIVE] for s, r in found.items()}
        waiting = {s: states for s, states in waiting.items() if states}
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise BackupError(
                f"collection {collection}: replicas still not active after {timeout_seconds:.0f} s: {waiting}"
            )
        log(f"vectorstore: {collection}: waiting for replicas to copy the recovered shards: {waiting}")
        time.sleep(2)
