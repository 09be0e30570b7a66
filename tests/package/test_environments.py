"""environments.yaml: loading and the errors a bad file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from archangel_helm.environments import find_project_root, load_environment, load_environments
from archangel_helm.errors import ConfigurationError
from tests.conftest import PROJECT


def test_shipped_environments_load() -> None:
    environments = load_environments(PROJECT)
    assert set(environments) == {"production", "staging"}
    production = environments["production"]
    assert [r.name for r in production.releases] == ["archangel-monitoring", "archangel"]
    assert production.release_for_chart("archangel").values_files == (PROJECT / "values" / "production.yaml",)


def test_project_root_is_found_from_a_subdirectory() -> None:
    assert find_project_root(PROJECT / "charts" / "archangel" / "templates") == PROJECT


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "environments.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "expected a non-empty 'environments' mapping"),
        ("environments: {prod: {replicas: 3, releases: []}}", r"environments.prod: unknown keys \['replicas'\]"),
        ("environments: {prod: {releases: []}}", "at least one release is required"),
        (
            "environments: {prod: {releases: [{name: a, chart: c}]}}",
            r"releases\[0\]: missing \['namespace', 'valuesFiles'\]",
        ),
        (
            "environments: {prod: {releases: [{name: a, chart: c, namespace: n, valuesFiles: [nope.yaml]}]}}",
            "nope.yaml does not exist",
        ),
    ],
)
def test_bad_environment_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_environments(_write(tmp_path, text))


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown environment 'prod'.*\['production', 'staging'\]"):
        load_environment(PROJECT, "prod")
