"""`archangel-helm ct lint`: what chart-testing's `ct lint` checks, run offline, so a contributor gets CI's
verdict without a cluster, a GitHub token or the ct binary.

For each chart changed against the target branch (or every chart with --all), from the settings in ct.yaml:

- Chart.yaml against the yamale schema (`chart-yaml-schema`), strict like `yamale` itself;
- yamllint with `lint-conf` on Chart.yaml, values.yaml and ci/*.yaml (errors fail, warnings are reported);
- the version increment (`check-version-increment`): when the chart's files differ from the target branch
  and its version is not higher than the target branch's, the check fails; a chart the target branch does
  not have passes; without a target branch ref the check is skipped, saying so;
- `helm lint --strict` with the chart's defaults and with each ci/*-values.yaml.

One line per check per chart (PASS, FAIL or SKIP with the reason); exit 1 when any check fails.
`validate-maintainers` needs the GitHub API, so it is reported as skipped when ct.yaml turns it on.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import total_ordering
from pathlib import Path
from typing import Any

import yamale
import yaml
from yamllint import linter  # type: ignore[import-untyped]
from yamllint.config import YamlLintConfig, YamlLintConfigError  # type: ignore[import-untyped]

from . import yamlio
from .errors import ConfigurationError
from .helm import Helm, find_helm

EXIT_OK, EXIT_FAILED = 0, 1
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
CI_VALUES_GLOB = "*-values.yaml"


# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CtConfig:
    """The ct.yaml settings `ct lint` acts on. Relative paths are resolved against `root`, the directory
    holding ct.yaml (the repository root), as ct resolves them against the directory it runs in."""

    root: Path
    chart_dirs: tuple[Path, ...]
    target_branch: str = "main"
    remote: str = "origin"
    excluded_charts: frozenset[str] = frozenset()
    lint_conf: Path | None = None
    chart_yaml_schema: Path | None = None
    validate_yaml: bool = True
    validate_chart_schema: bool = True
    validate_maintainers: bool = True
    check_version_increment: bool = True
    helm_lint_extra_args: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> CtConfig:
        try:
            data = yamlio.load(path.read_text()) or {}
        except OSError as error:
            raise ConfigurationError(f"{path}: cannot read the chart-testing config ({error.strerror})") from error
        except yaml.YAMLError as error:
            raise ConfigurationError(f"{path}: not valid YAML ({error})") from error
        if not isinstance(data, dict):
            raise ConfigurationError(f"{path}: expected a mapping of ct settings, got {type(data).__name__}")
        root = path.resolve().parent

        def optional_path(key: str) -> Path | None:
            value = data.get(key)
            if value in (None, ""):
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"{path}: {key}: expected a path, got {value!r}")
            resolved = root / value
            if not resolved.is_file():
                raise ConfigurationError(f"{path}: {key}: {resolved} does not exist")
            return resolved

        def flag(key: str, default: bool) -> bool:
            value = data.get(key, default)
            if not isinstance(value, bool):
                raise ConfigurationError(f"{path}: {key}: expected true or false, got {value!r}")
            return value

        chart_dirs = data.get("chart-dirs") or ["charts"]
        if not isinstance(chart_dirs, list) or not all(isinstance(d, str) for d in chart_dirs):
            raise ConfigurationError(f"{path}: chart-dirs: expected a list of directories, got {chart_dirs!r}")
        extra = data.get("helm-lint-extra-args") or ""
        if not isinstance(extra, str):
            raise ConfigurationError(f"{path}: helm-lint-extra-args: expected a string, got {extra!r}")
        return cls(
            root=root,
            chart_dirs=tuple(root / d for d in chart_dirs),
            target_branch=str(data.get("target-branch") or "main"),
            remote=str(data.get("remote") or "origin"),
            excluded_charts=frozenset(str(c) for c in data.get("excluded-charts") or ()),
            lint_conf=optional_path("lint-conf"),
            chart_yaml_schema=optional_path("chart-yaml-schema"),
            validate_yaml=flag("validate-yaml", True),
            validate_chart_schema=flag("validate-chart-schema", True),
            validate_maintainers=flag("validate-maintainers", True),
            check_version_increment=flag("check-version-increment", True),
            helm_lint_extra_args=tuple(extra.split()),
        )


# --- results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    chart: str
    check: str
    status: str  # PASS, FAIL or SKIP
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def line(self) -> str:
        detail = self.detail.strip().replace("\n", "\n      ")
        return f"{self.status}  {self.chart}: {self.check}" + (f": {detail}" if detail else "")


@dataclass
class LintReport:
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results)

    def lines(self) -> list[str]:
        return [*self.notes, *(r.line() for r in self.results)]


# --- semantic versions ------------------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@total_ordering
@dataclass(frozen=True)
class SemVer:
    """A SemVer 2.0.0 version ordered by precedence (build metadata ignored), as Helm orders chart versions."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = _SEMVER.match(str(text).strip())
        if not match:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])")
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        return cls(int(match["major"]), int(match["minor"]), int(match["patch"]), pre, str(text).strip())

    def _key(self) -> tuple[Any, ...]:
        # A release ranks above its prereleases; numeric identifiers rank below alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# --- git --------------------------------------------------------------------------------------------------


