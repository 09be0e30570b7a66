"""Qdrant's snapshot and cluster APIs (https://qdrant.tech/documentation/concepts/snapshots/,
https://qdrant.tech/documentation/guides/distributed_deployment/), as the backups use them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests

from archangel_helm.backup.errors import BackupError

TIMEOUT = (10, 3600)  # connect, read: a large collection's snapshot takes a while to create


class QdrantSnapshot(NamedTuple):
    name: str
    size: int | None  # bytes, as Qdrant reports it: sizes the upload's parts (S3 allows 10,000 of them)


@dataclass
class QdrantClient:
    url: str
    api_key: str | None = None
    ca_file: str | None = None  # https: the CA that signed Qdrant's certificate (else the system's CAs)

    def _headers(self) -> dict[str, str]:
        return {"api-key": self.api_key} if self.api_key else {}

    @property
    def _verify(self) -> str | bool:
        return self.ca_file or True

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = requests.request(
                method,
                self.url.rstrip("/") + path,
                headers=self._headers(),
                timeout=TIMEOUT,
                verify=self._verify,
                **kwargs,
            )
        except requests.RequestException as error:
            raise BackupError(f"Qdrant {method} {path}: {error}") from error
        if response.status_code >= 400:
            raise BackupError(f"Qdrant {method} {path}: HTTP {response.status_code}: {response.text[:300]}")
        return response

    def version(self) -> str:
        return str(self._request("GET", "/").json().get("version", "unknown"))

    def collections(self) -> list[str]:
        result = self._request("GET", "/collections").json()["result"]["collections"]
        return sorted(c["name"] for c in result)

    def collection_exists(self, name: str) -> bool:
        """True on 200, False on 404; anything else is an error: a 503 must not read as "absent" and let a
        restore replace a collection without --force."""
        try:
            response = requests.get(
                f"{self.url.rstrip('/')}/collections/{name}",
                headers=self._headers(),
                timeout=TIMEOUT,
                verify=self._verify,
            )
        except requests.RequestException as error:
            raise BackupError(f"Qdrant GET /collections/{name}: {error}") from error
        if response.status_code == 404:
            return False
        if response.status_code == 200:
            return True
        raise BackupError(f"Qdrant GET /collections/{name}: HTTP {response.status_code}: {response.text[:300]}")

    def points_count(self, name: str) -> int:
        return int(self._request("GET", f"/collections/{name}").json()["result"]["points_count"] or 0)

    def create_snapshot(self, collection: str) -> QdrantSnapshot:
        result = self._request("POST", f"/collections/{collection}/snapshots", params={"wait": "true"}).json()
        size = result["result"].get("size")
        return QdrantSnapshot(str(result["result"]["name"]), int(size) if size is not None else None)

    def download_snapshot(self, collection: str, snapshot: str) -> Iterator[bytes]:
        response = self._request("GET", f"/collections/{collection}/snapshots/{snapshot}", stream=True)
        yield from response.iter_content(chunk_size=1 << 20)

    def delete_snapshot(self, collection: str, snapshot: str) -> None:
        self._request("DELETE", f"/collections/{collection}/snapshots/{snapshot}", params={"wait": "true"})

    def recover_from_upload(self, collection: str, snapshot_file: Path) -> None:
        """Upload a snapshot into a collection, preferring the snapshot's data (the default, 'replica', would keep
        an empty collection empty)."""
        self._upload(f"/collections/{collection}/snapshots/upload", snapshot_file)

    def delete_collection(self, collection: str) -> None:
        self._request("DELETE", f"/collections/{collection}")

    # --- distributed mode ---------------------------------------------------------------------------------

    def cluster(self) -> dict[str, Any]:
        """GET /cluster: {"status": "disabled"} for a single node; else this node's peer id and every peer's URI."""
        result: dict[str, Any] = self._request("GET", "/cluster").json()["result"]
        return result

    def collection_info(self, collection: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/collections/{collection}").json()["result"]
        return result

    def collection_cluster(self, collection: str) -> dict[str, Any]:
        """Where the collection's shards are, as this node sees it: local_shards, remote_shards (peer_id, state)."""
        result: dict[str, Any] = self._request("GET", f"/collections/{collection}/cluster").json()["result"]
        return result

    def create_collection(self, collection: str, body: dict[str, Any]) -> None:
        self._request("PUT", f"/collections/{collection}", params={"wait": "true"}, json=body)

    def node(self, peer_uri: str) -> QdrantClient:
        """The same client, for the node a peer URI (its peer-to-peer address) names: that host, on this client's
        scheme and port, since every node serves its API on the same port (the chart's StatefulSet)."""
        peer, own = urlsplit(peer_uri), urlsplit(self.url)
        if not peer.hostname:
            raise BackupError(f"Qdrant peer URI {peer_uri!r} has no host")
        port = f":{own.port}" if own.port else ""
        return replace(self, url=f"{own.scheme}://{peer.hostname}{port}")

    def create_shard_snapshot(self, collection: str, shard: int) -> QdrantSnapshot:
        path = f"/collections/{collection}/shards/{shard}/snapshots"
        result = self._request("POST", path, params={"wait": "true"}).json()["result"]
        size = result.get("size")
        return QdrantSnapshot(str(result["name"]), int(size) if size is not None else None)

    def download_shard_snapshot(self, collection: str, shard: int, snapshot: str) -> Iterator[bytes]:
        path = f"/collections/{collection}/shards/{shard}/snapshots/{snapshot}"
        yield from self._request("GET", path, stream=True).iter_content(chunk_size=1 << 20)

    def delete_shard_snapshot(self, collection: str, shard: int, snapshot: str) -> None:
        self._request(
            "DELETE", f"/collections/{collection}/shards/{shard}/snapshots/{snapshot}", params={"wait": "true"}
        )

    def recover_shard_from_upload(self, collection: str, shard: int, snapshot_file: Path) -> None:
        """Recover this node's replica of a shard from a snapshot; priority 'snapshot' makes it the source the
        shard's other replicas then recover from (Qdrant marks them dead and transfers it)."""
        self._upload(f"/collections/{collection}/shards/{shard}/snapshots/upload", snapshot_file)

    def _upload(self, path: str, snapshot_file: Path) -> None:
        # priority is explicit: its default differs between Qdrant versions.
        with snapshot_file.open("rb") as handle:
            self._request(
                "POST",
                path,
                params={"priority": "snapshot", "wait": "true"},
                files={"snapshot": (snapshot_file.name, handle, "application/octet-stream")},
            )
