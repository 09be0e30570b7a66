"""Backups of a distributed Qdrant (production: 3 nodes, each shard on 2), through the `archangel-helm backup`
commands the CronJobs run, against the cluster stand-in (tests/support/qdrant_cluster_standin.py) and the local S3
server: every shard captured from a node holding an active replica of it, and a restore that creates the
collection again with its shards and waits until every replica is active."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backup_env import BackupEnv
from tests.support.qdrant_cluster_standin import QdrantClusterStandIn
from tests.support.qdrant_standin import QdrantStandIn

API_KEY = "qdrant-test-key-" + "c" * 20
MEMORIES = [{"id": i, "vector": [i / 300, 1 - i / 300], "payload": {"n": i}} for i in range(300)]
SKILLS = [{"id": i, "vector": [0.5, 0.5], "payload": {}} for i in range(40)]


@pytest.fixture
def cluster() -> Iterator[QdrantClusterStandIn]:
    """Production's shape: 3 nodes; memories in 3 shards and skills in 2, each shard on 2 nodes."""
    with QdrantClusterStandIn(API_KEY, nodes=3, replication_factor=2) as qdrant:
        qdrant.state.seed("memories", MEMORIES, shard_number=3, replication_factor=2)
        qdrant.state.seed("skills", SKILLS, shard_number=2, replication_factor=2)
        yield qdrant


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "qdrant-api-key"
    path.write_text(API_KEY)
    return path


def env_for(qdrant: QdrantClusterStandIn | QdrantStandIn, key_file: Path) -> dict[str, str]:
    return {"QDRANT_URL": qdrant.url, "QDRANT_API_KEY_FILE": str(key_file)}


def backup_once(backup_env: BackupEnv, env: dict[str, str]) -> str:
    code, out, err = backup_env.run("backup", "vectorstore", extra_env=env)
    assert code == 0, err
    return out.strip().rsplit("backup id: ", 1)[1]


def manifest_of(backup_env: BackupEnv, backup_id: str) -> dict[str, object]:
    key = f"prod/vectorstore/{backup_id}/manifest.json"
    document: dict[str, object] = json.loads(
        backup_env.s3.client().get_object(Bucket=backup_env.bucket, Key=key)["Body"].read()
    )
    return document


def point_ids(qdrant: QdrantClusterStandIn, collection: str) -> set[int]:
    return {
        int(p["id"])
        for replicas in qdrant.state.collections[collection].shards.values()
        for r in replicas.values()
        for p in r.points
    }


