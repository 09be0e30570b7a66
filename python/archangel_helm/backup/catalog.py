"""Backups in the bucket: naming, the seal/unseal paths every artifact takes, listing, selection, pruning.

Layout: <prefix>/<target>/<backup id>/{<artifacts>, manifest.json, verified.json}. The manifest is written last,
so a backup exists only once all its artifacts are stored; verified.json records a successful test restore.

A backup id is its UTC start time and 8 random hex digits (20261204T020000Z-5f3a9c1e): two runs started in the
same second, on one node or two, never share an id, and a run that fails deletes exactly the objects it wrote.
Ids of the form 20261204T020000Z (before 0.2.0) are still read.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from archangel_helm.backup.codec import DEFAULT_ALGORITHM, codec
from archangel_helm.backup.crypto import PBKDF2_ITERATIONS, KeyDerivation
from archangel_helm.backup.errors import BackupConfigError, BackupError, IntegrityError, NotFoundError
from archangel_helm.backup.keys import BackupKeys
from archangel_helm.backup.manifest import Artifact, BackupManifest
from archangel_helm.backup.pipeline import Progress, SealedStream, unseal
from archangel_helm.backup.storage import ObjectStore

TARGETS = ("database", "vectorstore")
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_ID = re.compile(r"(?P<time>\d{8}T\d{6}Z)(?:-[0-9a-f]{8})?")
MANIFEST, VERIFIED = "manifest.json", "verified.json"
ABANDONED_AFTER = timedelta(days=1)  # an id with objects but no manifest this old is a failed backup


def new_backup_id(now: datetime | None = None) -> str:
    return f"{(now or datetime.now(UTC)).strftime(TIME_FORMAT)}-{secrets.token_hex(4)}"


def parse_backup_id(backup_id: str) -> datetime:
    match = _ID.fullmatch(backup_id)
    if match is None:
        raise BackupConfigError(
            f"backup id {backup_id!r}: use an id from `backup list` (YYYYMMDDTHHMMSSZ-xxxxxxxx), latest or "
            "latest-verified"
        )
    return datetime.strptime(match["time"], TIME_FORMAT).replace(tzinfo=UTC)


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise BackupConfigError(f"target {target!r}: use one of {', '.join(TARGETS)}")
    return target


@dataclass
class BackupRun:
    """One backup being written: its id and every key it has started to write, which are all a failure removes."""

    target: str
    backup_id: str
    written: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackupState:
    """What a backup in the bucket is worth: `verified` and `complete` ones can be restored; `incomplete` has no
    manifest (failed, or still running); `damaged` has a manifest that does not verify or objects that are gone."""

    backup_id: str
    state: str
    reason: str = ""
    manifest: BackupManifest | None = None

    @property
    def restorable(self) -> bool:
        return self.state in ("complete", "verified")


@dataclass
class Catalog:
    store: ObjectStore
    keys: BackupKeys
    compression_level: int = 3
    iterations: int = PBKDF2_ITERATIONS
    log: Callable[[str], None] = print
    compression: str = DEFAULT_ALGORITHM
    _derivations: dict[str, KeyDerivation] = field(default_factory=dict, init=False, repr=False)

    # --- writing ---------------------------------------------------------------------------------------------

    def start(self, target: str, now: datetime | None = None) -> BackupRun:
        """Check the bucket before any work and claim a fresh id (refused, never shared, if it is in use)."""
        self.store.check_bucket()
        run = BackupRun(target, new_backup_id(now))
        if self.store.list_sizes(self.store.key(target, run.backup_id)):
            raise BackupError(f"backup id {target}/{run.backup_id} is already in use; nothing was written")
        return run

    @property
    def suffix(self) -> str:
        """The extension of sealed objects: ".zst.enc"."""
        return codec(self.compression).suffix + ".enc"

    def seal(
        self,
        run: BackupRun,
        source: IO[bytes] | Any,
        *,
        name: str,
        file_name: str,
        format_: str,
        expected_bytes: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Artifact:
        key = self.store.key(run.target, run.backup_id, file_name)
        run.written.append(key)  # before the upload: a failed multipart upload may still have completed
        stream = SealedStream(
            source,
            self.keys,
            level=self.compression_level,
            iterations=self.iterations,
            on_progress=Progress(f"{run.target} {name}", printer=self.log),
            compression=codec(self.compression),
        )
        try:
            self.store.upload_stream(key, stream, expected_bytes)
        finally:
            stream.close()  # after a failed upload the stages would wait on full queues for ever
        stats = stream.stats
        self.log(
            f"{run.target} {name}: {stats.plain_bytes:,} bytes -> {stats.cipher_bytes:,} "
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

    def compression_record(self) -> dict[str, Any]:
        return {"algorithm": self.compression, "level": self.compression_level}

    def commit(self, manifest: BackupManifest, run: BackupRun | None = None) -> None:
        """Write the manifest: from now on the backup exists. `run` records the key for the run's cleanup."""
        key = self.store.key(manifest.target, manifest.backup_id, MANIFEST)
        if run is not None:
            run.written.append(key)
        self.store.put_json(key, manifest.to_document(self.keys.mac))

    def record_verified(self, manifest: BackupManifest, result: dict[str, Any]) -> None:
        self.store.put_json(self.store.key(manifest.target, manifest.backup_id, VERIFIED), result)

    def discard(self, target: str, backup_id: str) -> None:
        self.store.delete_prefix(self.store.key(target, backup_id))

    def abandon(self, run: BackupRun) -> None:
        """Remove what a failed run wrote (its own keys only), without hiding the failure behind a cleanup error:
        the caller re-raises the original error, this only logs."""
        if not run.written:
            return
        try:
            self.store.delete_keys(run.written, self.store.key(run.target, run.backup_id))
        except Exception as error:
            self.log(
                f"{run.target}/{run.backup_id}: the partial upload was not removed ({error}); "
                "prune removes it after a day"
            )

    # --- reading ---------------------------------------------------------------------------------------------

    def manifest(self, target: str, backup_id: str) -> BackupManifest:
        """The manifest of a backup that can be restored: it verifies, and every object it names is there."""
        sizes = self.store.list_sizes(self.store.key(target, backup_id))
        where = f"s3://{self.store.config.bucket}/{self.store.key(target, backup_id)}"
        if not sizes:
            raise NotFoundError(f"backup {target}/{backup_id} not found (nothing under {where}/)")
        if self.store.key(target, backup_id, MANIFEST) not in sizes:
            raise NotFoundError(
                f"backup {target}/{backup_id} is incomplete: no manifest under {where}/ (it failed, or is still "
                "running); it cannot be restored"
            )
        return self._checked_manifest(target, backup_id, sizes)

    def _checked_manifest(self, target: str, backup_id: str, sizes: dict[str, int]) -> BackupManifest:
        key = self.store.key(target, backup_id, MANIFEST)
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
            size = sizes.get(artifact.key)
            if size is None:
                raise IntegrityError(f"{where}: artifact {artifact.name} is gone ({artifact.key})")
            if size != artifact.encrypted_bytes:
                raise IntegrityError(
                    f"{where}: artifact {artifact.name} is {size:,} bytes, the manifest says "
                    f"{artifact.encrypted_bytes:,} (truncated or replaced)"
                )
        return manifest

    def states(self, target: str) -> list[BackupState]:
        """Every id under the target, oldest first, with what it is worth (one listing, one GET per manifest)."""
        sizes = self.store.list_sizes(self.store.key(target))
        by_id: dict[str, dict[str, int]] = {}
        home = self.store.key(target) + "/"
        for key, size in sizes.items():
            backup_id = key[len(home) :].split("/", 1)[0]
            if _is_id(backup_id):
                by_id.setdefault(backup_id, {})[key] = size
        states = []
        for backup_id in sorted(by_id, key=_sort_key):
            objects = by_id[backup_id]
            if self.store.key(target, backup_id, MANIFEST) not in objects:
                states.append(BackupState(backup_id, "incomplete", "no manifest"))
                continue
            try:
                manifest = self._checked_manifest(target, backup_id, objects)
            except IntegrityError as error:
                states.append(BackupState(backup_id, "damaged", str(error)))
                continue
            verified = self.store.key(target, backup_id, VERIFIED) in objects
            states.append(BackupState(backup_id, "verified" if verified else "complete", "", manifest))
        return states

    def derive_keys_ahead(self, manifest: BackupManifest) -> None:
        """Start every artifact's key derivation now, side by side, so none waits for it later."""
        iterations = int(manifest.encryption.get("iterations", PBKDF2_ITERATIONS))
        for artifact in manifest.artifacts:
            with contextlib.suppress(ValueError):  # a salt that is not hex: the object's own header decides
                salt = bytes.fromhex(artifact.salt)
                self._derivations[artifact.key] = KeyDerivation(self.keys.encryption, salt, iterations)

    def fetch_plain(self, manifest: BackupManifest, artifact: Artifact, plain: Path) -> int:
        """Download, authenticate, decrypt and decompress an artifact to `plain` in one pass; returns its size.
        On any failure `plain` is removed."""
        try:
            with plain.open("wb") as target:
                return self.stream_plain(manifest, artifact, target)
        except BaseException:
            plain.unlink(missing_ok=True)
            raise

    def stream_plain(self, manifest: BackupManifest, artifact: Artifact, target: IO[bytes] | Any) -> int:
        """Write an artifact's plaintext to `target` as it downloads; raises IntegrityError when the object is
        not authentic once all of it has been read (the caller must then discard what `target` received)."""
        where = f"s3://{self.store.config.bucket}/{artifact.key}"
        self.log(f"{manifest.target} {artifact.name}: downloading {artifact.encrypted_bytes:,} bytes")
        written = unseal(
            self.store.stream(artifact.key),
            target,
            keys=self.keys,
            iterations=int(manifest.encryption.get("iterations", PBKDF2_ITERATIONS)),
            compression=codec(str(manifest.compression.get("algorithm", "gzip"))),
            encrypted_bytes=artifact.encrypted_bytes,
            hmac_hex=artifact.hmac,
            sha256_hex=artifact.sha256 or None,
            plain_bytes=artifact.plain_bytes or None,
            source=where,
            derivation=self._derivations.pop(artifact.key, None),
        )
        self.log(f"{manifest.target} {artifact.name}: HMAC and sha256 verified, {written:,} bytes decrypted")
        return written

    def backup_ids(self, target: str) -> list[str]:
        return sorted((i for i in self.store.list_children(self.store.key(target)) if _is_id(i)), key=_sort_key)

    def resolve(self, target: str, backup_id: str, verified_only: bool = False) -> str:
        if backup_id not in ("latest", "latest-verified"):
            parse_backup_id(backup_id)
            return backup_id
        wanted = ("verified",) if verified_only or backup_id == "latest-verified" else ("complete", "verified")
        states = self.states(target)
        candidates = [s.backup_id for s in states if s.state in wanted]
        if not candidates:
            kind = "verified " if "complete" not in wanted else "restorable "
            if damaged := [s for s in states if s.state == "damaged"]:
                raise IntegrityError(
                    f"no {kind}{target} backup: {len(damaged)} backup(s) do not verify, the newest "
                    f"{damaged[-1].backup_id}: {damaged[-1].reason}"
                )
            raise NotFoundError(
                f"no {kind}{target} backup in s3://{self.store.config.bucket}/{self.store.key(target)} "
                "(`backup list` shows what is there and why)"
            )
        chosen = candidates[-1]
        skipped = [s for s in states if s.state == "damaged" and _sort_key(s.backup_id) > _sort_key(chosen)]
        for state in skipped:
            self.log(f"WARNING: {target}/{state.backup_id} is newer but damaged, not used: {state.reason}")
        return chosen


