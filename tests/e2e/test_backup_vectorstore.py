"""Qdrant backups end to end, against a local stand-in for Qdrant's snapshot API (Qdrant's server cannot be
installed here; see tests/support/qdrant_standin.py) and a local S3 server. The cluster tests run the same path
against the real Qdrant image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backup_env import BackupEnv
from tests.support.qdrant_standin import QdrantStandIn

API_KEY = "qdrant-test-key-" + "k" * 20


@pytest.fixture
def qdrant() -> Iterator[QdrantStandIn]:
    with QdrantStandIn(API_KEY) as server:
        server.state.collections["memories"] = [
            {"id": i, "vector": [i / 10, 1 - i / 10], "payload": {"n": i}} for i in range(250)
        ]
        server.state.collections["skills"] = [{"id": i, "vector": [0.5, 0.5], "payload": {}} for i in range(40)]
        yield server


@pytest.fixture
def qdrant_env(backup_env: BackupEnv, qdrant: QdrantStandIn, tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "qdrant-api-key"
    key_file.write_text(API_KEY)
    return {"QDRANT_URL": qdrant.url, "QDRANT_API_KEY_FILE": str(key_file)}


def backup_once(backup_env: BackupEnv, env: dict[str, str]) -> str:
    code, out, err = backup_env.run("backup", "vectorstore", extra_env=env)
    assert code == 0, err
    return out.strip().rsplit("backup id: ", 1)[1]


def test_every_collection_is_snapshotted_sealed_uploaded_and_the_snapshot_deleted(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_id = backup_once(backup_env, qdrant_env)
    assert set(backup_env.objects()) == {
        f"prod/vectorstore/{backup_id}/{f}"
        for f in ("memories.snapshot.zst.enc", "skills.snapshot.zst.enc", "manifest.json")
    }
    assert qdrant.state.snapshots == {"memories": {}, "skills": {}}  # node-local snapshots removed
    manifest = json.loads(
        backup_env.s3.client()
        .get_object(Bucket=backup_env.bucket, Key=f"prod/vectorstore/{backup_id}/manifest.json")["Body"]
        .read()
    )
    assert {a["name"]: a["details"]["points_count"] for a in manifest["artifacts"]} == {"memories": 250, "skills": 40}
    assert manifest["versions"]["qdrant"] == "1.16.3-standin"


def test_verify_restore_recovers_into_scratch_collections_with_priority_snapshot(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_id = backup_once(backup_env, qdrant_env)
    code, out, err = backup_env.run("backup", "verify", "vectorstore", "--restore", extra_env=qdrant_env)
    assert code == 0, err
    assert f"verified: vectorstore {backup_id} (test restore)" in out
    assert set(qdrant.state.collections) == {"memories", "skills"}  # scratch collections deleted again
    uploads = [path for method, path in qdrant.state.requests if path.endswith("/snapshots/upload")]
    assert len(uploads) == 2


def test_restore_after_losing_a_collection(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_once(backup_env, qdrant_env)
    original = list(qdrant.state.collections["memories"])
    del qdrant.state.collections["memories"]
    code, out, err = backup_env.run(
        "backup", "restore", "vectorstore", "--collection", "memories", extra_env=qdrant_env
    )
    assert code == 0, err
    assert "memories (250 points)" in out
    assert qdrant.state.collections["memories"] == original


def test_restore_into_an_empty_existing_collection_takes_the_snapshots_data(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_once(backup_env, qdrant_env)
    qdrant.state.collections["skills"] = []  # recreated empty: Qdrant's default priority would keep it empty
    code, _, err = backup_env.run("backup", "restore", "vectorstore", "--collection", "skills", extra_env=qdrant_env)
    assert code == 0, err
    assert len(qdrant.state.collections["skills"]) == 40


def test_restore_refuses_a_collection_with_points_unless_forced(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_once(backup_env, qdrant_env)
    code, _, err = backup_env.run("backup", "restore", "vectorstore", "--collection", "memories", extra_env=qdrant_env)
    assert code == 4
    assert "collections ['memories'] already have points" in err


def test_a_tampered_snapshot_is_refused_before_recovery(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_id = backup_once(backup_env, qdrant_env)
    client = backup_env.s3.client()
    key = f"prod/vectorstore/{backup_id}/skills.snapshot.zst.enc"
    data = bytearray(client.get_object(Bucket=backup_env.bucket, Key=key)["Body"].read())
    data[-1] ^= 0xFF
    client.put_object(Bucket=backup_env.bucket, Key=key, Body=bytes(data))
    del qdrant.state.collections["skills"]
    code, _, err = backup_env.run("backup", "restore", "vectorstore", "--collection", "skills", extra_env=qdrant_env)
    assert code == 3
    assert "HMAC-SHA256 mismatch" in err
    assert "skills" not in qdrant.state.collections


def test_a_wrong_api_key_fails_clearly(backup_env: BackupEnv, qdrant: QdrantStandIn, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    code, _, err = backup_env.run(
        "backup", "vectorstore", extra_env={"QDRANT_URL": qdrant.url, "QDRANT_API_KEY_FILE": str(wrong)}
    )
    assert code == 1
    assert "HTTP 401" in err
    assert backup_env.objects() == {}


def test_a_multi_collection_restore_touches_nothing_when_a_later_collection_is_tampered(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_id = backup_once(backup_env, qdrant_env)
    client = backup_env.s3.client()
    key = f"prod/vectorstore/{backup_id}/skills.snapshot.zst.enc"  # the second collection of the backup
    data = bytearray(client.get_object(Bucket=backup_env.bucket, Key=key)["Body"].read())
    data[-1] ^= 0xFF
    client.put_object(Bucket=backup_env.bucket, Key=key, Body=bytes(data))
    del qdrant.state.collections["memories"]
    del qdrant.state.collections["skills"]
    code, _, err = backup_env.run("backup", "restore", "vectorstore", extra_env=qdrant_env)
    assert code == 3
    assert "HMAC-SHA256 mismatch" in err
    assert set(qdrant.state.collections) == set()  # memories, first in line, was not recovered either
    assert not [path for _, path in qdrant.state.requests if path.endswith("/snapshots/upload")]


def test_a_multi_collection_restore_refuses_before_any_upload_when_a_later_target_has_points(
    backup_env: BackupEnv, qdrant: QdrantStandIn, qdrant_env: dict[str, str]
) -> None:
    backup_once(backup_env, qdrant_env)
    del qdrant.state.collections["memories"]  # empty target first, occupied target second
    code, _, err = backup_env.run("backup", "restore", "vectorstore", extra_env=qdrant_env)
    assert code == 4
    assert "collections ['skills'] already have points" in err
    assert "memories" not in qdrant.state.collections
