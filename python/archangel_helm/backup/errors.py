"""Backup errors, each mapped to the exit code the CronJobs and operators see."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, restore or verification failed (exit 1)."""

    exit_code = 1


class BackupConfigError(BackupError):
    """Bad or missing configuration: nothing was done (exit 2)."""

    exit_code = 2


class IntegrityError(BackupError):
    """A backup object does not match its MAC, digest or manifest: it was not decrypted (exit 3)."""

    exit_code = 3


class RefusedError(BackupError):
    """The operation would overwrite data and was not told to (exit 4)."""

    exit_code = 4