def _is_id(name: str) -> bool:
    return _ID.fullmatch(name) is not None


def _sort_key(backup_id: str) -> tuple[datetime, str]:
    return parse_backup_id(backup_id), backup_id


@dataclass
class PrunePlan:
    keep: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    refusal: str = ""  # set when nothing may be deleted at all


PRUNE_RULES = """How prune decides, for each backup id under the target (the id's time is the backup's age):
  - restorable (its manifest verifies and every object it names is there):
      kept while younger than --retention-days; kept whatever its age when it is one of the newest
      --keep-verified test-restored ones, or the newest restorable backup of all; otherwise deleted.
  - incomplete (objects but no manifest: a failed run, or one still running):
      kept for a day (it may still be running), then deleted.
  - damaged (a manifest that does not verify, or objects gone or of the wrong size):
      never counted as the newest; deleted once older than --retention-days, like any other.
  - when no backup at all verifies but some have manifests, nothing is deleted: that is the wrong MAC key,
    not a bucket of damaged backups.
--dry-run prints the same decisions, each with its reason, and deletes nothing."""


def plan_prune(states: list[BackupState], *, retention: timedelta, keep_verified: int, now: datetime) -> PrunePlan:
    """What retention keeps (PRUNE_RULES says it in words, for --help and the docs)."""
    plan = PrunePlan()
    restorable = [s.backup_id for s in states if s.restorable]
    if not restorable and any(s.state == "damaged" for s in states):
        plan.refusal = (
            "no backup verifies with this MAC key although some have manifests: the key is probably wrong; "
            "nothing deleted"
        )
    verified = [s.backup_id for s in states if s.state == "verified"]
    protected = set(sorted(verified, key=_sort_key)[-keep_verified:]) if keep_verified > 0 else set()
    newest = max(restorable, key=_sort_key) if restorable else None
    for state in sorted(states, key=lambda s: _sort_key(s.backup_id)):
        backup_id = state.backup_id
        age = now - parse_backup_id(backup_id)
        age_text = f"{age.days} days old" if age.days else f"{age.seconds // 3600} h old"
        if state.state == "incomplete":
            keep, reason = (
                (False, f"incomplete (no manifest), {age_text}: a failed run")
                if age > ABANDONED_AFTER
                else (True, f"incomplete (no manifest), {age_text}: may still be running")
            )
        elif state.state == "damaged":
            keep, reason = (
                (True, f"damaged, within retention ({age_text}): {state.reason}")
                if age <= retention
                else (False, f"damaged and older than {retention.days} days: {state.reason}")
            )
        elif age <= retention:
            keep, reason = True, f"{state.state}, within retention ({age_text})"
        elif backup_id in protected:
            keep, reason = True, f"one of the newest {keep_verified} verified ({age_text})"
        elif backup_id == newest:
            keep, reason = True, f"the newest restorable backup ({age_text})"
        else:
            keep, reason = False, f"{state.state}, older than {retention.days} days ({age_text})"
        (plan.keep if keep or plan.refusal else plan.delete).append(backup_id)
        plan.reasons[backup_id] = reason
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
        try:
            for line in process.stderr:
                tail.append(line.rstrip())
                on_line(line.rstrip())
        except BaseException:
            # A signal or an error in on_line: the command must not outlive us (Popen's exit would wait for it).
            process.kill()
            raise
    if process.returncode != 0:
        shown = "\n".join(tail)[-2000:]
        raise BackupError(f"{what} failed (exit {process.returncode}): {shown}")