def test_every_shard_is_snapshotted_on_a_node_that_holds_it(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    backup_id = backup_once(backup_env, env_for(cluster, key_file))
    assert set(backup_env.objects()) == {
        f"prod/vectorstore/{backup_id}/{name}"
        for name in (
            *(f"memories.shard-{s}.snapshot.zst.enc" for s in range(3)),
            *(f"skills.shard-{s}.snapshot.zst.enc" for s in range(2)),
            "manifest.json",
        )
    }
    manifest = manifest_of(backup_env, backup_id)
    artifacts = manifest["artifacts"]
    assert isinstance(artifacts, list)
    shards = {(a["details"]["collection"], a["details"]["shard_id"]): a for a in artifacts}
    assert set(shards) == {("memories", 0), ("memories", 1), ("memories", 2), ("skills", 0), ("skills", 1)}
    for (collection, shard), artifact in shards.items():
        details = artifact["details"]
        assert artifact["format"] == "qdrant-shard-snapshot"
        assert details["shard_count"] == (3 if collection == "memories" else 2)
        assert details["points_count"] == (300 if collection == "memories" else 40)
        assert details["config"]["params"]["replication_factor"] == 2
        # The node that made the snapshot holds the shard (the Service would have sent it anywhere).
        assert details["peer_id"] in cluster.state.collections[collection].shards[shard]
    made = [(peer, path) for peer, method, path in cluster.state.requests if method == "POST" and "/shards/" in path]
    assert len(made) == 5
    assert all(not stored for stored in cluster.state.snapshots.values())  # every node-local snapshot deleted
    assert manifest["source"]["distributed"] is True  # type: ignore[index]


def test_a_dead_replica_is_skipped_and_a_shard_with_no_active_replica_fails_the_backup(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    replicas = cluster.state.collections["memories"].shards[1]
    first, second = sorted(replicas)
    replicas[first].state = "Dead"
    backup_id = backup_once(backup_env, env_for(cluster, key_file))
    artifacts = manifest_of(backup_env, backup_id)["artifacts"]
    assert isinstance(artifacts, list)
    (shard,) = [a for a in artifacts if a["details"]["collection"] == "memories" and a["details"]["shard_id"] == 1]
    assert shard["details"]["peer_id"] == second
    replicas[second].state = "Partial"
    before = set(backup_env.objects())
    code, _, err = backup_env.run("backup", "vectorstore", extra_env=env_for(cluster, key_file))
    assert code == 1
    assert "collection memories: shard 1 has no active replica" in err
    assert f"peer {first}: Dead" in err
    assert set(backup_env.objects()) == before  # the failed run left nothing behind


def test_a_lost_collection_is_recreated_with_its_shards_and_every_replica_recovered(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    backup_once(backup_env, env_for(cluster, key_file))
    del cluster.state.collections["memories"]
    code, out, err = backup_env.run(
        "backup", "restore", "vectorstore", "--collection", "memories", extra_env=env_for(cluster, key_file)
    )
    assert code == 0, err
    assert "memories (300 points)" in out
    restored = cluster.state.collections["memories"]
    assert restored.config["params"]["shard_number"] == 3
    assert restored.config["params"]["replication_factor"] == 2
    for shard, replicas in restored.shards.items():
        assert len(replicas) == 2
        for replica in replicas.values():
            # Active, each replica with exactly its shard's points: the recovered one and the copy made from it.
            assert replica.state == "Active"
            assert sorted(p["id"] for p in replica.points) == [i for i in range(300) if i % 3 == shard]
    assert point_ids(cluster, "memories") == set(range(300))
    uploads = [path for _, method, path in cluster.state.requests if path.endswith("/snapshots/upload")]
    assert len(uploads) == 3  # one replica per shard; Qdrant copies it to the others


def test_restore_refuses_a_collection_with_points_unless_forced(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    backup_once(backup_env, env_for(cluster, key_file))
    cluster.state.collections["skills"].shards[0][
        sorted(cluster.state.collections["skills"].shards[0])[0]
    ].points.append({"id": 1000, "vector": [0, 1], "payload": {}})
    env = env_for(cluster, key_file)
    code, _, err = backup_env.run("backup", "restore", "vectorstore", "--collection", "skills", extra_env=env)
    assert code == 4
    assert "collections ['skills'] already have points" in err
    code, _, err = backup_env.run(
        "backup", "restore", "vectorstore", "--collection", "skills", "--force", extra_env=env
    )
    assert code == 0, err
    assert point_ids(cluster, "skills") == set(range(40))


def test_a_distributed_backup_verifies_by_recovery_into_a_single_node(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    """The verification CronJob's isolated scratch Qdrant is one node: the same shards, all on it, one copy."""
    backup_id = backup_once(backup_env, env_for(cluster, key_file))
    with QdrantClusterStandIn(API_KEY, nodes=1, enabled=False) as scratch:
        code, out, err = backup_env.run(
            "backup", "verify", "vectorstore", "--restore", extra_env=env_for(scratch, key_file)
        )
        assert code == 0, err
        assert f"verified: vectorstore {backup_id} (test restore)" in out
        assert scratch.state.collections == {}  # the scratch collections are deleted again
        created = [path for _, method, path in scratch.state.requests if method == "PUT"]
        assert sorted(created) == sorted(
            f"/collections/archangel_verify_{backup_id.lower()}_{name}" for name in ("memories", "skills")
        )


def test_a_single_node_backup_is_not_recovered_into_a_cluster(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    """A collection snapshot of a single node would land on one node of the cluster, without replicas."""
    with QdrantStandIn(API_KEY) as single:
        single.state.collections["notes"] = list(SKILLS)
        backup_id = backup_once(backup_env, env_for(single, key_file))
    code, _, err = backup_env.run(
        "backup",
        "restore",
        "vectorstore",
        "--backup-id",
        backup_id,
        "--collection",
        "notes",
        extra_env=env_for(cluster, key_file),
    )
    assert code == 4
    assert "backup of collection notes comes from a single-node Qdrant" in err
    assert "notes" not in cluster.state.collections


def test_points_written_while_the_shards_are_snapshotted_stay_within_the_recorded_range(
    backup_env: BackupEnv, cluster: QdrantClusterStandIn, key_file: Path
) -> None:
    """The application writes during the backup: a point lands in shard 2 after shard 0's snapshot and before
    shard 2's, so the backup holds 301 points while 300 were there when it began. Restore and verification accept
    what the manifest's range says (300 to 301), not only the count of its start."""
    memories = cluster.state.collections["memories"]

    def write_once(collection: str, shard: int) -> None:
        if collection == "memories" and shard == 0 and not cluster.state.after_snapshot[1:]:
            for replica in memories.shards[2].values():
                replica.points.append({"id": 302, "vector": [0.5, 0.5], "payload": {}})
            cluster.state.after_snapshot.append(lambda *_: None)  # only once

    cluster.state.after_snapshot.append(write_once)
    backup_id = backup_once(backup_env, env_for(cluster, key_file))
    artifacts = manifest_of(backup_env, backup_id)["artifacts"]
    assert isinstance(artifacts, list)
    (shard,) = [a for a in artifacts if a["details"]["collection"] == "memories" and a["details"]["shard_id"] == 2]
    assert shard["details"]["points_count_range"] == [300, 301]
    del cluster.state.collections["memories"]
    env = env_for(cluster, key_file)
    code, out, err = backup_env.run("backup", "restore", "vectorstore", "--collection", "memories", extra_env=env)
    assert code == 0, err
    assert "memories (301 points)" in out
