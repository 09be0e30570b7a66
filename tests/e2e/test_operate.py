"""deploy / verify against a Kubernetes API emulator (kmock): preflight over clusters that lack each optional
API, Helm interplay through a recording helm (real helm for reading charts, recorded upgrades), and
verification over a recorded cluster state."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kmock as kmock_lib
import pytest

from archangel_helm.core import yamlio
from archangel_helm.core.helm import find_helm
from archangel_helm.operate.cluster import OPTIONAL_APIS
from archangel_helm.operate.preflight import FEATURES, Feature
from archangel_helm.plan.environments import load_environment
from archangel_helm.validate import CrdSchemas
from tests.support.kube_emulator import KubeEmulator
from tests.support.project import PROJECT

ALL_APIS = [api for api in OPTIONAL_APIS if api.count("/") == 2]
RESOURCE_NAMES = {
    "VerticalPodAutoscaler": "verticalpodautoscalers",
    "ServiceMonitor": "servicemonitors",
    "PrometheusRule": "prometheusrules",
    "PodMonitor": "podmonitors",
    "AlertmanagerConfig": "alertmanagerconfigs",
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "PeerAuthentication": "peerauthentications",
    "HTTPRoute": "httproutes",
    "VolumeSnapshot": "volumesnapshots",
    "VolumeSnapshotClass": "volumesnapshotclasses",
    "ScaledObject": "scaledobjects",
    "Cluster": "clusters",
    "Pooler": "poolers",
    "ScheduledBackup": "scheduledbackups",
    "ObjectStore": "objectstores",
    "Certificate": "certificates",
    "Issuer": "issuers",
}


def make_cluster(
    kube: KubeEmulator,
    *,
    without: set[str] = frozenset(),  # type: ignore[assignment]
    minor: str = "33",
    api_server: str = "10.1.0.17",  # inside production's networkPolicy.kubeAPIServer.cidrs (10.1.0.0/24)
    namespace_labels: dict[str, str] | None = None,
    cloudnativepg: bool = True,
) -> None:
    server = kube.server
    server["get /version"] << {"major": "1", "minor": minor, "gitVersion": f"v1.{minor}.4"}
    for api in ALL_APIS:
        if api in without:
            continue
        group_version, kind = api.rsplit("/", 1)
        server.resources[f"{group_version}/{RESOURCE_NAMES[kind]}"] = server.ResourceInfo(
            kind=kind, namespaced=True, verbs={"get", "list"}
        )
    for api, kind, plural in (
        ("metrics.k8s.io/v1beta1", "PodMetrics", "pods"),
        ("custom.metrics.k8s.io/v1beta1", "MetricValueList", "pods"),
    ):
        if api not in without:
            server.resources[f"{api}/{plural}"] = server.ResourceInfo(kind=kind, namespaced=True, verbs={"get", "list"})
    for plural, kind in (("deployments", "Deployment"), ("statefulsets", "StatefulSet")):
        server.resources[f"apps/v1/{plural}"] = server.ResourceInfo(kind=kind, namespaced=True, verbs={"get", "list"})
    server.resources["storage.k8s.io/v1/storageclasses"] = server.ResourceInfo(
        kind="StorageClass", namespaced=False, verbs={"get", "list"}
    )
    # kmock cannot serve Namespace objects themselves (its path parser reads /namespaces/<n> as a scope): answer the
    # two GETs the deployer makes directly.
    server["get /api/v1/namespaces/archangel"] << {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "archangel",
            "labels": namespace_labels or {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    server["get /api/v1/namespaces/monitoring"] << kmock_lib.KubernetesNotFoundError()
    server.resources["discovery.k8s.io/v1/endpointslices"] = server.ResourceInfo(
        kind="EndpointSlice", namespaced=True, verbs={"get", "list"}
    )
    server.objects[kmock_lib.resource("discovery.k8s.io", "v1", "endpointslices"), "default", "kubernetes"] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [api_server]}],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
    }
    if cloudnativepg:  # production's database: the operator's Deployment and the plugin's registration Service
        server.objects[kmock_lib.resource("apps", "v1", "deployments"), "cnpg-system", "cnpg-controller-manager"] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "cnpg-controller-manager", "namespace": "cnpg-system",
                         "labels": {"app.kubernetes.io/name": "cloudnative-pg"}},
            "status": {"readyReplicas": 1},
        }  # fmt: skip
        # The cluster-wide list preflight makes (answered directly: registering Services would change what the
        # verification tests read of them).
        server["get /api/v1/services"] << {"apiVersion": "v1", "kind": "ServiceList", "items": [{
            "metadata": {"name": "barman-cloud", "namespace": "cnpg-system",
                         "labels": {"cnpg.io/pluginName": "barman-cloud.cloudnative-pg.io"}},
        }]}  # fmt: skip
    server.objects[kmock_lib.resource("storage.k8s.io", "v1", "storageclasses"), None, "gp3"] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "provisioner": "ebs.csi.aws.com",
        "metadata": {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    }


def rows(out: str) -> list[str]:
    """Report lines with the table padding folded to single spaces."""
    return [" ".join(line.split()) for line in out.splitlines()]


async def deploy(kube: KubeEmulator, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI against the emulator, with the environments' example site values. Unless the test brings its
    own, helm is a recording helm with release revision 4 installed (the emulator cannot hold Helm's records)."""
    env = dict(env or {})
    if "ARCHANGEL_HELM" not in env:
        helm, _ = recording_helm(kube.kubeconfig.parent, existing_revision=4)
        env["ARCHANGEL_HELM"] = str(helm)
    extra = {"ARCHANGEL_CRD_SCHEMAS": os.environ.get("ARCHANGEL_CRD_SCHEMAS", ""), **env}
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        return await kube.run(
            "archangel_helm.cli",
            *args,
            "--example-values",
            "--kubeconfig",
            str(kube.kubeconfig),
            "--project",
            str(PROJECT),
        )
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_preflight_table_lists_every_optional_api(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube, without={"keda.sh/v1alpha1/ScaledObject"})
    _code, out, _err = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert "PASS API: KEDA (ScaledObject) not served (keda.sh/v1alpha1/ScaledObject)" in rows(out)
    for api, label in OPTIONAL_APIS.items():
        row = next(line for line in out.splitlines() if f"API: {label}" in line)
        assert ("not served" in row) == (api == "keda.sh/v1alpha1/ScaledObject"), row
    assert any(r.startswith("PASS kubernetes version (archangel) server v1.33.4") for r in rows(out))
    assert "PASS namespace archangel exists, Pod Security enforce=restricted" in rows(out)
    assert any(
        r.startswith("PASS database.mode: cloudnativepg operator the CloudNativePG operator runs") for r in rows(out)
    )
    assert any(
        r.startswith("PASS database.cloudnativepg.backup: Barman Cloud plugin the Barman Cloud") for r in rows(out)
    )
    assert any(r.startswith("PASS cluster context emulator -> http://127.0.0.1:") for r in rows(out)), out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["checks"][0]["step"] == "preflight"


