"""environments.yaml: the charts, values files and cluster capabilities that make up each environment."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.release_inputs import ReleaseInputs

ENVIRONMENTS_FILE = "environments.yaml"


@dataclass(frozen=True)
class ReleaseSpec:
    name: str
    chart: Path
    namespace: str
    values_files: tuple[Path, ...]
    # Example site values (documentation placeholders for what only the site knows): what `plan`, `check`, the
    # goldens and the tests render with; never what `deploy` installs unless asked (--example-values).
    example_values_files: tuple[Path, ...] = ()

    def inputs(self, kube_version: str | None = None, api_versions: tuple[str, ...] = ()) -> ReleaseInputs:
        """This release as Helm renders or installs it (its values files in order), for a cluster of this
        version and APIs."""
        return ReleaseInputs(self.chart, self.values_files, self.name, self.namespace, kube_version, api_versions)


@dataclass(frozen=True)
class VerifySpec:
    """Where post-deploy verification looks: Prometheus (through the API server's service proxy) and the URL the
    load check drives."""

    prometheus_namespace: str = "monitoring"
    prometheus_service: str = "prometheus-operated"
    prometheus_port: int = 9090
    load_url: str | None = None
    load_concurrency: int = 50
    load_duration: float = 30.0


@dataclass(frozen=True)
class Environment:
    name: str
    kube_version: str
    api_versions: tuple[str, ...]
    releases: tuple[ReleaseSpec, ...]
    verify: VerifySpec = VerifySpec()

    def release(self, name: str) -> ReleaseSpec:
        for release in self.releases:
            if release.name == name:
                return release
        raise ConfigurationError(f"environment {self.name!r} has no release {name!r}")

    def with_extra_values(self, extra: dict[str, tuple[Path, ...]]) -> Environment:
        """The same environment with more values files after a release's own (later files win, as with -f):
        site-specific identities, or a test cluster's settings."""
        unknown = sorted(set(extra) - {r.name for r in self.releases})
        if unknown:
            known = ", ".join(r.name for r in self.releases)
            raise ConfigurationError(f"environment {self.name!r} has no release {', '.join(unknown)} (it has {known})")
        for files in extra.values():
            for file in files:
                if not file.is_file():
                    raise ConfigurationError(f"values file {file} does not exist")
        releases = tuple(replace(r, values_files=(*r.values_files, *extra.get(r.name, ()))) for r in self.releases)
        return replace(self, releases=releases)

    def with_example_values(self) -> Environment:
        """The environment with each release's example site values after its own files."""
        return self.with_extra_values({r.name: r.example_values_files for r in self.releases})

    def inputs(self, release: ReleaseSpec | str) -> ReleaseInputs:
        """A release (or the release of a chart, by the chart's name) as this environment deploys it: its values
        files in order, its release name and namespace, the environment's Kubernetes version and APIs."""
        if isinstance(release, str):
            names = {r.name for r in self.releases}
            release = self.release(release) if release in names else self.release_for_chart(release)
        return release.inputs(self.kube_version or None, self.api_versions)

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
        document = yamlio.load(path.read_text())
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
    unknown = set(entry) - {"kubeVersion", "apiVersions", "releases", "verify"}
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: kubeVersion, apiVersions, releases, verify"
        )
    releases = []
    for index, release in enumerate(entry.get("releases") or []):
        field = f"{where}.releases[{index}]"
        missing = {"name", "chart", "namespace", "valuesFiles"} - set(release)
        if missing:
            raise ConfigurationError(f"{field}: missing {sorted(missing)}")
        unknown = set(release) - {"name", "chart", "namespace", "valuesFiles", "exampleValuesFiles"}
        if unknown:
            raise ConfigurationError(
                f"{field}: unknown keys {sorted(unknown)}; allowed: name, chart, namespace, valuesFiles, "
                "exampleValuesFiles"
            )
        files = {
            key: tuple(project / f for f in release.get(key) or ()) for key in ("valuesFiles", "exampleValuesFiles")
        }
        for key, paths in files.items():
            for file in paths:
                if not file.is_file():
                    raise ConfigurationError(f"{field}.{key}: {file} does not exist")
        releases.append(
            ReleaseSpec(
                release["name"],
                project / release["chart"],
                release["namespace"],
                files["valuesFiles"],
                files["exampleValuesFiles"],
            )
        )
    if not releases:
        raise ConfigurationError(f"{where}.releases: at least one release is required")
    return Environment(
        name=name,
        kube_version=str(entry.get("kubeVersion") or ""),
        api_versions=tuple(str(a) for a in entry.get("apiVersions") or ()),
        releases=tuple(releases),
        verify=_verify({} if entry.get("verify") is None else entry["verify"], f"{where}.verify"),
    )


def _mapping(entry: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: expected a mapping")
    if set(entry) - allowed:
        raise ConfigurationError(f"{where}: unknown keys {sorted(set(entry) - allowed)}; allowed: {sorted(allowed)}")
    return entry


def _number(entry: dict[str, Any], key: str, default: float, where: str, *, minimum: float, maximum: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise ConfigurationError(f"{where}.{key}: {value!r} is not a number from {minimum:g} to {maximum:g}")
    return float(value)


def _verify(entry: Any, where: str) -> VerifySpec:
    entry = _mapping(entry, where, {"prometheus", "loadCheck"})
    prometheus = _mapping(
        {} if entry.get("prometheus") is None else entry["prometheus"],
        f"{where}.prometheus",
        {"namespace", "service", "port"},
    )
    load = _mapping(
        {} if entry.get("loadCheck") is None else entry["loadCheck"],
        f"{where}.loadCheck",
        {"url", "concurrency", "durationSeconds"},
    )
    url = load.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ConfigurationError(f"{where}.loadCheck.url: {url!r} is not an http:// or https:// URL")
    for key in ("namespace", "service"):
        if key in prometheus and not (isinstance(prometheus[key], str) and prometheus[key]):
            raise ConfigurationError(f"{where}.prometheus.{key}: expected a non-empty name")
    port = _number(prometheus, "port", 9090, f"{where}.prometheus", minimum=1, maximum=65535)
    concurrency = _number(load, "concurrency", 50, f"{where}.loadCheck", minimum=1, maximum=10000)
    if port != int(port) or concurrency != int(concurrency):
        raise ConfigurationError(f"{where}: port and loadCheck.concurrency must be whole numbers")
    return VerifySpec(
        prometheus_namespace=prometheus.get("namespace", "monitoring"),
        prometheus_service=prometheus.get("service", "prometheus-operated"),
        prometheus_port=int(port),
        load_url=url,
        load_concurrency=int(concurrency),
        load_duration=_number(load, "durationSeconds", 30, f"{where}.loadCheck", minimum=1, maximum=3600),
    )
