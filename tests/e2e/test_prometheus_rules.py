"""The rendered rules in a real Prometheus (Debian's 2.42) on 127.0.0.1: it loads them, evaluates the recording
rules over series scraped from a local target, and fires alerts; batch metrics arrive through a real
Pushgateway, pushed by the health check and scraped with the rendered honor_labels job.

Timings are compressed for the test (scrape, evaluation and every group's interval 1 s, every `for` 1 s); the
expressions, labels and annotations are the rendered ones. The real `for` durations and thresholds are covered
edge by edge by the promtool unit tests (tests/monitoring/rules)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from archangel_helm import Manifest
from archangel_helm.backup import metrics as backup_metrics
from archangel_helm.core.helm import Helm
from archangel_helm.core.release_inputs import ReleaseInputs
from archangel_helm.monitoring import healthcheck
from archangel_helm.monitoring.healthcheck import Check
from archangel_helm.plan.environments import Environment
from tests.support.monitoring import (
    CI_DIR,
    NAMESPACE,
    RELEASE,
    LocalHTTPServer,
    Recorded,
    Route,
    binary,
    config_of,
    free_port,
    local_http_server,
    running_process,
    wait_until,
)
from tests.support.project import MONITORING_CHART

pytestmark = pytest.mark.e2e
TARGET_LABELS = {"namespace": "archangel", "release": "archangel"}


class SampleApplication:
    """Counters that grow with time: 100 requests/s answered 200 and 5/s answered 500 (an error ratio of 4.8 %),
    latency with a P99 of 9.65 s; PostgreSQL's exporter reports the database down."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def core(self, _request: Recorded) -> tuple[int, str, bytes]:
        t = time.monotonic() - self.started
        labels = 'method="POST",route="/v1/tasks"'
        lines = [
            "# TYPE archangel_http_requests_total counter",
            f'archangel_http_requests_total{{{labels},code="200"}} {100 * t}',
            f'archangel_http_requests_total{{{labels},code="500"}} {5 * t}',
            "# TYPE archangel_http_request_duration_seconds histogram",
            f'archangel_http_request_duration_seconds_bucket{{{labels},le="1"}} {50 * t}',
            f'archangel_http_request_duration_seconds_bucket{{{labels},le="5"}} {90 * t}',
            f'archangel_http_request_duration_seconds_bucket{{{labels},le="10"}} {105 * t}',
            f'archangel_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {105 * t}',
            f"archangel_http_request_duration_seconds_sum{{{labels}}} {300 * t}",
            f"archangel_http_request_duration_seconds_count{{{labels}}} {105 * t}",
            "# TYPE archangel_agent_queue_depth gauge",
            "archangel_agent_queue_depth 3",
        ]
        return 200, "text/plain; version=0.0.4", ("\n".join(lines) + "\n").encode()

    def postgresql(self, _request: Recorded) -> tuple[int, str, bytes]:
        return 200, "text/plain; version=0.0.4", b"# TYPE pg_up gauge\npg_up 0\n"

    def ready(self, _request: Recorded) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"ok\n"


def compressed(rules_text: str) -> str:
    document = yaml.safe_load(rules_text)
    for group in document["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    return yaml.safe_dump(document, sort_keys=False)


def local_configuration(
    rendered: Manifest, rules_dir: Path, app: LocalHTTPServer, pushgateway: str, port: int
) -> dict[str, Any]:
    """The rendered prometheus.yml with its discovery replaced by the local targets, as relabeling would label them."""
    config = config_of(rendered, "ConfigMap", "archangel-monitoring-prometheus", "prometheus.yml")
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(rules_dir / "*.yaml")]
    config.pop("alerting", None)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    pushgateway_job = jobs["pushgateway"]
    pushgateway_job["static_configs"] = [{"targets": [pushgateway.removeprefix("http://")]}]
    host = f"127.0.0.1:{app.port}"
    config["scrape_configs"] = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        pushgateway_job,
        {
            "job_name": "archangel-core",
            "metrics_path": "/metrics/core",
            "static_configs": [
                {"targets": [host], "labels": {**TARGET_LABELS, "component": "core", "pod": "archangel-core-0"}}
            ],
        },
        {
            "job_name": "archangel-postgresql",
            "metrics_path": "/metrics/postgresql",
            "static_configs": [
                {
                    "targets": [host],
                    "labels": {**TARGET_LABELS, "component": "postgresql", "pod": "archangel-postgresql-0"},
                }
            ],
        },
    ]
    return config