def production_values(chart: str) -> dict[str, Any]:
    return load_environment(PROJECT, "production").with_example_values().inputs(chart).merged_values()


ENABLED_FEATURES = [f for f in FEATURES if f.enabled(production_values(f.chart))]
DISABLED_FEATURES = [f for f in FEATURES if not f.enabled(production_values(f.chart))]
DECLARED = set(load_environment(PROJECT, "production").api_versions)


@pytest.mark.parametrize("feature", ENABLED_FEATURES, ids=lambda f: f"{f.chart}:{f.value}")
async def test_an_enabled_feature_without_its_api_fails_naming_the_value(
    kube: KubeEmulator, tmp_path: Path, feature: Feature
) -> None:
    """FAIL where the feature would be broken; WARN where the chart leaves the object out and degrades (the
    HPA's Pods metrics). Production declares every one of these APIs, so preflight fails either way."""
    make_cluster(kube, without={feature.api})
    code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert code == 1
    row = next(line for line in out.splitlines() if f"{feature.chart}: {feature.value}" in line)
    assert row.strip().startswith(feature.missing.value.upper())
    assert f"the cluster does not serve {feature.api}" in row
    assert "FAILED at preflight." in out


@pytest.mark.parametrize("feature", DISABLED_FEATURES, ids=lambda f: f"{f.chart}:{f.value}")
async def test_a_disabled_feature_does_not_need_its_api(kube: KubeEmulator, tmp_path: Path, feature: Feature) -> None:
    make_cluster(kube, without={feature.api})
    _code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert not any(f"{feature.chart}: {feature.value}" in r and r.startswith("FAIL") for r in rows(out)), out


