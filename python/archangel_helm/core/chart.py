"""A chart on disk: its metadata, a content hash, and the Kubernetes versions it declares."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError

KubeVersion = tuple[int, int]


@dataclass(frozen=True)
class Chart:
    """A chart directory (never a packaged .tgz: the tests read its files)."""

    path: Path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Chart:
        chart = cls(Path(path).resolve())
        if not (chart.path / "Chart.yaml").is_file():
            raise ConfigurationError(f"{path}: not a chart directory (no Chart.yaml)")
        return chart

    @cached_property
    def metadata(self) -> dict[str, Any]:
        data = yamlio.load((self.path / "Chart.yaml").read_text())
        if not isinstance(data, dict):
            raise ConfigurationError(f"{self.path / 'Chart.yaml'}: expected a mapping")
        return data

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def kube_version_constraint(self) -> str:
        constraint = self.metadata.get("kubeVersion")
        if not constraint:
            raise ConfigurationError(f"{self.path / 'Chart.yaml'}: kubeVersion is not set")
        return str(constraint)

    def content_hash(self) -> str:
        """sha256 over every file's relative path and bytes: any edit to the chart changes it."""
        digest = hashlib.sha256()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            relative = file.relative_to(self.path).as_posix()
            if relative.startswith(".git/") or "/__pycache__/" in f"/{relative}":
                continue
            digest.update(relative.encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()


_BOUND = re.compile(r"(>=|>|<=|<|=|\^|~)?\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.]+)?")


def kube_version_bounds(constraint: str) -> tuple[KubeVersion, KubeVersion | None]:
    """The oldest minor a kubeVersion constraint admits and the newest (None when unbounded).

    Only the forms charts actually use are accepted (`>=1.29.0-0`, `>=1.29.0-0 <1.38.0-0`); anything else is
    an error rather than a guess, because the validation matrix is derived from it.
    """
    lower: KubeVersion | None = None
    upper: KubeVersion | None = None
    normalized = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", constraint.replace(",", " "))
    for part in normalized.split():
        match = _BOUND.fullmatch(part)
        if not match:
            raise ConfigurationError(
                f"kubeVersion {constraint!r}: cannot read {part!r}; use e.g. '>=1.29.0-0 <1.38.0-0'"
            )
        operator = match[1] or "="
        minor = (int(match[2]), int(match[3]))
        patch = int(match[4] or 0)
        if operator in (">=", ">", "=", "^", "~"):
            lower = minor
        if operator == "<":
            upper = minor if patch > 0 else (minor[0], minor[1] - 1)
        elif operator in ("<=", "="):
            upper = minor
    if lower is None:
        raise ConfigurationError(
            f"kubeVersion {constraint!r}: no lower bound (>=); the oldest supported version must be explicit"
        )
    return lower, upper


def format_kube_version(version: KubeVersion) -> str:
    return f"{version[0]}.{version[1]}"
