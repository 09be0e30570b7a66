"""The alert and recording rules of files/rules: valid for promtool, unit-tested alert by alert (each fires past
its threshold and stays silent exactly at it), documented with a runbook, and built only on metrics that exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.monitoring.promql import metric_names
from archangel_helm.monitoring.rules import Rule, alerting_rules, load_rules, recorded_names
from tests.monitoring.helpers import (
    RULE_TESTS_DIR,
    RULES_DIR,
    RUNBOOK_URL,
    RUNBOOKS_DIR,
    binary,
    rule_files,
    rule_test_files,
    run,
)
from tests.monitoring.known_metrics import known_metric

RULES = load_rules(rule_files())
ALERTS = alerting_rules(RULES)
SEVERITIES = {"critical", "warning", "info", "none"}
# Watchdog fires all the time by design: it has no quiet case to test.
ALWAYS_FIRING = {"Watchdog"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return binary("promtool")


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules(promtool: str, path: Path) -> None:
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.parametrize("path", rule_test_files(), ids=lambda p: p.name)
def test_promtool_rule_unit_tests(promtool: str, path: Path) -> None:
    result = run(promtool, "test", "rules", path.name, cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_prometheus_rules_pass_promtool(promtool: str, production: Manifest, tmp_path: Path) -> None:
    """The operator-mode objects: each PrometheusRule's spec is a rules file as promtool reads it."""
    rules = production.of_kind("PrometheusRule")
    assert len(rules) == len(rule_files())
    for rule in rules:
        path = tmp_path / f"{rule['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(rule["spec"]))
        result = run(promtool, "check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_rendered_rules_are_the_files_in_both_modes(production: Manifest, standalone: Manifest) -> None:
    by_file = {p.stem: yaml.safe_load(p.read_text()) for p in rule_files()}
    operator = {
        r["metadata"]["name"].removeprefix("archangel-monitoring-rules-"): r["spec"]
        for r in production.of_kind("PrometheusRule")
    }
    assert operator == by_file
    (configmap,) = [c for c in standalone.of_kind("ConfigMap") if c["metadata"]["name"] == "archangel-monitoring-rules"]
    assert {Path(k).stem: yaml.safe_load(v) for k, v in configmap["data"].items()} == by_file
    assert dict(configmap["data"].items()) == {p.name: p.read_text() for p in rule_files()}


# Unit-test coverage -----------------------------------------------------------------------------------------


def _test_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in rule_test_files():
        yield path, yaml.safe_load(path.read_text())


def _alert_cases() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(alertname, expected alerts) of every alert_rule_test of every unit-test file."""
    for _path, document in _test_documents():
        for group in document["tests"]:
            for case in group.get("alert_rule_test") or []:
                yield case["alertname"], case.get("exp_alerts") or []


def _key(rule: Rule) -> str:
    return f"{rule.alert}/{rule.severity}"


@pytest.mark.parametrize("rule", ALERTS, ids=_key)
def test_every_alert_fires_in_a_unit_test(rule: Rule) -> None:
    firing = [
        expected
        for alertname, alerts in _alert_cases()
        if alertname == rule.alert
        for expected in alerts
        if expected.get("exp_labels", {}).get("severity") == rule.severity
    ]
    assert firing, f"no promtool test case in {RULE_TESTS_DIR.name}/ expects {_key(rule)} to fire"


@pytest.mark.parametrize("rule", [a for a in ALERTS if a.alert not in ALWAYS_FIRING], ids=_key)
def test_every_alert_stays_silent_in_a_unit_test(rule: Rule) -> None:
    silent = [
        alerts
        for alertname, alerts in _alert_cases()
        if alertname == rule.alert and not any(a.get("exp_labels", {}).get("severity") == rule.severity for a in alerts)
    ]
    assert silent, f"no promtool test case expects {_key(rule)} to stay silent (a series exactly at its threshold)"


def test_every_silent_case_names_its_edge() -> None:
    """The quiet cases are the edge cases: their test groups say so in their name."""
    for path, document in _test_documents():
        for group in document["tests"]:
            cases = group.get("alert_rule_test") or []
            if cases and all(not c.get("exp_alerts") for c in cases):
                assert "edge" in group.get("name", ""), f"{path.name}: group {group.get('name')!r} tests no firing"


def test_the_coverage_check_can_fail() -> None:
    untested = Rule(
        file="x.yaml", group="g", expr="vector(1)", alert="NotTestedAnywhere", labels={"severity": "warning"}
    )
    with pytest.raises(AssertionError, match="no promtool test case"):
        test_every_alert_fires_in_a_unit_test(untested)
    with pytest.raises(AssertionError, match="stay silent"):
        test_every_alert_stays_silent_in_a_unit_test(untested)


def test_every_rules_file_is_unit_tested() -> None:
    tested = {(path.parent / name).resolve() for path, document in _test_documents() for name in document["rule_files"]}
    assert {p.resolve() for p in rule_files()} <= tested
    assert all(p.exists() for p in tested)


def test_every_recording_rule_is_used_or_checked() -> None:
    """A recorded series is read by an alert or a dashboard, or its value is checked by a promql_expr_test."""
    from tests.monitoring.test_dashboards import dashboard_queries

    read = {name for rule in RULES for name in metric_names(rule.expr)}
    read |= {name for _board, _panel, query in dashboard_queries() for name in metric_names(query)}
    checked = {
        name
        for _path, document in _test_documents()
        for group in document["tests"]
        for case in group.get("promql_expr_test") or []
        for name in metric_names(case["expr"])
    }
    assert sorted(recorded_names(RULES) - read - checked) == []


# Documentation and conventions ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ALERTS, ids=_key)
def test_every_alert_has_severity_summary_description_and_runbook(rule: Rule) -> None:
    assert rule.severity in SEVERITIES
    assert set(rule.annotations) == {"summary", "description", "runbook_url"}
    assert all(value.strip() for value in rule.annotations.values())
    assert rule.annotations["runbook_url"] == RUNBOOK_URL.format(rule.alert)
    runbook = RUNBOOKS_DIR / f"{rule.alert}.md"
    assert runbook.is_file(), f"write {runbook.relative_to(RUNBOOKS_DIR.parent.parent)}"
    text = runbook.read_text()
    for heading in ("## What it means", "## How to check", "## How to fix"):
        assert heading in text, f"{runbook.name} has no {heading!r} section"
    assert f"# {rule.alert}" in text.splitlines()[0]


def test_no_runbook_without_an_alert() -> None:
    alerts = {rule.alert for rule in ALERTS}
    runbooks = {p.stem for p in RUNBOOKS_DIR.glob("*.md") if p.name != "README.md"}
    assert runbooks - alerts == set()


def test_alert_names_and_severities_are_unique() -> None:
    keys = [_key(rule) for rule in ALERTS]
    assert len(keys) == len(set(keys))


def test_alerts_of_both_severities_share_a_name_so_inhibition_applies() -> None:
    """The critical alert of a pair mutes its warning (Alertmanager: equal alertname and namespace)."""
    by_name: dict[str, set[str | None]] = {}
    for rule in ALERTS:
        by_name.setdefault(str(rule.alert), set()).add(rule.severity)
    pairs = {name for name, severities in by_name.items() if severities == {"critical", "warning"}}
    assert pairs == {"ArchangelHighLatency", "ArchangelErrorBudgetBurn"}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rules_read_only_metrics_that_exist(rule: Rule) -> None:
    """Every metric a rule reads is recorded by a rule, produced by an exporter, or documented (docs/METRICS.md)."""
    recorded = recorded_names(RULES)
    unknown = sorted(name for name in metric_names(rule.expr) if name not in recorded and not known_metric(name))
    assert unknown == [], f"{rule.file}: {rule.name} reads metrics nothing produces; document them in docs/METRICS.md"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rules_select_application_series_by_component_not_job(rule: Rule) -> None:
    """Jobs differ between modes (ServiceMonitor vs kubernetes_sd) and releases; component and release do not."""
    assert not re.search(r'job=~?"archangel-(core|agents|postgresql|qdrant)', rule.expr)


def test_thresholds_are_those_of_the_issue() -> None:
    """The numbers the on-call rota agreed on, so a change to them is a deliberate edit here too."""
    expressions = {_key(rule): " ".join(rule.expr.split()) for rule in ALERTS}
    expected = {
        "ArchangelHighErrorRatio/critical": "> 0.01",
        "ArchangelHighLatency/critical": 'p99_5m{component="core"} > 5',
        "ArchangelHighLatency/warning": 'p95_5m{component="core"} > 2',
        "ArchangelErrorBudgetBurn/critical": "> 0.0144",
        "ArchangelBackupStale/critical": "> 26 * 3600",
        "ArchangelBackupNeverSucceeded/critical": "> 26 * 3600",
        "ArchangelHighCPU/warning": "> 0.8",
        "ArchangelHighMemory/warning": "> 0.85",
        "ArchangelPVCNearlyFull/critical": "< 0.1",
        "ArchangelBackupRestoreNotVerified/warning": "> 7 * 86400",
        "ArchangelCertificateExpiring/warning": "< 14 * 86400",
    }
    for key, fragment in expected.items():
        assert fragment in expressions[key], key
    assert {rule.file for rule in ALERTS if rule.severity == "critical"} >= {"availability.yaml", "backups.yaml"}


def test_backup_rules_use_the_documented_names() -> None:
    backup = " ".join(rule.expr for rule in ALERTS if rule.file == "backups.yaml")
    assert 'job="archangel-backup"' in backup
    assert ".+-backup-(database|vectorstore)" in backup


def test_every_rules_file_is_in_the_rules_directory() -> None:
    assert {r.file for r in RULES} == {p.name for p in RULES_DIR.glob("*.yaml")}
