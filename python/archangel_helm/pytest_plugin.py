"""pytest fixtures for chart tests (registered as the `archangel_helm` pytest11 plugin).

A chart test needs one line of set-up::

    def test_core_replicas(render_chart):
        manifest = render_chart("charts/archangel", ["values/production.yaml"])
        assert manifest.get("Deployment", "archangel-core")["spec"]["replicas"] == 3

Renders go through the shared cache (memory + disk, safe across pytest-xdist workers), so a hundred tests
of one values file cost one `helm template`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from .assertions import Snapshot
from .chart import Chart
from .helm import Helm, find_helm
from .manifest import Manifest
from .render import render
from .validate import CrdSchemas, SchemaValidator, default_crd_directories, holds_crd_files, supported_kube_versions


class RenderChart(Protocol):
    def __call__(
        self,
        chart: str | os.PathLike[str],
        values_files: Sequence[str | os.PathLike[str]] = (),
        set_values: dict[str, Any] | None = None,
        **options: Any,
    ) -> Manifest: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archangel_helm")
    group.addoption(
        "--helm-binary", default=None, help="helm executable for chart tests (default: $ARCHANGEL_HELM or helm)"
    )
    group.addoption(
        "--crd-schemas",
        action="append",
        default=[],
        help="directory of CRD schemas/manifests for validating custom resources (repeatable)",
    )
    group.addoption(
        "--update-snapshots",
        action="store_true",
        default=False,
        help="rewrite match_snapshot snapshots that differ from the render (also: ARCHANGEL_UPDATE_SNAPSHOTS=1)",
    )


@pytest.fixture(scope="session")
def helm(pytestconfig: pytest.Config) -> Helm:
    """The helm binary the chart tests render with."""
    return find_helm(pytestconfig.getoption("helm_binary"))


@pytest.fixture(scope="session")
def render_chart(helm: Helm, pytestconfig: pytest.Config) -> RenderChart:
    """render_chart(chart, values_files, set_values, **render options) -> Manifest, cached.

    Relative chart and values paths are resolved against the pytest root directory.
    """
    root = Path(pytestconfig.rootpath)

    def _render(
        chart: str | os.PathLike[str],
        values_files: Sequence[str | os.PathLike[str]] = (),
        set_values: dict[str, Any] | None = None,
        **options: Any,
    ) -> Manifest:
        return render(root / chart, [root / f for f in values_files], set_values, helm=helm, **options)

    return _render


@pytest.fixture(scope="session")
def crd_schemas(pytestconfig: pytest.Config) -> CrdSchemas:
    """CRD schemas from --crd-schemas, $ARCHANGEL_CRD_SCHEMAS or `crds fetch`; skips when there are none."""
    directories = [Path(d) for d in pytestconfig.getoption("crd_schemas")] or default_crd_directories()
    existing = [d for d in directories if holds_crd_files(d)]
    if not existing:
        pytest.skip(
            "no CRD schemas: pass --crd-schemas DIR, set ARCHANGEL_CRD_SCHEMAS, or run `archangel-helm crds fetch`"
        )
    return CrdSchemas.from_directories(*existing)


@pytest.fixture(scope="session")
def schema_validator_for(crd_schemas: CrdSchemas) -> Callable[[str | os.PathLike[str]], SchemaValidator]:
    """schema_validator_for(chart) -> a validator for the oldest and newest Kubernetes the chart declares."""
    validators: dict[Path, SchemaValidator] = {}

    def _for(chart: str | os.PathLike[str]) -> SchemaValidator:
        loaded = Chart.load(chart)
        if loaded.path not in validators:
            validators[loaded.path] = SchemaValidator(supported_kube_versions(loaded), crd_schemas)
        return validators[loaded.path]

    return _for


@pytest.fixture
def snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """This test's snapshots, in __snapshots__/<module>/<test name>.yaml beside the test: snapshot.match(target).

    --update-snapshots rewrites those that differ; without it, $ARCHANGEL_UPDATE_SNAPSHOTS decides.
    """
    update = True if request.config.getoption("update_snapshots") else None
    return Snapshot.for_test(request.path, request.node.name, update)
