"""The alert and recording rules of files/rules: valid for promtool, unit-tested alert by alert (each fires past
its threshold and stays silent exactly at it), documented with a runbook, and built only on metrics that exist."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.backup.catalog import TARGETS
from archangel_helm.monitoring.promql import metric_names
from archangel_helm.monitoring.rules import PrometheusRuleEntry, alerting_rules, load_rules, recorded_names
from archangel_helm.operate.verify import GRACE_HOURS, schedule_period_hours
from tests.monitoring.known_metrics import known_metric
from tests.support.monitoring import (
    RULE_TESTS_DIR,
    RULES_DIR,
    RUNBOOK_URL,
    RUNBOOKS_DIR,
    binary,
    rule_files,
    rule_test_files,
    run,
)

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


NAMESPACES_IN_FILES = 'namespace=~"archangel|archangel-staging|monitoring"'


def with_namespaces(text: str, namespaces: str) -> str:
    return text.replace(NAMESPACES_IN_FILES, f'namespace=~"{namespaces}"')


def test_the_rendered_rules_are_the_files_in_both_modes(production: Manifest, standalone: Manifest) -> None:
    """The files as they are, but for the namespace matcher: the application's and the release's namespaces."""
    by_file = {p.stem: yaml.safe_load(with_namespaces(p.read_text(), "archangel|monitoring")) for p in rule_files()}
    operator = {
        r["metadata"]["name"].removeprefix("archangel-monitoring-rules-"): r["spec"]
        for r in production.of_kind("PrometheusRule")
    }
    assert operator == by_file
    (configmap,) = [c for c in standalone.of_kind("ConfigMap") if c["metadata"]["name"] == "archangel-monitoring-rules"]
    assert {Path(k).stem: yaml.safe_load(v) for k, v in configmap["data"].items()} == by_file
    assert "archangel-staging" not in str(configmap["data"])


def test_rules_namespaces_replace_the_matcher(render_env: Callable[..., Manifest]) -> None:
    manifest = render_env("staging", "archangel-monitoring", {"rules.namespaces": ["team-a", "team-b"]})
    specs = str([r["spec"] for r in manifest.of_kind("PrometheusRule")])
    assert specs.count('namespace=~"team-a|team-b"') == sum(
        p.read_text().count(NAMESPACES_IN_FILES) for p in rule_files()
    )
    assert "archangel-staging" not in specs


CLUSTER_WIDE = re.compile(r"\b(kube_\w+|kubelet_\w+|up|pg_up)\s*\{([^}]*)\}")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.alert or r.record or "")
def test_every_rule_on_cluster_wide_series_selects_archangels_namespaces(rule: PrometheusRuleEntry) -> None:
    """A shared Prometheus holds every team's kube-state-metrics, kubelet and target series: a rule that reads
    them by name pattern alone (`.+-postgresql`) would page Archangel's on-call for another team's database."""
    selectors = CLUSTER_WIDE.findall(rule.expr)
    if not selectors:
        return
    # Joined with the recorded pods of Archangel's targets, which this test holds to the matcher itself.
    filtered_by_join = "namespace_pod:archangel_component:info" in rule.expr
    assert filtered_by_join or any(NAMESPACES_IN_FILES in labels for _, labels in selectors), rule.expr


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


def _key(rule: PrometheusRuleEntry) -> str:
    return f"{rule.alert}/{rule.severity}"


@pytest.mark.parametrize("rule", ALERTS, ids=_key)
def test_every_alert_fires_in_a_unit_test(rule: PrometheusRuleEntry) -> None:
    firing = [
        expected
        for alertname, alerts in _alert_cases()
        if alertname == rule.alert
        for expected in alerts
        if expected.get("exp_labels", {}).get("severity") == rule.severity
    ]
    assert firing, f"no promtool test case in {RULE_TESTS_DIR.name}/ expects {_key(rule)} to fire"


@pytest.mark.parametrize("rule", [a for a in ALERTS if a.alert not in ALWAYS_FIRING], ids=_key)
def test_every_alert_stays_silent_in_a_unit_test(rule: PrometheusRuleEntry) -> None:
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
    untested = PrometheusRuleEntry(
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
def test_every_alert_has_severity_summary_description_and_runbook(rule: PrometheusRuleEntry) -> None:
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
def test_rules_read_only_metrics_that_exist(rule: PrometheusRuleEntry) -> None:
    """Every metric a rule reads is recorded by a rule, produced by an exporter, or documented (docs/METRICS.md)."""
    recorded = recorded_names(RULES)
    unknown = sorted(name for name in metric_names(rule.expr) if name not in recorded and not known_metric(name))
    assert unknown == [], f"{rule.file}: {rule.name} reads metrics nothing produces; document them in docs/METRICS.md"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rules_select_application_series_by_component_not_job(rule: PrometheusRuleEntry) -> None:
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
        "ArchangelBackupStale/critical": f"> on (target) group_left () ( {MAX_AGE_RECORD} or on (target)",
        "ArchangelBackupNeverSucceeded/critical": f"> on (target) group_left () {MAX_AGE_RECORD}",
        "ArchangelHighCPU/warning": "> 0.8",
        "ArchangelHighMemory/warning": "> 0.85",
        "ArchangelPVCNearlyFull/critical": "< 0.1",
        "ArchangelBackupRestoreNotVerified/warning": "> 8 * 86400",
        "ArchangelCertificateExpiring/warning": "< 14 * 86400",
    }
    for key, fragment in expected.items():
        assert fragment in expressions[key], key
    assert {rule.file for rule in ALERTS if rule.severity == "critical"} >= {"availability.yaml", "backups.yaml"}


# Backups: one age limit per target, from the schedules the application chart renders --------------------------

MAX_AGE_RECORD = "target:archangel_backup_max_age_seconds:schedule"
_MAX_AGE_ROW = re.compile(r'label_replace\(vector\(([0-9 *+]+)\), "target", "([a-z-]+)", "", ""\)')
# label_replace(..., "target", "<replacement>", "<cronjob label>", "<regex>") in the backup alerts.
_TARGET_FROM_CRONJOB = re.compile(r'"target",\s*"([^"]*)",\s*"(cronjob|owner_name)",\s*"([^"]+)"')


def backup_max_ages() -> dict[str, int]:
    """The rule's table: target -> seconds its last success may age (sums of products, as the rule writes them)."""
    (rule,) = [r for r in RULES if r.record == MAX_AGE_RECORD]
    rows = {
        target: sum(math.prod(int(f) for f in term.split("*")) for term in expression.split("+"))
        for expression, target in _MAX_AGE_ROW.findall(rule.expr)
    }
    assert len(rows) == rule.expr.count("label_replace"), f"{MAX_AGE_RECORD}: a row this test cannot read"
    return rows


