"""ReferenceIndex answers exactly what a scan of every template reference per values leaf would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from archangel_helm.core import yamlio
from archangel_helm.core.chart import Chart
from archangel_helm.validate.schema_coverage import WILDCARD, ReferenceIndex, _leaves, template_references
from tests.support.project import CHARTS

Path_ = tuple[str, ...]


def prefix_matches(pattern: Path_, path: Path_) -> bool:
    """The definition: `pattern` (wildcards allowed) matches the start of `path`."""
    return len(pattern) <= len(path) and all(p in (WILDCARD, v) for p, v in zip(pattern, path, strict=False))


def scanned(references: set[Path_], leaf: Path_) -> bool:
    return any(prefix_matches(r, leaf) or prefix_matches(leaf, r) for r in references)


def test_the_index_agrees_with_the_scan_on_both_charts() -> None:
    for chart_path in CHARTS:
        chart = Chart.load(chart_path)
        references = template_references(chart)
        index = ReferenceIndex(references)
        leaves = list(_leaves(yamlio.load((chart_path / "values.yaml").read_text())))
        assert len(leaves) > 50
        assert [leaf for leaf in leaves if index.covers(leaf) != scanned(references, leaf)] == []


SEGMENT = st.sampled_from(["a", "b", "c", WILDCARD])
LITERAL = st.sampled_from(["a", "b", "c"])


@settings(max_examples=400, deadline=None)
@given(
    references=st.sets(st.lists(SEGMENT, min_size=1, max_size=4).map(tuple), max_size=8),
    leaf=st.lists(LITERAL, min_size=1, max_size=5).map(tuple),
)
def test_the_index_agrees_with_the_scan_on_random_paths(references: set[Path_], leaf: Path_) -> None:
    assert ReferenceIndex(references).covers(leaf) == scanned(references, leaf)
