"""A local stand-in for a distributed Qdrant (or, with one node and cluster off, a single node with shards), for
tests only: the cluster and shard-snapshot API the backups use, with Qdrant's documented semantics
(https://qdrant.tech/documentation/guides/distributed_deployment/, .../concepts/snapshots/):

- GET /cluster names every peer by its peer-to-peer URI; GET /collections/{c}/cluster shows the shards as the
  answering node sees them (local_shards with points and state, remote_shards with peer_id and state).
- A collection's points are split over shard_number shards (by point id); each shard has replication_factor
  replicas on distinct nodes.
- A shard snapshot can only be made, downloaded or recovered on a node holding a replica of that shard.
- Recovering a replica with priority "snapshot" makes it active with the snapshot's points and marks the shard's
  other replicas dead; they are then copied from it, a moment later (Qdrant's shard transfer), and active again.

Each node is its own HTTP server on the same port, node i on 127.0.0.(i+1) (all loopback: nothing leaves the
machine), because Qdrant's nodes share one API port and differ by host: what the backup engine relies on to
reach a node from its peer URI. It is not Qdrant: a snapshot is a tar of the points as JSON.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.qdrant_standin import VERSION, Handler, points_from_snapshot, snapshot_bytes

TRANSFER_SECONDS = 0.5  # how long a dead replica takes to be copied from the recovered one


@dataclass
class Replica:
    points: list[dict[str, Any]]
    state: str = "Active"


@dataclass
class Collection:
    config: dict[str, Any]
    shards: dict[int, dict[int, Replica]]  # shard id -> peer id -> replica

    @property
    def shard_number(self) -> int:
        return int(self.config["params"]["shard_number"])

    def points_count(self) -> int:
        total = 0
        for replicas in self.shards.values():
            active = [r for r in replicas.values() if r.state == "Active"]
            total += len(active[0].points) if active else 0
        return total


@dataclass
class ClusterState:
    api_key: str
    peers: dict[int, str]  # peer id -> peer URI
    enabled: bool
    default_replication_factor: int = 1
    collections: dict[str, Collection] = field(default_factory=dict)
    snapshots: dict[tuple[int, str, int], dict[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[int, str, str]] = field(default_factory=list)  # (peer, method, path)
    # Called after each shard snapshot is taken (collection, shard): what a test writes while a backup runs.
    after_snapshot: list[Callable[[str, int], None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create(self, name: str, body: dict[str, Any]) -> Collection:
        peers = sorted(self.peers)
        shard_number = int(body.get("shard_number") or len(peers))
        factor = int(body.get("replication_factor") or self.default_replication_factor)
        if factor > len(peers):
            raise ValueError(f"replication_factor {factor} is more than the {len(peers)} peers")
        params = {
            "vectors": body.get("vectors", {"size": 2, "distance": "Cosine"}),
            "shard_number": shard_number,
            "replication_factor": factor,
            "write_consistency_factor": int(body.get("write_consistency_factor") or 1),
            "on_disk_payload": bool(body.get("on_disk_payload", True)),
        }
        config = {
            "params": params,
            "hnsw_config": body.get("hnsw_config", {"m": 16, "ef_construct": 100}),
            "optimizer_config": body.get("optimizers_config", {"deleted_threshold": 0.2}),
            "wal_config": body.get("wal_config", {"wal_capacity_mb": 32}),
            "quantization_config": body.get("quantization_config"),
        }
        shards = {
            shard: {peers[(shard + k) % len(peers)]: Replica([]) for k in range(factor)}
            for shard in range(shard_number)
        }
        self.collections[name] = Collection(config, shards)
        return self.collections[name]

    def seed(self, name: str, points: list[dict[str, Any]], **body: Any) -> Collection:
        collection = self.create(name, body)
        for point in points:
            for replica in collection.shards[int(point["id"]) % collection.shard_number].values():
                replica.points.append(point)
        return collection


class NodeHandler(Handler):
    cluster: ClusterState
    peer_id: int

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.cluster.lock:
            self.cluster.requests.append((self.peer_id, method, url.path))
        if self.headers.get("api-key") != self.cluster.api_key and url.path not in {"/", "/readyz", "/livez"}:
            self._reply(401, {"error": "Must provide an API key or an Authorization bearer token"})
            return
        with self.cluster.lock:
            self._dispatch(method, parts, query)

    def _dispatch(self, method: str, parts: list[str], query: dict[str, str]) -> None:
        state = self.cluster
        if method == "GET" and not parts:
            self._reply(200, raw=json.dumps({"title": "qdrant - vector search engine", "version": VERSION}).encode())
        elif method == "GET" and parts == ["cluster"]:
            if not state.enabled:
                self._reply(200, {"status": "disabled"})
            else:
                peers = {str(p): {"uri": uri} for p, uri in state.peers.items()}
                self._reply(200, {"status": "enabled", "peer_id": self.peer_id, "peers": peers})
        elif method == "GET" and parts == ["collections"]:
            self._reply(200, {"collections": [{"name": n} for n in sorted(state.collections)]})
        elif len(parts) == 2 and parts[0] == "collections":
            self._collection_api(method, parts[1])
        elif len(parts) == 3 and parts[0] == "collections" and parts[2] == "cluster" and method == "GET":
            self._layout(parts[1])
        elif len(parts) >= 5 and parts[0] == "collections" and parts[2] == "shards" and parts[4] == "snapshots":
            self._shard_snapshots(method, parts[1], int(parts[3]), parts[5:], query)
        else:
            self._reply(404, {"error": f"no route {method} /{'/'.join(parts)}"})

    def _collection_api(self, method: str, name: str) -> None:
        state = self.cluster
        if method == "PUT":
            if name in state.collections:
                self._reply(400, {"error": f"Wrong input: Collection `{name}` already exists!"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            try:
                state.create(name, json.loads(self.rfile.read(length) or b"{}"))
            except ValueError as error:
                self._reply(400, {"error": str(error)})
                return
            self._reply(200, True)
        elif name not in state.collections:
            self._reply(404, {"error": f"Collection `{name}` doesn't exist!"})
        elif method == "GET":
            collection = state.collections[name]
            self._reply(
                200, {"status": "green", "points_count": collection.points_count(), "config": collection.config}
            )
        elif method == "DELETE":
            del state.collections[name]
            self._reply(200, True)
        else:
            self._reply(405, {"error": method})

    def _layout(self, name: str) -> None:
        if name not in self.cluster.collections:
            self._reply(404, {"error": f"Collection `{name}` doesn't exist!"})
            return
        collection = self.cluster.collections[name]
        local, remote = [], []
        for shard, replicas in sorted(collection.shards.items()):
            for peer, replica in sorted(replicas.items()):
                if peer == self.peer_id:
                    local.append({"shard_id": shard, "points_count": len(replica.points), "state": replica.state})
                else:
                    remote.append({"shard_id": shard, "peer_id": peer, "state": replica.state})
        self._reply(
            200,
            {
                "peer_id": self.peer_id,
                "shard_count": collection.shard_number,
                "local_shards": local,
                "remote_shards": remote,
                "shard_transfers": [],
            },
        )

    def _shard_snapshots(self, method: str, name: str, shard: int, rest: list[str], query: dict[str, str]) -> None:
        state = self.cluster
        collection = state.collections.get(name)
        replica = collection.shards.get(shard, {}).get(self.peer_id) if collection else None
        if collection is None or replica is None:
            self._reply(404, {"error": f"Shard {shard} of {name} is not on peer {self.peer_id}"})
            return
        stored = state.snapshots.setdefault((self.peer_id, name, shard), {})
        if method == "POST" and rest == ["upload"]:
            self._recover(collection, name, shard, query.get("priority"))
        elif method == "POST" and not rest:
            if replica.state != "Active":
                self._reply(500, {"error": f"Shard {shard} is not active on peer {self.peer_id}"})
                return
            data = snapshot_bytes(f"{name}/shard-{shard}", replica.points)
            snapshot = f"{name}-shard-{shard}-{self.peer_id}-{len(stored)}-{time.strftime('%H-%M-%S')}.snapshot"
            stored[snapshot] = data
            for hook in state.after_snapshot:
                hook(name, shard)
            self._reply(200, {"name": snapshot, "size": len(data), "checksum": hashlib.sha256(data).hexdigest()})
        else:
            self._stored_snapshot(method, rest, stored)

    def _recover(self, collection: Collection, name: str, shard: int, priority: str | None) -> None:
        data = self._uploaded_snapshot()
        if data is None or priority not in {"snapshot", "replica", "no_sync"}:
            self._reply(400, {"error": "a 'snapshot' file and an explicit priority are required"})
            return
        points = points_from_snapshot(data)
        if any(int(p["id"]) % collection.shard_number != shard for p in points):
            self._reply(400, {"error": f"the snapshot's points do not belong to shard {shard}"})
            return
        replicas = collection.shards[shard]
        replicas[self.peer_id] = Replica(points, "Active")
        if priority == "snapshot":
            others = [peer for peer in replicas if peer != self.peer_id]
            for peer in others:
                replicas[peer].state = "Dead"
            if others:
                threading.Timer(TRANSFER_SECONDS, self._transfer, (name, shard, self.peer_id)).start()
        self._reply(200, True)

    def do_PUT(self) -> None:
        self._route("PUT")

    def _transfer(self, name: str, shard: int, source: int) -> None:
        """Qdrant's automatic recovery of dead replicas: a copy of the recovered one."""
        with self.cluster.lock:
            collection = self.cluster.collections.get(name)
            if collection is None:
                return
            replicas = collection.shards[shard]
            for peer, replica in replicas.items():
                if peer != source and replica.state == "Dead":
                    replicas[peer] = Replica(list(replicas[source].points), "Active")


class QdrantClusterStandIn:
    """`nodes` Qdrant nodes; the first one's URL stands for the Service in front of them."""

    def __init__(self, api_key: str, nodes: int = 3, *, enabled: bool = True, replication_factor: int = 1) -> None:
        port = _free_port()
        self.servers: list[ThreadingHTTPServer] = []
        peers = {}
        for index in range(nodes):
            peer_id = 1000 + index
            host = f"127.0.0.{index + 1}"
            peers[peer_id] = f"http://{host}:6335/"
            self.servers.append(ThreadingHTTPServer((host, port), type("Node", (NodeHandler,), {"peer_id": peer_id})))
        self.state = ClusterState(api_key, peers, enabled, replication_factor)
        for server in self.servers:
            server.RequestHandlerClass.cluster = self.state  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}"
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]

    def __enter__(self) -> QdrantClusterStandIn:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _free_port() -> int:
    """A port free on 127.0.0.1; the other loopback addresses have nothing bound on it either."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
