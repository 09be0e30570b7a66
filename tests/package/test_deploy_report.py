"""The deployment report (Markdown, JSON, HTML).

The goldens are rendered from report.json files recorded from real runs against the Kubernetes API emulator
(tests/fixtures/reports: `verify` with the load check against a local server, and a `deploy` whose
verification fails), so they show exactly what an operator gets. Re-record them by running those two tests of
tests/e2e/test_operate.py with --basetemp and copying report.json; rewrite the goldens after an intended change
with `pytest tests/package/test_deploy_report.py --update-snapshots`. A hand-built report, whose load figures
come from the real summariser over deterministic samples, covers escaping and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archangel_helm.loadcheck import LoadCheckConfig
from archangel_helm.loadcheck.result import Sample, summarise
from archangel_helm.operate import deploy_report
from archangel_helm.operate.checks import Status, StepCheck

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "reports"


def fixed_report() -> deploy_report.DeployReport:
    # 1,000 requests: latencies 20..219 ms in a fixed cycle, 3 upstream 503s and one timeout.
    samples = [Sample(i * 0.06, 0.020 + (i * 37 % 200) / 1000, "response", 200) for i in range(996)]
    samples += [Sample(60.0, 0.004, "response", 503)] * 3 + [Sample(60.0, 10.0, "timeout", None)]
    load = summarise(
        LoadCheckConfig("https://archangel.example.com/healthz/ready", concurrency=20, duration=60.0),
        samples,
        window=60.0,
        warmup_requests=40,
    )
    return deploy_report.DeployReport(
        environment="production",
        mode="deploy",
        started_at="2026-11-28T05:00:00Z",
        finished_at="2026-11-28T05:09:41Z",
        outcome="succeeded",
        versions={
            "helm": "v4.3.1",
            "kubernetes": "v1.33.4",
            "archangel": "archangel 0.1.0, app 1.0.0",
            "archangel-monitoring": "archangel-monitoring 0.1.0",
        },
        releases={
            "archangel-monitoring": {
                "chart": "archangel-monitoring-0.1.0",
                "namespace": "monitoring",
                "revision": 5,
                "previous_revision": 4,
            },
            "archangel": {
                "chart": "archangel-0.1.0",
                "namespace": "archangel",
                "revision": 12,
                "previous_revision": 11,
            },
        },
        checks=[
            StepCheck(
                "preflight", "kubernetes version (archangel)", Status.PASS, "server v1.33.4; chart needs >=1.30.0-0"
            ),
            StepCheck("preflight", "namespace monitoring", Status.WARN, "absent; it will be created <unlabelled>"),
            StepCheck("deploy", "archangel", Status.PASS, "revision 12 deployed"),
            StepCheck("verify", "rollout Deployment/archangel-core", Status.PASS, "3/3 ready, 3 updated"),
            StepCheck("verify", "backup database", Status.PASS, "last success 6h ago (limit 26h)"),
            StepCheck("load", "load check", Status.PASS, "; ".join(c.describe() for c in load.verdict.checks)),
        ],
        load=json.loads(json.dumps(load.as_dict())),  # through JSON, as report.json stores it
        next_steps=["watch the overview dashboard for an hour"],
    )


RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
RUNS = ["verify-production", "deploy-production-failed-verification"]


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("suffix", ["md", "html"])
def test_report_of_a_recorded_run_matches_golden(run: str, suffix: str, pytestconfig: pytest.Config) -> None:
    recorded = deploy_report.DeployReport.from_dict(json.loads((RECORDED / f"{run}.json").read_text()))
    rendered = deploy_report.markdown(recorded) if suffix == "md" else deploy_report.html_page(recorded)
    golden = GOLDEN / f"{run}.{suffix}"
    if pytestconfig.getoption("update_snapshots"):
        golden.write_text(rendered)
    assert golden.exists(), f"{golden} is missing; create it with --update-snapshots"
    assert rendered == golden.read_text(), f"{golden} differs; rerun with --update-snapshots if intended"


@pytest.mark.parametrize("run", RUNS)
def test_recorded_reports_round_trip_through_json(run: str) -> None:
    """Reports recorded before `succeeded` existed read it from their outcome's words."""
    data = json.loads((RECORDED / f"{run}.json").read_text())
    expected = {**data, "succeeded": data.get("succeeded", data["outcome"].startswith(("succeeded", "dry run")))}
    assert deploy_report.DeployReport.from_dict(data).as_dict() == expected
    assert expected["succeeded"] is (not data["outcome"].startswith("failed"))


def test_the_recorded_deploy_names_what_failed_and_how_to_roll_back() -> None:
    recorded = json.loads((RECORDED / "deploy-production-failed-verification.json").read_text())
    assert recorded["outcome"] == "failed at verification"
    assert recorded["releases"]["archangel"]["objects"]["Deployment"] == 2
    assert "roll back: helm rollback archangel 4 -n archangel --wait" in recorded["next_steps"]
    text = deploy_report.markdown(deploy_report.DeployReport.from_dict(recorded))
    assert "| archangel | archangel-0.1.0 | archangel | 5 (from 4) | " in text


def test_the_recorded_verify_carries_the_load_histogram() -> None:
    recorded = deploy_report.DeployReport.from_dict(json.loads((RECORDED / "verify-production.json").read_text()))
    assert recorded.load is not None
    assert recorded.load["verdict"]["passed"] is True
    assert deploy_report.html_page(recorded).count("<rect ") == len(recorded.load["histogram"]["counts"])


def test_json_report_round_trips() -> None:
    original = fixed_report()
    again = deploy_report.DeployReport.from_dict(json.loads(json.dumps(original.as_dict())))
    assert again == original
    assert deploy_report.markdown(again) == deploy_report.markdown(original)


def test_markdown_cells_cannot_break_the_table() -> None:
    broken = fixed_report()
    broken.checks = [StepCheck("verify", "a|b", Status.FAIL, "line one\nline two | <b>")]
    row = next(line for line in deploy_report.markdown(broken).splitlines() if line.startswith("| FAIL"))
    assert row == "| FAIL | a\\|b | line one line two \\| &lt;b> |"


def test_html_escapes_cluster_text_and_embeds_the_histogram() -> None:
    page = deploy_report.html_page(fixed_report())
    assert "&lt;unlabelled&gt;" in page
    assert "<unlabelled>" not in page
    load = fixed_report().load
    assert load is not None
    assert page.count("<rect ") == len(load["histogram"]["counts"])
    assert "<script" not in page


def test_markdown_lists_the_measured_percentiles() -> None:
    text = deploy_report.markdown(fixed_report())
    load = fixed_report().load
    assert load is not None
    assert f"| P99 | {load['latency_seconds']['p99'] * 1000:.1f} ms |" in text
    assert "| error rate | 0.40 % (4 errors) |" in text
    assert "## Load check (passed)" in text


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("720h", 2592000), ("1w2d", 777600), ("90s", 90), ("1y", 31536000)]
)
def test_prometheus_durations(text: str, seconds: float) -> None:
    from archangel_helm.operate.verify import prometheus_duration_seconds

    assert prometheus_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "30 d", "1.5d", "30days"])
def test_bad_prometheus_durations_are_refused(text: str) -> None:
    from archangel_helm.operate.verify import check_retention, prometheus_duration_seconds

    with pytest.raises(ValueError, match="not a Prometheus duration"):
        prometheus_duration_seconds(text)
    assert check_retention({"data": {"storage.tsdb.retention.time": text}}).status is Status.FAIL
