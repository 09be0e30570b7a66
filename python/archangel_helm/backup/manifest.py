"""The manifest written beside every backup: what was stored, how to check it and what it should restore to.

The manifest is itself authenticated (HMAC over its canonical JSON with the MAC key), so row counts and
digests cannot be edited to match a swapped object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from archangel_helm.backup.errors import IntegrityError

FORMAT_VERSION = 1


@dataclass
class Artifact:
    name: str  # "database", "globals", or a Qdrant collection name
    key: str  # object key in the bucket
    format: str  # "pg_dump-custom", "sql", "qdrant-snapshot"
    plain_bytes: int
    compressed_bytes: int
    encrypted_bytes: int
    sha256: str
    hmac: str
    salt: str
    details: dict[str, Any] = field(default_factory=dict)  # row counts, point counts, ...


@dataclass
class BackupManifest:
    target: str  # "database" or "vectorstore"
    backup_id: str
    started_at: str
    finished_at: str
    duration_seconds: float
    artifacts: list[Artifact]
    encryption: dict[str, Any]
    compression: dict[str, Any]
    versions: dict[str, str]
    source: dict[str, Any]
    format_version: int = FORMAT_VERSION

    @property
    def total_bytes(self) -> int:
        return sum(a.encrypted_bytes for a in self.artifacts)

    def artifact(self, name: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        raise IntegrityError(
            f"backup {self.backup_id} has no artifact {name!r} (it has {[a.name for a in self.artifacts]})"
        )

    def to_document(self, mac_key: bytes) -> dict[str, Any]:
        body = asdict(self)
        return {**body, "manifest_hmac": _mac(body, mac_key)}

    @classmethod
    def from_document(cls, document: dict[str, Any], mac_key: bytes, source: str) -> BackupManifest:
        body = {k: v for k, v in document.items() if k != "manifest_hmac"}
        expected = document.get("manifest_hmac")
        if not isinstance(expected, str) or not hmac.compare_digest(expected, _mac(body, mac_key)):
            raise IntegrityError(f"{source}: manifest HMAC mismatch (edited, or made with another MAC key)")
        if body.get("format_version") != FORMAT_VERSION:
            raise IntegrityError(f"{source}: manifest format {body.get('format_version')} is not {FORMAT_VERSION}")
        try:
            artifacts = [Artifact(**a) for a in body.pop("artifacts")]
            return cls(artifacts=artifacts, **body)
        except (KeyError, TypeError) as error:  # signed, yet not of this format: written by a broken version
            raise IntegrityError(f"{source}: manifest fields do not match format {FORMAT_VERSION} ({error})") from None


def _mac(body: dict[str, Any], key: bytes) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()
