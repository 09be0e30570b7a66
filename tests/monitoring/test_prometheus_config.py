"""The standalone Prometheus: its rendered configuration passes promtool (with Kubernetes discovery swapped for
file discovery, which Debian's promtool lacks), its discovery and relabeling give Archangel's series the same
labels as the application chart's ServiceMonitors, and its StatefulSet keeps 30 days within a size cap."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.testing import assertions as a
from tests.support.monitoring import RULES_DIR, RenderMonitoring, binary, config_of, run

PROMETHEUS = "archangel-monitoring-prometheus"
ARCHANGEL_JOBS = ("archangel", "archangel-qdrant")


def prometheus_config(manifest: Manifest) -> dict[str, Any]:
    return config_of(manifest, "ConfigMap", PROMETHEUS, "prometheus.yml")


def jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def promtool_copy(config: dict[str, Any], directory: Path) -> Path:
    """The configuration as Debian's promtool can check it: file_sd instead of kubernetes_sd, the rules files of
    the chart instead of their mount path, and the ServiceAccount's files replaced by local ones."""
    checked = copy.deepcopy(config)
    targets = directory / "targets.json"
    targets.write_text(json.dumps([{"targets": ["127.0.0.1:9090"], "labels": {}}]))
    for job in checked["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["file_sd_configs"] = [{"files": [str(targets)]}]
        for section, key in (("authorization", "credentials_file"), ("tls_config", "ca_file")):
            if key in job.get(section, {}):
                local = directory / Path(job[section][key]).name
                local.write_text("placeholder\n")
                job[section][key] = str(local)
    checked["rule_files"] = [str(RULES_DIR / "*.yaml")]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(checked))
    return path


