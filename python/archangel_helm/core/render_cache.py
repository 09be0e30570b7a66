"""A two-level cache for render results: in memory, and on disk shared by concurrent processes.

pytest-xdist workers render the same inputs at the same time; a per-key file lock makes one of them render
while the others wait and then read its result, and results are written to a temporary file and renamed so
a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

CACHE_ENV = "ARCHANGEL_HELM_CACHE"


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "archangel-helm" / "renders"


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


@dataclass
class RenderCache:
    """Maps a key (a sha256 hex string) to a JSON-serialisable record."""

    directory: Path | None = field(default_factory=default_cache_dir)
    stats: CacheStats = field(default_factory=CacheStats)
    _memory: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key in self._memory:
            self.stats.memory_hits += 1
            return self._memory[key]
        if self.directory is None:
            self.stats.misses += 1
            record = compute()
        else:
            record = self._from_disk(key, compute)
        self._memory[key] = record
        return record

    def _from_disk(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{key}.json"
        with FileLock(str(path) + ".lock", timeout=600):
            if path.exists():
                try:
                    record: dict[str, Any] = json.loads(path.read_text())
                    self.stats.disk_hits += 1
                    return record
                except (OSError, ValueError):
                    path.unlink(missing_ok=True)  # a corrupt entry is recomputed, never trusted
            self.stats.misses += 1
            record = compute()
            fd, staging = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            Path(staging).replace(path)
            return record

    def clear(self) -> int:
        """Forget everything; returns how many disk entries were removed."""
        self._memory.clear()
        removed = 0
        if self.directory is not None and self.directory.is_dir():
            for entry in self.directory.glob("*.json"):
                entry.unlink(missing_ok=True)
                removed += 1
            for lock in self.directory.glob("*.lock"):
                lock.unlink(missing_ok=True)
        return removed
