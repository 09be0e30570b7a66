"""What the charts say about themselves: Artifact Hub's image list and the README's Kubernetes requirement match
what the templates render and what Chart.yaml and the validation admit."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Chart, Manifest
from archangel_helm.testing.plugin import RenderChart
from archangel_helm.validate import supported_kube_versions
from tests.support.project import APP_CHART, CHARTS, MONITORING_CHART

RenderEnv = Callable[..., Manifest]
ENVIRONMENTS = ("production", "staging")
# Values beyond the chart's defaults and the environments' files that switch on servers only some installs run
# (the ci/ values use stand-in images for kind, so they are not what users run).
MODES: dict[str, list[dict[str, Any]]] = {
    "archangel": [
        {
            "backup": {"enabled": True, "s3": {"bucket": "backups", "existingSecret": "s3-keys"}},
            "restore": {"enabled": True, "requestId": "inc-1"},
        }
    ],
    "archangel-monitoring": [{"mode": "standalone"}],
}


def annotated_images(chart: Path) -> set[str]:
    annotations = yaml.safe_load((chart / "Chart.yaml").read_text())["annotations"]
    return {entry["image"] for entry in yaml.safe_load(annotations["artifacthub.io/images"])}


def images(manifest: Manifest) -> set[str]:
    """Without digests: the chart's defaults have none, and production's come from the site's values."""
    return {str(c["image"]).split("@", 1)[0] for t in manifest.pod_templates() for c in t.containers()}


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_artifact_hub_lists_exactly_the_images_the_chart_runs(
    chart: Path, render_chart: RenderChart, render_env: RenderEnv, environments: Any
) -> None:
    production = environments["production"]
    options = {"api_versions": production.api_versions, "kube_version": production.kube_version}
    rendered = images(render_chart(chart, [], None, **options))
    for values in MODES[chart.name]:
        rendered |= images(render_chart(chart, [], values, **options))
    for environment in ENVIRONMENTS:
        rendered |= images(render_env(environment, chart.name))
    assert annotated_images(chart) == rendered


def test_the_image_lists_name_each_image_once() -> None:
    for chart in CHARTS:
        annotations = yaml.safe_load((chart / "Chart.yaml").read_text())["annotations"]
        entries = yaml.safe_load(annotations["artifacthub.io/images"])
        assert len({e["name"] for e in entries}) == len(entries) == len(annotated_images(chart)), chart.name


def test_the_application_chart_lists_every_component() -> None:
    names = {
        e["name"]
        for e in yaml.safe_load(
            yaml.safe_load((APP_CHART / "Chart.yaml").read_text())["annotations"]["artifacthub.io/images"]
        )
    }
    assert names == {"archangel-core", "archangel-agent", "postgres", "postgres-exporter", "qdrant", "archangel-tools"}
    assert any("prometheus/prometheus:" in i for i in annotated_images(MONITORING_CHART))


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_the_readme_states_the_kubernetes_versions_chart_yaml_and_validation_use(chart: Path) -> None:
    readme = (chart / "README.md").read_text()
    oldest, newest = (".".join(map(str, v)) for v in supported_kube_versions(Chart.load(chart)))
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)\.\d+(-0)?", Chart.load(chart).metadata["kubeVersion"])
    assert minimum is not None
    assert minimum[1] == oldest
    stated = re.findall(r"Kubernetes >= (\d+\.\d+)", readme)
    assert stated in ([], [oldest])  # the monitoring README leaves the requirement to Chart.yaml
    if chart == APP_CHART:
        assert stated == [oldest]
        assert f"validated against the strict {oldest} and {newest} schemas" in readme