@pytest.mark.parametrize("fixture", ["standalone", "standalone_ha"])
def test_promtool_check_config(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    promtool = binary("promtool")
    config = prometheus_config(request.getfixturevalue(fixture))
    result = run(promtool, "check", "config", str(promtool_copy(config, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout + result.stderr)


def test_the_promtool_copy_swaps_only_discovery(standalone: Manifest, tmp_path: Path) -> None:
    config = prometheus_config(standalone)
    checked = yaml.safe_load(promtool_copy(config, tmp_path).read_text())
    for original, copied in zip(config["scrape_configs"], checked["scrape_configs"], strict=True):
        assert original.get("relabel_configs") == copied.get("relabel_configs")
        assert original.get("metric_relabel_configs") == copied.get("metric_relabel_configs")
        assert ("kubernetes_sd_configs" in original) == ("file_sd_configs" in copied)


# Discovery and relabeling -----------------------------------------------------------------------------------


def test_archangel_jobs_discover_endpointslices_in_the_configured_namespaces(standalone_ha: Manifest) -> None:
    for name in ARCHANGEL_JOBS:
        (sd,) = jobs(prometheus_config(standalone_ha))[name]["kubernetes_sd_configs"]
        assert sd == {"role": "endpointslice", "namespaces": {"names": ["archangel"]}}


def test_kubelet_jobs_keep_only_what_the_rules_read(standalone: Manifest) -> None:
    by_name = jobs(prometheus_config(standalone))
    for name, path in (("kubelet", "/metrics"), ("cadvisor", "/metrics/cadvisor")):
        job = by_name[name]
        assert job["kubernetes_sd_configs"] == [{"role": "node"}]
        assert job["scheme"] == "https"
        assert job["metrics_path"] == path
        assert job["authorization"]["credentials_file"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
        (keep,) = job["metric_relabel_configs"]
        assert keep["action"] == "keep"
        assert keep["source_labels"] == ["__name__"]
    assert re.fullmatch(by_name["cadvisor"]["metric_relabel_configs"][0]["regex"], "container_cpu_usage_seconds_total")
    assert re.fullmatch(by_name["kubelet"]["metric_relabel_configs"][0]["regex"], "kubelet_volume_stats_capacity_bytes")


def test_pushgateway_and_kube_state_metrics_keep_their_series_labels(standalone: Manifest) -> None:
    by_name = jobs(prometheus_config(standalone))
    assert by_name["pushgateway"]["honor_labels"] is True
    assert by_name["pushgateway"]["static_configs"] == [
        {"targets": ["archangel-monitoring-pushgateway.monitoring.svc:9091"]}
    ]
    assert by_name["kube-state-metrics"]["honor_labels"] is True


def test_alerts_go_to_every_alertmanager_replica(standalone_ha: Manifest) -> None:
    (alertmanagers,) = prometheus_config(standalone_ha)["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [
        {
            "targets": [
                f"archangel-monitoring-alertmanager-{i}.archangel-monitoring-alertmanager-hl.monitoring.svc:9093"
                for i in range(3)
            ]
        }
    ]
    assert prometheus_config(standalone_ha)["global"]["external_labels"] == {"cluster": "ci"}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus relabeling (keep, drop, replace, labelmap): the target's labels, or None when dropped."""
    labels = dict(labels)
    for config in configs:
        action = config.get("action", "replace")
        regex = re.compile(str(config.get("regex", "(.*)")))
        value = config.get("separator", ";").join(labels.get(s, "") for s in config.get("source_labels", []))
        if action == "keep" and not regex.fullmatch(value):
            return None
        if action == "drop" and regex.fullmatch(value):
            return None
        if action == "replace":
            match = regex.fullmatch(value)
            if match:
                replacement = re.sub(r"\$\{?(\d+)\}?", r"\\\1", str(config.get("replacement", "$1")))
                result = match.expand(replacement)
                if result:
                    labels[config["target_label"]] = result
                else:
                    labels.pop(config["target_label"], None)
        if action == "labelmap":
            for key in list(labels):
                match = regex.fullmatch(key)
                if match:
                    labels[match.expand(str(config.get("replacement", "$1")).replace("$1", r"\1"))] = labels[key]
    return {k: v for k, v in labels.items() if not k.startswith("__")} | {
        k: v for k, v in labels.items() if k in ("__address__", "__metrics_path__")
    }


def discovered_targets(app: Manifest, namespace: str) -> list[dict[str, str]]:
    """What role: endpointslice discovers for the application's Services: one target per Service port."""
    targets = []
    for service in app.of_kind("Service"):
        name = service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            meta = {
                "__address__": f"10.0.0.1:{port['port']}",
                "__meta_kubernetes_namespace": namespace,
                "__meta_kubernetes_service_name": name,
                "__meta_kubernetes_endpointslice_port_name": port.get("name", ""),
                "__meta_kubernetes_pod_name": f"{name}-0",
                "__meta_kubernetes_pod_container_name": name.rsplit("-", 1)[-1],
            }
            for key, value in service["metadata"]["labels"].items():
                meta[f"__meta_kubernetes_service_label_{_sanitize(key)}"] = str(value)
            targets.append(meta)
    return targets


@pytest.fixture(scope="module")
def app_production(render_env: Callable[..., Manifest]) -> Manifest:
    # Standalone mode discovers the application's Services. Production's PostgreSQL is a CloudNativePG Cluster,
    # scraped through its PodMonitor in operator mode (production's); the Service contract is the builtin one's.
    return render_env("production", "archangel", {"database.mode": "builtin"})


def test_relabeling_gives_archangel_series_the_labels_of_the_metrics_contract(
    standalone_ha: Manifest, app_production: Manifest
) -> None:
    """Run the rendered relabel rules over the application chart's real Services: exactly the metrics endpoints
    survive, each labelled component, release, namespace, pod, service and job as docs/METRICS.md says."""
    by_name = jobs(prometheus_config(standalone_ha))
    scraped = {}
    for job in ARCHANGEL_JOBS:
        for target in discovered_targets(app_production, "archangel"):
            labels = relabel({"job": job, **target}, by_name[job]["relabel_configs"])
            if labels is not None:
                scraped[(job, labels["service"], labels["endpoint"])] = labels
    assert set(scraped) == {
        ("archangel", "archangel-core", "metrics"),
        ("archangel", "archangel-agents", "metrics"),
        ("archangel", "archangel-postgresql", "metrics"),
        ("archangel-qdrant", "archangel-qdrant", "http"),
    }
    for (_job, service, _port), labels in scraped.items():
        component = service.removeprefix("archangel-")
        assert labels["component"] == component
        assert labels["release"] == "archangel"
        assert labels["namespace"] == "archangel"
        assert labels["pod"] == f"{service}-0"
        assert labels["job"] == service  # as prometheus-operator names ServiceMonitor jobs


def test_relabeling_matches_the_application_chart_service_monitors(
    standalone_ha: Manifest, app_production: Manifest
) -> None:
    """Both modes derive component and release from the same Service labels."""
    ours = {
        (tuple(r["source_labels"]), r["target_label"])
        for r in jobs(prometheus_config(standalone_ha))["archangel"]["relabel_configs"]
        if "target_label" in r
    }
    for monitor in app_production.of_kind("ServiceMonitor"):
        for endpoint in monitor["spec"]["endpoints"]:
            for relabeling in endpoint["relabelings"]:
                assert (tuple(relabeling["sourceLabels"]), relabeling["targetLabel"]) in ours


def test_qdrant_is_scraped_with_its_api_key_when_given(standalone_ha: Manifest, standalone: Manifest) -> None:
    job = jobs(prometheus_config(standalone_ha))["archangel-qdrant"]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/prometheus/secrets/qdrant/qdrant-api-key",
    }
    statefulset = standalone_ha.get("StatefulSet", PROMETHEUS)["spec"]["template"]["spec"]
    volume = next(v for v in statefulset["volumes"] if v["name"] == "qdrant-api-key")
    assert volume["secret"]["secretName"] == "archangel-qdrant-api-key"
    mount = next(m for m in statefulset["containers"][0]["volumeMounts"] if m["name"] == "qdrant-api-key")
    assert mount["mountPath"] == "/etc/prometheus/secrets/qdrant"
    assert "authorization" not in jobs(prometheus_config(standalone))["archangel-qdrant"]


def operator_pods(app: Manifest, namespace: str) -> list[dict[str, str]]:
    """What role: pod discovers of the pods CloudNativePG makes: the Cluster's instances carry its
    inheritedMetadata labels (and cnpg.io ones), the Pooler's its template's; one target per container port."""
    pods: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = []
    cluster = app.get("Cluster", "archangel-postgresql")
    instance_labels = {**cluster["spec"]["inheritedMetadata"]["labels"], "cnpg.io/podRole": "instance"}
    for ordinal in (1, 2, 3):
        pods.append(
            (f"archangel-postgresql-{ordinal}", "postgres", instance_labels, ("postgresql", "metrics", "status"))
        )
    pooler = app.get("Pooler", "archangel-pgbouncer")
    pods.append(
        (
            "archangel-pgbouncer-7d9f",
            "pgbouncer",
            pooler["spec"]["template"]["metadata"]["labels"],
            ("pgbouncer", "metrics"),
        )
    )
    targets = []
    for name, container, labels, ports in pods:
        for port in ports:
            meta = {
                "__address__": f"10.0.0.2:{port}",
                "__meta_kubernetes_namespace": namespace,
                "__meta_kubernetes_pod_name": name,
                "__meta_kubernetes_pod_container_name": container,
                "__meta_kubernetes_pod_container_port_name": port,
            }
            meta.update({f"__meta_kubernetes_pod_label_{_sanitize(k)}": str(v) for k, v in labels.items()})
            targets.append(meta)
    return targets


def test_the_operators_pods_are_scraped_with_the_labels_their_pod_monitors_give(
    standalone: Manifest, render_env: Callable[..., Manifest]
) -> None:
    """Standalone mode without prometheus-operator: CloudNativePG's instances and PgBouncer are found by the
    labels the application chart gives them, on their metrics port only, labelled as the PodMonitors label them."""
    app = render_env("production", "archangel")
    job = jobs(prometheus_config(standalone))["archangel-operator-pods"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["archangel"]}}]
    scraped = [labels for t in operator_pods(app, "archangel") if (labels := relabel(t, job["relabel_configs"]))]
    assert sorted((target["pod"], target["component"], target["__address__"]) for target in scraped) == [
        ("archangel-pgbouncer-7d9f", "pgbouncer", "10.0.0.2:metrics"),
        *((f"archangel-postgresql-{n}", "postgresql", "10.0.0.2:metrics") for n in (1, 2, 3)),
    ]
    assert {target["release"] for target in scraped} == {"archangel"}
    pod_monitors = a.select(app, kind="PodMonitor")
    a.length_equal(pod_monitors, "spec.podMetricsEndpoints", 1)
    a.equal(pod_monitors, "spec.podMetricsEndpoints[0].port", "metrics")
    a.equal(pod_monitors, 'spec.podMetricsEndpoints[0].relabelings[?targetLabel=="release"].replacement', "archangel")
    components = 'spec.podMetricsEndpoints[0].relabelings[?targetLabel=="component"].replacement'
    scraped_components = sorted({target["component"] for target in scraped})
    a.match_regex(pod_monitors, components, "^(" + "|".join(map(re.escape, scraped_components)) + ")$")


def test_qdrant_is_scraped_over_verified_https(standalone: Manifest, render_env: Callable[..., Manifest]) -> None:
    job = jobs(prometheus_config(standalone))["archangel-qdrant"]
    assert job["scheme"] == "https"
    assert job["tls_config"] == {
        "ca_file": "/etc/prometheus/secrets/qdrant-ca/ca.crt",
        "server_name": "archangel-qdrant.archangel.svc",
    }
    app = render_env("production", "archangel")
    assert job["tls_config"]["server_name"] in app.get("Certificate", "archangel-qdrant-tls")["spec"]["dnsNames"]
    statefulset = standalone.get("StatefulSet", PROMETHEUS)["spec"]["template"]["spec"]
    volume = next(v for v in statefulset["volumes"] if v["name"] == "qdrant-ca")
    assert volume["secret"] == {
        "secretName": "archangel-qdrant-ca",
        "optional": True,  # Prometheus starts without it; the Qdrant target is down until it exists
        "defaultMode": 0o444,
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }


def test_qdrant_tls_without_its_ca_is_refused(render_monitoring: RenderMonitoring) -> None:
    no_ca = {"mode": "standalone", "prometheus": {"scrape": {"qdrant": {"tls": {"caSecret": {"name": ""}}}}}}
    a.failed_template(
        lambda: render_monitoring(no_ca), message="prometheus.scrape.qdrant.tls.caSecret.name is required"
    )


# The server ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defaults(render_monitoring: RenderMonitoring) -> Manifest:
    return render_monitoring({"mode": "standalone"})


def test_thirty_days_with_a_size_cap_on_a_volume(defaults: Manifest) -> None:
    statefulset = defaults.get("StatefulSet", PROMETHEUS)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert "--storage.tsdb.retention.time=30d" in container["args"]
    assert "--storage.tsdb.retention.size=45GB" in container["args"]
    assert "--storage.tsdb.path=/prometheus" in container["args"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["data"] == "/prometheus"


def test_config_and_rules_are_mounted_where_prometheus_reads_them(defaults: Manifest) -> None:
    container = defaults.get("StatefulSet", PROMETHEUS)["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_flag = next(a for a in container["args"] if a.startswith("--config.file="))
    assert config_flag == f"--config.file={mounts['config']}/prometheus.yml"
    assert prometheus_config(defaults)["rule_files"] == [f"{mounts['rules']}/*.yaml"]


def test_the_size_cap_must_leave_room_on_the_volume(render_monitoring: RenderMonitoring) -> None:
    a.failed_template(
        lambda: render_monitoring({"mode": "standalone", "prometheus": {"retentionSize": "48GB"}}),
        message="prometheus.retentionSize 48GB does not fit prometheus.persistence.size 50Gi",
    )
    roomy = {"retentionSize": "1TB", "persistence": {"size": "2Ti", "storageClassName": ""}}
    a.renders(lambda: render_monitoring({"mode": "standalone", "prometheus": roomy}))


def test_discovery_rbac_is_read_only(defaults: Manifest) -> None:
    role = defaults.get("ClusterRole", PROMETHEUS)
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    read = {"get", "list", "watch"}
    assert granted == {
        ("", "services"): read,
        ("", "endpoints"): read,
        ("", "pods"): read,
        ("discovery.k8s.io", "endpointslices"): read,
        ("", "nodes"): read,
        ("", "nodes/metrics"): {"get"},
    }
    binding = defaults.get("ClusterRoleBinding", PROMETHEUS)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": PROMETHEUS, "namespace": "monitoring"}]
    pod = defaults.get("StatefulSet", PROMETHEUS)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == PROMETHEUS
    assert pod["automountServiceAccountToken"] is True


def test_without_kubelet_scraping_no_node_access(render_monitoring: RenderMonitoring) -> None:
    manifest = render_monitoring({"mode": "standalone", "prometheus": {"scrape": {"kubelet": {"enabled": False}}}})
    resources = {r for rule in manifest.get("ClusterRole", PROMETHEUS)["rules"] for r in rule["resources"]}
    assert not resources & {"nodes", "nodes/metrics"}
    assert not {"kubelet", "cadvisor"} & set(jobs(prometheus_config(manifest)))
