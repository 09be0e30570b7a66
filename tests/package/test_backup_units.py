"""Backup engine pieces that need no server: keys, the sealing pipeline, part sizes, manifests, retention."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archangel_helm.backup.catalog import new_backup_id, parse_backup_id, plan_prune
from archangel_helm.backup.crypto import HEADER_BYTES, MAGIC, decrypt_chunks, file_digests, verify_file
from archangel_helm.backup.errors import BackupConfigError, IntegrityError
from archangel_helm.backup.keys import BackupKeys, load_keys
from archangel_helm.backup.manifest import Artifact, BackupManifest
from archangel_helm.backup.pipeline import SealedStream, plain_chunks
from archangel_helm.backup.storage import MAX_PARTS, MIN_PART, StoreConfig, part_size_for

KEYS = BackupKeys(b"e" * 43, b"m" * 64)
FAST = 1000  # PBKDF2 iterations for unit tests; the default (600,000) is covered end to end


def seal(data: bytes, keys: BackupKeys = KEYS) -> tuple[bytes, SealedStream]:
    stream = SealedStream(io.BytesIO(data), keys, level=1, iterations=FAST)
    return stream.read(), stream


def unseal(sealed: bytes, keys: BackupKeys = KEYS) -> bytes:
    return b"".join(plain_chunks(decrypt_chunks(io.BytesIO(sealed), keys.encryption, FAST, "test")))


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1 << 20, (3 << 20) + 5])
def test_seal_round_trips_any_size(size: int) -> None:
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    sealed, stream = seal(data)
    assert sealed.startswith(MAGIC)
    assert unseal(sealed) == data
    assert stream.stats.plain_bytes == size
    assert stream.stats.cipher_bytes == len(sealed)
    assert (len(sealed) - HEADER_BYTES) % 16 == 0


def test_stats_digests_match_the_bytes(tmp_path: Path) -> None:
    sealed, stream = seal(b"x" * 100_000)
    path = tmp_path / "sealed"
    path.write_bytes(sealed)
    assert file_digests(path, KEYS.mac) == (stream.stats.sha256, stream.stats.hmac)
    verify_file(path, KEYS.mac, stream.stats.hmac, stream.stats.sha256, "sealed")


def test_verify_file_refuses_a_changed_byte(tmp_path: Path) -> None:
    sealed, stream = seal(b"y" * 10_000)
    damaged = bytearray(sealed)
    damaged[len(damaged) // 2] ^= 1
    path = tmp_path / "sealed"
    path.write_bytes(bytes(damaged))
    with pytest.raises(IntegrityError, match="HMAC-SHA256 mismatch"):
        verify_file(path, KEYS.mac, stream.stats.hmac, stream.stats.sha256, "sealed")


def test_each_seal_uses_a_fresh_salt() -> None:
    first, _ = seal(b"same")
    second, _ = seal(b"same")
    assert first[8:16] != second[8:16]
    assert first != second


def test_an_error_in_the_source_fails_the_read_instead_of_ending_the_stream() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            raise OSError("disk gone")

    stream = SealedStream(Broken(), KEYS, iterations=FAST)
    with pytest.raises(OSError, match="disk gone"):
        stream.read()


def test_a_non_openssl_stream_is_refused() -> None:
    with pytest.raises(IntegrityError, match="not an openssl 'Salted__' stream"):
        unseal(b"plain text, not encrypted at all")


# --- keys --------------------------------------------------------------------------------------------------


def test_keys_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "e").write_text("e" * 40 + "\n")
    (tmp_path / "m").write_text("m" * 64)
    keys = load_keys(tmp_path / "e", tmp_path / "m")
    assert keys.encryption == b"e" * 40
    assert "e" * 10 not in repr(keys)


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHANGEL_BACKUP_ENCRYPTION_KEY", "k" * 32)
    monkeypatch.setenv("ARCHANGEL_BACKUP_MAC_KEY", "h" * 32)
    assert load_keys().mac == b"h" * 32


@pytest.mark.parametrize(
    ("encryption", "mac", "message"),
    [
        (None, "m" * 32, "no encryption key"),
        ("e" * 32, "short", "mac key from .* is 5 bytes"),
        ("s" * 32, "s" * 32, "must be independent keys"),
    ],
)
def test_bad_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encryption: str | None, mac: str, message: str
) -> None:
    monkeypatch.delenv("ARCHANGEL_BACKUP_ENCRYPTION_KEY", raising=False)
    files = []
    for name, value in (("e", encryption), ("m", mac)):
        if value is None:
            files.append(None)
        else:
            (tmp_path / name).write_text(value)
            files.append(tmp_path / name)
    with pytest.raises(BackupConfigError, match=message):
        load_keys(*files)


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupConfigError, match=r"encryption key file .*nope"):
        load_keys(tmp_path / "nope", tmp_path / "also-nope")


# --- storage ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [None, 0, 10 << 20, 1 << 30, 100 << 30, 5 << 40])
def test_part_size_keeps_uploads_under_the_part_limit(size: int | None) -> None:
    part = part_size_for(size)
    assert part >= MIN_PART
    assert part % (1 << 20) == 0
    if size:
        assert size * 1.1 / part < MAX_PARTS * 0.95


@pytest.mark.parametrize(
    ("bucket", "sse", "message"), [("", None, "bucket ''"), ("ok-bucket", "DES", "server-side encryption 'DES'")]
)
def test_store_config_is_checked(bucket: str, sse: str | None, message: str) -> None:
    with pytest.raises(BackupConfigError, match=message):
        StoreConfig(bucket, sse=sse)


# --- manifest --------------------------------------------------------------------------------------------------------


def manifest() -> BackupManifest:
    artifact = Artifact(
        "database", "k", "pg_dump-custom", 10, 5, 32, "s" * 64, "h" * 64, "00" * 8, {"row_counts": {"a.b": 3}}
    )
    return BackupManifest("database", "20261101T000000Z", "a", "b", 1.5, [artifact], {"iterations": 600000}, {}, {}, {})


def test_manifest_round_trips_with_its_hmac() -> None:
    document = manifest().to_document(KEYS.mac)
    assert BackupManifest.from_document(document, KEYS.mac, "m") == manifest()


@pytest.mark.parametrize("edit", ["row_counts", "key", "mac_key"])
def test_an_edited_manifest_is_refused(edit: str) -> None:
    document = manifest().to_document(KEYS.mac)
    mac_key = KEYS.mac
    if edit == "row_counts":
        document["artifacts"][0]["details"]["row_counts"]["a.b"] = 4
    elif edit == "key":
        document["artifacts"][0]["key"] = "elsewhere"
    else:
        mac_key = b"z" * 64
    with pytest.raises(IntegrityError, match="manifest HMAC mismatch"):
        BackupManifest.from_document(document, mac_key, "m")


def test_missing_artifact_is_named() -> None:
    with pytest.raises(IntegrityError, match=r"has no artifact 'globals' \(it has \['database'\]\)"):
        manifest().artifact("globals")


# --- retention ---------------------------------------------------------------------------------------------------------


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ids(*ages_days: float) -> list[str]:
    return [new_backup_id(NOW - timedelta(days=a)) for a in ages_days]


def test_backup_ids_sort_by_time_and_parse_back() -> None:
    assert sorted(ids(3, 1, 2)) == ids(3, 2, 1)
    assert parse_backup_id(ids(1)[0]) == NOW - timedelta(days=1)
    with pytest.raises(BackupConfigError, match="is not of the form"):
        parse_backup_id("yesterday")


def test_prune_keeps_the_window_the_newest_verified_and_the_newest() -> None:
    all_ids = ids(1, 10, 29, 31, 40, 50, 60)
    plan = plan_prune(
        all_ids,
        complete=set(all_ids),
        verified=set(ids(31, 50, 60)),
        retention=timedelta(days=30),
        keep_verified=2,
        now=NOW,
    )
    assert set(plan.keep) == set(ids(1, 10, 29, 31, 50))
    assert set(plan.delete) == set(ids(40, 60))


def test_prune_with_everything_old_keeps_the_newest_backup() -> None:
    all_ids = ids(100, 200)
    plan = plan_prune(
        all_ids, complete=set(all_ids), verified=set(), retention=timedelta(days=30), keep_verified=3, now=NOW
    )
    assert plan.keep == ids(100)


def test_prune_waits_a_day_before_deleting_an_incomplete_backup() -> None:
    all_ids = ids(0.1, 2)
    plan = plan_prune(all_ids, complete=set(), verified=set(), retention=timedelta(days=30), keep_verified=0, now=NOW)
    assert plan.keep == ids(0.1)
    assert plan.delete == ids(2)


def test_restore_progress_counts_tables_and_keeps_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    from archangel_helm.backup import database

    clock = iter([0.0, 1.0, 2.0, 40.0, 41.0, 80.0, 100.0])
    monkeypatch.setattr(database.time, "monotonic", lambda: next(clock))
    said: list[str] = []
    progress = database.RestoreProgress(said.append, tables_total=2)  # started at 0.0
    progress('pg_restore: processing data for table "public.a"')  # 1.0
    progress('pg_restore: creating INDEX "public.a_idx"')  # 2.0
    progress("pg_restore: some detail")  # 40.0: 38 s since the last line, a heartbeat
    progress("pg_restore: another detail")  # 41.0: quiet
    progress("pg_restore: more detail")  # 80.0: the next heartbeat names the same step
    progress('pg_restore: processing data for table "public.b"')  # 100.0
    assert said == [
        'database:     1.0 s  [1/2 tables] data for table "public.a"',
        'database:     2.0 s  creating INDEX "public.a_idx"',
        'database:    40.0 s  still restoring (creating INDEX "public.a_idx")',
        'database:    80.0 s  still restoring (creating INDEX "public.a_idx")',
        'database:   100.0 s  [2/2 tables] data for table "public.b"',
    ]


def test_restore_progress_reads_lines_that_parallel_workers_interleaved() -> None:
    # pg_restore -j writes "pg_restore: " and the message separately, so two workers can share or split a line.
    from archangel_helm.backup import database

    said: list[str] = []
    progress = database.RestoreProgress(said.append, tables_total=3)
    progress('pg_restore: pg_restore: processing data for table "public.a"')
    progress('processing data for table "public.b"')
    progress('pg_restore: processing data for table "public.c"pg_restore: creating INDEX "public.c_idx"')
    assert [line.split("s  ", 1)[1] for line in said] == [
        '[1/3 tables] data for table "public.a"',
        '[2/3 tables] data for table "public.b"',
        '[3/3 tables] data for table "public.c"',
    ]


# --- refusals the bucket or Qdrant make, and manifests out of place ----------------------------------------------


class RefusingS3:
    """delete_objects answers 200 with per-key errors, as S3 does for AccessDenied or Object Lock."""

    def get_paginator(self, _: str) -> Any:
        keys = [{"Key": f"p/database/20261101T020000Z/{n}"} for n in ("a.enc", "manifest.json")]
        return type("Paginator", (), {"paginate": lambda self, **_: [{"Contents": keys}]})()

    def delete_objects(self, **_: Any) -> dict[str, Any]:
        return {"Errors": [{"Key": "p/database/20261101T020000Z/a.enc", "Code": "AccessDenied"}]}


def test_a_delete_that_s3_refused_is_an_error_naming_the_key() -> None:
    from archangel_helm.backup.errors import BackupError
    from archangel_helm.backup.storage import ObjectStore

    store = ObjectStore(StoreConfig("bucket", "p"), client=RefusingS3())
    with pytest.raises(
        BackupError, match=r"1 of 2 objects not deleted: p/database/20261101T020000Z/a.enc \(AccessDenied\)"
    ):
        store.delete_prefix("p/database/20261101T020000Z")


@pytest.mark.parametrize(("status", "exists"), [(200, True), (404, False), (503, None), (401, None)])
def test_qdrant_collection_exists_only_answers_for_200_and_404(
    monkeypatch: pytest.MonkeyPatch, status: int, exists: bool | None
) -> None:
    import requests

    from archangel_helm.backup.errors import BackupError
    from archangel_helm.backup.qdrant import QdrantClient

    response = requests.Response()
    response.status_code = status
    monkeypatch.setattr(requests, "get", lambda *_, **__: response)
    client = QdrantClient("http://127.0.0.1:6333", None)
    if exists is None:
        with pytest.raises(BackupError, match=f"HTTP {status}"):
            client.collection_exists("decisions")
    else:
        assert client.collection_exists("decisions") is exists
