"""Qdrant backup, verification and restore: one collection snapshot per artifact from a single node; from a
distributed Qdrant, one snapshot per shard (qdrant_shards), each from a node holding an active replica."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archangel_helm.backup.catalog import Catalog
from archangel_helm.backup.crypto import PBKDF2_ITERATIONS
from archangel_helm.backup.errors import BackupError, IntegrityError, RefusedError
from archangel_helm.backup.manifest import Artifact, BackupManifest
from archangel_helm.backup.qdrant import QdrantClient
from archangel_helm.backup.qdrant_shards import SHARD_FORMAT, Nodes, recover_collection, shard_sources

TARGET = "vectorstore"


class _ChunkReader:
    """A file-like view of an iterator of byte chunks (the snapshot download)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def backup(catalog: Catalog, qdrant: QdrantClient, now: datetime | None = None) -> BackupManifest:
    """For each collection: create a snapshot, stream it through seal + upload, delete the node-local snapshot."""
    started = now or datetime.now(UTC)
    clock = time.monotonic()
    run = catalog.start(TARGET, started)
    backup_id = run.backup_id
    version = qdrant.version()
    collections = qdrant.collections()
    nodes = Nodes(qdrant)
    shape = f"distributed, {len(nodes.peers)} nodes" if nodes.distributed else "single node"
    catalog.log(
        f"vectorstore: backing up {len(collections)} collections from Qdrant {version} ({shape}) as {backup_id}"
    )
    artifacts: list[Artifact] = []
    try:
        for collection in collections:
            if nodes.distributed:
                artifacts += _backup_shards(catalog, run, nodes, collection)
            else:
                artifacts.append(_backup_collection(catalog, run, qdrant, collection))
    except BaseException:
        catalog.abandon(run)  # only what this run wrote
        raise
    manifest = BackupManifest(
        target=TARGET,
        backup_id=backup_id,
        started_at=started.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        duration_seconds=round(time.monotonic() - clock, 3),
        artifacts=artifacts,
        encryption={
            "cipher": "aes-256-cbc",
            "kdf": "pbkdf2-hmac-sha256",
            "iterations": catalog.iterations or PBKDF2_ITERATIONS,
            "format": "openssl enc (Salted__)",
            "mac": "hmac-sha256 over the ciphertext",
        },
        compression=catalog.compression_record(),
        versions={"qdrant": version},
        source={"url": qdrant.url, "collections": collections, "distributed": nodes.distributed},
    )
    try:
        catalog.commit(manifest, run)
    except BaseException:
        catalog.abandon(run)
        raise
    catalog.log(
        f"vectorstore: backup {backup_id} complete: {len(collections)} collections in {len(artifacts)} snapshots, "
        f"{manifest.total_bytes:,} bytes"
    )
    return manifest


def _backup_collection(catalog: Catalog, run: Any, qdrant: QdrantClient, collection: str) -> Artifact:
    points = qdrant.points_count(collection)
    snapshot = qdrant.create_snapshot(collection)
    try:
        return catalog.seal(
            run,
            _ChunkReader(qdrant.download_snapshot(collection, snapshot.name)),
            name=collection,
            file_name=f"{collection}.snapshot{catalog.suffix}",
            format_="qdrant-snapshot",
            # Without a size the parts default to 16 MiB, which caps an object at ~156 GiB.
            expected_bytes=snapshot.size,
            details={"points_count": points, "snapshot": snapshot.name},
        )
    finally:
        qdrant.delete_snapshot(collection, snapshot.name)  # snapshots fill the data volume if left


def _backup_shards(catalog: Catalog, run: Any, nodes: Nodes, collection: str) -> list[Artifact]:
    """Every shard of a distributed collection, each snapshotted on a node with an active replica of it.

    The shards' snapshots are all made first (as close to one moment as the API allows), then streamed out: a
    collection that is written meanwhile is captured within the point counts read before and after them, which
    the manifest records as the range a restore must land in."""
    config = nodes.service.collection_info(collection)["config"]
    sources = shard_sources(nodes, collection)
    before = nodes.service.points_count(collection)
    made: list[tuple[Any, Any]] = []
    try:
        for source in sources:
            made.append((source, source.node.create_shard_snapshot(collection, source.shard_id)))
        after = nodes.service.points_count(collection)
        artifacts = []
        for source, snapshot in made:
            artifacts.append(
                catalog.seal(
                    run,
                    _ChunkReader(source.node.download_shard_snapshot(collection, source.shard_id, snapshot.name)),
                    name=f"{collection}/shard-{source.shard_id}",
                    file_name=f"{collection}.shard-{source.shard_id}.snapshot{catalog.suffix}",
                    format_=SHARD_FORMAT,
                    expected_bytes=snapshot.size,
                    details={
                        "collection": collection,
                        "shard_id": source.shard_id,
                        "shard_count": len(sources),
                        "points_count": after,
                        "points_count_range": [min(before, after), max(before, after)],
                        "peer_id": source.peer_id,
                        "snapshot": snapshot.name,
                        "config": config,  # what a restore creates the collection with again
                    },
                )
            )
        return artifacts
    finally:
        for source, snapshot in made:  # node-local snapshots fill the data volume if left
            source.node.delete_shard_snapshot(collection, source.shard_id, snapshot.name)


def collection_of(artifact: Artifact) -> str:
    return str(artifact.details.get("collection", artifact.name))


