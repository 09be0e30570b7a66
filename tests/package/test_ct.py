"""`archangel-helm ct lint`: chart-testing's lint checks, offline. It passes on the shipped charts, and on a
copy of a chart broken for the test it fails the right check with the right message: a Chart.yaml missing a
required field, a yamllint error in values.yaml, a `helm lint --strict` failure, and a changed chart whose
version was not bumped against the target branch (a git repository made for the test)."""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from archangel_helm import ct
from archangel_helm.ct import FAIL, PASS, SKIP, CheckResult, CtConfig, LintReport, SemVer, lint
from archangel_helm.errors import ConfigurationError
from tests.conftest import APP_CHART, PROJECT

CT_YAML = PROJECT / "ct.yaml"
LINTERS = PROJECT / ".github" / "linters"
GIT_IDENTITY = ("-c", "user.name=ct test", "-c", "user.email=ct@test.invalid", "-c", "commit.gpgsign=false")


def make_project(root: Path, charts: tuple[Path, ...] = (APP_CHART,)) -> Path:
    """A project beside the real one: its ct.yaml and lint configs, and copies of the given charts."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(CT_YAML, root / "ct.yaml")
    shutil.copytree(LINTERS, root / ".github" / "linters")
    for chart in charts:
        shutil.copytree(chart, root / "charts" / chart.name)
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_as_main(root: Path) -> None:
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "the target branch")


def results(report: LintReport, check_prefix: str) -> list[CheckResult]:
    found = [r for r in report.results if r.check.startswith(check_prefix)]
    assert found, f"no {check_prefix!r} check in {[r.check for r in report.results]}"
    return found


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="archangel-helm")
    ct.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


# --- the shipped charts -----------------------------------------------------------------------------------


def test_shipped_charts_pass_every_check_with_all(tmp_path: Path) -> None:
    """Every chart of the repository, committed as `main` in a fresh repository so the version check runs."""
    charts = tuple(sorted(p.parent for p in (PROJECT / "charts").glob("*/Chart.yaml")))
    project = make_project(tmp_path / "repo", charts)
    commit_as_main(project)
    report = lint(CtConfig.load(project / "ct.yaml"), all_charts=True)
    assert [r.line() for r in report.results if r.status != PASS] == []
    assert {r.chart for r in report.results} == {c.name for c in charts}
    for chart in charts:
        helm_checks = {r.check for r in report.results if r.chart == chart.name and r.check.startswith("helm lint")}
        expected = {"helm lint --strict (chart defaults)"} | {
            f"helm lint --strict (-f ci/{f.name})" for f in sorted((chart / "ci").glob("*-values.yaml"))
        }
        assert helm_checks == expected
    assert all(r.detail.startswith("unchanged since main (version ") for r in results(report, "version increment"))


def test_in_place_without_a_target_branch_ref_the_version_check_is_skipped_saying_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["ct", "lint", "--all", "--config", str(CT_YAML), "--target-branch", "no-such-branch-x7"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "SKIP  archangel: version increment against no-such-branch-x7: no target branch ref 'no-such-branch-x7' "
        "in this repository; not checked" in out
    )
    assert "PASS  archangel: helm lint --strict (-f ci/default-values.yaml)" in out
    assert "PASS  archangel: Chart.yaml schema (chart_schema.yaml)" in out
    assert not [line for line in out if line.startswith("FAIL")]
    assert out[-1].endswith("0 failed, 2 skipped")


def test_the_lint_config_covers_chart_values_and_ci_files() -> None:
    result = ct.check_yamllint(APP_CHART, LINTERS / "yamllint.yaml")
    assert result.status == PASS
    assert result.detail.startswith("Chart.yaml, values.yaml, ci/default-values.yaml")


# --- broken copies: each fails the right check, naming the problem ----------------------------------------


def test_chart_yaml_missing_a_required_field_fails_the_schema_check(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    chart_yaml = project / "charts" / "archangel" / "Chart.yaml"
    chart_yaml.write_text("\n".join(line for line in chart_yaml.read_text().splitlines() if line != "apiVersion: v2"))
    report = lint(CtConfig.load(project / "ct.yaml"), all_charts=True)
    (schema,) = results(report, "Chart.yaml schema")
    assert schema.status == FAIL
    assert "apiVersion: Required field missing" in schema.detail
    assert report.failed


def test_chart_yaml_with_an_unknown_field_fails_the_schema_check(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    chart_yaml = project / "charts" / "archangel" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text() + "maintainer: someone\n")
    (schema,) = results(lint(CtConfig.load(project / "ct.yaml"), all_charts=True), "Chart.yaml schema")
    assert schema.status == FAIL
    assert "maintainer: Unexpected element" in schema.detail


def test_a_yamllint_error_in_values_yaml_fails_the_yamllint_check(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    values = project / "charts" / "archangel" / "values.yaml"
    values.write_text(values.read_text().replace('nameOverride: ""\n', 'nameOverride: ""   \n', 1))
    report = lint(CtConfig.load(project / "ct.yaml"), all_charts=True)
    (yamllint,) = results(report, "yamllint")
    assert yamllint.status == FAIL
    line = next(n for n, text in enumerate(values.read_text().splitlines(), 1) if text.startswith("nameOverride"))
    assert yamllint.detail == f"values.yaml:{line}:17: trailing spaces (trailing-spaces)"
    # The chart itself still renders: only the lint check fails.
    assert all(r.status == PASS for r in results(report, "helm lint"))


def test_a_deprecated_api_fails_helm_lint_strict(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "charts" / "archangel" / "templates" / "legacy-pdb.yaml").write_text(
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: legacy\n"
        "spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: legacy\n"
    )
    report = lint(CtConfig.load(project / "ct.yaml"), all_charts=True)
    failed = [r for r in results(report, "helm lint") if r.status == FAIL]
    assert {r.check for r in failed} == {
        "helm lint --strict (chart defaults)",
        "helm lint --strict (-f ci/default-values.yaml)",
        "helm lint --strict (-f ci/production-like-values.yaml)",
    }
    assert all("policy/v1beta1 PodDisruptionBudget" in r.detail for r in failed)
    assert all("legacy-pdb.yaml" in r.detail for r in failed)


def test_an_invalid_value_in_one_ci_file_fails_helm_lint_for_that_file_only(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "charts" / "archangel" / "ci" / "bad-values.yaml").write_text("core:\n  replicas: three\n")
    report = lint(CtConfig.load(project / "ct.yaml"), all_charts=True)
    failed = [r for r in results(report, "helm lint") if r.status == FAIL]
    assert [r.check for r in failed] == ["helm lint --strict (-f ci/bad-values.yaml)"]
    assert "/core/replicas" in failed[0].detail or "core.replicas" in failed[0].detail
    assert "got string, want integer" in failed[0].detail or "Invalid type" in failed[0].detail


def test_a_changed_chart_without_a_version_bump_fails_and_a_bump_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path / "repo")
    commit_as_main(project)
    template = project / "charts" / "archangel" / "templates" / "core" / "service.yaml"
    template.write_text(template.read_text() + "\n")

    config = str(project / "ct.yaml")
    assert run_cli(["ct", "lint", "--config", config]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "note: charts changed against main: archangel"
    assert (
        "FAIL  archangel: version increment against main: chart version not bumped: main has 0.1.0, this tree has "
        "0.1.0, but templates/core/service.yaml changed; raise version in Chart.yaml" in out
    )
    assert out[-1].endswith("1 failed, 0 skipped")

    chart_yaml = project / "charts" / "archangel" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.1.1", 1))
    assert run_cli(["ct", "lint", "--config", config]) == 0
    assert "PASS  archangel: version increment against main: 0.1.0 -> 0.1.1" in capsys.readouterr().out.splitlines()


def test_only_changed_charts_are_linted_and_a_new_chart_passes_the_version_check(tmp_path: Path) -> None:
    project = make_project(tmp_path / "repo")
    commit_as_main(project)
    config = CtConfig.load(project / "ct.yaml")
    assert lint(config).results == []
    assert lint(config).notes == ["note: no chart changed against main; nothing to lint (--all lints every chart)"]

    shutil.copytree(APP_CHART, project / "charts" / "newcomer")
    chart_yaml = project / "charts" / "newcomer" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("name: archangel", "name: newcomer", 1))
    report = lint(config)
    assert {r.chart for r in report.results} == {"newcomer"}
    (version,) = results(report, "version increment")
    assert (version.status, version.detail) == (PASS, "new chart (not on main), version 0.1.0")


def test_a_lower_version_than_the_target_branch_fails(tmp_path: Path) -> None:
    project = make_project(tmp_path / "repo")
    commit_as_main(project)
    chart_yaml = project / "charts" / "archangel" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.1.0-rc.1", 1))
    (version,) = results(lint(CtConfig.load(project / "ct.yaml")), "version increment")
    assert version.status == FAIL
    assert "main has 0.1.0, this tree has 0.1.0-rc.1, but Chart.yaml changed" in version.detail


def test_outside_a_git_repository_the_version_check_is_skipped(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    report = lint(CtConfig.load(project / "ct.yaml"))
    assert report.notes == ["note: no target branch ref 'main' in this repository: linting every chart"]
    (version,) = results(report, "version increment")
    assert version.status == SKIP


# --- configuration and versions ---------------------------------------------------------------------------


def test_the_project_ct_yaml_is_read_as_ct_reads_it() -> None:
    config = CtConfig.load(CT_YAML)
    assert config.chart_dirs == (PROJECT / "charts",)
    assert config.target_branch == "main"
    assert config.lint_conf == LINTERS / "yamllint.yaml"
    assert config.chart_yaml_schema == LINTERS / "chart_schema.yaml"
    assert (config.check_version_increment, config.validate_maintainers) == (True, False)


def test_a_missing_config_or_lint_conf_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ct\.yaml: cannot read the chart-testing config"):
        CtConfig.load(tmp_path / "ct.yaml")
    (tmp_path / "ct.yaml").write_text("lint-conf: nowhere.yaml\n")
    with pytest.raises(ConfigurationError, match=r"lint-conf: .*nowhere\.yaml does not exist"):
        CtConfig.load(tmp_path / "ct.yaml")
    (tmp_path / "ct.yaml").write_text("check-version-increment: maybe\n")
    with pytest.raises(ConfigurationError, match="check-version-increment: expected true or false, got 'maybe'"):
        CtConfig.load(tmp_path / "ct.yaml")


def test_validate_maintainers_is_reported_as_skipped(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "ct.yaml").write_text((project / "ct.yaml").read_text().replace("validate-maintainers: false", ""))
    (maintainers,) = results(lint(CtConfig.load(project / "ct.yaml"), all_charts=True), "maintainers")
    assert maintainers.status == SKIP


def test_unknown_chart_names_are_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with pytest.raises(ConfigurationError, match="--charts nothing-here: no chart of that name"):
        lint(CtConfig.load(project / "ct.yaml"), charts=["nothing-here"])


ORDERED = [
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
]


@pytest.mark.parametrize(("lower", "higher"), list(itertools.pairwise(ORDERED)))
def test_semver_precedence(lower: str, higher: str) -> None:
    assert SemVer.parse(lower) < SemVer.parse(higher)


def test_semver_ignores_build_metadata_and_a_leading_v() -> None:
    assert SemVer.parse("1.2.3+build.5") == SemVer.parse("v1.2.3")
    with pytest.raises(ValueError, match=r"'1\.2' is not a semantic version"):
        SemVer.parse("1.2")