@pytest.mark.parametrize("api", sorted(OPTIONAL_APIS), ids=str)
async def test_each_missing_optional_api_is_reported_and_fails_when_the_environment_declares_it(
    kube: KubeEmulator, tmp_path: Path, api: str, request: pytest.FixtureRequest
) -> None:
    used_by = [f for f in ENABLED_FEATURES if f.api == api]
    if api not in DECLARED and not used_by:
        request.getfixturevalue("crd_schemas")  # the dry run gets past preflight and validates: skips without CRDs
    make_cluster(kube, without={api})
    code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    row = next(r for r in rows(out) if f"API: {OPTIONAL_APIS[api]}" in r)
    if api in DECLARED:
        assert row == f"FAIL API: {OPTIONAL_APIS[api]} missing: environments.yaml says production clusters serve {api}"
        assert code == 1
    else:
        assert row == f"PASS API: {OPTIONAL_APIS[api]} not served ({api})"
    assert (code == 1) == (api in DECLARED or bool(used_by)), out


async def test_an_injected_restricted_namespace_warns_that_istio_cni_is_needed(
    kube: KubeEmulator, tmp_path: Path
) -> None:
    make_cluster(
        kube, namespace_labels={"pod-security.kubernetes.io/enforce": "restricted", "istio-injection": "enabled"}
    )
    _code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert any(
        r.startswith("WARN namespace archangel exists, Pod Security enforce=restricted and Istio sidecar injection")
        for r in rows(out)
    ), out


async def test_the_api_server_outside_the_network_policy_range_fails(kube: KubeEmulator, tmp_path: Path) -> None:
    # The example range left in the values would cut the secrets hook off the API server on the next upgrade.
    make_cluster(kube, api_server="172.20.99.5")
    code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert code == 1
    assert (
        "FAIL networkPolicy.kubeAPIServer API server endpoint(s) 172.20.99.5:443 outside cidrs ['10.1.0.0/24'] / "
        "ports [443, 6443]: the secrets hook and the snapshot job could not reach it"
    ) in rows(out), out


async def test_an_unsupported_kubernetes_version_fails(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube, minor="28")
    code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert code == 1
    assert "FAIL kubernetes version (archangel) server v1.28.4; chart needs >=1.32.0-0" in rows(out)


async def test_dry_run_renders_against_the_clusters_apis_and_changes_nothing(
    kube: KubeEmulator, tmp_path: Path, crd_schemas: CrdSchemas
) -> None:
    make_cluster(kube)
    helm, log = recording_helm(tmp_path, existing_revision=6)
    code, out, err = await deploy(
        kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path), env={"ARCHANGEL_HELM": str(helm)}
    )
    assert code == 0, out + err
    assert "archangel: " in out
    assert "objects would be applied; helm would upgrade revision 6" in out
    assert kube.writes() == []
    upgrades = [c for c in calls(log) if c["args"][0] == "upgrade"]
    assert [c["args"][1] for c in upgrades] == ["archangel", "archangel-monitoring"]
    assert all("--dry-run" in c["args"] and "--wait" not in c["args"] for c in upgrades)
    assert upgrades[0]["values"]["core"]["replicas"] == 3
    report = (tmp_path / "report.md").read_text()
    assert "**Outcome: dry run: nothing was changed**" in report


async def test_a_dry_run_with_schema_problems_fails(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    code, out, _ = await deploy(
        kube,
        "deploy",
        "production",
        "--dry-run",
        "--report-dir",
        str(tmp_path),
        env={"ARCHANGEL_CRD_SCHEMAS": str(tmp_path / "no-crds")},
    )
    assert code == 1
    assert "FAILED at dry run." in out
    assert "no schema for monitoring.coreos.com/v1 ServiceMonitor" in out
    assert "nothing was changed" in out


async def test_a_dry_run_that_helm_refuses_fails(kube: KubeEmulator, tmp_path: Path, crd_schemas: CrdSchemas) -> None:
    make_cluster(kube)
    helm, _ = recording_helm(tmp_path, existing_revision=6, fail_release="archangel")
    code, out, _ = await deploy(
        kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path), env={"ARCHANGEL_HELM": str(helm)}
    )
    assert code == 1
    assert "archangel: helm --dry-run failed: Error: UPGRADE FAILED: context deadline exceeded" in out


