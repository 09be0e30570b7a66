"""`archangel-helm deploy staging` and `deploy production` end to end on the local control plane: preflight
reads the real discovery, both releases install in order into namespaces that enforce Pod Security
`restricted`, every object is accepted by the API server (CRD schemas and CEL rules included), the rollouts
finish, and what the simulated nodes cannot show is reported as skipped, with the reason, never as passed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archangel_helm.core.manifest import Manifest
from archangel_helm.plan.environments import Environment, load_environment
from tests.support.cloudnativepg import install_stand_ins
from tests.support.cluster_state import reset
from tests.support.local_cluster import LocalCluster, cluster_values
from tests.support.project import PROJECT

ENVIRONMENTS = ("staging", "production")
# The local cluster serves no metrics API (no kubelet to scrape): installed anyway, the HPA reports it cannot
# scale, and the report says so.
MISSING_APIS = ("metrics.k8s.io/v1beta1", "custom.metrics.k8s.io/v1beta1")


@dataclass(frozen=True)
class Deployed:
    environment: Environment
    cluster: LocalCluster
    exit_code: int
    output: str
    report: dict[str, Any]

    def checks(self, step: str) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.report["checks"] if c["step"] == step}


def restricted_namespaces(cluster: LocalCluster, environment: Environment) -> None:
    """What the README asks of an operator before `deploy`: the namespaces, labelled for restricted."""
    for namespace in sorted({r.namespace for r in environment.releases}):
        cluster.kubectl("create", "namespace", namespace)
        cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def deployed(
    request: pytest.FixtureRequest, clean_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    name = str(request.param)
    reset(clean_cluster)
    environment = load_environment(PROJECT, name).with_example_values()
    restricted_namespaces(clean_cluster, environment)
    if name == "production":
        install_stand_ins(clean_cluster)  # where preflight looks for the CloudNativePG operator and its plugin
    work = tmp_path_factory.mktemp(f"deploy-{name}")
    command = ["archangel-helm", "deploy", name, "--example-values", "--timeout", "5m", "--report-dir", str(work)]
    command += ["--values", f"archangel={cluster_values(clean_cluster, work)}"]
    for api in MISSING_APIS:
        command += ["--allow-missing-api", api]
    done = clean_cluster.try_run(*command, timeout=900)
    report = json.loads((work / "report.json").read_text())
    yield Deployed(environment, clean_cluster, done.returncode, done.stdout + done.stderr, report)
    reset(clean_cluster)


def test_deploy_succeeds_and_reports_what_it_could_not_check(deployed: Deployed) -> None:
    assert deployed.exit_code == 0, deployed.output
    assert deployed.report["outcome"] == "succeeded"
    verification = deployed.checks("verify")
    skipped = {name: c["detail"] for name, c in verification.items() if c["status"] == "skip"}
    assert "Prometheus" in skipped
    assert "health archangel-core/healthz/ready" in skipped
    assert all("simulated (kwok)" in d or "does not serve metrics.k8s.io" in d for d in skipped.values()), skipped
    passed = [name for name, c in verification.items() if c["status"] == "pass"]
    assert "rollout Deployment/archangel-core" in passed
    assert "endpoints Service/archangel-core" in passed


def test_preflight_read_the_clusters_discovery(deployed: Deployed) -> None:
    preflight = deployed.checks("preflight")
    assert preflight["API: Vertical Pod Autoscaler"]["detail"].startswith("served")
    assert preflight["API: custom metrics (e.g. prometheus-adapter)"]["status"] == "warn"  # declared, not served
    assert preflight["networkPolicy.kubeAPIServer"]["status"] == "pass"
    assert preflight["default StorageClass"]["detail"] == "gp3"
    if deployed.environment.name == "production":  # the chart injects sidecars; this cluster runs no istiod
        assert preflight["istio.injection"]["status"] == "warn"
        assert "no Istio sidecar injector is registered" in preflight["istio.injection"]["detail"]
    else:
        assert "istio.injection" not in preflight
    storage = {name: c for name, c in preflight.items() if ": StorageClass " in name}
    assert storage["archangel-monitoring: StorageClass standard-ssd"]["detail"].startswith("created by archangel first")


def test_the_releases_installed_in_the_environments_order(deployed: Deployed) -> None:
    installed = [c["name"] for c in deployed.report["checks"] if c["step"] == "deploy"]
    assert installed == [r.name for r in deployed.environment.releases]
    history = json.loads(deployed.cluster.helm("list", "--all-namespaces", "--output", "json"))
    assert {(r["name"], r["status"]) for r in history} == {(r.name, "deployed") for r in deployed.environment.releases}


def test_every_object_helm_applied_exists_as_rendered(deployed: Deployed) -> None:
    """The API server accepted every object (built-in schemas, CRD schemas and CEL rules, admission)."""
    for release in deployed.environment.releases:
        stored = Manifest.parse(deployed.cluster.helm("get", "manifest", release.name, "-n", release.namespace))
        assert len(stored) > 0
        for obj in stored.objects:
            namespace = obj["metadata"].get("namespace")
            where = ["-n", namespace] if namespace else []
            kind = f"{obj['kind']}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] else obj["kind"]
            live = json.loads(deployed.cluster.kubectl("get", kind, obj["metadata"]["name"], *where, "-o", "json"))
            assert live["metadata"]["labels"]["app.kubernetes.io/instance"] == release.name


def test_custom_resources_render_from_the_clusters_apis(deployed: Deployed) -> None:
    if not deployed.cluster.has_crds:
        pytest.skip("no CRD manifests were installed in the local cluster")
    app = deployed.environment.release("archangel")
    stored = Manifest.parse(deployed.cluster.helm("get", "manifest", app.name, "-n", app.namespace))
    kinds = set(stored.kinds())
    assert {"ServiceMonitor", "VerticalPodAutoscaler"} <= kinds
    monitoring = deployed.environment.release("archangel-monitoring")
    assert (
        "PrometheusRule"
        in Manifest.parse(deployed.cluster.helm("get", "manifest", monitoring.name, "-n", monitoring.namespace)).kinds()
    )


def test_every_pod_was_admitted_under_restricted_pod_security(deployed: Deployed) -> None:
    for release in deployed.environment.releases:
        labels = json.loads(deployed.cluster.kubectl("get", "namespace", release.namespace, "-o", "json"))
        assert labels["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        pods = json.loads(
            deployed.cluster.kubectl(
                "get", "pods", "-n", release.namespace, "-l", f"app.kubernetes.io/instance={release.name}", "-o", "json"
            )
        )["items"]
        assert pods, release.name
        assert all(p["status"]["phase"] in ("Running", "Succeeded") for p in pods)


def test_verify_alone_agrees_on_the_deployed_environment(deployed: Deployed, tmp_path: Path) -> None:
    command = ["archangel-helm", "verify", deployed.environment.name, "--example-values", "--report-dir", str(tmp_path)]
    command += ["--values", f"archangel={cluster_values(deployed.cluster, tmp_path)}"]
    done = deployed.cluster.try_run(*command)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "report.json").read_text())["outcome"] == "succeeded"
