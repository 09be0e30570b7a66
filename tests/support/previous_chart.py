"""The chart as it was released at its previous version, from the repository's history: what `ct install
--upgrade` upgrades from (there, the target branch's chart). charts/RELEASES.yaml names the commit of each
chart's releases; the values files come from the same commit."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class PreviousChart:
    commit: str
    version: str
    root: Path  # a copy of the repository's charts/ and values/ at that commit

    def chart(self, name: str) -> Path:
        return self.root / "charts" / name

    def values(self, name: str) -> Path:
        return self.root / "values" / name


def previous_chart(project: Path, chart: str, directory: Path) -> PreviousChart | None:
    """The newest release of the chart older than the current version; None when there is none or the clone
    lacks its commit (a shallow clone)."""
    current = yaml.safe_load((project / "charts" / chart / "Chart.yaml").read_text())["version"]
    releases = (yaml.safe_load((project / "charts" / "RELEASES.yaml").read_text()) or {}).get(chart) or []
    older = [r for r in releases if _semver(str(r["version"])) < _semver(str(current))]
    if not older:
        return None
    release = max(older, key=lambda r: _semver(str(r["version"])))
    archive = subprocess.run(
        ["git", "-C", str(project), "archive", str(release["commit"]), "charts", "values"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return PreviousChart(str(release["commit"]), str(release["version"]), directory)


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-", maxsplit=1)[0].split("."))
