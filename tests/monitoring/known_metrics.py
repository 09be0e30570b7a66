"""The metrics rules and dashboards may read besides recorded ones: those docs/METRICS.md lists in its metric
sections (application, batch-job, exporter and Prometheus metrics; a table's first column, a list's every
backquoted name; `prefix_*` patterns allowed), with the series of a histogram."""

from __future__ import annotations

import fnmatch
import functools
import re

from tests.support.monitoring import METRICS_DOC

METRIC_SECTIONS = ("## Application metrics", "## Batch-job metrics", "## Exporters", "## Prometheus itself")
_TOKEN = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:*]*)`")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def parse_metrics_doc(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact names, glob patterns) documented in the metric sections of a METRICS.md text."""
    tokens: list[str] = []
    in_section = False
    for line in text.splitlines():
        if line.startswith("## "):
            in_section = line.startswith(METRIC_SECTIONS)
            continue
        if not in_section:
            continue
        if line.startswith("|"):
            cells = line.split("|")
            tokens += _TOKEN.findall(cells[1]) if len(cells) > 1 else []
        else:
            tokens += _TOKEN.findall(line)
    names = frozenset(t for t in tokens if "*" not in t)
    patterns = tuple(t for t in tokens if "*" in t and t != "prefix_*")
    return names, patterns


@functools.cache
def documented_metrics() -> tuple[frozenset[str], tuple[str, ...]]:
    return parse_metrics_doc(METRICS_DOC.read_text())


def known_metric(name: str) -> bool:
    names, patterns = documented_metrics()
    candidates = {name} | {name.removesuffix(s) for s in _HISTOGRAM_SUFFIXES if name.endswith(s)}
    return any(c in names or any(fnmatch.fnmatchcase(c, p) for p in patterns) for c in candidates)
