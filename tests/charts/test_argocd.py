"""argocd/: Applications and the ApplicationSet validate against the Argo CD CRDs, match environments.yaml, and
the charts' sync waves order storage, data, workloads and monitors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, yamlio
from archangel_helm.argo import sync_waves
from archangel_helm.environments import Environment
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
def test_applications_match_environments_yaml(environment: str, environments: dict[str, Environment]) -> None:
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


def test_application_set_covers_the_same_applications(environments: dict[str, Environment]) -> None:
    (appset,) = documents("applicationset.yaml")
    envs, charts = (g["list"]["elements"] for g in appset["spec"]["generators"][0]["matrix"]["generators"])
    generated = set()
    for env in envs:
        for chart in charts:
            namespace = chart["fixedNamespace"] or env["namespace"]
            values = PROJECT / "values" / f"{chart['valuesPrefix']}{env['environment']}.yaml"
            generated.add(
                (env["environment"], chart["release"], PROJECT / "charts" / chart["chart"], namespace, values)
            )
    expected = {
        (name, r.name, r.chart, r.namespace, r.values_files[0]) for name, e in environments.items() for r in e.releases
    }
    assert generated == expected


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
