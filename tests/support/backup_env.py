"""A backup run's environment, as the CronJobs pass it, against the local S3 server."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import servers


@dataclass
class BackupEnv:
    """Everything a `archangel-helm backup ...` run needs, as the CronJobs pass it: environment variables."""

    env: dict[str, str]
    bucket: str
    s3: servers.S3Server
    encryption_key: Path
    mac_key: Path
    workdir: Path

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, str, str]:
        executable = shutil.which("archangel-helm")
        assert executable, "archangel-helm is not installed (make setup)"
        result = subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            env={**self.env, **(extra_env or {})},
            check=False,
            timeout=600,
        )
        return result.returncode, result.stdout, result.stderr

    def objects(self) -> dict[str, int]:
        listing = self.s3.client().list_objects_v2(Bucket=self.bucket)
        return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}
