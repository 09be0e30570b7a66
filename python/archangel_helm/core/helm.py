"""Find the helm binary and tell its version; run it."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from archangel_helm.core.errors import HelmNotFoundError

MINIMUM_HELM = (3, 14, 0)
HELM_ENV = "ARCHANGEL_HELM"


@dataclass(frozen=True)
class Helm:
    """A helm executable and the version it reports."""

    executable: str
    version: tuple[int, int, int]
    build: str  # the full `helm version --short` text, part of every render cache key

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def version_text(self) -> str:
        return "v" + ".".join(str(part) for part in self.version)

    def run(self, args: list[str], stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.executable, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )


def find_helm(executable: str | os.PathLike[str] | None = None) -> Helm:
    """The helm to use: the argument, else $ARCHANGEL_HELM, else `helm` on PATH."""
    chosen = str(executable) if executable else os.environ.get(HELM_ENV) or "helm"
    resolved = shutil.which(chosen)
    if resolved is None:
        raise HelmNotFoundError(
            f"helm executable {chosen!r} not found on PATH; run `make setup` (it installs helm into .venv/bin) "
            f"or set {HELM_ENV} to a helm >= {'.'.join(map(str, MINIMUM_HELM))}"
        )
    return _probe(str(Path(resolved).resolve()))


@functools.cache
def _probe(executable: str) -> Helm:
    try:
        out = subprocess.run(
            [executable, "version", "--short"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise HelmNotFoundError(f"{executable}: `helm version --short` failed: {error}") from error
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    if not match:
        raise HelmNotFoundError(f"{executable}: cannot read a version from {out!r}")
    version = (int(match[1]), int(match[2]), int(match[3]))
    if version < MINIMUM_HELM:
        raise HelmNotFoundError(
            f"{executable} is helm {out}; archangel_helm needs helm >= {'.'.join(map(str, MINIMUM_HELM))}"
        )
    return Helm(executable=executable, version=version, build=out)
