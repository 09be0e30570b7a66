"""Backup engine pieces that need no server: keys, the sealing pipeline, part sizes, manifests, retention."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archangel_helm.backup import pipeline
from archangel_helm.backup.catalog import BackupState, new_backup_id, parse_backup_id, plan_prune
from archangel_helm.backup.codec import GZIP, ZSTD, codec
from archangel_helm.backup.crypto import HEADER_BYTES, MAGIC
from archangel_helm.backup.errors import BackupConfigError, IntegrityError
from archangel_helm.backup.keys import BackupKeys, load_keys
from archangel_helm.backup.manifest import Artifact, BackupManifest
from archangel_helm.backup.pipeline import SealedStream
from archangel_helm.backup.storage import MAX_PARTS, MIN_PART, StoreConfig, part_size_for

KEYS = BackupKeys(b"e" * 43, b"m" * 64)
FAST = 1000  # PBKDF2 iterations for unit tests; the default (600,000) is covered end to end


def seal(data: bytes, keys: BackupKeys = KEYS, algorithm: str = ZSTD) -> tuple[bytes, SealedStream]:
    stream = SealedStream(io.BytesIO(data), keys, level=1, iterations=FAST, compression=codec(algorithm))
    return stream.read(), stream


def unseal(
    sealed: bytes,
    keys: BackupKeys = KEYS,
    *,
    algorithm: str = ZSTD,
    mac: str | None = None,
    plain_bytes: int | None = None,
    chunk: int = 1 << 16,
) -> bytes:
    """The restore path: chunks as a download delivers them, authenticated against `mac` (default: the right
    HMAC of `sealed`)."""
    import hashlib
    import hmac

    out = io.BytesIO()
    pipeline.unseal(
        iter([sealed[i : i + chunk] for i in range(0, len(sealed), chunk)]),
        out,
        keys=keys,
        iterations=FAST,
        compression=codec(algorithm),
        encrypted_bytes=len(sealed),
        hmac_hex=mac or hmac.new(keys.mac, sealed, hashlib.sha256).hexdigest(),
        sha256_hex=None,
        plain_bytes=plain_bytes,
        source="test",
    )
    return out.getvalue()


@pytest.mark.parametrize("algorithm", [ZSTD, GZIP])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1 << 20, (3 << 20) + 5])
def test_seal_round_trips_any_size(size: int, algorithm: str) -> None:
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    sealed, stream = seal(data, algorithm=algorithm)
    assert sealed.startswith(MAGIC)
    assert unseal(sealed, algorithm=algorithm, plain_bytes=size) == data
    assert stream.stats.plain_bytes == size
    assert stream.stats.cipher_bytes == len(sealed)
    assert (len(sealed) - HEADER_BYTES) % 16 == 0


def test_stats_digests_match_the_bytes() -> None:
    import hashlib
    import hmac

    sealed, stream = seal(b"x" * 100_000)
    assert stream.stats.sha256 == hashlib.sha256(sealed).hexdigest()
    assert stream.stats.hmac == hmac.new(KEYS.mac, sealed, hashlib.sha256).hexdigest()
    assert unseal(sealed, mac=stream.stats.hmac) == b"x" * 100_000


def test_a_changed_byte_is_reported_as_an_hmac_mismatch_not_as_a_decryption_error() -> None:
    # Flipping a byte also breaks the CBC padding or the zstd frame: the HMAC verdict is what the user sees.
    sealed, stream = seal(os.urandom(50_000))
    for where in (len(sealed) // 2, len(sealed) - 1):
        damaged = bytearray(sealed)
        damaged[where] ^= 1
        with pytest.raises(IntegrityError, match="HMAC-SHA256 mismatch"):
            unseal(bytes(damaged), mac=stream.stats.hmac)


def test_an_authentic_object_that_decompresses_past_the_manifest_size_is_stopped() -> None:
    sealed, _ = seal(b"z" * (4 << 20))  # a 4 MiB "bomb" against a manifest that says 1 MiB
    with pytest.raises(IntegrityError, match="decompresses to more than the 1,048,576 bytes"):
        unseal(sealed, plain_bytes=1 << 20)


def test_the_wrong_encryption_key_fails_after_the_hmac_passed() -> None:
    sealed, _ = seal(b"secret rows" * 1000)
    wrong = BackupKeys(b"w" * 43, KEYS.mac)
    with pytest.raises(IntegrityError, match="wrong encryption key"):
        unseal(sealed, wrong)


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


def test_compression_levels_are_checked_per_codec() -> None:
    assert codec(ZSTD).check_level(19) == 19
    with pytest.raises(BackupConfigError, match=r"zstd takes 1 .fastest. to 19 .smallest.; the default is 3"):
        codec(ZSTD).check_level(22)


# --- keys --------------------------------------------------------------------------------------------------


def test_keys_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "e").write_text("e" * 40 + "\n")
    (tmp_path / "m").write_text("m" * 64)
    keys = load_keys(tmp_path / "e", tmp_path / "m")
    assert keys.encryption == b"e" * 40
    assert "e" * 10 not in repr(keys)


def test_a_key_is_its_line_without_the_newline_as_openssl_reads_it(tmp_path: Path) -> None:
    # Surrounding spaces are part of the key (openssl -pass file: keeps them); only the newline goes.
    (tmp_path / "e").write_text(" " + "e" * 40 + " \n")
    (tmp_path / "m").write_text("m" * 64 + "\n")
    keys = load_keys(tmp_path / "e", tmp_path / "m")
    assert keys.encryption == b" " + b"e" * 40 + b" "
    assert keys.mac == b"m" * 64


@pytest.mark.parametrize("content", ["m" * 32 + "\r\n", "m" * 32 + "\n" + "n" * 32 + "\n"])
def test_a_key_of_two_lines_or_with_a_carriage_return_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "e").write_text("e" * 40)
    (tmp_path / "m").write_bytes(content.encode())
    with pytest.raises(BackupConfigError, match=r"mac key from .* has more than one line or a carriage return"):
        load_keys(tmp_path / "e", tmp_path / "m")


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
    files: list[Path | None] = []
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
    return BackupManifest(
        "database", "20261101T000000Z-0a1b2c3d", "a", "b", 1.5, [artifact], {"iterations": 600000}, {}, {}, {}
    )


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


@pytest.mark.parametrize("document", [{"format_version": 1}, {"format_version": 1, "artifacts": [{"name": "x"}]}])
def test_a_signed_manifest_of_another_shape_is_an_integrity_error(document: dict[str, Any]) -> None:
    import hashlib
    import hmac
    import json

    signed = {
        **document,
        "manifest_hmac": hmac.new(
            KEYS.mac, json.dumps(document, sort_keys=True, separators=(",", ":")).encode(), hashlib.sha256
        ).hexdigest(),
    }
    with pytest.raises(IntegrityError, match="manifest fields do not match format 1"):
        BackupManifest.from_document(signed, KEYS.mac, "m")


def test_missing_artifact_is_named() -> None:
    with pytest.raises(IntegrityError, match=r"has no artifact 'globals' \(it has \['database'\]\)"):
        manifest().artifact("globals")


# --- retention ---------------------------------------------------------------------------------------------------------


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def ids(*ages_days: float) -> list[str]:
    return [new_backup_id(NOW - timedelta(days=a)) for a in ages_days]


def states(state: str, *ages_days: float) -> list[BackupState]:
    return [BackupState(backup_id, state, "why" if state == "damaged" else "") for backup_id in ids(*ages_days)]


def test_backup_ids_are_unique_within_a_second_and_parse_back() -> None:
    same_second = {new_backup_id(NOW) for _ in range(1000)}
    assert len(same_second) == 1000
    assert all(i.startswith("20261128T120000Z-") for i in same_second)
    assert parse_backup_id(next(iter(same_second))) == NOW
    assert parse_backup_id("20261128T120000Z") == NOW  # ids of backups made before 0.2.0
    with pytest.raises(BackupConfigError, match="use an id from `backup list`"):
        parse_backup_id("yesterday")


def test_prune_keeps_the_window_the_newest_verified_and_the_newest() -> None:
    all_states = states("complete", 1, 10, 29, 40) + states("verified", 31, 50, 60)
    plan = plan_prune(all_states, retention=timedelta(days=30), keep_verified=2, now=NOW)
    assert {i[:16] for i in plan.keep} == {i[:16] for i in ids(1, 10, 29, 31, 50)}
    assert {i[:16] for i in plan.delete} == {i[:16] for i in ids(40, 60)}


def test_prune_with_everything_old_keeps_the_newest_backup() -> None:
    plan = plan_prune(states("complete", 100, 200), retention=timedelta(days=30), keep_verified=3, now=NOW)
    assert [i[:16] for i in plan.keep] == [i[:16] for i in ids(100)]
    assert "the newest restorable backup (100 days old)" in plan.reasons.values()


def test_prune_waits_a_day_before_deleting_an_incomplete_backup() -> None:
    plan = plan_prune(states("incomplete", 0.1, 2), retention=timedelta(days=30), keep_verified=0, now=NOW)
    assert [i[:16] for i in plan.keep] == [i[:16] for i in ids(0.1)]
    assert [plan.reasons[i] for i in plan.delete] == ["incomplete (no manifest), 2 days old: a failed run"]


def test_a_damaged_backup_is_never_the_newest_and_goes_with_age() -> None:
    plan = plan_prune(
        states("complete", 40) + states("damaged", 35, 5), retention=timedelta(days=30), keep_verified=0, now=NOW
    )
    kept = {plan.reasons[i] for i in plan.keep}
    assert kept == {"the newest restorable backup (40 days old)", "damaged, within retention (5 days old): why"}
    assert [plan.reasons[i] for i in plan.delete] == ["damaged and older than 30 days: why"]


def test_prune_deletes_nothing_when_no_manifest_verifies() -> None:
    # Every manifest failing its HMAC is the wrong MAC key, not a bucket of damaged backups.
    plan = plan_prune(
        states("damaged", 40, 50) + states("incomplete", 3), retention=timedelta(1), keep_verified=0, now=NOW
    )
    assert plan.delete == []
    assert "the key is probably wrong; nothing deleted" in plan.refusal


def test_restore_progress_counts_tables_and_keeps_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    from archangel_helm.backup import database

    clock = iter([0.0, 1.0, 2.0, 40.0, 41.0, 80.0, 100.0])
    monkeypatch.setattr(
        time,
        "monotonic",  # the time module database uses
        lambda: next(clock),
    )
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
        keys = [{"Key": f"p/database/20261101T020000Z/{n}", "Size": 1} for n in ("a.enc", "manifest.json")]
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


def test_a_slow_target_gets_every_byte_not_a_truncated_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer once gave up after a few seconds with its queue full and returned what it had as complete.
    import time

    monkeypatch.setattr(pipeline, "_JOIN_SECONDS", 0.01)
    data = os.urandom(3 << 20)  # incompressible: 3 MiB of writes, in 64 KiB pieces below

    class Slow(io.BytesIO):
        def write(self, block: Any) -> int:
            time.sleep(0.05)  # each write outlasts the old give-up time
            return super().write(block)

    sealed, _ = seal(data)
    out = Slow()
    import hashlib
    import hmac

    pipeline.unseal(
        iter([sealed[i : i + (1 << 16)] for i in range(0, len(sealed), 1 << 16)]),
        out,
        keys=KEYS,
        iterations=FAST,
        compression=codec(ZSTD),
        encrypted_bytes=len(sealed),
        hmac_hex=hmac.new(KEYS.mac, sealed, hashlib.sha256).hexdigest(),
        sha256_hex=None,
        plain_bytes=len(data),
        source="test",
    )
    assert out.getvalue() == data


def test_a_signal_that_lands_inside_library_code_still_ends_the_run_as_the_signal() -> None:
    """SIGTERM's exception raised inside a Condition wait makes threading fail on its way out ("release unlocked
    lock"): the run must still end as stopped by SIGTERM (exit 143), not as an error (exit 1)."""
    import argparse

    from archangel_helm.backup.command import stop_on_signals
    from archangel_helm.backup.errors import TerminatedError

    def library_failing_while_stopping(_args: argparse.Namespace) -> int:
        try:
            raise TerminatedError(15, "SIGTERM")
        except TerminatedError:
            raise RuntimeError("release unlocked lock") from None  # as threading does, __context__ kept

    with pytest.raises(TerminatedError) as caught:
        stop_on_signals(library_failing_while_stopping)(argparse.Namespace())
    assert caught.value.exit_code == 143

    def plain_failure(_args: argparse.Namespace) -> int:
        raise RuntimeError("not a signal")

    with pytest.raises(RuntimeError, match="not a signal"):
        stop_on_signals(plain_failure)(argparse.Namespace())
