"""argocd/: Applications and the ApplicationSet validate against the Argo CD CRDs, match environments.yaml, and
the charts' sync waves order storage, data, workloads and monitors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, yamlio
from archangel_helm.argo import sync_waves
from archangel_helm.environments import Environment, load_environments
from archangel_helm.validate import CrdSchemas, SchemaValidator
from tests.conftest import PROJECT

ARGOCD = PROJECT / "argocd"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yamlio.load_all((ARGOCD / name).read_text()) if d]


@pytest.mark.parametrize("file", sorted(p.name for p in ARGOCD.glob("*.yaml")))
def test_manifests_validate_against_the_argo_cd_crds(file: str, crd_schemas: CrdSchemas) -> None:
    validator = SchemaValidator([(1, 37)], crd_schemas)
    assert [str(p) for d in documents(file) for p in validator.validate_object(d)] == []


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_applications_match_environments_yaml(environment: str) -> None:
    """Argo CD installs what `deploy` does: the environments' values files, never the example site values."""
    environments = load_environments(PROJECT)
    apps = {d["spec"]["source"]["helm"]["releaseName"]: d for d in documents(f"{environment}.yaml")}
    for release in environments[environment].releases:
        app = apps[release.name]
        source = app["spec"]["source"]
        assert PROJECT / source["path"] == release.chart
        chart_dir = PROJECT / source["path"]
        assert tuple((chart_dir / v).resolve() for v in source["helm"]["valueFiles"]) == release.values_files
        assert app["spec"]["destination"]["namespace"] == release.namespace
        assert app["metadata"]["name"] == f"{release.name}-{environment}"
    assert len(apps) == len(environments[environment].releases)


def expand(application_set: dict[str, Any]) -> list[dict[str, Any]]:
    """The Applications a list-generator ApplicationSet makes (its templates use plain ``{{ .key }}`` only)."""

    def fill(node: Any, element: dict[str, str]) -> Any:
        if isinstance(node, dict):
            return {key: fill(value, element) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value, element) for value in node]
        if isinstance(node, str):
            return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda match: element[match[1]], node)
        return node

    (generator,) = application_set["spec"]["generators"]
    template = application_set["spec"]["template"]
    assert "{{" not in re.sub(r"\{\{\s*\.\w+\s*\}\}", "", str(template)), "only {{ .key }} is expanded here"
    return [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **fill(template, element)}
        for element in generator["list"]["elements"]
    ]


def test_application_sets_make_exactly_the_applications_of_the_environment_files() -> None:
    generated = {app["metadata"]["name"]: app for s in documents("applicationset.yaml") for app in expand(s)}
    files = {d["metadata"]["name"]: d for env in ("production", "staging") for d in documents(f"{env}.yaml")}
    assert sorted(generated) == sorted(files)
    for name, app in files.items():
        wanted = {**app, "metadata": {k: v for k, v in app["metadata"].items() if k != "namespace"}}
        assert generated[name] == wanted, name


def destination(app: dict[str, Any]) -> str:
    target = app["spec"]["destination"]
    return target.get("name") or target["server"]


CLUSTER_SCOPED = {"StorageClass", "PriorityClass", "VolumeSnapshotClass", "ClusterRole", "ClusterRoleBinding"}


def test_no_two_applications_in_one_cluster_own_the_same_object(
    environments: dict[str, Environment], render_env: Callable[..., Manifest]
) -> None:
    owners: dict[tuple[str, str, str, str], str] = {}
    clashes = []
    for environment in ("production", "staging"):
        for app in documents(f"{environment}.yaml"):
            release = app["spec"]["source"]["helm"]["releaseName"]
            chart = app["spec"]["source"]["path"].split("/")[-1]
            namespace = app["spec"]["destination"]["namespace"]
            for obj in render_env(environment, chart):
                scope = "" if obj["kind"] in CLUSTER_SCOPED else obj["metadata"].get("namespace", namespace)
                key = (destination(app), obj["kind"], scope, obj["metadata"]["name"])
                if key in owners:
                    clashes.append(f"{key} owned by {owners[key]} and {app['metadata']['name']}")
                owners[key] = f"{app['metadata']['name']} ({release})"
    assert clashes == []
    clusters = {env: {destination(a) for a in documents(f"{env}.yaml")} for env in ("production", "staging")}
    assert clusters == {"production": {"production"}, "staging": {"staging"}}


def test_only_the_archangel_namespace_gets_pod_security_labels() -> None:
    for environment in ("production", "staging"):
        for app in documents(f"{environment}.yaml"):
            labelled = "managedNamespaceMetadata" in app["spec"]["syncPolicy"]
            assert labelled == (app["spec"]["destination"]["namespace"] != "monitoring"), app["metadata"]["name"]


def _autoscaled_deployments(manifest: Manifest) -> set[str]:
    return {d["metadata"]["name"] for d in manifest.of_kind("Deployment") if "replicas" not in d["spec"]}


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_ignore_differences_cover_every_autoscaled_deployment(
    environment: str, render_env: Callable[..., Manifest]
) -> None:
    (app,) = [d for d in documents(f"{environment}.yaml") if d["spec"]["source"]["helm"]["releaseName"] == "archangel"]
    ignored = {
        i["name"]
        for i in app["spec"]["ignoreDifferences"]
        if i["kind"] == "Deployment" and "/spec/replicas" in i["jsonPointers"]
    }
    assert ignored == _autoscaled_deployments(render_env(environment, "archangel"))


def test_sync_waves_order_storage_then_data_then_workloads_then_monitors(render_env: Callable[..., Manifest]) -> None:
    waves = sync_waves(render_env("production", "archangel"))
    storage = max(waves[("StorageClass", n)] for n in ("fast-ssd", "standard-ssd"))
    data = {waves[("StatefulSet", n)] for n in ("archangel-postgresql", "archangel-qdrant")}
    core, agents = waves[("Deployment", "archangel-core")], waves[("Deployment", "archangel-agents")]
    assert storage < min(data)
    assert max(data) < core < agents
    monitors = [wave for (kind, _), wave in waves.items() if kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule")]
    assert all(wave > agents for wave in monitors)


def test_argocd_directory_has_the_expected_files() -> None:
    assert {p.name for p in ARGOCD.glob("*.yaml")} == {"production.yaml", "staging.yaml", "applicationset.yaml"}


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_application_waves_follow_the_deploy_order_of_environments_yaml(environment: str) -> None:
    """The release that creates the shared StorageClasses syncs first, in Argo CD as in `deploy`."""
    order = [r.name for r in load_environments(PROJECT)[environment].releases]
    waves = {
        d["spec"]["source"]["helm"]["releaseName"]: int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for d in documents(f"{environment}.yaml")
    }
    assert sorted(waves, key=waves.__getitem__) == order
    assert len(set(waves.values())) == len(waves)
