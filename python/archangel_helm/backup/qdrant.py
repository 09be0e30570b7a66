"""Qdrant's snapshot API (https://qdrant.tech/documentation/concepts/snapshots/), as the backups use it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import requests

from .errors import BackupError

TIMEOUT = (10, 3600)  # connect, read: a large collection's snapshot takes a while to create


class Snapshot(NamedTuple):
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

    def create_snapshot(self, collection: str) -> Snapshot:
        result = self._request("POST", f"/collections/{collection}/snapshots", params={"wait": "true"}).json()
        size = result["result"].get("size")
        return Snapshot(str(result["result"]["name"]), int(size) if size is not None else None)

    def download_snapshot(self, collection: str, snapshot: str) -> Iterator[bytes]:
        response = self._request("GET", f"/collections/{collection}/snapshots/{snapshot}", stream=True)
        yield from response.iter_content(chunk_size=1 << 20)

    def delete_snapshot(self, collection: str, snapshot: str) -> None:
        self._request("DELETE", f"/collections/{collection}/snapshots/{snapshot}", params={"wait": "true"})

    def recover_from_upload(self, collection: str, snapshot_file: Path) -> None:
        """Upload a snapshot into a collection, preferring the snapshot's data (the default, 'replica', would keep
        an empty collection empty)."""
        with snapshot_file.open("rb") as handle:
            self._request(
                "POST",
                f"/collections/{collection}/snapshots/upload",
                params={"priority": "snapshot", "wait": "true"},
                files={"snapshot": (snapshot_file.name, handle, "application/octet-stream")},
            )

    def delete_collection(self, collection: str) -> None:
        self._request("DELETE", f"/collections/{collection}")
