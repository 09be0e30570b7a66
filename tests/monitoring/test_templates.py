"""Template tests of the monitoring chart in both modes and both environments: what each renders, how it is
hardened, and how it fits the application chart (labels, network paths, secrets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import annotations_of, labels_of
from archangel_helm.hooks.secrets import parse_spec
from archangel_helm.monitoring.healthcheck import parse_check
from archangel_helm.testing import assertions as a
from archangel_helm.validate.graph import check_graph, pods_without_default_deny
from archangel_helm.validate.pod_security import check_pod_security
from archangel_helm.validate.selectors import matches
from tests.support.monitoring import RenderMonitoring
from tests.support.project import SHIPPED_VALUES

CRD_KINDS = {"PrometheusRule", "ServiceMonitor", "PodMonitor", "AlertmanagerConfig"}
STANDALONE_SERVERS = {
    ("StatefulSet", "archangel-monitoring-prometheus"),
    ("StatefulSet", "archangel-monitoring-alertmanager"),
    ("Deployment", "archangel-monitoring-grafana"),
    ("Deployment", "archangel-monitoring-kube-state-metrics"),
}
MONITORING_SHIPPED = [s for s in SHIPPED_VALUES if s.chart.name == "archangel-monitoring"]


def install_hooks(manifest: Manifest) -> list[dict[str, Any]]:
    """Hooks that run at install or upgrade: the `helm test` pod is a hook too, but only `helm test` runs it."""
    return [o for o in manifest.hooks() if annotations_of(o).get("helm.sh/hook") != "test"]


@pytest.fixture(scope="module")
def every_shipped(render_shipped: Callable[..., Manifest]) -> dict[str, Manifest]:
    return {s.id: render_shipped(s) for s in MONITORING_SHIPPED}


# Modes -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_environments_run_operator_mode(environment: str, request: pytest.FixtureRequest) -> None:
    manifest: Manifest = request.getfixturevalue(environment)
    kinds = {o["kind"] for o in manifest}
    assert {"PrometheusRule", "ServiceMonitor", "AlertmanagerConfig"} <= kinds
    assert not {ref for ref in manifest.refs() if ref in STANDALONE_SERVERS}
    for obj in manifest:
        if obj["kind"] in CRD_KINDS:
            assert labels_of(obj)["release"] == "kube-prometheus-stack"
            assert (
                obj["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"
            )


def test_custom_resources_need_the_api(render_env: Callable[..., Manifest], environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if "monitoring.coreos.com" not in a]
    manifest = render_env("production", "archangel-monitoring", api_versions=apis)
    assert not [o for o in manifest if o["kind"] in CRD_KINDS]
    assert manifest.find("StatefulSet", "archangel-monitoring-pushgateway") is not None


@pytest.mark.parametrize(
    ("api", "kind"),
    [
        ("monitoring.coreos.com/v1/PrometheusRule", "PrometheusRule"),
        ("monitoring.coreos.com/v1/ServiceMonitor", "ServiceMonitor"),
        ("monitoring.coreos.com/v1alpha1/AlertmanagerConfig", "AlertmanagerConfig"),
    ],
)
def test_each_custom_resource_needs_its_own_api(
    api: str, kind: str, render_env: Callable[..., Manifest], environments: Any
) -> None:
    apis = [a for a in environments["production"].api_versions if a != api]
    manifest = render_env("production", "archangel-monitoring", api_versions=apis)
    assert manifest.of_kind(kind) == []


def test_standalone_renders_no_custom_resource_even_where_the_api_exists(standalone: Manifest) -> None:
    assert not [o for o in standalone if o["kind"] in CRD_KINDS]
    assert standalone.refs() >= STANDALONE_SERVERS


def test_the_pushgateway_service_monitor_honours_pushed_labels(production: Manifest) -> None:
    (monitor,) = production.of_kind("ServiceMonitor")
    assert monitor["metadata"]["name"] == "archangel-monitoring-pushgateway"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] == "http"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["monitoring"]}
    assert [p for p in check_graph(production) if p.rule.startswith("graph/servicemonitor")] == []


def test_servers_can_be_turned_off_one_by_one(render_monitoring: RenderMonitoring) -> None:
    manifest = render_monitoring(
        {"mode": "standalone", "alertmanager": {"enabled": False}, "kubeStateMetrics": {"enabled": False}}
    )
    refs = manifest.refs()
    assert ("StatefulSet", "archangel-monitoring-alertmanager") not in refs
    assert ("Deployment", "archangel-monitoring-kube-state-metrics") not in refs
    assert "alerting" not in json.dumps(manifest.get("ConfigMap", "archangel-monitoring-prometheus")["data"])
    assert check_graph(manifest) == []


# Hardening -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shipped", MONITORING_SHIPPED, ids=lambda s: s.id)
def test_every_pod_is_restricted_and_resourced(shipped: Any, every_shipped: dict[str, Manifest]) -> None:
    manifest = every_shipped[shipped.id]
    templates = list(manifest.pod_templates())
    assert templates
    for template in templates:
        assert [str(p) for p in check_pod_security(template)] == []
        for container in template.containers():
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"])
            assert "memory" in resources["limits"]
            if template.owner_kind in ("Deployment", "StatefulSet"):
                assert {"readinessProbe", "livenessProbe"} <= set(container), f"{template.ref}: probes"


@pytest.mark.parametrize("shipped", MONITORING_SHIPPED, ids=lambda s: s.id)
def test_every_pod_starts_from_default_deny(shipped: Any, every_shipped: dict[str, Manifest]) -> None:
    assert [t.ref for t in pods_without_default_deny(every_shipped[shipped.id])] == []


def test_disruption_budgets_only_for_more_than_one_replica(standalone: Manifest, standalone_ha: Manifest) -> None:
    assert standalone.of_kind("PodDisruptionBudget") == []
    budgets = {p["metadata"]["name"]: p["spec"] for p in standalone_ha.of_kind("PodDisruptionBudget")}
    assert set(budgets) == {f"archangel-monitoring-{c}" for c in ("prometheus", "alertmanager")}
    for spec in budgets.values():
        assert spec["maxUnavailable"] == 1
        assert "minAvailable" not in spec
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_only_discovery_kube_state_metrics_and_the_hook_get_an_api_token(standalone: Manifest) -> None:
    with_token = {t.ref for t in standalone.pod_templates() if t.spec.get("automountServiceAccountToken")}
    assert with_token == {
        "StatefulSet/archangel-monitoring-prometheus",
        "Deployment/archangel-monitoring-kube-state-metrics",
        "Job/archangel-monitoring-secrets-hook",
    }
    policy = standalone.get("NetworkPolicy", "archangel-monitoring-kube-api-clients")
    clients = {t.ref for t in standalone.pod_templates() if matches(policy["spec"]["podSelector"], t.labels)}
    assert clients == with_token


def test_our_prometheus_matches_the_application_charts_scraper_policy(
    standalone: Manifest, render_env: Callable[..., Manifest]
) -> None:
    """The application chart admits `networkPolicy.prometheus` (namespace monitoring, name prometheus) to its
    metrics ports; our Prometheus pods carry those labels, as kube-prometheus-stack's do."""
    app = render_env("production", "archangel")
    core_policy = app.get("NetworkPolicy", "archangel-core")
    metrics_peers = [
        peer
        for rule in core_policy["spec"]["ingress"]
        for peer in rule["from"]
        if "namespaceSelector" in peer and "podSelector" in peer
    ]
    prometheus = next(t for t in standalone.pod_templates() if t.ref == "StatefulSet/archangel-monitoring-prometheus")
    assert any(
        matches(peer["podSelector"], prometheus.labels)
        and peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
        for peer in metrics_peers
    )


