"""Qdrant backup (one collection snapshot per artifact), verification and restore."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .crypto import PBKDF2_ITERATIONS
from .errors import BackupError, IntegrityError, RefusedError
from .manifest import Artifact, BackupManifest
from .qdrant import QdrantClient

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
    catalog.log(f"vectorstore: backing up {len(collections)} collections from Qdrant {version} as {backup_id}")
    artifacts: list[Artifact] = []
    try:
        for collection in collections:
            points = qdrant.points_count(collection)
            snapshot = qdrant.create_snapshot(collection)
            try:
                artifacts.append(
                    catalog.seal(
                        run,
                        _ChunkReader(qdrant.download_snapshot(collection, snapshot.name)),
                        name=collection,
                        file_name=f"{collection}.snapshot{catalog.suffix}",
                        format_="qdrant-snapshot",
                        # Without a size the parts default to 16 MiB, which caps an object at ~156 GiB.
                        expected_bytes=snapshot.size,
                        details={"points_count": points, "snapshot": snapshot.name},
                    )
                )
            finally:
                qdrant.delete_snapshot(collection, snapshot.name)  # snapshots fill the data volume if left
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
        source={"url": qdrant.url, "collections": collections},
    )
    try:
        catalog.commit(manifest, run)
    except BaseException:
        catalog.abandon(run)
        raise
    catalog.log(
        f"vectorstore: backup {backup_id} complete: {len(artifacts)} collections, {manifest.total_bytes:,} bytes"
    )
    return manifest


def _unsealed_snapshot(catalog: Catalog, manifest: BackupManifest, artifact: Artifact, workdir: Path) -> Path:
    """Fetch one collection's object, check its HMAC and digest, decrypt it: the snapshot file, ready to upload."""
    snapshot = workdir / f"{artifact.name}.snapshot"
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


def _restore_collection(
    catalog: Catalog,
    qdrant: QdrantClient,
    manifest: BackupManifest,
    artifact: Artifact,
    *,
    collection: str,
    workdir: Path,
) -> int:
    return _recover(qdrant, artifact, _unsealed_snapshot(catalog, manifest, artifact, workdir), collection)


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
    wanted = collections or [a.name for a in manifest.artifacts]
    artifacts = [manifest.artifact(name) for name in wanted]  # an unknown name fails here, before any work
    occupied = [n for n in wanted if qdrant.collection_exists(n) and qdrant.points_count(n) > 0]
    if occupied and not force:
        raise RefusedError(f"collections {occupied} already have points; recovering would replace them. Pass --force")
    restored = {}
    with tempfile.TemporaryDirectory(prefix="archangel-restore-", dir=workdir) as tmp:
        snapshots = {a.name: _unsealed_snapshot(catalog, manifest, a, Path(tmp)) for a in artifacts}
        catalog.log(f"vectorstore: {len(snapshots)} collection(s) of {backup_id} verified and decrypted")
        for index, artifact in enumerate(artifacts, 1):
            restored[artifact.name] = _recover(qdrant, artifact, snapshots[artifact.name], artifact.name)
            catalog.log(
                f"vectorstore: [{index}/{len(artifacts)}] recovered {artifact.name} from {backup_id}: "
                f"{restored[artifact.name]:,} points"
            )
    return restored


def verify_restore(catalog: Catalog, qdrant: QdrantClient, backup_id: str) -> dict[str, int]:
    """Recover every collection into a scratch collection, compare point counts, delete the scratch copies."""
    backup_id = catalog.resolve(TARGET, backup_id)
    manifest = catalog.manifest(TARGET, backup_id)
    catalog.derive_keys_ahead(manifest)
    started = time.monotonic()
    results = {}
    for artifact in manifest.artifacts:
        scratch = f"archangel_verify_{backup_id.lower()}_{artifact.name}"
        try:
            with tempfile.TemporaryDirectory(prefix="archangel-verify-") as tmp:
                results[artifact.name] = _restore_collection(
                    catalog, qdrant, manifest, artifact, collection=scratch, workdir=Path(tmp)
                )
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
