"""argocd/: the projects, the root Applications and the chart Applications validate against the Argo CD CRDs,
match environments.yaml and the renders, production is pinned, and the sync waves order the releases (through
the root Application) and, inside a release, storage, data, workloads and monitors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core import yamlio
from archangel_helm.plan.environments import Environment, load_environments
from archangel_helm.validate import CrdSchemas, SchemaValidator
from archangel_helm.validate.argo_hooks import sync_waves
from tests.support.project import PROJECT

ARGOCD = PROJECT / "argocd"
ARGO_CD_CRDS = PROJECT.parent / "shared" / "crds" / "argo-cd"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yamlio.load_all((ARGOCD / name).read_text()) if d]


@pytest.mark.parametrize("file", sorted(p.name for p in ARGOCD.glob("*.yaml")))
def test_manifests_validate_against_the_argo_cd_crds(file: str, crd_schemas: CrdSchemas) -> None:
    if ("argoproj.io/v1alpha1", "AppProject") not in crd_schemas.schemas:
        # ../shared/crd-schemas extracts Application and ApplicationSet only; its full CRDs hold AppProject.
        if not ARGO_CD_CRDS.is_dir():
            pytest.skip(f"no AppProject schema: neither the CRD schemas nor {ARGO_CD_CRDS} hold it")
        crd_schemas.load_directory(ARGO_CD_CRDS)
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


def destination(app: dict[str, Any]) -> str:
    target = app["spec"]["destination"]
    return str(target.get("name") or target["server"])


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
    database, store = waves[("Cluster", "archangel-postgresql")], waves[("ObjectStore", "archangel-pg-object-store")]
    data = {database, waves[("StatefulSet", "archangel-qdrant")]}
    core, agents = waves[("Deployment", "archangel-core")], waves[("Deployment", "archangel-agents")]
    assert storage < store < database  # the WAL archive's destination exists before the first WAL
    assert storage < min(data)
    assert max(data) < waves[("Pooler", "archangel-pgbouncer")] < core < agents
    monitors = [wave for (kind, _), wave in waves.items() if kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule")]
    assert all(wave > agents for wave in monitors)


def test_argocd_directory_has_the_expected_files() -> None:
    assert {p.name for p in ARGOCD.glob("*.yaml")} == {"production.yaml", "staging.yaml", "project.yaml", "root.yaml"}


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


def chart_applications() -> list[dict[str, Any]]:
    return [d for env in ("production", "staging") for d in documents(f"{env}.yaml")]


def projects() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents("project.yaml")}


def test_the_chart_applications_belong_to_the_archangel_project_and_its_destinations() -> None:
    project = projects()["archangel"]["spec"]
    allowed = {(d["name"], d["namespace"]) for d in project["destinations"]}
    used = set()
    for app in chart_applications():
        assert app["spec"]["project"] == "archangel", app["metadata"]["name"]
        assert app["spec"]["source"]["repoURL"] in project["sourceRepos"]
        used.add((destination(app), app["spec"]["destination"]["namespace"]))
    assert used == allowed


def group_kinds(entries: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(e["group"], e["kind"]) for e in entries}


CLUSTER_SCOPED_KINDS = CLUSTER_SCOPED | {"Namespace", "CustomResourceDefinition", "MutatingWebhookConfiguration"}


def test_the_projects_allow_lists_are_exactly_the_kinds_the_applications_render(
    render_env: Callable[..., Manifest],
) -> None:
    """An allow-list, not `default`'s everything: what the four Applications render (Argo CD skips helm test
    hooks), plus the Namespace that CreateNamespace makes. A kind the charts start rendering fails here first."""
    cluster: set[tuple[str, str]] = {("", "Namespace")}
    namespaced: set[tuple[str, str]] = set()
    for app in chart_applications():
        environment = app["metadata"]["labels"]["archangel.io/environment"]
        for obj in render_env(environment, app["spec"]["source"]["path"].split("/")[-1]):
            if obj["metadata"].get("annotations", {}).get("helm.sh/hook") == "test":
                continue
            group = obj["apiVersion"].rpartition("/")[0]
            (cluster if obj["kind"] in CLUSTER_SCOPED_KINDS else namespaced).add((group, obj["kind"]))
    project = projects()["archangel"]["spec"]
    assert group_kinds(project["clusterResourceWhitelist"]) == cluster
    assert group_kinds(project["namespaceResourceWhitelist"]) == namespaced
    assert "clusterResourceBlacklist" not in project


def test_production_is_pinned_to_an_immutable_revision_and_staging_follows_main() -> None:
    revisions = {
        env: {d["spec"]["source"]["targetRevision"] for d in documents(f"{env}.yaml")}
        for env in ("production", "staging")
    }
    assert revisions["staging"] == {"main"}
    (pinned,) = revisions["production"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", pinned), pinned


def test_each_environment_has_a_root_application_that_syncs_its_chart_applications() -> None:
    """App of apps: one sync of the root applies the chart Applications in their waves."""
    roots = {d["metadata"]["labels"]["archangel.io/environment"]: d for d in documents("root.yaml")}
    assert set(roots) == {"production", "staging"}
    bootstrap = projects()["archangel-bootstrap"]["spec"]
    assert group_kinds(bootstrap["namespaceResourceWhitelist"]) == {("argoproj.io", "Application")}
    assert bootstrap["clusterResourceWhitelist"] == []
    for environment, root in roots.items():
        spec = root["spec"]
        assert spec["project"] == "archangel-bootstrap"
        assert spec["source"]["path"] == "argocd"
        assert spec["source"]["directory"]["include"] == f"{environment}.yaml"
        assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
        # Removing an Application from the file must never cascade into deleting an environment.
        assert spec["syncPolicy"]["automated"]["prune"] is False
        assert "finalizers" not in root["metadata"]
        children = documents(f"{environment}.yaml")
        assert {c["metadata"]["namespace"] for c in children} == {"argocd"}


def test_the_readme_gives_the_application_health_check_the_waves_need() -> None:
    readme = (PROJECT / "README.md").read_text()
    assert "resource.customizations.health.argoproj.io_Application" in readme
    assert "kubectl apply -n argocd -f argocd/project.yaml -f argocd/root.yaml" in readme
