"""The values files the project ships, each with the render inputs it is deployed with.

One list for the inventory, validation and golden-manifest checks: every environment's values files (from
environments.yaml, each with its example site values), and every chart's ci/*-values.yaml (chart-testing's
install cases), rendered with the production API set so the CRD-backed objects they enable are rendered and checked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archangel_helm.core.release_inputs import ReleaseInputs
from archangel_helm.plan.environments import load_environments

if TYPE_CHECKING:
    from archangel_helm.core.helm import Helm
    from archangel_helm.core.manifest import Manifest
    from archangel_helm.core.render_cache import RenderCache


@dataclass(frozen=True)
class ShippedValues:
    project: Path
    chart: Path
    values_file: Path
    release: str
    namespace: str
    api_versions: tuple[str, ...]
    kube_version: str | None
    # Rendered after values_file: the environment's example site values (documentation placeholders).
    site_values: tuple[Path, ...] = ()

    @property
    def id(self) -> str:
        """The values file relative to the project, e.g. values/production.yaml."""
        return self.values_file.relative_to(self.project).as_posix()

    @property
    def inputs(self) -> ReleaseInputs:
        """This values file (then its example site values) with the release, namespace and cluster it is deployed
        with."""
        files = (self.values_file, *self.site_values)
        return ReleaseInputs(self.chart, files, self.release, self.namespace, self.kube_version, self.api_versions)

    def render(self, *, helm: Helm | None = None, cache: RenderCache | bool | None = True) -> Manifest:
        """Render this values file with the inputs it is deployed with."""
        return self.inputs.render(helm=helm, cache=cache)

    @property
    def golden_path(self) -> Path:
        stem = self.values_file.stem if self.values_file.parent.name != "ci" else f"ci-{self.values_file.stem}"
        return self.project / "tests" / "golden" / self.chart.name / f"{stem}.yaml"


def shipped_values(project: Path) -> list[ShippedValues]:
    shipped: list[ShippedValues] = []
    environments = load_environments(project)
    charts: list[Path] = []
    for environment in environments.values():
        for release in environment.releases:
            if release.chart not in charts:
                charts.append(release.chart)
            for file in release.values_files:
                shipped.append(
                    ShippedValues(
                        project,
                        release.chart,
                        file,
                        release.name,
                        release.namespace,
                        environment.api_versions,
                        environment.kube_version or None,
                        release.example_values_files,
                    )
                )
    reference = environments.get("production") or next(iter(environments.values()))
    for chart in charts:
        release = reference.release_for_chart(chart.name)
        for file in sorted((chart / "ci").glob("*-values.yaml")):
            shipped.append(
                ShippedValues(
                    project,
                    chart,
                    file,
                    release.name,
                    release.namespace,
                    reference.api_versions,
                    reference.kube_version or None,
                )
            )
    return shipped
