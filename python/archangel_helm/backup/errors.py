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


class NotFoundError(BackupError):
    """The backup asked for does not exist, or never completed (exit 5)."""

    exit_code = 5


class TerminatedError(BaseException):
    """SIGTERM, SIGINT or SIGHUP arrived: the run stopped after removing decrypted data and its partial
    uploads (exit 128 + the signal's number, as a shell reports a process the signal killed).

    A BaseException, like KeyboardInterrupt: the `except Exception` of a library on the way (urllib3, boto3)
    must not turn the signal into an error it handles and carries on after."""

    def __init__(self, signal_number: int, name: str) -> None:
        super().__init__(f"stopped by {name}: decrypted files and this run's partial uploads were removed")
        self.exit_code = 128 + signal_number
