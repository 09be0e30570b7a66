"""Uploads that fail end with the error instead of hanging, and uploads are sized so large data fits S3's part limit.

The upload stops reading the sealed stream, so the compress and encrypt stages block on full queues and
pg_dump blocks writing to its pipe; the process must not wait on any of them. `head -c` of /dev/urandom stands
in for pg_dump (incompressible, more than the queues and the pipe hold).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO, Any

import pytest

from archangel_helm.backup import database
from archangel_helm.backup.catalog import BackupRun, Catalog
from archangel_helm.backup.errors import BackupError
from archangel_helm.backup.keys import BackupKeys
from archangel_helm.backup.postgres import Connection


class FailingStore:
    """Reads 1 MiB of the upload, then fails as a dropped connection would."""

    def __init__(self) -> None:
        self.config = type("Config", (), {"bucket": "backups"})()

    def key(self, *parts: str) -> str:
        return "/".join(parts)

    def upload_stream(self, key: str, stream: IO[bytes], expected_bytes: int | None = None) -> None:
        stream.read(1 << 20)
        raise BackupError(f"upload of s3://backups/{key} failed: connection reset")


def test_a_failed_upload_stops_the_dump_and_raises_instead_of_hanging(tmp_path: Path) -> None:
    catalog = Catalog(FailingStore(), BackupKeys(b"e" * 32, b"m" * 32), iterations=1000, log=lambda _: None)  # type: ignore[arg-type]
    connection = Connection("127.0.0.1", 5432, "postgres", "app")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            database._seal_command(
                catalog,
                BackupRun("database", "20261128T000000Z-0a1b2c3d"),
                connection,
                ["head", "-c", "400000000", "/dev/urandom"],
                name="database",
                file_name="database.dump.zst.enc",
                format_="pg_dump custom",
                expected=None,
                details={},
            )
        except BaseException as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the backup hung after its upload failed"
    assert isinstance(outcome.get("error"), BackupError)
    assert "connection reset" in str(outcome["error"])
    stages = [t for t in threading.enumerate() if t.name in ("backup-compress", "backup-encrypt")]
    assert stages == [], "the compress/encrypt stages were left running"


@pytest.mark.parametrize("size", [0, 5 << 20])
def test_closing_a_finished_stream_is_harmless(size: int) -> None:
    import io

    from archangel_helm.backup.pipeline import SealedStream

    stream = SealedStream(io.BytesIO(bytes(size)), BackupKeys(b"e" * 32, b"m" * 32), iterations=1000)
    sealed = stream.read()
    stream.close()
    assert sealed.startswith(b"Salted__")
    assert stream.stats.plain_bytes == size


class RecordingStore(FailingStore):
    def __init__(self) -> None:
        super().__init__()
        self.expected: dict[str, int | None] = {}
        self.documents: dict[str, Any] = {}

    def upload_stream(self, key: str, stream: IO[bytes], expected_bytes: int | None = None) -> None:
        stream.read()
        self.expected[key] = expected_bytes

    def put_json(self, key: str, document: dict[str, Any]) -> None:
        self.documents[key] = document

    def check_bucket(self) -> None:
        pass

    def list_sizes(self, prefix: str) -> dict[str, int]:
        return {}


class OneCollectionQdrant:
    url = "http://qdrant:6333"

    def version(self) -> str:
        return "1.16.3"

    def cluster(self) -> dict[str, Any]:
        return {"status": "disabled"}  # a single node: one collection snapshot

    def collections(self) -> list[str]:
        return ["memories"]

    def points_count(self, name: str) -> int:
        return 3

    def create_snapshot(self, collection: str) -> Any:
        from archangel_helm.backup.qdrant import QdrantSnapshot

        return QdrantSnapshot("memories-0.snapshot", 300 << 30)  # a 300 GiB collection

    def download_snapshot(self, collection: str, snapshot: str) -> Any:
        return iter([b"snapshot bytes"])

    def delete_snapshot(self, collection: str, snapshot: str) -> None:
        pass


def test_a_vector_store_upload_is_sized_by_the_snapshot_so_large_collections_fit_the_part_limit() -> None:
    from archangel_helm.backup import vectorstore

    store = RecordingStore()
    catalog = Catalog(store, BackupKeys(b"e" * 32, b"m" * 32), iterations=1000, log=lambda _: None)  # type: ignore[arg-type]
    vectorstore.backup(catalog, OneCollectionQdrant())  # type: ignore[arg-type]
    ((key, expected),) = store.expected.items()
    assert key.endswith("/memories.snapshot.zst.enc")
    assert expected == 300 << 30
