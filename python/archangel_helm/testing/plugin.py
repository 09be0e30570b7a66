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
from typing import TYPE_CHECKING, Any, Protocol

import pytest

# Only pytest at import: the plugin loads in every pytest run of a project that installs the package, and the
# render core, the validators and jsonschema cost a sixth of a second; each fixture imports what it uses.
if TYPE_CHECKING:
    from archangel_helm.core.helm import Helm
    from archangel_helm.core.manifest import Manifest
    from archangel_helm.plan.environments import Environment
    from archangel_helm.testing.assertions import Snapshot
    from archangel_helm.testing.snapshot_ledger import SnapshotLedger
    from archangel_helm.validate import CrdSchemas, SchemaValidator


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
        "--environments-example-values",
        action="store_true",
        default=False,
        help="render_env adds each release's exampleValuesFiles (environments.yaml): placeholders for site values",
    )
    group.addoption(
        "--update-snapshots",
        action="store_true",
        default=False,
        help="rewrite match_snapshot snapshots that differ from the render (also: ARCHANGEL_UPDATE_SNAPSHOTS=1)",
    )
    group.addoption(
        "--snapshot-report",
        action="store_true",
        default=False,
        help="list the snapshot files and names no test of this run used (needs a run without -n)",
    )
    group.addoption(
        "--prune-snapshots",
        action="store_true",
        default=False,
        help="delete the snapshots --snapshot-report lists (modules run whole only; needs a run without -n)",
    )


class _SnapshotBookkeeping:
    """Records what the chart_snapshot fixture used, test by test; reports and prunes the rest at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._ledger: SnapshotLedger | None = None
        self.reporting = bool(config.getoption("snapshot_report") or config.getoption("prune_snapshots"))
        # Node ids on the command line run part of a module: none of its files is judged obsolete.
        self.partial_args = {str(Path(a.split("::")[0]).resolve()) for a in config.args if "::" in a}

    @property
    def ledger(self) -> SnapshotLedger:
        if self._ledger is None:
            from archangel_helm.testing.snapshot_ledger import SnapshotLedger

            self._ledger = SnapshotLedger()
        return self._ledger

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        if not self.reporting:
            return
        self.ledger.partial_modules.update(Path(item.path) for item in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.reporting:
            return  # what was collected matters only to the report
        for item in session.items:
            if str(Path(item.path).resolve()) in self.partial_args:
                self.ledger.partial_modules.add(Path(item.path))
            self.ledger.collected(Path(item.path), item.nodeid.split("::", 1)[-1])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.reporting and report.when == "call" and report.passed:
            self.ledger.passed.add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        report, prune_them = (self.config.getoption(o) for o in ("snapshot_report", "prune_snapshots"))
        if not (report or prune_them):
            return
        if getattr(self.config.option, "numprocesses", None):
            terminalreporter.write_line("snapshots: --snapshot-report and --prune-snapshots need a run without -n")
            return
        obsolete = self.ledger.obsolete()
        terminalreporter.section("obsolete snapshots")
        for item in obsolete:
            terminalreporter.write_line(f"{'pruned' if prune_them else 'obsolete'}: {item}")
        if prune_them:
            from archangel_helm.testing.snapshot_ledger import prune

            prune(obsolete)
        terminalreporter.write_line(f"{len(obsolete)} obsolete snapshot file(s) or name set(s)")


_BOOKKEEPING = pytest.StashKey[_SnapshotBookkeeping]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chart(chart, values=(), set_values=None, **render options): the suite's render, set once on a module "
        "(pytestmark) or a class and read by the chart_render fixture (helm-unittest's suite-level chart, values, "
        "release, capabilities and templates)",
    )
    bookkeeping = _SnapshotBookkeeping(config)
    config.stash[_BOOKKEEPING] = bookkeeping
    config.pluginmanager.register(bookkeeping, "archangel_helm_snapshots")


@pytest.fixture(scope="session")
def helm(pytestconfig: pytest.Config) -> Helm:
    """The helm binary the chart tests render with."""
    from archangel_helm.core.helm import find_helm

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
        from archangel_helm.core.render import render

        return render(root / chart, [root / f for f in values_files], set_values, helm=helm, **options)

    return _render


@pytest.fixture
def chart_render(request: pytest.FixtureRequest, render_chart: RenderChart) -> Callable[..., Manifest]:
    """chart_render(**overrides) -> Manifest: the render the nearest @pytest.mark.chart(...) describes (the
    test's own, its class's, its module's: the nearest wins, keyword by keyword), with overrides on top:
    values=, set_values= (merged over the suite's), release=, namespace=, api_versions=, kube_version=,
    show_only=, chart_version=, app_version=, and the rest of render()'s options."""
    settings: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("chart"))):  # module first, the test's own last
        if marker.args:
            settings["chart"] = marker.args[0]
        settings.update(marker.kwargs)
    if "chart" not in settings:
        raise pytest.UsageError(f"{request.node.nodeid}: chart_render needs @pytest.mark.chart(chart, ...) above it")

    def _render(**overrides: Any) -> Manifest:
        merged = {**settings, **overrides}
        suite_set = dict(settings.get("set_values") or {})
        merged["set_values"] = {**suite_set, **(overrides.get("set_values") or {})} or None
        chart = merged.pop("chart")
        values = merged.pop("values", ())
        set_values = merged.pop("set_values")
        return render_chart(chart, list(values), set_values, **merged)

    return _render


