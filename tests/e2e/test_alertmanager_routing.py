"""The rendered alertmanager.yml in a real Alertmanager (Debian's 0.25) on 127.0.0.1: alerts posted to it reach
the receivers their severity routes to, with the notification texts the chart defines; a critical alert mutes the
warning of the same alert; Watchdog reaches nobody. Slack and PagerDuty are a local HTTP server: the webhook URL
is read from the mounted-secret file, as in the cluster.

Only the timings are compressed (group_wait and group_interval 1 s)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import yaml

from archangel_helm.core.helm import Helm
from archangel_helm.core.release_inputs import ReleaseInputs
from archangel_helm.plan.environments import Environment
from tests.support.monitoring import (
    ALL_RECEIVERS,
    CI_DIR,
    NAMESPACE,
    RELEASE,
    LocalHTTPServer,
    Recorded,
    binary,
    config_of,
    free_port,
    local_http_server,
    running_process,
    wait_until,
)
from tests.support.project import MONITORING_CHART

pytestmark = pytest.mark.e2e
SECRETS = "/etc/alertmanager/secrets/"
RUNBOOK = "https://github.com/archangel-ai/archangel-helm/blob/main/docs/runbooks/{}.md"


def _accepted(_request: Recorded) -> tuple[int, str, bytes]:
    return 200, "application/json", b"{}"


@dataclass
class AlertmanagerServer:
    url: str

    def post(self, alerts: list[dict[str, Any]]) -> None:
        response = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        assert response.status_code == 200, response.text

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=5)
        response.raise_for_status()
        return list(response.json())


def alert(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {
            "summary": f"{alertname} summary",
            "description": f"{alertname} at {severity}",
            "runbook_url": RUNBOOK.format(alertname),
        },
    }


@pytest.fixture(scope="module")
def receivers() -> Iterator[LocalHTTPServer]:
    with local_http_server(LocalHTTPServer(routes={"/slack": _accepted, "/pagerduty": _accepted})) as server:
        yield server


@pytest.fixture(scope="module")
def alertmanager(
    helm: Helm,
    environments: dict[str, Environment],
    receivers: LocalHTTPServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AlertmanagerServer]:
    executable = binary("prometheus-alertmanager")
    values = yaml.safe_load(yaml.safe_dump(ALL_RECEIVERS))
    values["alerting"]["receivers"]["email"]["enabled"] = False  # no SMTP server here; amtool tests its routing
    production = environments["production"]
    standalone = (CI_DIR / "standalone-values.yaml",)
    inputs = ReleaseInputs(
        MONITORING_CHART, standalone, RELEASE, NAMESPACE, production.kube_version, production.api_versions
    )
    manifest = inputs.render(values, helm=helm)
    directory = tmp_path_factory.mktemp("alertmanager")
    secrets = directory / "secrets"
    secrets.mkdir()
    (secrets / "slack-webhook-url").write_text(f"{receivers.url}/slack\n")
    (secrets / "pagerduty-routing-key").write_text("test-routing-key\n")
    text = yaml.safe_dump(config_of(manifest, "ConfigMap", "archangel-monitoring-alertmanager", "alertmanager.yml"))
    assert SECRETS in text
    config = yaml.safe_load(text.replace(SECRETS, f"{secrets}/"))
    config["route"]["group_wait"] = config["route"]["group_interval"] = "1s"
    pagerduty = next(r for r in config["receivers"] if r["name"] == "pagerduty")
    pagerduty["pagerduty_configs"][0]["url"] = f"{receivers.url}/pagerduty"
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    command = [
        executable,
        f"--config.file={path}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with running_process(command, f"{url}/-/ready", directory / "alertmanager.log"):
        server = AlertmanagerServer(url)
        server.post(
            [
                alert("ArchangelHighLatency", "critical", namespace="archangel", component="core"),
                alert("ArchangelHighLatency", "warning", namespace="archangel", component="core"),
                alert("ArchangelHighCPU", "warning", namespace="archangel", component="agents"),
                alert("Watchdog", "none"),
            ]
        )
        yield server


def notifications(receivers: LocalHTTPServer, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receivers.requests if r.path == path]


def test_critical_alerts_page_and_post_to_slack(alertmanager: AlertmanagerServer, receivers: LocalHTTPServer) -> None:
    pages = wait_until(lambda: notifications(receivers, "/pagerduty"), 30, "the PagerDuty event")
    (page,) = pages
    assert page["routing_key"] == "test-routing-key"  # read from the mounted-secret file
    assert page["event_action"] == "trigger"
    assert page["payload"]["severity"] == "critical"
    assert page["payload"]["summary"] == "[FIRING:1] critical: ArchangelHighLatency (archangel)"
    slack = wait_until(
        lambda: [n for n in notifications(receivers, "/slack") if "ArchangelHighLatency" in json.dumps(n)],
        30,
        "the Slack message of the critical alert",
    )
    (message,) = slack
    assert message["channel"] == "#archangel-alerts"
    (attachment,) = message["attachments"]
    assert attachment["title"] == "[FIRING:1] critical: ArchangelHighLatency (archangel)"
    assert attachment["text"] == (
        "*ArchangelHighLatency summary*\nArchangelHighLatency at critical\n"
        f"Runbook: {RUNBOOK.format('ArchangelHighLatency')}\n"
    )


def test_warnings_go_to_slack_only(alertmanager: AlertmanagerServer, receivers: LocalHTTPServer) -> None:
    slack = wait_until(
        lambda: [n for n in notifications(receivers, "/slack") if "ArchangelHighCPU" in json.dumps(n)],
        30,
        "the warning",
    )
    assert slack[0]["attachments"][0]["title"] == "[FIRING:1] warning: ArchangelHighCPU (archangel)"
    assert not [p for p in notifications(receivers, "/pagerduty") if "ArchangelHighCPU" in json.dumps(p)]


def test_a_critical_alert_mutes_its_warning_and_watchdog_reaches_nobody(
    alertmanager: AlertmanagerServer, receivers: LocalHTTPServer
) -> None:
    def state(alertname: str, severity: str) -> dict[str, Any]:
        return next(
            a["status"]
            for a in alertmanager.alerts()
            if a["labels"]["alertname"] == alertname and a["labels"]["severity"] == severity
        )

    muted = wait_until(
        lambda: (s := state("ArchangelHighLatency", "warning"))["state"] == "suppressed" and s, 30, "inhibition"
    )
    assert muted["inhibitedBy"]
    assert state("ArchangelHighLatency", "critical")["state"] == "active"
    # Every notification that will come for these alerts has come within a few group intervals.
    wait_until(lambda: len(notifications(receivers, "/slack")) >= 2, 30, "both Slack messages")
    sent = json.dumps([notifications(receivers, "/slack"), notifications(receivers, "/pagerduty")])
    assert "Watchdog" not in sent
    assert "ArchangelHighLatency at warning" not in sent
    titles = sorted(n["attachments"][0]["title"] for n in notifications(receivers, "/slack"))
    assert titles == [
        "[FIRING:1] critical: ArchangelHighLatency (archangel)",
        "[FIRING:1] warning: ArchangelHighCPU (archangel)",
    ]
