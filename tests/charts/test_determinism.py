"""GitOps safety: Argo CD re-renders on every refresh, so two renders of the same inputs must be byte-identical
and no template may use a function whose result changes between renders or depends on the live cluster.

The pattern here is a second opinion on `archangel-helm check`'s gitops/no-live-functions rule; both are tried
on tests/fixtures/charts/live-functions, one template per function."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archangel_helm import Chart, Manifest, render
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.validate.rules import RULES, Release
from tests.support.project import CHARTS, FIXTURES, SHIPPED_VALUES

FORBIDDEN = re.compile(
    r"\b(lookup|randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|uuidv4|shuffle|now|genPrivateKey"
    r"|htpasswd|bcrypt|encryptAES|genCA|genCAWithKey|genSelfSignedCert|genSelfSignedCertWithKey|genSignedCert"
    r"|genSignedCertWithKey|date|dateInZone|unixEpoch)\b"
)
LIVE_FUNCTIONS_CHART = FIXTURES / "charts" / "live-functions"
KUBE_VERSION = "1.33.0"  # Helm 3.14 defaults to 1.29, below the fixture's kubeVersion
# Each has a template of its own in the fixture chart, named after it.
FIXTURE_FUNCTIONS = (
    "shuffle",
    "htpasswd",
    "bcrypt",
    "encryptAES",
    "randBytes",
    "uuidv4",
    "genCAWithKey",
    "genSelfSignedCertWithKey",
    "genSignedCertWithKey",
)
NO_LIVE_FUNCTIONS = next(rule for rule in RULES if rule.id == "gitops/no-live-functions")


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_two_renders_are_byte_identical(shipped: ShippedValues) -> None:
    def once() -> str:
        return shipped.render(cache=False).text

    assert once() == once()


def _template_files() -> list[Path]:
    return [f for chart in CHARTS for f in sorted((chart / "templates").rglob("*")) if f.is_file()]


@pytest.mark.parametrize("template", _template_files(), ids=lambda p: str(p.relative_to(p.parents[2])))
def test_no_template_uses_a_nondeterministic_or_cluster_reading_function(template: Path) -> None:
    actions = re.findall(r"\{\{(.*?)\}\}", template.read_text(), flags=re.DOTALL)
    offenders = sorted(
        {
            m
            for action in actions
            if not action.strip().lstrip("-").lstrip().startswith("/*")
            for m in FORBIDDEN.findall(action)
        }
    )
    assert offenders == []


def test_the_forbidden_function_check_can_fail() -> None:
    assert FORBIDDEN.findall('{{ lookup "v1" "Secret" .Release.Namespace "x" }} {{ randAlphaNum 16 }} {{ now }}') == [
        "lookup",
        "randAlphaNum",
        "now",
    ]


def _called(template: Path) -> set[str]:
    """The forbidden functions a template calls (comments excepted), by this module's pattern."""
    actions = re.findall(r"\{\{(.*?)\}\}", template.read_text(), flags=re.DOTALL)
    return {
        m
        for action in actions
        if not action.strip().lstrip("-").lstrip().startswith("/*")
        for m in FORBIDDEN.findall(action)
    }


@pytest.fixture(scope="module")
def live_function_problems() -> dict[str, set[str]]:
    """gitops/no-live-functions on the fixture chart: template file -> the functions reported for it."""
    chart = Chart.load(LIVE_FUNCTIONS_CHART)
    manifest = render(chart.path, kube_version=KUBE_VERSION, cache=False)
    problems = NO_LIVE_FUNCTIONS.check(Release(chart, manifest, lambda: manifest.text))
    found: dict[str, set[str]] = {}
    for problem in problems:
        assert problem.rule == "gitops/no-live-functions"
        found.setdefault(problem.path, set()).add(problem.message.split(":")[0].removeprefix("uses "))
    return found


@pytest.fixture(scope="module")
def two_fixture_renders() -> tuple[Manifest, Manifest]:
    first = render(LIVE_FUNCTIONS_CHART, kube_version=KUBE_VERSION, cache=False)
    return first, render(LIVE_FUNCTIONS_CHART, kube_version=KUBE_VERSION, cache=False)


@pytest.mark.parametrize("function", FIXTURE_FUNCTIONS)
def test_the_pattern_finds_the_function(function: str) -> None:
    assert function in _called(LIVE_FUNCTIONS_CHART / "templates" / f"{function}.yaml")


@pytest.mark.parametrize("function", FIXTURE_FUNCTIONS)
def test_the_check_rule_reports_the_function(live_function_problems: dict[str, set[str]], function: str) -> None:
    assert function in live_function_problems[f"templates/{function}.yaml"]


@pytest.mark.parametrize("function", FIXTURE_FUNCTIONS)
def test_the_function_really_changes_between_renders(
    two_fixture_renders: tuple[Manifest, Manifest], function: str
) -> None:
    first, second = (m.get("ConfigMap", function.lower())["data"] for m in two_fixture_renders)
    assert first != second


def test_functions_named_only_in_comments_are_not_reported(live_function_problems: dict[str, set[str]]) -> None:
    assert "templates/comments-only.yaml" not in live_function_problems
    assert _called(LIVE_FUNCTIONS_CHART / "templates" / "comments-only.yaml") == set()