def test_prometheus_may_reach_archangel_metrics_and_the_kubelets(standalone: Manifest) -> None:
    egress = standalone.get("NetworkPolicy", "archangel-monitoring-prometheus")["spec"]["egress"]
    archangel = egress[0]
    assert archangel["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["archangel"]
    assert {p["port"] for p in archangel["ports"]} == {9090, 9187, 6333}
    assert {p["port"] for rule in egress for p in rule["ports"]} >= {9093, 9091, 8080, 10250}


def test_alertmanager_may_reach_its_receivers_only_where_enabled(standalone: Manifest, standalone_ha: Manifest) -> None:
    ports = {
        p["port"]
        for rule in standalone.get("NetworkPolicy", "archangel-monitoring-alertmanager")["spec"]["egress"]
        for p in rule["ports"]
    }
    assert ports == {587, 443}
    ha = standalone_ha.get("NetworkPolicy", "archangel-monitoring-alertmanager")["spec"]
    assert {p["port"] for rule in ha["egress"] for p in rule["ports"]} == {9094}


def test_the_pushgateway_admits_archangel_jobs_scrapers_and_the_health_check(production: Manifest) -> None:
    (rule,) = production.get("NetworkPolicy", "archangel-monitoring-pushgateway")["spec"]["ingress"]
    assert rule["ports"] == [{"port": 9091, "protocol": "TCP"}]
    namespaces = {
        peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        for peer in rule["from"]
    }
    assert namespaces == {"monitoring", "archangel", None}


# Grafana and the generated secret --------------------------------------------------------------------------------


def test_grafana_admin_password_comes_from_the_secrets_hook(standalone: Manifest) -> None:
    hooks = {(o["kind"], o["metadata"]["name"]): o for o in install_hooks(standalone)}
    name = "archangel-monitoring-secrets-hook"
    assert set(hooks) == {(k, name) for k in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job")}
    for (kind, _), obj in hooks.items():
        annotations = obj["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert annotations["helm.sh/hook-weight"] == ("-10" if kind == "Job" else "-20")
        assert "argocd.argoproj.io/hook" not in annotations
    spec = parse_spec(json.loads(hooks[("ConfigMap", name)]["data"]["spec.json"]))
    assert spec.name == "archangel-monitoring-generated"
    assert [(k.name, k.length) for k in spec.keys] == [("grafana-admin-password", 32)]
    assert "app.kubernetes.io/instance" not in spec.labels
    role = hooks[("Role", name)]["rules"]
    assert role == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["archangel-monitoring-generated"],
            "verbs": ["get", "patch"],
        },
    ]
    job = hooks[("Job", name)]["spec"]["template"]["spec"]
    container = job["containers"][0]
    assert container["image"].split("@")[0] == "ghcr.io/archangel-ai/archangel-tools:0.1.0"
    assert container["command"] == ["python", "-m", "archangel_helm.hooks.secrets"]
    grafana = standalone.get("Deployment", "archangel-monitoring-grafana")["spec"]["template"]["spec"]
    admin = next(v for v in grafana["volumes"] if v["name"] == "admin")
    assert admin["secret"]["secretName"] == "archangel-monitoring-generated"
    assert admin["secret"]["items"] == [{"key": "grafana-admin-password", "path": "password"}]
    env = {e["name"]: e.get("value") for e in grafana["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/password"


def test_an_existing_grafana_secret_needs_no_hook(render_monitoring: RenderMonitoring) -> None:
    manifest = render_monitoring(
        {
            "mode": "standalone",
            "grafana": {"admin": {"existingSecret": "grafana-admin", "existingSecretKey": "pw", "user": "admin"}},
        }
    )
    assert install_hooks(manifest) == []
    grafana = manifest.get("Deployment", "archangel-monitoring-grafana")["spec"]["template"]["spec"]
    admin = next(v for v in grafana["volumes"] if v["name"] == "admin")
    assert admin["secret"]["secretName"] == "grafana-admin"
    assert manifest.find("NetworkPolicy", "archangel-monitoring-kube-api-clients") is not None


def test_operator_mode_generates_no_secret(production: Manifest) -> None:
    assert install_hooks(production) == []


# Health check ----------------------------------------------------------------------------------------------------


def _healthcheck_args(manifest: Manifest) -> list[str]:
    cronjob = manifest.get("CronJob", "archangel-monitoring-healthcheck")
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "archangel_helm.monitoring.healthcheck"]
    assert container["image"].split("@")[0] == "ghcr.io/archangel-ai/archangel-tools:0.1.0"
    return list(container["args"])


def _checks(args: list[str]) -> dict[str, str]:
    checks = [parse_check(a.removeprefix("--check=")) for a in args if a.startswith("--check=")]
    return {c.name: c.url for c in checks}


def test_health_check_in_standalone_mode_probes_core_and_our_stack(standalone: Manifest) -> None:
    args = _healthcheck_args(standalone)
    assert "--pushgateway=http://archangel-monitoring-pushgateway.monitoring.svc:9091" in args
    assert "--job=archangel-healthcheck" in args
    assert _checks(args) == {
        "core": "http://archangel-core.archangel.svc/healthz/ready",
        "prometheus": "http://archangel-monitoring-prometheus.monitoring.svc:9090/-/ready",
        "alertmanager": "http://archangel-monitoring-alertmanager.monitoring.svc:9093/-/ready",
    }


def test_health_check_in_production_probes_the_operators_stack(production: Manifest) -> None:
    assert _checks(_healthcheck_args(production)) == {
        "core": "https://api.archangel.example.com/healthz/ready",
        "prometheus": "http://kube-prometheus-stack-prometheus.monitoring.svc:9090/-/ready",
        "alertmanager": "http://kube-prometheus-stack-alertmanager.monitoring.svc:9093/-/ready",
    }
    egress = production.get("NetworkPolicy", "archangel-monitoring-healthcheck")["spec"]["egress"]
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in egress


def test_health_check_schedule(production: Manifest) -> None:
    spec = production.get("CronJob", "archangel-monitoring-healthcheck")["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_health_check_needs_somewhere_to_report(render_monitoring: RenderMonitoring) -> None:

    a.failed_template(
        lambda: render_monitoring({"pushgateway": {"enabled": False}}),
        message="healthcheck.enabled needs a Pushgateway to report to",
    )
    manifest = render_monitoring({"pushgateway": {"enabled": False, "externalURL": "http://pgw.example:9091"}})
    assert "--pushgateway=http://pgw.example:9091" in _healthcheck_args(manifest)


def test_extra_checks_may_not_shadow_built_in_ones(render_monitoring: RenderMonitoring) -> None:

    a.failed_template(
        lambda: render_monitoring({"healthcheck": {"extraChecks": [{"name": "core", "url": "http://x/"}]}}),
        message='"core" is a built-in check name',
    )


# High availability ------------------------------------------------------------------------------------------------

GRAFANA_DATABASE: dict[str, Any] = {
    "grafana": {
        "replicas": 2,
        "database": {
            "type": "postgres",
            "host": "grafana-db.example.internal:5432",
            "existingSecret": "grafana-db",
            "cidrs": ["10.20.0.0/24"],
        },
    }
}


def anti_affinity(template: Any) -> dict[str, Any]:
    return dict(template.spec.get("affinity", {}).get("podAntiAffinity", {}))


def test_replicated_servers_keep_apart_on_nodes_and_spread_over_zones(standalone_ha: Manifest) -> None:
    """Two Prometheus or three Alertmanagers on one node are one drain away from none."""
    for name in ("archangel-monitoring-prometheus", "archangel-monitoring-alertmanager"):
        template = next(t for t in standalone_ha.pod_templates() if t.owner_name == name)
        (preferred,) = anti_affinity(template)["preferredDuringSchedulingIgnoredDuringExecution"]
        term = preferred["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert matches(term["labelSelector"], template.labels)
        (spread,) = template.spec["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert matches(spread["labelSelector"], template.labels)


def test_one_replica_gets_no_preset_and_hard_requires_separate_nodes(
    standalone: Manifest, render_monitoring: RenderMonitoring
) -> None:
    assert all("affinity" not in t.spec for t in standalone.pod_templates())
    hard = render_monitoring({"mode": "standalone", "prometheus": {"replicas": 2, "podAntiAffinity": "hard"}}, ())
    template = next(t for t in hard.pod_templates() if t.owner_name == "archangel-monitoring-prometheus")
    (required,) = anti_affinity(template)["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    own: dict[str, Any] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}
    }
    chosen = render_monitoring({"mode": "standalone", "prometheus": {"replicas": 2, "affinity": own}}, ())
    template = next(t for t in chosen.pod_templates() if t.owner_name == "archangel-monitoring-prometheus")
    assert template.spec["affinity"] == own  # the user's affinity replaces the preset


def test_several_grafanas_need_a_shared_database(render_monitoring: RenderMonitoring) -> None:
    a.failed_template(
        lambda: render_monitoring({"mode": "standalone", "grafana": {"replicas": 2}}, ()),
        pattern=r"grafana\.replicas is 2 with grafana\.database\.type sqlite3",
    )
    manifest = render_monitoring({"mode": "standalone", **GRAFANA_DATABASE}, ())
    template = next(t for t in manifest.pod_templates() if t.owner_name == "archangel-monitoring-grafana")
    env = {e["name"]: e.get("value") for e in template.containers()[0]["env"]}
    assert env["GF_DATABASE_TYPE"] == "postgres"
    assert env["GF_DATABASE_HOST"] == "grafana-db.example.internal:5432"
    assert env["GF_DATABASE_PASSWORD__FILE"] == "/etc/grafana/database/password"
    assert env["GF_DATABASE_SSL_MODE"] == "verify-full"
    (preferred,) = anti_affinity(template)["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["matchLabelKeys"] == ["pod-template-hash"]
    egress = manifest.get("NetworkPolicy", "archangel-monitoring-grafana")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"port": 5432, "protocol": "TCP"}]} in egress
    assert "archangel-monitoring-grafana" in {p["metadata"]["name"] for p in manifest.of_kind("PodDisruptionBudget")}


@pytest.mark.parametrize("missing", ["host", "existingSecret", "cidrs"])
def test_a_shared_grafana_database_names_what_is_missing(render_monitoring: RenderMonitoring, missing: str) -> None:
    database = {**GRAFANA_DATABASE["grafana"]["database"], missing: [] if missing == "cidrs" else ""}
    a.failed_template(
        lambda: render_monitoring({"mode": "standalone", "grafana": {"replicas": 2, "database": database}}, ()),
        message=f"grafana.database.type is postgres: set grafana.database.{missing}",
    )