@dataclass
class PrometheusServer:
    url: str

    def query(self, expression: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/alerts", timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/rules", timeout=5)
        response.raise_for_status()
        return [rule for group in response.json()["data"]["groups"] for rule in group["rules"]]

    def firing(self, alertname: str, **labels: str) -> dict[str, Any] | None:
        for alert in self.alerts():
            if (
                alert["state"] == "firing"
                and alert["labels"].get("alertname") == alertname
                and all(alert["labels"].get(k) == v for k, v in labels.items())
            ):
                return alert
        return None


@pytest.fixture(scope="module")
def rendered(helm: Helm, environments: dict[str, Environment]) -> Manifest:
    """Standalone mode as chart-testing installs it."""
    production = environments["production"]
    standalone = (CI_DIR / "standalone-values.yaml",)
    inputs = ReleaseInputs(
        MONITORING_CHART, standalone, RELEASE, NAMESPACE, production.kube_version, production.api_versions
    )
    return inputs.render(helm=helm)


@pytest.fixture(scope="module")
def app() -> Iterator[LocalHTTPServer]:
    sample = SampleApplication()
    routes: dict[str, Route] = {
        "/metrics/core": sample.core,
        "/metrics/postgresql": sample.postgresql,
        "/healthz/ready": sample.ready,
    }
    with local_http_server(LocalHTTPServer(routes=routes)) as server:
        yield server


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = binary("prometheus-pushgateway")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    with running_process([executable, f"--web.listen-address=127.0.0.1:{port}"], f"{url}/-/ready", log):
        yield url


