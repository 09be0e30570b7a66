"""Where the project's charts, values files, fixtures and upstream CRD schemas are, for every test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from archangel_helm.plan.shipped import shipped_values

PROJECT = Path(__file__).resolve().parents[2]
APP_CHART = PROJECT / "charts" / "archangel"
MONITORING_CHART = PROJECT / "charts" / "archangel-monitoring"
CHARTS = (APP_CHART, MONITORING_CHART)
FIXTURES = PROJECT / "tests" / "fixtures"
# Upstream CRD schemas provided beside the repository for our tests; read in place, never copied in.
SHARED_CRD_SCHEMAS = PROJECT.parent / "shared" / "crd-schemas"
# The tests' renders are cached in the repository's build directory, never in the user's ~/.cache (which the
# CLI uses): one directory every xdist worker shares, removed by `make clean`.
TEST_RENDER_CACHE = PROJECT / "build" / "test-render-cache"
SHIPPED_VALUES = shipped_values(PROJECT)


def with_site_values(values_files: Sequence[str | Path]) -> list[str]:
    """The files, each environment values file followed by its example site values (as the tests render them)."""
    sites = {s.values_file: s.site_values for s in SHIPPED_VALUES}
    files: list[str] = []
    for file in values_files:
        path = Path(file) if Path(file).is_absolute() else PROJECT / file
        files += [str(file), *map(str, sites.get(path.resolve(), ()))]
    return files
