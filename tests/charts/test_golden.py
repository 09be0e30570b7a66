"""The golden manifests in tests/golden match the templates (normalized), so every template change is seen."""

from __future__ import annotations

import shutil
from pathlib import Path

from archangel_helm.testing.golden import check, normalize, stale_files
from tests.support.project import PROJECT


def test_golden_manifests_match_the_templates() -> None:
    differing = [r for r in check(PROJECT) if r.diff]
    report = "\n".join(r.diff for r in differing)
    assert not differing, f"run `make golden` after reviewing:\n{report[:20000]}"


def test_no_stale_golden_files() -> None:
    assert stale_files(PROJECT) == []


def test_normalize_hides_only_volatile_lines() -> None:
    text = "  labels:\n    helm.sh/chart: archangel-0.1.0\n  annotations:\n    checksum/config: abc123\n    image: x:1.2.3\n"
    assert (
        normalize(text)
        == "  labels:\n    helm.sh/chart: <chart>\n  annotations:\n    checksum/config: <checksum>\n    image: x:1.2.3\n"
    )


def test_check_reports_a_changed_template_and_update_rewrites_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT, project, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "node_modules", "__pycache__")
    )
    extra = project / "charts" / "archangel" / "templates" / "extra.yaml"
    extra.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added-by-the-test\n")
    differing = [r for r in check(project) if r.diff]
    assert {r.shipped.chart.name for r in differing} == {"archangel"}
    assert all("+  name: added-by-the-test" in r.diff for r in differing)
    assert all(r.updated for r in check(project, update=True) if r.diff)
    assert [r for r in check(project) if r.diff] == []


def test_normalize_drops_what_helm_4_keeps_and_helm_3_trims_at_a_document_end() -> None:
    helm4 = "---\n# Source: c/a.yaml\na: 1\n\n    \n\n---\n# Source: c/b.yaml\nb: 2\n  \n"
    helm3 = "---\n# Source: c/a.yaml\na: 1\n---\n# Source: c/b.yaml\nb: 2\n"
    assert normalize(helm4) == normalize(helm3) == helm3
    assert normalize("---\na: |\n  x\n\n  y\n---\nb: 2\n") == "---\na: |\n  x\n\n  y\n---\nb: 2\n"  # inner blank kept