def cronjob_targets(rule: PrometheusRuleEntry, cronjob: str) -> set[str]:
    """The target a backup alert derives from a CronJob's name, as Prometheus's anchored label_replace would."""
    targets = set()
    for replacement, _label, pattern in _TARGET_FROM_CRONJOB.findall(rule.expr):
        match = re.fullmatch(pattern, cronjob)
        if match:
            targets.add(match.expand(re.sub(r"\$(\d)", r"\\\1", replacement)))  # $1 -> \1; unmatched -> ""
    return targets


def test_backup_max_ages_are_those_of_the_issue() -> None:
    """Daily database 26 h (RPO 24 h), weekly vector store 7 d 2 h, daily volume snapshots 26 h."""
    assert backup_max_ages() == {
        "database": 26 * 3600,
        "vectorstore": 7 * 86400 + 2 * 3600,
        "volume-snapshots": 26 * 3600,
    }


def test_every_target_the_engine_pushes_has_a_max_age() -> None:
    assert set(backup_max_ages()) == set(TARGETS) | {"volume-snapshots"}


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_backup_max_ages_follow_the_rendered_schedules(environment: str, render_env: Callable[..., Manifest]) -> None:
    """Each backup CronJob's target has the row `archangel-helm verify` applies too: its period plus grace. A
    schedule changed in values without its row here fails this test."""
    (never,) = [r for r in ALERTS if r.alert == "ArchangelBackupNeverSucceeded"]
    rows = backup_max_ages()
    checked = set()
    for cronjob in render_env(environment, "archangel").of_kind("CronJob"):
        name, schedule = cronjob["metadata"]["name"], cronjob["spec"]["schedule"]
        targets = cronjob_targets(never, name) & set(rows)
        for target in targets:
            expected = (schedule_period_hours(schedule) + GRACE_HOURS) * 3600
            assert rows[target] == expected, f"{environment}: CronJob {name} ({schedule}) needs {expected:.0f} s"
            checked.add(target)
    assert checked == set(rows), f"{environment}: no rendered CronJob for {set(rows) - checked}"


def test_backup_rules_read_the_rendered_cronjob_names(render_env: Callable[..., Manifest]) -> None:
    """<release>-backup-<target> and <release>-volume-snapshots, as the application chart names them; the verify
    CronJob has no row and so no staleness alert."""
    names = {c["metadata"]["name"] for c in render_env("production", "archangel").of_kind("CronJob")}
    by_alert = {
        rule.alert: {name: cronjob_targets(rule, name) for name in sorted(names)}
        for rule in ALERTS
        if rule.file == "backups.yaml" and _TARGET_FROM_CRONJOB.search(rule.expr)
    }
    assert by_alert["ArchangelBackupNeverSucceeded"] == {
        "archangel-backup-database": {"database"},
        "archangel-backup-prune": {"prune"},
        "archangel-backup-vectorstore": {"vectorstore"},
        "archangel-backup-verify": {"verify"},
        "archangel-volume-snapshots": {"volume-snapshots"},
    }
    assert "verify" not in backup_max_ages()
    assert by_alert["ArchangelBackupJobFailed"] == {
        "archangel-backup-database": {"database"},
        "archangel-backup-prune": {"prune"},
        "archangel-backup-vectorstore": {"vectorstore"},
        "archangel-backup-verify": set(),
        "archangel-volume-snapshots": set(),
    }


def test_backup_rules_use_the_documented_jobs() -> None:
    backup = " ".join(rule.expr for rule in RULES if rule.file == "backups.yaml")
    assert 'job="archangel-backup"' in backup
    assert 'job="archangel-volume-snapshots"' in backup


def test_every_rules_file_is_in_the_rules_directory() -> None:
    assert {r.file for r in RULES} == {p.name for p in RULES_DIR.glob("*.yaml")}
