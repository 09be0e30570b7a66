"""Alert routing: the standalone alertmanager.yml passes amtool and routes each severity to its receivers, every
secret is read from a mounted file, and the operator's AlertmanagerConfig says the same thing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.testing import assertions as a
from tests.support.monitoring import ALL_RECEIVERS, RenderMonitoring, binary, config_of, run

ALERTMANAGER = "archangel-monitoring-alertmanager"
SECRET_FIELDS = {"api_url", "routing_key", "service_key", "auth_password", "auth_secret", "url"}


def alertmanager_config(manifest: Manifest) -> dict[str, Any]:
    return config_of(manifest, "ConfigMap", ALERTMANAGER, "alertmanager.yml")


def write(config: dict[str, Any], directory: Path) -> Path:
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def with_receivers(*enabled: str) -> dict[str, Any]:
    values: dict[str, Any] = {"mode": "standalone", **yaml.safe_load(yaml.safe_dump(ALL_RECEIVERS))}
    for name in ("email", "slack", "pagerduty"):
        values["alerting"]["receivers"][name]["enabled"] = name in enabled
    return values


RECEIVER_SETS = [(), ("email",), ("slack",), ("pagerduty",), ("email", "slack", "pagerduty")]


@pytest.mark.parametrize("enabled", RECEIVER_SETS, ids=lambda e: "+".join(e) or "none")
def test_amtool_check_config(enabled: tuple[str, ...], render_monitoring: RenderMonitoring, tmp_path: Path) -> None:
    amtool = binary("amtool")
    config = alertmanager_config(render_monitoring(with_receivers(*enabled)))
    result = run(amtool, "check-config", str(write(config, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(enabled) + 1} receivers" in result.stdout


# (labels of an alert, the receivers amtool must route it to, in order)
ROUTES = [
    ({"alertname": "ArchangelCoreDown", "severity": "critical", "namespace": "archangel"}, "pagerduty,slack,email"),
    ({"alertname": "ArchangelHighCPU", "severity": "warning", "namespace": "archangel"}, "slack,email"),
    ({"alertname": "SomethingInformational", "severity": "info"}, "email"),
    ({"alertname": "Watchdog", "severity": "none"}, "null"),
    ({"alertname": "Watchdog"}, "null"),
    ({"alertname": "NoSeverity"}, "slack"),
]


@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=lambda v: str(v)[:40])
def test_amtool_routes_each_severity_to_its_receivers(
    labels: dict[str, str], receivers: str, standalone: Manifest, tmp_path: Path
) -> None:
    amtool = binary("amtool")
    path = write(alertmanager_config(standalone), tmp_path)
    result = run(amtool, "config", "routes", "test", f"--config.file={path}", *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


@pytest.mark.parametrize(
    ("values_file", "critical", "warning"),
    [
        ("values/monitoring-production.yaml", "pagerduty,slack,email", "slack,email"),
        ("values/monitoring-staging.yaml", "slack", "slack"),
    ],
)
def test_amtool_routes_of_the_environments(
    values_file: str, critical: str, warning: str, render_monitoring: RenderMonitoring, tmp_path: Path
) -> None:
    """The environments run operator mode; the same routing rendered for our own Alertmanager routes the same."""
    amtool = binary("amtool")
    manifest = render_monitoring({"mode": "standalone"}, (values_file,))
    path = write(alertmanager_config(manifest), tmp_path)
    assert run(amtool, "check-config", str(path)).returncode == 0
    for severity, expected in (("critical", critical), ("warning", warning)):
        result = run(amtool, "config", "routes", "test", f"--config.file={path}", "alertname=X", f"severity={severity}")
        assert result.stdout.strip() == expected


def test_routes_only_for_enabled_receivers(render_monitoring: RenderMonitoring, tmp_path: Path) -> None:
    amtool = binary("amtool")
    path = write(alertmanager_config(render_monitoring(with_receivers("email"))), tmp_path)
    for severity in ("critical", "warning", "info"):
        result = run(amtool, "config", "routes", "test", f"--config.file={path}", f"severity={severity}")
        assert result.stdout.strip() == "email"


def test_no_receiver_means_everything_goes_to_null(render_monitoring: RenderMonitoring, tmp_path: Path) -> None:
    config = alertmanager_config(render_monitoring(with_receivers()))
    assert config["route"]["receiver"] == "null"
    assert config["receivers"] == [{"name": "null"}]


def test_every_secret_is_read_from_a_mounted_file(standalone: Manifest) -> None:
    config = alertmanager_config(standalone)
    files = []
    for receiver in config["receivers"]:
        for key, configs in receiver.items():
            if key == "name":
                continue
            for entry in configs:
                assert not SECRET_FIELDS & (set(entry) - {"url"}), f"{receiver['name']}: a secret inline"
                if receiver["name"] == "slack":
                    assert "api_url" not in entry
                files += [value for field, value in entry.items() if field.endswith("_file")]
    assert sorted(files) == [
        "/etc/alertmanager/secrets/pagerduty-routing-key",
        "/etc/alertmanager/secrets/slack-webhook-url",
        "/etc/alertmanager/secrets/smtp-password",
    ]
    pod = standalone.get("StatefulSet", ALERTMANAGER)["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
    assert volume["secret"]["secretName"] == "archangel-alerting"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "secrets")
    assert mount == {"name": "secrets", "mountPath": "/etc/alertmanager/secrets", "readOnly": True}
    assert "archangel-alerting" not in yaml.safe_dump(config)


def test_pagerduty_uses_events_v2(standalone: Manifest) -> None:
    receiver = next(r for r in alertmanager_config(standalone)["receivers"] if r["name"] == "pagerduty")
    (entry,) = receiver["pagerduty_configs"]
    assert "routing_key_file" in entry
    assert "service_key_file" not in entry
    assert entry["url"] == "https://events.pagerduty.com/v2/enqueue"


def test_grouping_and_inhibition(standalone: Manifest) -> None:
    config = alertmanager_config(standalone)
    assert config["route"]["group_by"] == ["alertname", "namespace", "component"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"], config["route"]["repeat_interval"]) == (
        "30s",
        "5m",
        "4h",
    )
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "namespace"],
        }
    ]
    assert config["route"]["routes"][0] == {"receiver": "null", "matchers": ['alertname="Watchdog"']}


def test_inhibition_can_be_turned_off(render_monitoring: RenderMonitoring) -> None:
    values = with_receivers("slack")
    values["alerting"]["inhibitWarningsWhenCritical"] = False
    assert "inhibit_rules" not in alertmanager_config(render_monitoring(values))


# Clustering -------------------------------------------------------------------------------------------------


def test_one_replica_runs_without_clustering(standalone: Manifest) -> None:
    args = standalone.get("StatefulSet", ALERTMANAGER)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--cluster.listen-address=" in args
    assert not [a for a in args if a.startswith("--cluster.peer")]
    assert standalone.find("PodDisruptionBudget", ALERTMANAGER) is None


def test_replicas_form_a_gossip_cluster(standalone_ha: Manifest) -> None:
    statefulset = standalone_ha.get("StatefulSet", ALERTMANAGER)
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    peers = [a.split("=", 1)[1] for a in args if a.startswith("--cluster.peer=")]
    headless = "archangel-monitoring-alertmanager-hl"
    assert peers == [f"{ALERTMANAGER}-{i}.{headless}.monitoring.svc:9094" for i in range(3)]
    assert "--cluster.listen-address=:9094" in args
    assert statefulset["spec"]["serviceName"] == headless
    service = standalone_ha.get("Service", headless)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} >= {(9094, "TCP"), (9094, "UDP")}
    assert standalone_ha.get("PodDisruptionBudget", ALERTMANAGER)["spec"]["maxUnavailable"] == 1


# The operator's AlertmanagerConfig says the same ---------------------------------------------------------------


def _operator_routes(spec: dict[str, Any]) -> list[tuple[str, list[str], bool]]:
    routes = []
    for route in spec["route"]["routes"]:
        matchers = [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in route["matchers"]]
        routes.append((route["receiver"], matchers, bool(route.get("continue", False))))
    return routes


def _standalone_routes(config: dict[str, Any]) -> list[tuple[str, list[str], bool]]:
    return [(r["receiver"], r["matchers"], bool(r.get("continue", False))) for r in config["route"]["routes"]]


def alertmanager_configs(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """namespace -> AlertmanagerConfig."""
    return {c["metadata"]["namespace"]: c for c in manifest.of_kind("AlertmanagerConfig")}


def test_one_alertmanager_config_per_namespace_the_alerts_carry(
    production: Manifest, staging: Manifest, render_env: Callable[..., Manifest]
) -> None:
    """prometheus-operator scopes an AlertmanagerConfig to its own namespace's alerts (OnNamespace, its default
    and what a shared Alertmanager keeps for its tenants): Archangel's alerts carry the application's namespace
    (its workloads) or the monitoring release's (its Pushgateway and volumes), so there is one in each, the same."""
    configs = alertmanager_configs(production)
    assert sorted(configs) == ["archangel", "monitoring"]
    assert configs["archangel"]["spec"] == configs["monitoring"]["spec"]
    assert sorted(alertmanager_configs(staging)) == ["archangel-staging", "monitoring"]
    chosen = render_env("production", "archangel-monitoring", {"rules.namespaces": ["team-a"]})
    assert sorted(alertmanager_configs(chosen)) == ["team-a"]