# --- Helm interplay: a recording helm ---------------------------------------------------------------------------


def recording_helm(
    tmp_path: Path, existing_revision: int | None, fail_release: str | None = None, backup_check: str = "Succeeded"
) -> tuple[Path, Path]:
    """A helm that runs the real one for local work (version, show) and records what would touch the cluster.

    Its status JSON has the fields `helm status -o json` prints, hooks with their last run included; like Helm it
    omits empty notes (`omitempty`). backup_check is the phase recorded for the backup configuration hook."""
    log = tmp_path / "helm-calls.jsonl"
    real = find_helm().executable
    production = load_environment(PROJECT, "production").with_example_values()
    for release in production.releases:  # `helm status` returns the manifest Helm stored: the render, hooks apart
        manifest = production.inputs(release).render()
        stored = [obj for obj in manifest.objects if "helm.sh/hook" not in obj["metadata"].get("annotations", {})]
        (tmp_path / f"manifest-{release.name}.yaml").write_text("---\n".join(yamlio.dump(obj) for obj in stored))
    script = tmp_path / "helm"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args[:1] in (["version"], ["show"], ["template"]):
    os.execv({real!r}, [{real!r}, *args])
stdin = sys.stdin.read() if "-" in args else ""
with open({str(log)!r}, "a") as handle:
    handle.write(json.dumps({{"args": args, "values": json.loads(stdin) if stdin else None}}) + "\\n")
name = args[1]
namespace = args[args.index("--namespace") + 1] if "--namespace" in args else "default"
def hook(hook_name, kind, events, phase):
    return {{"name": hook_name, "kind": kind, "path": "templates/hooks.yaml", "events": events,
            "manifest": "kind: " + kind + "\\nmetadata:\\n  name: " + hook_name + "\\n",
            "last_run": {{"started_at": "2026-11-28T05:00:00Z", "completed_at": "2026-11-28T05:00:09Z", "phase": phase}}}}
hooks = [hook(name + "-secrets-hook", "Role", ["pre-install", "pre-upgrade"], "Succeeded"),
         hook(name + "-secrets-hook", "Job", ["pre-install", "pre-upgrade"], "Succeeded"),
         hook(name + "-backup-check", "Job", ["post-install", "post-upgrade"], {backup_check!r}),
         hook(name + "-test", "Pod", ["test"], "")] if name == "archangel" else []
stored = os.path.join({str(tmp_path)!r}, "manifest-" + name + ".yaml")
manifest = open(stored).read() if os.path.exists(stored) else ""
def status(version):
    return {{"name": name, "namespace": namespace, "version": version, "config": {{}}, "manifest": manifest, "hooks": hooks,
            "info": {{"status": "deployed", "last_deployed": "2026-11-28T05:00:00Z", "description": "recorded"}}, "chart": {{"metadata": {{"apiVersion": "v2", "name": name, "version": "0.1.0", "appVersion": "1.0.0"}}}}}}
if args[0] == "status":
    if {existing_revision!r} is None:
        sys.stderr.write("Error: release: not found\\n"); sys.exit(1)
    print(json.dumps(status({existing_revision!r})))
elif args[0] == "upgrade":
    if name == {fail_release!r}:
        sys.stderr.write("Error: UPGRADE FAILED: context deadline exceeded waiting for Deployment archangel-core\\n"); sys.exit(1)
    print(json.dumps(status(({existing_revision!r} or 0) + 1)))