@pytest.fixture(scope="session")
def environments(pytestconfig: pytest.Config) -> dict[str, Environment]:
    """The project's environments (environments.yaml at or above pytest's rootdir), with their example values
    when --environments-example-values is given. A conftest may override it (to choose other values)."""
    from archangel_helm.plan.environments import find_project_root, load_environments

    loaded = load_environments(find_project_root(pytestconfig.rootpath))
    if pytestconfig.getoption("environments_example_values"):
        return {name: env.with_example_values() for name, env in loaded.items()}
    return loaded


@pytest.fixture(scope="session")
def render_env(environments: dict[str, Environment], helm: Helm) -> Callable[..., Manifest]:
    """render_env("production", "archangel", set_values=None, **options): one chart as the environment deploys
    it: its release's values files in their order, its release name and namespace, its Kubernetes version and
    the APIs its clusters serve (`Environment.inputs`, as plan, check and deploy take it). Options override any
    of those (release=, kube_version=, ...) or are render()'s own."""

    def _render(environment: str, chart: str, set_values: dict[str, Any] | None = None, **options: Any) -> Manifest:
        return environments[environment].inputs(chart).render(set_values, helm=helm, **options)

    return _render


@pytest.fixture(scope="session")
def crd_schemas(pytestconfig: pytest.Config) -> CrdSchemas:
    """CRD schemas from --crd-schemas, $ARCHANGEL_CRD_SCHEMAS or `crds fetch`; skips when there are none."""
    from archangel_helm.validate import CrdSchemas, default_crd_directories, holds_crd_files

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
        from archangel_helm.core.chart import Chart
        from archangel_helm.validate import SchemaValidator, supported_kube_versions

        loaded = Chart.load(chart)
        if loaded.path not in validators:
            validators[loaded.path] = SchemaValidator(supported_kube_versions(loaded), crd_schemas)
        return validators[loaded.path]

    return _for


@pytest.fixture
def chart_snapshot(request: pytest.FixtureRequest) -> Snapshot:
    """This test's snapshots, in __snapshots__/<module>/<test name>.yaml beside the test:
    chart_snapshot.match(target). (Not `snapshot`: that is syrupy's fixture, and both plugins may be loaded.)

    --update-snapshots rewrites those that differ; without it, $ARCHANGEL_UPDATE_SNAPSHOTS decides. Under CI
    ($CI), a snapshot that does not exist yet fails. --snapshot-report lists the obsolete ones,
    --prune-snapshots deletes them.
    """
    from archangel_helm.testing.assertions import Snapshot

    update = True if request.config.getoption("update_snapshots") else None
    # Named by the test's id in its module (a class's name included: TestA::test_x and TestB::test_x differ).
    snapshot = Snapshot.for_test(request.path, request.node.nodeid.split("::", 1)[-1], update)
    bookkeeping = request.config.stash[_BOOKKEEPING]
    if bookkeeping.reporting:
        bookkeeping.ledger.snapshots[request.node.nodeid] = snapshot
    return snapshot
