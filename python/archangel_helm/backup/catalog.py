"""Backups in the bucket: naming, the seal/unseal paths every artifact takes, listing, selection, pruning.

Layout: <prefix>/<target>/<backup id>/{<artifacts>, manifest.json, verified.json}. The manifest is written last,
so a backup exists only once all its artifacts are stored; verified.json records a successful test restore.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from .crypto import PBKDF2_ITERATIONS, decrypt_chunks, verify_file
from .errors import BackupConfigError, BackupError, IntegrityError
from .keys import BackupKeys
from .manifest import Artifact, BackupManifest
from .pipeline import Progress, SealedStream, plain_chunks
from .storage import ObjectStore

TARGETS = ("database", "vectorstore")
ID_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST, VERIFIED = "manifest.json", "verified.json"
ABANDONED_AFTER = timedelta(days=1)  # an id with objects but no manifest this old is a failed backup


def new_backup_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime(ID_FORMAT)


def parse_backup_id(backup_id: str) -> datetime:
    try:
        return datetime.strptime(backup_id, ID_FORMAT).replace(tzinfo=UTC)
    except ValueError as error:
        raise BackupConfigError(f"backup id {backup_id!r} is not of the form YYYYMMDDTHHMMSSZ") from error


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise BackupConfigError(f"target {target!r}: use one of {', '.join(TARGETS)}")
    return target


@dataclass
class Catalog:
    store: ObjectStore
    keys: BackupKeys
    compression_level: int = 6
    iterations: int = PBKDF2_ITERATIONS
    log: Callable[[str], None] = print

    # --- writing ---------------------------------------------------------------------------------------------

    def seal(
        self,
        target: str,
        backup_id: str,
        source: IO[bytes] | Any,
        *,
        name: str,
        file_name: str,
        format_: str,
        expected_bytes: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Artifact:
        key = self.store.key(target, backup_id, file_name)
        stream = SealedStream(
            source,
            self.keys,
            self.compression_level,
            self.iterations,
            on_progress=Progress(f"{target} {name}", printer=self.log),
        )
        try:
            self.store.upload_stream(key, stream, expected_bytes)
        finally:
            stream.close()  # after a failed upload the stages would wait on full queues for ever
        stats = stream.stats
        self.log(
            f"{target} {name}: {stats.plain_bytes:,} bytes -> {stats.cipher_bytes:,} "
            f"sealed, s3://{self.store.config.bucket}/{key}"
        )
        return Artifact(
            name,
            key,
            format_,
            stats.plain_bytes,
            stats.compressed_bytes,
            stats.cipher_bytes,
            stats.sha256,
            stats.hmac,
            stats.salt,
            details or {},
        )

    def commit(self, manifest: BackupManifest) -> None:
        self.store.put_json(
            self.store.key(manifest.target, manifest.backup_id, MANIFEST), manifest.to_document(self.keys.mac)
        )

    def record_verified(self, manifest: BackupManifest, result: dict[str, Any]) -> None:
        self.store.put_json(self.store.key(manifest.target, manifest.backup_id, VERIFIED), result)

    def discard(self, target: str, backup_id: str) -> None:
        self.store.delete_prefix(self.store.key(target, backup_id))

    def discard_failed(self, target: str, backup_id: str) -> None:
        """Remove what a failed backup uploaded, without hiding the failure behind a cleanup error."""
        try:
            self.discard(target, backup_id)
        except BackupError as error:
            self.log(f"{target}/{backup_id}: the partial upload was not removed ({error}); prune removes it later")

    # --- reading ---------------------------------------------------------------------------------------------

    def manifest(self, target: str, backup_id: str) -> BackupManifest:
        key = self.store.key(target, backup_id, MANIFEST)
        if not self.store.exists(key):
            raise IntegrityError(
                f"backup {target}/{backup_id} has no manifest (s3://{self.store.config.bucket}/{key}); "
                "it is incomplete or not a backup"
            )
        where = f"s3://{self.store.config.bucket}/{key}"
        manifest = BackupManifest.from_document(self.store.get_json(key), self.keys.mac, where)
        # The HMAC proves we wrote this manifest, not that it belongs here: an old signed manifest copied under a
        # newer id would otherwise restore old data as "latest".
        if (manifest.target, manifest.backup_id) != (target, backup_id):
            raise IntegrityError(
                f"{where} is the manifest of {manifest.target}/{manifest.backup_id}, not of {target}/{backup_id} "
                "(copied or replayed); not used"
            )
        home = self.store.key(target, backup_id) + "/"
        for artifact in manifest.artifacts:
            if not artifact.key.startswith(home):
                raise IntegrityError(f"{where}: artifact {artifact.name} points outside the backup ({artifact.key})")
        return manifest

    def fetch(self, manifest: BackupManifest, artifact: Artifact, workdir: Path) -> Path:
        """Download an artifact and check its HMAC and digest; nothing is decrypted before this passes."""
        path = workdir / Path(artifact.key).name
        self.log(f"{manifest.target} {artifact.name}: downloading {artifact.encrypted_bytes:,} bytes")
        self.store.download(artifact.key, path)
        if path.stat().st_size != artifact.encrypted_bytes:
            raise IntegrityError(
                f"s3://{self.store.config.bucket}/{artifact.key}: {path.stat().st_size:,} bytes, "
                f"the manifest says {artifact.encrypted_bytes:,} (truncated or replaced); not decrypted"
            )
        verify_file(
            path, self.keys.mac, artifact.hmac, artifact.sha256, f"s3://{self.store.config.bucket}/{artifact.key}"
        )
        self.log(f"{manifest.target} {artifact.name}: HMAC and sha256 verified")
        return path

    def unseal(self, manifest: BackupManifest, sealed: Path, plain: Path) -> int:
        """Decrypt and decompress a verified artifact to plain; returns the plaintext size."""
        iterations = int(manifest.encryption.get("iterations", PBKDF2_ITERATIONS))
        written = 0
        with sealed.open("rb") as source, plain.open("wb") as target:
            for block in plain_chunks(decrypt_chunks(source, self.keys.encryption, iterations, str(sealed))):
                target.write(block)
                written += len(block)
        return written

    def backup_ids(self, target: str) -> list[str]:
        return [i for i in self.store.list_children(self.store.key(target)) if _is_id(i)]

    def complete_ids(self, target: str) -> list[str]:
        return [i for i in self.backup_ids(target) if self.store.exists(self.store.key(target, i, MANIFEST))]

    def verified_ids(self, target: str) -> list[str]:
        return [i for i in self.backup_ids(target) if self.store.exists(self.store.key(target, i, VERIFIED))]

    def resolve(self, target: str, backup_id: str, verified_only: bool = False) -> str:
        if backup_id not in ("latest", "latest-verified"):
            parse_backup_id(backup_id)
            return backup_id
        candidates = (
            self.verified_ids(target) if verified_only or backup_id == "latest-verified" else self.complete_ids(target)
        )
        if not candidates:
            kind = "verified " if verified_only or backup_id == "latest-verified" else ""
            raise BackupError(f"no {kind}{target} backup in s3://{self.store.config.bucket}/{self.store.key(target)}")
        return candidates[-1]


def _is_id(name: str) -> bool:
    try:
        parse_backup_id(name)
    except BackupConfigError:
        return False
    return True


@dataclass
class PrunePlan:
    keep: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def plan_prune(
    all_ids: list[str],
    *,
    complete: set[str],
    verified: set[str],
    retention: timedelta,
    keep_verified: int,
    now: datetime,
) -> PrunePlan:
    """What retention keeps: everything younger than the window, the newest `keep_verified` verified backups
    whatever their age, and the newest complete backup; abandoned (manifest-less) ids go after a day."""
    plan = PrunePlan()
    protected = set(sorted(verified & complete)[-keep_verified:]) if keep_verified > 0 else set()
    newest_complete = max(complete) if complete else None
    for backup_id in sorted(all_ids):
        age = now - parse_backup_id(backup_id)
        if backup_id not in complete:
            if age > ABANDONED_AFTER:
                plan.delete.append(backup_id)
                plan.reasons[backup_id] = "incomplete (no manifest)"
            else:
                plan.keep.append(backup_id)
                plan.reasons[backup_id] = "incomplete but may still be running"
        elif age <= retention:
            plan.keep.append(backup_id)
            plan.reasons[backup_id] = "within retention"
        elif backup_id in protected:
            plan.keep.append(backup_id)
            plan.reasons[backup_id] = f"one of the newest {keep_verified} verified"
        elif backup_id == newest_complete:
            plan.keep.append(backup_id)
            plan.reasons[backup_id] = "the newest backup"
        else:
            plan.delete.append(backup_id)
            plan.reasons[backup_id] = f"older than {retention.days} days"
    return plan


def run_checked(command: list[str], env: dict[str, str] | None = None, what: str = "") -> str:
    executable = shutil.which(command[0])
    if executable is None:
        raise BackupConfigError(f"{command[0]} not found on PATH")
    result = subprocess.run([executable, *command[1:]], capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what or command[0]} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def run_with_progress(
    command: list[str], env: dict[str, str] | None, what: str, on_line: Callable[[str], None]
) -> None:
    """Run a long command (pg_restore --verbose), handing each line of its stderr to on_line as it comes; the
    last lines go into the error when it fails."""
    executable = shutil.which(command[0])
    if executable is None:
        raise BackupConfigError(f"{command[0]} not found on PATH")
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        [executable, *command[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line.rstrip())
            on_line(line.rstrip())
    if process.returncode != 0:
        shown = "\n".join(tail)[-2000:]
        raise BackupError(f"{what} failed (exit {process.returncode}): {shown}")


def iter_file(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            yield block