else:
    sys.stderr.write("unexpected helm call: " + " ".join(args) + "\\n"); sys.exit(3)
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def test_deploy_upgrades_monitoring_then_archangel_with_the_environment_values(
    kube: KubeEmulator, tmp_path: Path
) -> None:
    make_cluster(kube)
    helm, log = recording_helm(tmp_path, existing_revision=4)
    code, out, _err = await deploy(
        kube,
        "deploy",
        "production",
        "--skip-load-check",
        "--timeout",
        "7m",
        "--report-dir",
        str(tmp_path),
        env={"ARCHANGEL_HELM": str(helm)},
    )
    upgrades = [c for c in calls(log) if c["args"][0] == "upgrade"]
    assert [c["args"][1] for c in upgrades] == ["archangel", "archangel-monitoring"]
    for call in upgrades:
        args = call["args"]
        assert "--install" in args
        assert "--create-namespace" in args
        assert "--wait" in args
        assert args[args.index("--timeout") + 1] == "7m"
        assert args[args.index("--values") + 1] == "-"
    archangel = upgrades[0]
    assert archangel["args"][args_index(archangel, "--namespace") + 1] == "archangel"
    assert archangel["values"]["core"]["replicas"] == 3  # values/production.yaml, merged and sent on stdin
    assert archangel["values"]["agents"]["autoscaling"]["maxReplicas"] == 20
    # The emulator runs no controllers: verification finds nothing ready and says how to roll back.
    assert code == 1
    assert "FAILED at verification." in out
    # Services were never declared in the emulator: the unreadable kind is a named failure, not a traceback.
    assert any(r.startswith("FAIL endpoints (archangel) could not read: 404") for r in rows(out)), out
    assert any(r.startswith("FAIL rollouts (archangel) no Deployment or StatefulSet found") for r in rows(out)), out
    assert "roll back: helm rollback archangel 4 -n archangel --wait" in out
    deployed = [c for c in json.loads((tmp_path / "report.json").read_text())["checks"] if c["step"] == "deploy"]
    assert [(c["name"], c["detail"]) for c in deployed] == [
        ("archangel", "revision 5 deployed"),
        ("archangel-monitoring", "revision 5 deployed"),
    ]


def args_index(call: dict[str, Any], flag: str) -> int:
    return int(call["args"].index(flag))