def _collections(manifest: BackupManifest, wanted: list[str] | None) -> dict[str, list[Artifact]]:
    """collection -> its artifacts (one snapshot, or one per shard), for the named collections or all."""
    groups: dict[str, list[Artifact]] = {}
    for artifact in manifest.artifacts:
        groups.setdefault(collection_of(artifact), []).append(artifact)
    if unknown := [name for name in wanted or [] if name not in groups]:
        raise IntegrityError(f"backup {manifest.backup_id} has no collection {unknown} (it has {sorted(groups)})")
    return {name: groups[name] for name in wanted} if wanted else groups


def _unsealed_snapshot(catalog: Catalog, manifest: BackupManifest, artifact: Artifact, workdir: Path) -> Path:
    """Fetch one collection's object, check its HMAC and digest, decrypt it: the snapshot file, ready to upload."""
    snapshot = workdir / f"{artifact.name.replace('/', '.')}.snapshot"
    catalog.fetch_plain(manifest, artifact, snapshot)
    return snapshot


def _recover(qdrant: QdrantClient, artifact: Artifact, snapshot: Path, collection: str) -> int:
    qdrant.recover_from_upload(collection, snapshot)
    snapshot.unlink()
    points = qdrant.points_count(collection)
    expected = int(artifact.details.get("points_count", -1))
    if points != expected:
        raise IntegrityError(f"collection {collection}: {points} points after recovery, the backup recorded {expected}")
    return points


def _recover_group(
    catalog: Catalog, nodes: Nodes, artifacts: list[Artifact], snapshots: dict[str, Path], collection: str
) -> int:
    """Recover one collection (under the name `collection`) from its snapshot or its shards' snapshots."""
    if artifacts[0].format != SHARD_FORMAT:
        if nodes.distributed:
            raise RefusedError(
                f"backup of collection {collection_of(artifacts[0])} comes from a single-node Qdrant; recovering it "
                "into a distributed one would leave it on one node without replicas. Restore it into a single "
                "node, or create the collection in the cluster and copy its points"
            )
        return _recover(nodes.service, artifacts[0], snapshots[artifacts[0].name], collection)
    points = recover_collection(nodes, collection, [(a, snapshots[a.name]) for a in artifacts], log=catalog.log)
    details = artifacts[0].details
    low, high = details.get("points_count_range") or [details.get("points_count", -1)] * 2
    if not int(low) <= points <= int(high):
        raise IntegrityError(
            f"collection {collection}: {points} points after recovery, the backup recorded {low}"
            + (f" to {high} (written while its shards were snapshotted)" if high != low else "")
        )
    return points


def restore(
    catalog: Catalog,
    qdrant: QdrantClient,
    backup_id: str,
    *,
    collections: list[str] | None = None,
    force: bool = False,
    workdir: Path | None = None,
) -> dict[str, int]:
    """Recover collections from a backup (all, or the named ones), refusing non-empty ones unless forced.

    All or nothing up to the first upload: every named collection must exist in the backup, every target must be
    empty (or --force), and every object must pass its HMAC and digest and decrypt, before any collection is
    touched. The price is disk: all snapshots of the restore sit decrypted in the work directory at once."""
    backup_id = catalog.resolve(TARGET, backup_id)
    manifest = catalog.manifest(TARGET, backup_id)
    catalog.derive_keys_ahead(manifest)
    groups = _collections(manifest, collections)  # an unknown name fails here, before any work
    nodes = Nodes(qdrant)
    occupied = [n for n in groups if qdrant.collection_exists(n) and qdrant.points_count(n) > 0]
    if occupied and not force:
        raise RefusedError(f"collections {occupied} already have points; recovering would replace them. Pass --force")
    restored = {}
    with tempfile.TemporaryDirectory(prefix="archangel-restore-", dir=workdir) as tmp:
        snapshots = {
            a.name: _unsealed_snapshot(catalog, manifest, a, Path(tmp)) for group in groups.values() for a in group
        }
        catalog.log(f"vectorstore: {len(groups)} collection(s) of {backup_id} verified and decrypted")
        for index, (collection, artifacts) in enumerate(groups.items(), 1):
            restored[collection] = _recover_group(catalog, nodes, artifacts, snapshots, collection)
            catalog.log(
                f"vectorstore: [{index}/{len(groups)}] recovered {collection} from {backup_id}: "
                f"{restored[collection]:,} points"
            )
    return restored


def verify_restore(catalog: Catalog, qdrant: QdrantClient, backup_id: str) -> dict[str, int]:
    """Recover every collection into a scratch collection, compare point counts, delete the scratch copies."""
    backup_id = catalog.resolve(TARGET, backup_id)
    manifest = catalog.manifest(TARGET, backup_id)
    catalog.derive_keys_ahead(manifest)
    started = time.monotonic()
    nodes = Nodes(qdrant)
    results = {}
    for collection, artifacts in _collections(manifest, None).items():
        scratch = f"archangel_verify_{backup_id.lower()}_{collection}"
        try:
            with tempfile.TemporaryDirectory(prefix="archangel-verify-") as tmp:
                snapshots = {a.name: _unsealed_snapshot(catalog, manifest, a, Path(tmp)) for a in artifacts}
                results[collection] = _recover_group(catalog, nodes, artifacts, snapshots, scratch)
        finally:
            if qdrant.collection_exists(scratch):
                qdrant.delete_collection(scratch)
    if not manifest.artifacts:
        raise BackupError(f"backup {backup_id} holds no collections to verify")
    catalog.record_verified(
        manifest,
        {
            "verified_at": datetime.now(UTC).isoformat(),
            "method": "recover into scratch collections",
            "collections": results,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    catalog.log(f"vectorstore: backup {backup_id} verified by recovery: {results}")
    return results
