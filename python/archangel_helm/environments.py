"""environments.yaml: the charts, values files and cluster capabilities that make up each environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigurationError

ENVIRONMENTS_FILE = "environments.yaml"


@dataclass(frozen=True)
class ReleaseSpec:
    name: str
    chart: Path
    namespace: str
    values_files: tuple[Path, ...]


@dataclass(frozen=True)
class Environment:
    name: str
    kube_version: str
    api_versions: tuple[str, ...]
    releases: tuple[ReleaseSpec, ...]

    def release(self, name: str) -> ReleaseSpec:
        for release in self.releases:
            if release.name == name:
                return release
        raise ConfigurationError(f"environment {self.name!r} has no release {name!r}")

    def release_for_chart(self, chart_name: str) -> ReleaseSpec:
        for release in self.releases:
            if release.chart.name == chart_name:
                return release
        raise ConfigurationError(f"environment {self.name!r} does not deploy chart {chart_name!r}")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above start that holds environments.yaml."""
    current = (start or Path.cwd()).resolve()
    for candidate in (current, *current.parents):
        if (candidate / ENVIRONMENTS_FILE).is_file():
            return candidate
    raise ConfigurationError(f"no {ENVIRONMENTS_FILE} found in {current} or any parent; pass --project")


def load_environments(project: Path) -> dict[str, Environment]:
    path = project / ENVIRONMENTS_FILE
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error}") from error
    entries = (document or {}).get("environments")
    if not isinstance(entries, dict) or not entries:
        raise ConfigurationError(f"{path}: expected a non-empty 'environments' mapping")
    return {name: _environment(project, path, name, entry) for name, entry in entries.items()}


def load_environment(project: Path, name: str) -> Environment:
    environments = load_environments(project)
    if name not in environments:
        raise ConfigurationError(
            f"unknown environment {name!r}; {project / ENVIRONMENTS_FILE} defines {sorted(environments)}"
        )
    return environments[name]


def _environment(project: Path, path: Path, name: str, entry: Any) -> Environment:
    where = f"{path}: environments.{name}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: expected a mapping")
    unknown = set(entry) - {"kubeVersion", "apiVersions", "releases"}
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: kubeVersion, apiVersions, releases"
        )
    releases = []
    for index, release in enumerate(entry.get("releases") or []):
        field = f"{where}.releases[{index}]"
        missing = {"name", "chart", "namespace", "valuesFiles"} - set(release)
        if missing:
            raise ConfigurationError(f"{field}: missing {sorted(missing)}")
        files = tuple(project / f for f in release["valuesFiles"])
        for file in files:
            if not file.is_file():
                raise ConfigurationError(f"{field}.valuesFiles: {file} does not exist")
        releases.append(ReleaseSpec(release["name"], project / release["chart"], release["namespace"], files))
    if not releases:
        raise ConfigurationError(f"{where}.releases: at least one release is required")
    return Environment(
        name=name,
        kube_version=str(entry.get("kubeVersion") or ""),
        api_versions=tuple(str(a) for a in entry.get("apiVersions") or ()),
        releases=tuple(releases),
    )
