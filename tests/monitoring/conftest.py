"""Fixtures of the monitoring chart's tests: the chart rendered in each mode and environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.plan.environments import Environment
from archangel_helm.testing.plugin import RenderChart
from tests.support.monitoring import ALL_RECEIVERS, CI_DIR, NAMESPACE, RELEASE, RenderMonitoring
from tests.support.project import MONITORING_CHART, with_site_values


@pytest.fixture(scope="session")
def render_monitoring(render_chart: RenderChart, environments: dict[str, Environment]) -> RenderMonitoring:
    """render_monitoring(set_values=None, values_files=(), **options): the chart with production's API set."""
    production = environments["production"]

    def _render(
        set_values: dict[str, Any] | None = None, values_files: tuple[str, ...] = (), **options: Any
    ) -> Manifest:
        settings: dict[str, Any] = {
            "release": RELEASE,
            "namespace": NAMESPACE,
            "api_versions": production.api_versions,
            "kube_version": production.kube_version,
        }
        settings.update(options)
        return render_chart(MONITORING_CHART, with_site_values(values_files), set_values, **settings)

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