class Git:
    """The few read-only git queries the lint needs, run in the repository holding ct.yaml."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", "-C", str(self.root), *args], capture_output=True, text=True, timeout=60, check=False
            )
        except OSError as error:  # no git at all
            return subprocess.CompletedProcess(["git", *args], 127, "", str(error))

    def toplevel(self) -> Path | None:
        result = self.run("rev-parse", "--show-toplevel")
        return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None

    def resolve(self, remote: str, branch: str) -> str | None:
        """The target branch as a ref: `<remote>/<branch>` (what CI fetches), else the local branch, else the
        name as given (a tag or commit)."""
        for candidate in (f"refs/remotes/{remote}/{branch}", f"refs/heads/{branch}", branch):
            if self.run("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").returncode == 0:
                return candidate
        return None

    def merge_base(self, ref: str) -> str:
        """Where this work left the target branch, so changes made on the target since do not count."""
        result = self.run("merge-base", ref, "HEAD")
        return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else ref

    def changed_files(self, base: str, paths: Sequence[Path]) -> set[Path]:
        """Files under `paths` that differ from `base` in the working tree, untracked files included."""
        top = self.toplevel()
        if top is None:
            raise ConfigurationError(f"{self.root} is not in a git repository")
        pathspecs = [str(p.resolve().relative_to(self.root.resolve())) for p in paths]
        # `git diff` prints paths relative to the top level, `git ls-files` relative to the directory it runs in.
        queries = (
            (("diff", "--name-only", "--find-renames", base, "--", *pathspecs), top),
            (("ls-files", "--others", "--exclude-standard", "--", *pathspecs), self.root.resolve()),
        )
        changed: set[Path] = set()
        for args, relative_to in queries:
            result = self.run(*args)
            if result.returncode != 0:
                raise ConfigurationError(f"git {' '.join(args)} failed in {self.root}: {result.stderr.strip()}")
            changed.update((relative_to / line).resolve() for line in result.stdout.splitlines() if line.strip())
        return changed

    def show(self, ref: str, path: Path) -> str | None:
        top = self.toplevel()
        if top is None:
            return None
        result = self.run("show", f"{ref}:{path.resolve().relative_to(top).as_posix()}")
        return result.stdout if result.returncode == 0 else None


# --- the checks -------------------------------------------------------------------------------------------


def find_charts(config: CtConfig) -> list[Path]:
    charts: list[Path] = []
    for directory in config.chart_dirs:
        if not directory.is_dir():
            raise ConfigurationError(f"chart-dirs: {directory} is not a directory")
        charts.extend(
            d
            for d in sorted(directory.iterdir())
            if (d / "Chart.yaml").is_file() and d.name not in config.excluded_charts
        )
    return charts


def ci_values_files(chart: Path) -> list[Path]:
    return sorted((chart / "ci").glob(CI_VALUES_GLOB))


def check_chart_schema(chart: Path, schema_path: Path | None) -> CheckResult:
    check = "Chart.yaml schema" + (f" ({schema_path.name})" if schema_path else "")
    if schema_path is None:
        return CheckResult(chart.name, check, SKIP, "no chart-yaml-schema in ct.yaml")
    try:
        schema = yamale.make_schema(str(schema_path))
        data = yamale.make_data(str(chart / "Chart.yaml"))
        yamale.validate(schema, data, strict=True)
    except yamale.YamaleError as error:
        problems = [message for result in error.results for message in result.errors]
        return CheckResult(chart.name, check, FAIL, "; ".join(problems) or str(error))
    except (SyntaxError, ValueError, yaml.YAMLError) as error:
        return CheckResult(chart.name, check, FAIL, f"{chart / 'Chart.yaml'}: {error}")
    return CheckResult(chart.name, check, PASS)


def yaml_files(chart: Path) -> list[Path]:
    return [
        p for p in (chart / "Chart.yaml", chart / "values.yaml", *sorted((chart / "ci").glob("*.yaml"))) if p.is_file()
    ]


def check_yamllint(chart: Path, lint_conf: Path | None) -> CheckResult:
    check = "yamllint" + (f" ({lint_conf.name})" if lint_conf else " (yamllint defaults)")
    try:
        conf = YamlLintConfig(file=str(lint_conf)) if lint_conf else YamlLintConfig("extends: default")
    except YamlLintConfigError as error:
        raise ConfigurationError(f"lint-conf {lint_conf}: {error}") from error
    errors: list[str] = []
    warnings = 0
    for path in yaml_files(chart):
        for problem in linter.run(path.read_text(), conf, str(path)):
            where = f"{path.relative_to(chart)}:{problem.line}:{problem.column}"
            if problem.level == "error":
                errors.append(f"{where}: {problem.desc} ({problem.rule})")
            else:
                warnings += 1
    checked = ", ".join(str(p.relative_to(chart)) for p in yaml_files(chart))
    if errors:
        return CheckResult(chart.name, check, FAIL, "\n".join(errors))
    return CheckResult(chart.name, check, PASS, checked + (f" ({warnings} warning(s))" if warnings else ""))


def _chart_version(text: str, where: str) -> SemVer:
    try:
        data = yamlio.load(text) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{where}: not valid YAML ({error})") from error
    version = data.get("version") if isinstance(data, dict) else None
    if version is None:
        raise ValueError(f"{where}: no version field")
    return SemVer.parse(str(version))


@dataclass(frozen=True)
class Target:
    """The branch the charts are compared with, and the git ref it resolved to (None: not in this repository)."""

    branch: str
    ref: str | None


def check_version_increment(chart: Path, git: Git, target: Target) -> CheckResult:
    check = f"version increment against {target.branch}"
    if target.ref is None:
        return CheckResult(
            chart.name, check, SKIP, f"no target branch ref {target.branch!r} in this repository; not checked"
        )
    old_text = git.show(target.ref, chart / "Chart.yaml")
    try:
        new = _chart_version((chart / "Chart.yaml").read_text(), str(chart / "Chart.yaml"))
        if old_text is None:
            return CheckResult(chart.name, check, PASS, f"new chart (not on {target.branch}), version {new.text}")
        old = _chart_version(old_text, f"{target.branch}:Chart.yaml")
    except ValueError as error:
        return CheckResult(chart.name, check, FAIL, str(error))
    changed = git.changed_files(git.merge_base(target.ref), [chart])
    if not changed:
        return CheckResult(chart.name, check, PASS, f"unchanged since {target.branch} (version {new.text})")
    if new > old:
        return CheckResult(chart.name, check, PASS, f"{old.text} -> {new.text}")
    files = sorted(str(p.relative_to(chart.resolve())) for p in changed)
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    return CheckResult(
        chart.name,
        check,
        FAIL,
        f"chart version not bumped: {target.branch} has {old.text}, this tree has {new.text}, but {shown} "
        f"changed; raise version in Chart.yaml",
    )


def _helm_problems(output: str) -> str:
    lines = [
        line.strip()
        for line in output.splitlines()
        if re.search(r"\[(ERROR|WARNING)\]|^Error|level=ERROR", line.strip())
    ]
    return "\n".join(lines) or output.strip()[-2000:]


def check_helm_lint(chart: Path, values: Path | None, helm: Helm, extra_args: Sequence[str]) -> CheckResult:
    label = f"-f {values.relative_to(chart)}" if values else "chart defaults"
    check = f"helm lint --strict ({label})"
    args = ["lint", "--strict", str(chart), *extra_args]
    if values is not None:
        args += ["--values", str(values)]
    result = helm.run(args)
    if result.returncode != 0:
        return CheckResult(chart.name, check, FAIL, _helm_problems(result.stdout + "\n" + result.stderr))
    return CheckResult(chart.name, check, PASS)


def lint_chart(chart: Path, config: CtConfig, git: Git, target: Target, helm: Helm) -> list[CheckResult]:
    results: list[CheckResult] = []
    if config.validate_chart_schema:
        results.append(check_chart_schema(chart, config.chart_yaml_schema))
    if config.validate_yaml:
        results.append(check_yamllint(chart, config.lint_conf))
    if config.validate_maintainers:
        results.append(
            CheckResult(chart.name, "maintainers", SKIP, "validate-maintainers needs the GitHub API; run `ct lint`")
        )
    if config.check_version_increment:
        results.append(check_version_increment(chart, git, target))
    for values in (None, *ci_values_files(chart)):
        results.append(check_helm_lint(chart, values, helm, config.helm_lint_extra_args))
    return results


def select_charts(
    config: CtConfig, git: Git, target: Target, all_charts: bool, names: Iterable[str] = ()
) -> tuple[list[Path], list[str]]:
    """The charts to lint, and what to say about the choice."""
    charts = find_charts(config)
    wanted = list(names)
    if wanted:
        by_name = {c.name: c for c in charts}
        chosen: list[Path] = []
        for name in wanted:
            path = (config.root / name).resolve()
            if name in by_name:
                chosen.append(by_name[name])
            elif (path / "Chart.yaml").is_file():
                chosen.append(path)
            else:
                dirs = ", ".join(str(d) for d in config.chart_dirs)
                raise ConfigurationError(
                    f"--charts {name}: no chart of that name in {dirs}, and no such chart directory"
                )
        return chosen, []
    if all_charts:
        return charts, []
    if target.ref is None:
        return charts, [f"note: no target branch ref {target.branch!r} in this repository: linting every chart"]
    changed = git.changed_files(git.merge_base(target.ref), list(config.chart_dirs))
    selected = [c for c in charts if any(c.resolve() in p.parents for p in changed)]
    if not selected:
        return [], [f"note: no chart changed against {target.branch}; nothing to lint (--all lints every chart)"]
    return selected, [f"note: charts changed against {target.branch}: {', '.join(c.name for c in selected)}"]


def lint(
    config: CtConfig,
    *,
    all_charts: bool = False,
    target_branch: str | None = None,
    charts: Iterable[str] = (),
    helm: Helm | None = None,
) -> LintReport:
    branch = target_branch or config.target_branch
    git = Git(config.root)
    target = Target(branch, git.resolve(config.remote, branch) if git.toplevel() else None)
    selected, notes = select_charts(config, git, target, all_charts, charts)
    report = LintReport(notes=notes)
    if selected:
        helm = helm or find_helm()
        for chart in selected:
            report.results.extend(lint_chart(chart, config, git, target, helm))
    return report


# --- command line -----------------------------------------------------------------------------------------


def cmd_lint(args: argparse.Namespace) -> int:
    config = CtConfig.load(args.config)
    report = lint(config, all_charts=args.all, target_branch=args.target_branch, charts=args.charts or ())
    for line in report.lines():
        print(line)
    failed = [r for r in report.results if r.failed]
    print(
        f"{len(report.results)} check(s) on {len({r.chart for r in report.results})} chart(s): "
        f"{len(failed)} failed, {sum(r.status == SKIP for r in report.results)} skipped"
    )
    return EXIT_FAILED if failed else EXIT_OK


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ct = subparsers.add_parser("ct", help="chart-testing's lint checks, offline (no cluster, no ct binary)")
    commands = ct.add_subparsers(dest="ct_command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "lint",
        help="helm lint --strict per ci values file, yamllint, Chart.yaml schema and version increment, "
        "for the charts changed against the target branch",
    )
    p.add_argument("--all", action="store_true", help="lint every chart, changed or not")
    p.add_argument("--target-branch", help="branch to compare with (default: target-branch in ct.yaml)")
    p.add_argument("--config", type=Path, default=Path("ct.yaml"), help="chart-testing config (default ct.yaml)")
    p.add_argument("--charts", nargs="+", metavar="CHART", help="only these charts (names or paths)")
    p.set_defaults(func=cmd_lint)