async def test_a_failed_helm_upgrade_stops_and_says_how_to_roll_back(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    helm, log = recording_helm(tmp_path, existing_revision=7, fail_release="archangel-monitoring")
    code, out, _ = await deploy(
        kube, "deploy", "production", "--report-dir", str(tmp_path), env={"ARCHANGEL_HELM": str(helm)}
    )
    assert code == 1
    assert "FAILED at deploy of archangel-monitoring." in out
    assert "roll back: helm rollback archangel-monitoring 7 -n monitoring --wait" in out
    # archangel went first; the run stopped at the monitoring release
    assert [c["args"][1] for c in calls(log) if c["args"][0] == "upgrade"] == ["archangel", "archangel-monitoring"]


async def test_a_first_install_that_fails_says_how_to_clean_up(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    helm, _ = recording_helm(tmp_path, existing_revision=None, fail_release="archangel-monitoring")
    code, out, _ = await deploy(
        kube, "deploy", "production", "--report-dir", str(tmp_path), env={"ARCHANGEL_HELM": str(helm)}
    )
    assert code == 1
    assert "remove the failed install: helm uninstall archangel-monitoring -n monitoring" in out


# --- verification over a recorded, healthy cluster state ------------------------------------------------------------


def healthy(kube: KubeEmulator, retention: str = "30d") -> None:
    server = kube.server
    for plural, kind in (
        ("services", "Service"),
        ("poddisruptionbudgets", "PodDisruptionBudget"),
        ("horizontalpodautoscalers", "HorizontalPodAutoscaler"),
        ("cronjobs", "CronJob"),
        ("endpointslices", "EndpointSlice"),
    ):
        group = {
            "services": "v1",
            "poddisruptionbudgets": "policy/v1",
            "horizontalpodautoscalers": "autoscaling/v2",
            "cronjobs": "batch/v1",
            "endpointslices": "discovery.k8s.io/v1",
        }[plural]
        server.resources[f"{group}/{plural}"] = server.ResourceInfo(kind=kind, namespaced=True, verbs={"get", "list"})
    labels = {"app.kubernetes.io/instance": "archangel"}

    def put(group: str, version: str, plural: str, name: str, body: dict[str, Any]) -> None:
        body.setdefault("metadata", {}).update({"name": name, "namespace": "archangel"})
        body["metadata"].setdefault("labels", labels)
        server.objects[kmock_lib.resource(group, version, plural), "archangel", name] = body

    server.objects[
        kmock_lib.resource("apps", "v1", "statefulsets"), "monitoring", "archangel-monitoring-pushgateway"
    ] = {
        "metadata": {
            "name": "archangel-monitoring-pushgateway",
            "namespace": "monitoring",
            "generation": 2,
            "labels": {"app.kubernetes.io/instance": "archangel-monitoring"},
        },
        "spec": {"replicas": 1},
        "status": {"readyReplicas": 1, "updatedReplicas": 1, "observedGeneration": 2},
    }
    for name, replicas in (("archangel-core", 3), ("archangel-agents", 3)):
        put(
            "apps",
            "v1",
            "deployments",
            name,
            {"spec": {"replicas": replicas}, "status": {"readyReplicas": replicas, "updatedReplicas": replicas}},
        )
    put(
        "",
        "v1",
        "services",
        "archangel-core",
        {"spec": {"selector": {"a": "b"}, "ports": [{"name": "http", "port": 80}]}},
    )
    put(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "archangel-core-abc",
        {
            "metadata": {"labels": {"kubernetes.io/service-name": "archangel-core"}},
            "endpoints": [{"conditions": {"ready": True}}],
        },
    )
    put(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "archangel-agents",
        {
            "spec": {"minReplicas": 3, "maxReplicas": 20, "metrics": [{}, {}, {}]},
            "status": {
                "currentReplicas": 3,
                "currentMetrics": [{}, {}, {}],
                "conditions": [{"type": "ScalingActive", "status": "True"}],
            },
        },
    )
    put("policy", "v1", "poddisruptionbudgets", "archangel-core", {"status": {"disruptionsAllowed": 1}})
    # What the operators made of the release: CloudNativePG's Cluster and cert-manager's certificate.
    put(
        "postgresql.cnpg.io",
        "v1",
        "clusters",
        "archangel-postgresql",
        {"spec": {"instances": 3}, "status": {"phase": "Cluster in healthy state", "readyInstances": 3}},
    )
    put(
        "cert-manager.io",
        "v1",
        "certificates",
        "archangel-qdrant-tls",
        {"status": {"conditions": [{"type": "Ready", "status": "True", "message": "Certificate is up to date"}]}},
    )
    put("batch", "v1", "cronjobs", "archangel-backup-database", {"spec": {"schedule": "0 2 * * *"}, "status": {}})
    proxy = "/api/v1/namespaces/archangel/services/http:archangel-core:80/proxy/healthz/ready"
    server[f"get {proxy}"] << {"status": "ready"}
    prometheus = "/api/v1/namespaces/monitoring/services/http:prometheus-operated:9090/proxy/api/v1"
    server[f"get {prometheus}/targets"] << {
        "status": "success",
        "data": {
            "activeTargets": [
                {"labels": {"component": "core", "job": "archangel-core", "pod": "core-1"}, "health": "up"}
            ]
        },
    }
    server[f"get {prometheus}/status/flags"] << {
        "status": "success",
        "data": {"storage.tsdb.retention.time": retention, "storage.tsdb.retention.size": "45GB"},
    }
    server[f"get {prometheus}/alerts"] << {
        "status": "success",
        "data": {"alerts": [{"labels": {"alertname": "Watchdog", "severity": "none"}, "state": "firing"}]},
    }


async def test_verify_passes_on_a_healthy_cluster_and_writes_the_report(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    code, out, err = await deploy(kube, "verify", "production", "--skip-load-check", "--report-dir", str(tmp_path))
    assert code == 0, out + err
    for expected in (
        "PASS rollout Deployment/archangel-core",
        "PASS endpoints Service/archangel-core",
        "PASS health archangel-core/healthz/ready",
        "PASS HPA archangel-agents",
        "PASS PDB archangel-core",
        "PASS Prometheus targets",
        "PASS critical alerts",
        "PASS Prometheus retention 30d (size cap 45GB); needs >= 30d",
        "PASS rollout StatefulSet/archangel-monitoring-pushgateway 1/1 ready, 1 updated",
        "PASS release archangel revision 4 deployed",
        "PASS hook Job/archangel-backup-check last run: Succeeded (archangel)",
        "PASS hook Job/archangel-secrets-hook last run: Succeeded (archangel)",
        "PASS Cluster/archangel-postgresql Cluster in healthy state; 3/3 instances ready",
        "PASS Certificate/archangel-qdrant-tls Ready=True: Certificate is up to date",
    ):
        assert any(r.startswith(expected) for r in rows(out)), out
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    releases = json.loads((tmp_path / "report.json").read_text())["releases"]
    # The objects of the deployed revision, from the manifest `helm status` returns.
    assert releases["archangel"]["objects"]["Deployment"] == 2
    assert releases["archangel"]["objects"]["StatefulSet"] == 1  # Qdrant; PostgreSQL is the operator's Cluster
    assert releases["archangel"]["objects"]["Cluster"] == 1
    assert releases["archangel-monitoring"]["objects"]["PrometheusRule"] == 7


async def test_verify_fails_on_a_stalled_rollout(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    deployments = kmock_lib.resource("apps", "v1", "deployments")
    kube.server.objects[deployments, "archangel", "archangel-agents"].patch({"status": {"readyReplicas": 1}})
    code, out, _ = await deploy(kube, "verify", "production", "--skip-load-check", "--report-dir", str(tmp_path))
    assert code == 1
    assert any(r.startswith("FAIL rollout Deployment/archangel-agents 1/3 ready") for r in rows(out))


async def test_verify_fails_on_a_database_cluster_that_is_not_healthy(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    clusters = kmock_lib.resource("postgresql.cnpg.io", "v1", "clusters")
    kube.server.objects[clusters, "archangel", "archangel-postgresql"].patch(
        {
            "status": {
                "phase": "Waiting for the instances to become active",
                "readyInstances": 2,
                "phaseReason": "Some instances are not yet active",
            }
        }
    )
    certificates = kmock_lib.resource("cert-manager.io", "v1", "certificates")
    kube.server.objects[certificates, "archangel", "archangel-qdrant-tls"].patch(
        {"status": {"conditions": [{"type": "Ready", "status": "False", "message": "Issuing certificate"}]}}
    )
    code, out, _ = await deploy(kube, "verify", "production", "--skip-load-check", "--report-dir", str(tmp_path))
    assert code == 1
    assert (
        "FAIL Cluster/archangel-postgresql Waiting for the instances to become active; 2/3 instances ready "
        "(Some instances are not yet active)"
    ) in rows(out)
    assert "FAIL Certificate/archangel-qdrant-tls Ready=False: Issuing certificate" in rows(out)


async def test_verify_runs_the_load_check_and_puts_the_histogram_in_the_report(
    kube: KubeEmulator, tmp_path: Path
) -> None:
    from aiohttp import web

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/healthz/ready", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    make_cluster(kube)
    healthy(kube)
    try:
        code, out, err = await deploy(
            kube,
            "verify",
            "production",
            "--load-url",
            f"http://127.0.0.1:{port}/healthz/ready",
            "--load-duration",
            "1",
            "--load-concurrency",
            "4",
            "--report-dir",
            str(tmp_path),
        )
    finally:
        await runner.cleanup()
    assert code == 0, out + err
    assert "Load check" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["load"]["target"]["concurrency"] == 4
    assert report["load"]["requests"] > 0
    assert report["load"]["error_rate"] == 0
    assert report["load"]["verdict"]["passed"] is True
    assert "<svg" in (tmp_path / "report.html").read_text()


async def test_status_prints_releases_workloads_autoscalers_and_backups(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    helm, _ = recording_helm(tmp_path, existing_revision=9)
    code, out, err = await deploy(kube, "status", "production", env={"ARCHANGEL_HELM": str(helm)})
    assert code == 0, out + err
    table = rows(out)
    assert "archangel-monitoring helm revision 9 deployed (2026-11-28 05:00:00+00:00)" in table
    assert "archangel Deployment/archangel-core 3/3 ready, 3 updated" in table
    assert any(r.startswith("archangel HPA archangel-agents") for r in table), out


async def test_status_exits_1_when_it_shows_a_failure_and_2_without_a_cluster(
    kube: KubeEmulator, tmp_path: Path
) -> None:
    """The exit codes of every command: 0 all well, 1 something found wrong, 2 bad input."""
    make_cluster(kube)
    healthy(kube)
    deployments = kmock_lib.resource("apps", "v1", "deployments")
    kube.server.objects[deployments, "archangel", "archangel-agents"].patch({"status": {"readyReplicas": 1}})
    helm, _ = recording_helm(tmp_path, existing_revision=9)
    code, out, err = await deploy(kube, "status", "production", env={"ARCHANGEL_HELM": str(helm)})
    assert code == 1, out + err
    assert "archangel Deployment/archangel-agents 1/3 ready, 3 updated" in rows(out)
    import subprocess
    import sys

    absent = tmp_path / "absent"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archangel_helm.cli",
            "status",
            "production",
            "--project",
            str(PROJECT),
            "--kubeconfig",
            str(absent),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: no cluster to talk to: cannot load a kubeconfig")


def test_deploy_without_a_cluster_fails_preflight_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: x, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: x, context: {cluster: x, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    for kubeconfig, message in (
        (tmp_path / "missing", "no cluster to talk to: cannot load a kubeconfig"),
        (config, "cannot reach the Kubernetes API at http://127.0.0.1:9"),
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "archangel_helm.cli",
                "deploy",
                "production",
                "--dry-run",
                "--project",
                str(PROJECT),
                "--kubeconfig",
                str(kubeconfig),
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "FAILED at preflight." in done.stdout
        assert message in done.stdout
        assert "Traceback" not in done.stderr


async def test_verify_fails_when_prometheus_keeps_less_than_thirty_days(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube, retention="2w")
    code, out, _ = await deploy(kube, "verify", "production", "--skip-load-check", "--report-dir", str(tmp_path))
    assert code == 1
    assert "FAIL Prometheus retention 2w (size cap 45GB); needs >= 30d" in rows(out)


async def test_verify_fails_when_the_backup_configuration_check_failed(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    helm, _ = recording_helm(tmp_path, existing_revision=4, backup_check="Failed")
    code, out, _ = await deploy(
        kube,
        "verify",
        "production",
        "--skip-load-check",
        "--report-dir",
        str(tmp_path),
        env={"ARCHANGEL_HELM": str(helm)},
    )
    assert code == 1
    assert "FAIL hook Job/archangel-backup-check last run: Failed (archangel)" in rows(out)


async def test_verify_fails_while_a_rollout_has_not_observed_the_new_spec(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    deployments = kmock_lib.resource("apps", "v1", "deployments")
    kube.server.objects[deployments, "archangel", "archangel-core"].patch(
        {"metadata": {"generation": 5}, "status": {"observedGeneration": 4}}
    )
    code, out, _ = await deploy(kube, "verify", "production", "--skip-load-check", "--report-dir", str(tmp_path))
    assert code == 1
    assert (
        "FAIL rollout Deployment/archangel-core 3/3 ready, 3 updated; generation 5 not yet observed (controller at 4)"
        in rows(out)
    )


async def test_verify_judges_each_backup_by_its_own_schedule(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube)
    healthy(kube)
    cronjobs = kmock_lib.resource("batch", "v1", "cronjobs")
    two_days_ago = "2026-01-01T00:00:00Z"
    kube.server.objects[cronjobs, "archangel", "archangel-backup-vectorstore"] = {
        "metadata": {
            "name": "archangel-backup-vectorstore",
            "namespace": "archangel",
            "labels": {"app.kubernetes.io/instance": "archangel"},
        },
        "spec": {"schedule": "0 3 * * 0"},
        "status": {"lastSuccessfulTime": two_days_ago},
    }
    kube.server.objects[cronjobs, "archangel", "archangel-backup-database"].patch(
        {"status": {"lastSuccessfulTime": two_days_ago}}
    )
    from archangel_helm.operate.verify import check_backups

    def get(path: str) -> Any:
        return {"items": [o for (r, ns, _), o in kube.server.objects.items() if r == cronjobs and ns == "archangel"]}

    rows_ = {r.name: r for r in check_backups(get, "archangel", "archangel", datetime(2026, 1, 3, tzinfo=UTC))}
    assert rows_["CronJob archangel-backup-database"].status.value == "fail"
    assert rows_["CronJob archangel-backup-database"].detail == "last success 48.0 h ago (limit 26 h for 0 2 * * *)"
    assert rows_["CronJob archangel-backup-vectorstore"].status.value == "pass"
    assert rows_["CronJob archangel-backup-vectorstore"].detail == "last success 48.0 h ago (limit 170 h for 0 3 * * 0)"


async def test_a_cluster_without_the_cloudnativepg_operator_fails_preflight(kube: KubeEmulator, tmp_path: Path) -> None:
    make_cluster(kube, cloudnativepg=False)
    code, out, _ = await deploy(kube, "deploy", "production", "--dry-run", "--report-dir", str(tmp_path))
    assert code == 1
    assert any(r.startswith("FAIL database.mode: cloudnativepg operator the CloudNativePG operator is not installed")
               for r in rows(out)), out  # fmt: skip
    assert "FAILED at preflight." in out
