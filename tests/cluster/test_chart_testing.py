"""The real chart-testing, built from tools/cluster, with the project's ct.yaml: `ct lint` (Chart.yaml schema,
yamllint, the version increment, `helm lint --strict` per ci values file) and `ct install` of every ci case
on the local control plane (install with --wait, `helm test`, uninstall). ct replaced the project's own copy
of its lint checks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.local_cluster import LocalCluster
from tests.support.project import PROJECT

CASES = sorted(p.relative_to(PROJECT).as_posix() for p in PROJECT.glob("charts/*/ci/*-values.yaml"))


def git(repository: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True, check=True).stdout


def test_ct_lint_passes_every_chart_and_ci_case(local_cluster: LocalCluster) -> None:
    done = local_cluster.try_run("ct", "lint", "--config", str(PROJECT / "ct.yaml"), "--all", timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All charts linted successfully" in output
    for case in CASES:
        assert f'Linting chart with values file "{case}"' in output


def test_ct_lint_refuses_a_chart_change_without_a_version_bump(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """A clone with the repository as its origin: a template change on a branch, against main."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(PROJECT), str(clone)], check=True)
    git(clone, "checkout", "--quiet", "-b", "change")
    git(clone, "config", "user.email", "ci@example.com")
    git(clone, "config", "user.name", "ci")
    service = clone / "charts" / "archangel" / "templates" / "core" / "service.yaml"
    service.write_text(service.read_text() + "\n")
    git(clone, "commit", "--quiet", "-am", "a template change")
    lint = ["ct", "lint", "--config", "ct.yaml", "--target-branch", "main"]  # the charts changed against main
    refused = subprocess.run(lint, cwd=clone, env=local_cluster.env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert "chart version not ok. Needs a version bump!" in refused.stdout + refused.stderr
    chart_yaml = clone / "charts" / "archangel" / "Chart.yaml"
    version = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", chart_yaml.read_text(), re.MULTILINE)
    assert version
    bumped = f"version: {version[1]}.{version[2]}.{int(version[3]) + 1}"
    chart_yaml.write_text(chart_yaml.read_text().replace(version[0], bumped))
    git(clone, "commit", "--quiet", "-am", "bump")
    accepted = subprocess.run(lint, cwd=clone, env=local_cluster.env, capture_output=True, text=True, check=False)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_ct_install_installs_tests_and_removes_every_ci_case(clean_cluster: LocalCluster) -> None:
    command = ["ct", "install", "--config", str(PROJECT / "ct.yaml"), "--all", "--helm-extra-args", "--timeout 300s"]
    done = clean_cluster.try_run(*command, timeout=1800)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "All charts installed successfully" in output
    for case in CASES:
        assert f'Installing chart with values file "{case}"' in output
    assert output.count("Phase:          Succeeded") == len(CASES)  # one helm test per case
    releases = clean_cluster.helm("list", "--all-namespaces", "--short").split()
    assert releases == []  # ct removed every release and its namespace


@pytest.fixture(autouse=True)
def _in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)  # ct resolves chart-dirs and the linter files from the working directory
