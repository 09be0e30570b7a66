"""Exact latency statistics from recorded samples: nearest-rank percentiles and a plotting histogram."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

# The percentiles every result reports, as (field name, percent).
REPORTED_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))

# Histogram edges follow the 1-2-5 series from 100 µs: three buckets per decade read well on a log axis,
# and the edges are round numbers an operator can quote.
_FIRST_EDGE = 1e-4
_STEPS = (1.0, 2.0, 5.0)


def percentile(sorted_samples: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `percent` % of the samples <= it.

    Always an observed value (no interpolation), so P99 of 100 samples is the 99th smallest. P0 is the minimum.
    """
    if not sorted_samples:
        raise ValueError("percentile of no samples")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent: expected 0-100, got {percent!r}")
    rank = max(1, math.ceil(percent / 100 * len(sorted_samples)))
    return sorted_samples[rank - 1]


@dataclass(frozen=True)
class LatencyStats:
    """Latency figures in seconds over `count` samples."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> LatencyStats | None:
        """The statistics of `samples`, or None when there are none."""
        if not samples:
            return None
        ordered = sorted(samples)
        points = {name: percentile(ordered, percent) for name, percent in REPORTED_PERCENTILES}
        return cls(
            count=len(ordered),
            min=ordered[0],
            mean=math.fsum(ordered) / len(ordered),
            max=ordered[-1],
            **points,
        )


@dataclass(frozen=True)
class Histogram:
    """Counts per latency bucket. Bucket i holds samples in (edges[i], edges[i+1]]; the first includes 0."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Histogram:
        edges = histogram_edges(max(samples, default=0.0))
        counts = [0] * (len(edges) - 1)
        for sample in samples:
            counts[max(bisect_left(edges, sample) - 1, 0)] += 1
        return cls(tuple(edges), tuple(counts))


def histogram_edges(largest: float) -> list[float]:
    """0, then the 1-2-5 series from 100 µs up to the first edge >= `largest`, so no bucket is open-ended."""
    edges = [0.0]
    decade = _FIRST_EDGE
    while True:
        for step in _STEPS:
            # round() keeps the edges at the decimal values they name (0.2, not 0.20000000000000004).
            edge = round(step * decade, 10)
            edges.append(edge)
            if edge >= largest:
                return edges
        decade *= 10
