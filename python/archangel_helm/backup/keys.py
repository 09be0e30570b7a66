"""Backup keys: read from files (the chart mounts them) or environment variables, never from arguments,
and checked before any work starts.

A key is one line: its bytes without a trailing newline. That is what `openssl enc -pass file:` takes as the
passphrase and what the by-hand HMAC recipe in docs/DISASTER_RECOVERY.md feeds `openssl dgst`, so the tool and
the standard tools agree on every key file; a key with a second line or a carriage return is refused rather
than read differently by each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from archangel_helm.backup.errors import BackupConfigError

ENCRYPTION_KEY_ENV = "ARCHANGEL_BACKUP_ENCRYPTION_KEY"
MAC_KEY_ENV = "ARCHANGEL_BACKUP_MAC_KEY"
MIN_KEY_BYTES = 16


@dataclass(frozen=True, repr=False)
class BackupKeys:
    encryption: bytes  # the openssl enc passphrase
    mac: bytes  # the HMAC-SHA256 key

    def __repr__(self) -> str:  # never show key material in logs or tracebacks
        return "BackupKeys(<redacted>)"


def _read(name: str, file: Path | None, env: str) -> bytes:
    if file is not None:
        try:
            value = file.read_bytes().rstrip(b"\n")
        except OSError as error:
            raise BackupConfigError(f"{name} key file {file}: {error.strerror}") from error
        source = str(file)
    elif os.environ.get(env):
        value = os.environ[env].encode().rstrip(b"\n")
        source = f"${env}"
    else:
        raise BackupConfigError(
            f"no {name} key: pass --{name}-key-file or set {env} (keys are never taken as arguments)"
        )
    if b"\n" in value or b"\r" in value:
        raise BackupConfigError(
            f"{name} key from {source} has more than one line or a carriage return; a key is one line "
            "(openssl's -pass file: reads only the first)"
        )
    if len(value) < MIN_KEY_BYTES:
        raise BackupConfigError(
            f"{name} key from {source} is {len(value)} bytes; at least {MIN_KEY_BYTES} are required"
        )
    return value


def load_keys(encryption_file: Path | None = None, mac_file: Path | None = None) -> BackupKeys:
    encryption = _read("encryption", encryption_file, ENCRYPTION_KEY_ENV)
    mac = _read("mac", mac_file, MAC_KEY_ENV)
    if encryption == mac:
        raise BackupConfigError("the encryption and MAC keys are the same; they must be independent keys")
    return BackupKeys(encryption, mac)
