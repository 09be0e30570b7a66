"""docs/ASSERTIONS.md's examples run: every ```python block, against the chart made for them
(tests/fixtures/charts/docs-example), with the names the document says the examples use. A block that
defines a test function has it called with the plugin's fixtures. An example that stops working fails here."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archangel_helm import Manifest, render
from archangel_helm.testing import assertions as a
from tests.support.project import FIXTURES, PROJECT

DOC = PROJECT / "docs" / "ASSERTIONS.md"
CHART = FIXTURES / "charts" / "docs-example"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def names(schema_validator_for: Callable[..., Any]) -> dict[str, Any]:
    """What the document says its examples use (its "The examples" paragraph)."""
    manifest = render(CHART, api_versions=["monitoring.coreos.com/v1/ServiceMonitor"])
    return {
        "a": a,
        "render": render,
        "chart": CHART,
        "manifest": manifest,
        "m": manifest,
        "d": a.select(manifest, kind="Deployment", name="archangel-core"),
        "svc": a.select(manifest, kind="Service", name="archangel-core"),
        "secret": a.select(manifest, kind="Secret", name="archangel-core"),
        "hpa": a.select(manifest, kind="HorizontalPodAutoscaler", name="archangel-core"),
        "schema_validator_for": schema_validator_for,
    }


def test_the_document_has_examples_and_names_the_chart_they_run_on() -> None:
    assert len(BLOCKS) >= 15
    assert "tests/fixtures/charts/docs-example" in DOC.read_text()


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_the_example_runs(
    block: str,
    names: dict[str, Any],
    render_chart: Callable[..., Manifest],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT)  # the document's paths are the repository's
    # The snapshot example writes its first snapshot into a fresh file, which CI refuses by design
    # (test_assertions_snapshots checks that rule): here it runs as at a developer's desk.
    monkeypatch.delenv("CI", raising=False)
    namespace = dict(names)
    exec(compile(block, f"{DOC}:example", "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            fixtures = {"chart_snapshot": a.Snapshot(tmp_path / "snapshots.yaml"), "render_chart": render_chart}
            value(**{p: fixtures[p] for p in inspect.signature(value).parameters})
