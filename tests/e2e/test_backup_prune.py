"""Retention on a bucket holding backups of many ages: pruning keeps exactly what the policy says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from archangel_helm.backup.catalog import Catalog, new_backup_id
from archangel_helm.backup.keys import load_keys
from archangel_helm.backup.manifest import BackupManifest
from archangel_helm.backup.storage import ObjectStore, StoreConfig
from tests.support.backup_env import BackupEnv


def catalog_for(backup_env: BackupEnv) -> Catalog:
    store = ObjectStore(
        StoreConfig(backup_env.bucket, "prod", "us-east-1", backup_env.s3.endpoint), backup_env.s3.client()
    )
    return Catalog(store, load_keys(backup_env.encryption_key, backup_env.mac_key), log=lambda _: None)


def fake_backup(catalog: Catalog, target: str, when: datetime, *, complete: bool = True, verified: bool = False) -> str:
    backup_id = new_backup_id(when)
    catalog.store.client.put_object(
        Bucket=catalog.store.config.bucket, Key=catalog.store.key(target, backup_id, "x.enc"), Body=b"sealed"
    )
    if complete:
        manifest = BackupManifest(target, backup_id, when.isoformat(), when.isoformat(), 1.0, [], {}, {}, {}, {})
        catalog.commit(manifest)
        if verified:
            catalog.record_verified(manifest, {"verified_at": when.isoformat()})
    return backup_id


def test_database_retention_30_days_keeping_the_newest_3_verified(backup_env: BackupEnv) -> None:
    catalog = catalog_for(backup_env)
    now = datetime.now(UTC).replace(microsecond=0)
    daily = [
        fake_backup(catalog, "database", now - timedelta(days=d, hours=1), verified=d in (35, 40, 45, 50))
        for d in range(60)
    ]
    abandoned = fake_backup(catalog, "database", now - timedelta(days=3), complete=False)
    running = fake_backup(catalog, "database", now - timedelta(minutes=10), complete=False)
    code, out, err = backup_env.run("backup", "prune", "database", "--retention-days", "30", "--keep-verified", "3")
    assert code == 0, err
    remaining = set(catalog.backup_ids("database"))
    within = {daily[d] for d in range(30)}  # ages 1 h .. 29 d 1 h
    newest_verified = {daily[35], daily[40], daily[45]}
    assert remaining == within | newest_verified | {running}
    assert abandoned not in remaining
    assert "delete database/" in out
    assert f"keep   database/{daily[35]}: one of the newest 3 verified" in out


def test_dry_run_deletes_nothing(backup_env: BackupEnv) -> None:
    catalog = catalog_for(backup_env)
    now = datetime.now(UTC)
    ids = [fake_backup(catalog, "vectorstore", now - timedelta(weeks=w)) for w in range(12)]
    code, out, _ = backup_env.run("backup", "prune", "vectorstore", "--retention-days", "56", "--dry-run")
    assert code == 0
    assert "dry run: would delete 4, kept 8" in out  # eight weekly backups, the 56-day window
    assert f"delete vectorstore/{ids[10]}: complete, older than 56 days (70 days old)" in out
    assert f"keep   vectorstore/{ids[1]}: complete, within retention (7 days old)" in out
    assert set(catalog.backup_ids("vectorstore")) == set(ids)


def test_prune_help_says_how_it_decides(backup_env: BackupEnv) -> None:
    code, out, _ = backup_env.run("backup", "prune", "--help")
    assert code == 0
    for rule in ("incomplete (objects but no manifest", "damaged (a manifest that does not verify", "--dry-run prints"):
        assert rule in out
    assert "ARCHANGEL_BACKUP_MAC_KEY_FILE" in out


def test_the_newest_backup_survives_even_past_retention(backup_env: BackupEnv) -> None:
    catalog = catalog_for(backup_env)
    old = fake_backup(catalog, "database", datetime.now(UTC) - timedelta(days=90))
    code, _, _ = backup_env.run("backup", "prune", "database", "--retention-days", "30", "--keep-verified", "0")
    assert code == 0
    assert catalog.backup_ids("database") == [old]


def test_a_bad_retention_is_refused(backup_env: BackupEnv) -> None:
    code, _, err = backup_env.run("backup", "prune", "database", "--retention-days", "0")
    assert code == 2
    assert "--retention-days 0: must be at least 1" in err


def test_check_reports_an_empty_bucket_as_fine(backup_env: BackupEnv) -> None:
    code, out, err = backup_env.run("backup", "check")
    assert code == 0, err
    assert f"s3://{backup_env.bucket}/prod is reachable and writable" in out
    assert "database: 0 backups yet (the first runs on schedule)" in out
    assert backup_env.objects() == {}  # the probe object is gone again


def test_check_fails_on_a_missing_bucket(backup_env: BackupEnv) -> None:
    code, _, err = backup_env.run("backup", "check", extra_env={"ARCHANGEL_BACKUP_BUCKET": "no-such-bucket-here"})
    assert code == 1
    assert "no-such-bucket-here" in err


def test_a_damaged_newest_backup_never_stands_in_for_the_newest_good_one(backup_env: BackupEnv) -> None:
    catalog = catalog_for(backup_env)
    good = fake_backup(catalog, "database", datetime.now(UTC) - timedelta(days=90))
    damaged = fake_backup(catalog, "database", datetime.now(UTC) - timedelta(days=1))
    catalog.store.client.put_object(
        Bucket=backup_env.bucket, Key=catalog.store.key("database", damaged, "manifest.json"), Body=b"{not json"
    )
    code, out, err = backup_env.run("backup", "prune", "database", "--retention-days", "30", "--keep-verified", "0")
    assert code == 0, err
    assert set(catalog.backup_ids("database")) == {good, damaged}  # the only restorable backup is never deleted
    assert f"keep   database/{good}" in out
    assert f"database/{damaged}: damaged" in out


def test_a_wrong_mac_key_deletes_nothing(backup_env: BackupEnv, tmp_path: Path) -> None:
    catalog = catalog_for(backup_env)
    ids = [fake_backup(catalog, "database", datetime.now(UTC) - timedelta(days=d)) for d in (1, 45, 60)]
    other = tmp_path / "other-mac-key"
    other.write_text("ab" * 32)
    code, out, err = backup_env.run(
        "backup", "prune", "database", "--retention-days", "30", extra_env={"ARCHANGEL_BACKUP_MAC_KEY_FILE": str(other)}
    )
    assert code != 0, out
    assert "the key is probably wrong; nothing deleted" in out + err
    assert set(catalog.backup_ids("database")) == set(ids)