def test_the_alertmanager_config_matches_the_standalone_configuration(
    production: Manifest, render_monitoring: RenderMonitoring
) -> None:
    operator = alertmanager_configs(production)["archangel"]
    spec = operator["spec"]
    standalone = alertmanager_config(render_monitoring({"mode": "standalone"}, ("values/monitoring-production.yaml",)))
    assert _operator_routes(spec) == _standalone_routes(standalone)
    assert spec["route"]["receiver"] == standalone["route"]["receiver"] == "slack"
    assert spec["route"]["groupBy"] == standalone["route"]["group_by"]
    assert [r["name"] for r in spec["receivers"]] == [r["name"] for r in standalone["receivers"]]
    (inhibit,) = spec["inhibitRules"]
    assert inhibit["equal"] == ["alertname", "namespace"]
    assert [m["value"] for m in inhibit["sourceMatch"]] == ["critical"]
    assert [m["value"] for m in inhibit["targetMatch"]] == ["warning"]
    # Only Archangel's alerts (and Watchdog) enter this configuration.
    assert spec["route"]["matchers"] == [{"name": "alertname", "matchType": "=~", "value": "Archangel.+|Watchdog"}]


def test_the_alertmanager_config_references_the_existing_secret(production: Manifest) -> None:
    operator = alertmanager_configs(production)["archangel"]
    receivers = {r["name"]: r for r in operator["spec"]["receivers"]}
    assert receivers["slack"]["slackConfigs"][0]["apiURL"] == {"name": "archangel-alerting", "key": "slack-webhook-url"}
    assert receivers["pagerduty"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "archangel-alerting",
        "key": "pagerduty-routing-key",
    }
    assert receivers["email"]["emailConfigs"][0]["authPassword"] == {
        "name": "archangel-alerting",
        "key": "smtp-password",
    }
    assert operator["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert operator["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


# Bad routing values are refused by name ---------------------------------------------------------------------------

BAD_ROUTING: list[tuple[dict[str, Any], str]] = [
    (
        {"alerting": {"receivers": {"slack": {"enabled": True}}}},
        "alerting.existingSecret is empty but receivers slack are enabled",
    ),
    (
        {
            "alerting": {
                "existingSecret": "s",
                "receivers": {"email": {"enabled": True, "from": "a@b.c", "smarthost": "h:25"}},
            }
        },
        "  - alerting.receivers.email.to: the on-call address(es)",
    ),
    (
        {
            "alerting": {
                "existingSecret": "s",
                "defaultReceiver": "pagerduty",
                "receivers": {"slack": {"enabled": True}},
            }
        },
        'alerting.defaultReceiver is "pagerduty" but alerting.receivers.pagerduty.enabled is false',
    ),
]


@pytest.mark.parametrize(("values", "message"), BAD_ROUTING, ids=lambda v: str(v)[:50])
@pytest.mark.parametrize("mode", ["operator", "standalone"])
def test_bad_routing_is_refused_naming_the_value(
    values: dict[str, Any], message: str, mode: str, render_monitoring: RenderMonitoring
) -> None:
    a.failed_template(lambda: render_monitoring({"mode": mode, **values}), message=message)
