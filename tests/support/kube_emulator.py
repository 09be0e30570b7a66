"""The Kubernetes API emulator (kmock) as the end-to-end tests drive it."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class KubeEmulator:
    """kmock's stateful Kubernetes API emulator, and a kubeconfig that points the real client at it."""

    server: Any
    kubeconfig: Path

    async def run(self, *args: str) -> tuple[int, str, str]:
        """Run `python -m <args>` against the emulator; the event loop keeps serving while it runs."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *args,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), "POD_NAMESPACE": ""},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    def writes(self) -> list[Any]:
        return [
            r for r in self.server if str(r.method).rsplit(".", 1)[-1].upper() in ("POST", "PUT", "PATCH", "DELETE")
        ]