@pytest.fixture(scope="module")
def prometheus(
    rendered: Manifest, app: LocalHTTPServer, pushgateway: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    executable = binary("prometheus")
    directory = tmp_path_factory.mktemp("prometheus")
    rules_dir = directory / "rules"
    rules_dir.mkdir()
    for name, text in rendered.get("ConfigMap", "archangel-monitoring-rules")["data"].items():
        (rules_dir / name).write_text(compressed(text))
    port = free_port()
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(local_configuration(rendered, rules_dir, app, pushgateway, port)))
    command = [
        executable,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with running_process(command, f"{url}/-/ready", directory / "prometheus.log"):
        yield PrometheusServer(url)


def test_every_rendered_rule_loads_and_evaluates_without_error(
    prometheus: PrometheusServer, rendered: Manifest
) -> None:
    expected = sum(
        len(group["rules"])
        for text in rendered.get("ConfigMap", "archangel-monitoring-rules")["data"].values()
        for group in yaml.safe_load(text)["groups"]
    )
    rules = wait_until(
        lambda: (r := prometheus.rules()) and all(rule["health"] != "unknown" for rule in r) and r,
        30,
        "every rule to be evaluated once",
    )
    assert len(rules) == expected
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []


def test_recording_rules_compute_rates_ratios_and_quantiles(prometheus: PrometheusServer) -> None:
    selector = '{component="core", namespace="archangel", release="archangel"}'

    def value(expression: str) -> float | None:
        result = prometheus.query(expression)
        return float(result[0]["value"][1]) if result else None

    ratio = wait_until(
        lambda: value(f"component:archangel_http_request_error_ratio:rate5m{selector}"), 30, "the error ratio"
    )
    assert ratio == pytest.approx(5 / 105, rel=0.05)
    # rate() over 5m divides by the whole window while the server has run for seconds, so only ratios and
    # quantiles (which do not depend on that) have their final values already.
    rate = value(f"component:archangel_http_requests:rate5m{selector}")
    assert rate is not None
    assert rate > 0
    p99 = wait_until(lambda: value(f"component:archangel_http_request_duration_seconds:p99_5m{selector}"), 30, "P99")
    assert p99 == pytest.approx(9.65, rel=0.05)
    assert (
        wait_until(lambda: value(f"component:archangel_http_request_error_ratio:rate1h{selector}"), 30, "1h ratio")
        > 0.0144
    )
    assert wait_until(lambda: value('release:archangel_agent_queue_depth:max{release="archangel"}'), 30, "queue") == 3


def test_alerts_fire_with_the_labels_and_annotations_of_the_rules(prometheus: PrometheusServer) -> None:
    error_ratio = wait_until(
        lambda: prometheus.firing("ArchangelHighErrorRatio", component="core"), 30, "ArchangelHighErrorRatio to fire"
    )
    assert error_ratio["labels"] == {
        "alertname": "ArchangelHighErrorRatio",
        "severity": "critical",
        "namespace": "archangel",
        "release": "archangel",
        "component": "core",
    }
    assert error_ratio["annotations"]["runbook_url"].endswith("/docs/runbooks/ArchangelHighErrorRatio.md")
    assert (
        "of the requests served by archangel/archangel core returned 5xx" in error_ratio["annotations"]["description"]
    )
    for alertname, labels in (
        ("ArchangelDatabaseDown", {"namespace": "archangel"}),
        ("ArchangelHighLatency", {"severity": "critical"}),
        ("ArchangelErrorBudgetBurn", {"severity": "critical"}),
        ("Watchdog", {}),
    ):
        wait_until(partial(prometheus.firing, alertname, **labels), 30, f"{alertname} to fire")
    # Core is up: the availability alert of core stays quiet.
    assert prometheus.firing("ArchangelCoreDown") is None
    assert not [a for a in prometheus.alerts() if a["labels"]["alertname"] == "ArchangelCoreDown"]


def test_health_check_results_arrive_through_the_pushgateway(
    prometheus: PrometheusServer, pushgateway: str, app: LocalHTTPServer
) -> None:
    checks = [
        Check("core", f"{app.url}/healthz/ready"),
        Check("alertmanager", f"http://127.0.0.1:{free_port()}/-/ready"),
    ]
    results = healthcheck.run(checks, pushgateway, timeout=2)
    assert [(r.name, r.success) for r in results] == [("core", True), ("alertmanager", False)]
    # honor_labels: the pushed job label survives the scrape of the Pushgateway.
    failed = wait_until(
        lambda: prometheus.query(
            'archangel_healthcheck_success{job="archangel-healthcheck", check="alertmanager"} == 0'
        ),
        30,
        "the pushed health-check result",
    )
    assert failed[0]["metric"]["job"] == "archangel-healthcheck"
    assert prometheus.query('archangel_healthcheck_success{job="archangel-healthcheck", check="core"} == 1')
    alert = wait_until(
        lambda: prometheus.firing("ArchangelHealthCheckFailed", check="alertmanager"), 30, "ArchangelHealthCheckFailed"
    )
    assert alert["labels"]["severity"] == "warning"
    assert prometheus.firing("ArchangelHealthCheckFailed", check="core") is None


def test_backup_staleness_is_judged_per_target_from_pushed_metrics(
    prometheus: PrometheusServer, pushgateway: str
) -> None:
    """The backup engine's own push (python/archangel_helm/backup/metrics.py) through the Pushgateway: a daily
    database backup 27 h old is stale, a weekly vector store backup 48 h old is not, a claim's snapshot 27 h old
    is; the description names the limit the rule's table gives the target."""
    now = time.time()
    quiet = lambda _line: None  # noqa: E731
    backup_metrics.report(
        "database", {"archangel_backup_last_success_timestamp_seconds": now - 27 * 3600}, pushgateway, quiet
    )
    backup_metrics.report(
        "vectorstore", {"archangel_backup_last_success_timestamp_seconds": now - 48 * 3600}, pushgateway, quiet
    )
    backup_metrics.report_snapshots({"data-archangel-postgresql-0": now - 27 * 3600}, pushgateway, log=quiet)
    database = wait_until(
        lambda: prometheus.firing("ArchangelBackupStale", target="database"), 30, "ArchangelBackupStale (database)"
    )
    assert database["labels"]["job"] == "archangel-backup"
    assert database["labels"]["severity"] == "critical"
    assert "its schedule allows 1d 2h 0m 0s" in database["annotations"]["description"]
    snapshot = wait_until(
        lambda: prometheus.firing("ArchangelBackupStale", target="volume-snapshots"),
        30,
        "ArchangelBackupStale (volume-snapshots)",
    )
    assert snapshot["labels"]["pvc"] == "data-archangel-postgresql-0"
    # Both were evaluated with the vector store's series present: it is within its 7 d 2 h.
    assert prometheus.query('target:archangel_backup_last_success_timestamp_seconds:union{target="vectorstore"}')
    assert not [
        a
        for a in prometheus.alerts()
        if a["labels"]["alertname"] == "ArchangelBackupStale" and a["labels"].get("target") == "vectorstore"
    ]
