"""environments.yaml: loading and the errors a bad file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.plan.environments import find_project_root, load_environment, load_environments
from tests.support.project import PROJECT


def test_shipped_environments_load() -> None:
    environments = load_environments(PROJECT)
    assert set(environments) == {"production", "staging"}
    production = environments["production"]
    assert [r.name for r in production.releases] == ["archangel", "archangel-monitoring"]
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


def test_shipped_environments_say_where_verification_looks() -> None:
    production = load_environment(PROJECT, "production").verify
    assert (production.prometheus_namespace, production.prometheus_service, production.prometheus_port) == (
        "monitoring",
        "prometheus-operated",
        9090,
    )
    assert production.load_url == "https://api.archangel.example.com/healthz/ready"
    assert production.load_concurrency == 50


@pytest.mark.parametrize(
    ("verify", "message"),
    [
        ("[]", r"\.verify: expected a mapping"),
        ("{smoke: {}}", r"\.verify: unknown keys \['smoke'\]"),
        ("{prometheus: {url: x}}", r"\.verify\.prometheus: unknown keys \['url'\]"),
        ("{prometheus: {port: 70000}}", r"\.verify\.prometheus\.port: 70000 is not a number from 1 to 65535"),
        ("{prometheus: {port: '9090'}}", r"\.verify\.prometheus\.port: '9090' is not a number"),
        ("{prometheus: {service: ''}}", r"\.verify\.prometheus\.service: expected a non-empty name"),
        ("{loadCheck: {url: 'ftp://x'}}", r"\.verify\.loadCheck\.url: 'ftp://x' is not an http:// or https:// URL"),
        ("{loadCheck: {concurrency: 0}}", r"\.verify\.loadCheck\.concurrency: 0 is not a number from 1 to 10000"),
        ("{loadCheck: {concurrency: 2.5}}", r"loadCheck\.concurrency must be whole numbers"),
        ("{loadCheck: {durationSeconds: true}}", r"\.verify\.loadCheck\.durationSeconds: True is not a number"),
    ],
)
def test_bad_verify_blocks_name_the_field(tmp_path: Path, verify: str, message: str) -> None:
    (tmp_path / "v.yaml").write_text("{}\n")
    text = f"environments: {{prod: {{verify: {verify}, releases: [{{name: a, chart: c, namespace: n, valuesFiles: [v.yaml]}}]}}}}"
    with pytest.raises(ConfigurationError, match=message):
        load_environments(_write(tmp_path, text))
