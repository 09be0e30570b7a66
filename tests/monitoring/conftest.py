"""Fixtures of the monitoring chart's tests: the chart rendered in each mode and environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.helm import Helm
from archangel_helm.core.release_inputs import ReleaseInputs
from archangel_helm.plan.environments import Environment
from tests.support.monitoring import ALL_RECEIVERS, CI_DIR, NAMESPACE, RELEASE, RenderMonitoring
from tests.support.project import MONITORING_CHART, with_site_values


@pytest.fixture(scope="session")
def render_monitoring(helm: Helm, environments: dict[str, Environment]) -> RenderMonitoring:
    """render_monitoring(set_values=None, values_files=(), **options): the chart with production's API set."""
    production = environments["production"]

    def _render(
        set_values: dict[str, Any] | None = None, values_files: tuple[str, ...] = (), **options: Any
    ) -> Manifest:
        files = tuple(map(Path, with_site_values(values_files)))
        inputs = ReleaseInputs(
            MONITORING_CHART, files, RELEASE, NAMESPACE, production.kube_version, production.api_versions
        )
        return inputs.render(set_values, helm=helm, **options)

    return _render


@pytest.fixture(scope="session")
def production(render_env: Callable[..., Manifest]) -> Manifest:
    return render_env("production", "archangel-monitoring")


@pytest.fixture(scope="session")
def staging(render_env: Callable[..., Manifest]) -> Manifest:
    return render_env("staging", "archangel-monitoring")


@pytest.fixture(scope="session")
def standalone(render_monitoring: RenderMonitoring) -> Manifest:
    """Standalone mode as chart-testing installs it, every receiver enabled."""
    return render_monitoring(ALL_RECEIVERS, (str(CI_DIR / "standalone-values.yaml"),))


@pytest.fixture(scope="session")
def standalone_ha(render_monitoring: RenderMonitoring) -> Manifest:
    return render_monitoring(None, (str(CI_DIR / "standalone-ha-values.yaml"),))
