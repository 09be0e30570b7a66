"""`archangel-helm promote`: production's Argo CD pin moves only to an immutable revision staging has run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from archangel_helm.cli import main
from tests.support.project import PROJECT


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the project's argocd/production.yaml on main, a release tag, and a feature branch."""
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "config", "user.name", "test")
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd" / "production.yaml").write_text((PROJECT / "argocd" / "production.yaml").read_text())
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "release")
    git(tmp_path, "tag", "v0.3.0")
    git(tmp_path, "switch", "-q", "-c", "feature")
    (tmp_path / "feature.txt").write_text("not merged\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "unmerged work")
    git(tmp_path, "switch", "-q", "main")
    return tmp_path


def pins(repo: Path) -> list[str]:
    text = (repo / "argocd" / "production.yaml").read_text()
    return [
        line.split("targetRevision:")[1].split("#")[0].strip()
        for line in text.splitlines()
        if "targetRevision:" in line
    ]


def test_a_release_tag_on_main_is_promoted_keeping_the_files_comments(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (repo / "argocd" / "production.yaml").read_text()
    assert main(["promote", "v0.3.0", "--project", str(repo)]) == 0
    assert pins(repo) == ["v0.3.0", "v0.3.0"]
    after = (repo / "argocd" / "production.yaml").read_text()
    assert [line for line in after.splitlines() if line.startswith("#")] == [
        line for line in before.splitlines() if line.startswith("#")
    ]
    assert "# a release tag; promoted from staging" in after
    assert "-> v0.3.0" in capsys.readouterr().out


def test_a_full_commit_on_main_is_promoted(repo: Path) -> None:
    commit = git(repo, "rev-parse", "main")
    assert main(["promote", commit, "--project", str(repo)]) == 0
    assert pins(repo) == [commit, commit]


@pytest.mark.parametrize(
    ("revision", "message"),
    [
        ("main", "never a branch or a short id"),
        ("feature", "never a branch or a short id"),
        ("SHORT", "never a branch or a short id"),
        ("FEATURE_COMMIT", "is not on main: staging follows main, so it has never run this revision"),
        ("v9.9.9", "git knows no such tag or commit"),
    ],
)
def test_a_revision_staging_has_not_run_or_that_moves_is_refused_and_nothing_is_written(
    repo: Path, capsys: pytest.CaptureFixture[str], revision: str, message: str
) -> None:
    revision = {
        "SHORT": git(repo, "rev-parse", "--short", "main"),
        "FEATURE_COMMIT": git(repo, "rev-parse", "feature"),
    }.get(revision, revision)
    before = (repo / "argocd" / "production.yaml").read_text()
    assert main(["promote", revision, "--project", str(repo)]) == 2
    assert message in capsys.readouterr().err
    assert (repo / "argocd" / "production.yaml").read_text() == before
