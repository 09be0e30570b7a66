"""Pass or fail against the thresholds, naming every figure that broke its limit."""

from __future__ import annotations

from dataclasses import dataclass

from archangel_helm.loadcheck.config import Thresholds
from archangel_helm.loadcheck.stats import LatencyStats


def format_seconds(seconds: float) -> str:
    """Milliseconds below one second, seconds above: the unit an operator reads latency in."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def format_rate(fraction: float) -> str:
    return f"{fraction * 100:.2f} %"


@dataclass(frozen=True)
class ThresholdCheck:
    """One figure against its limit. `measured` is None when there was nothing to measure (no responses)."""

    name: str
    measured: float | None
    limit: float
    unit: str  # "s" or "fraction"

    @property
    def passed(self) -> bool:
        # The issue states the limits as strict bounds (P95 < 2 s, errors < 1 %): equal to the limit fails.
        return self.measured is not None and self.measured < self.limit

    def describe(self) -> str:
        show = format_seconds if self.unit == "s" else format_rate
        if self.measured is None:
            return f"{self.name}: nothing to measure (limit < {show(self.limit)})"
        relation = "<" if self.passed else ">="
        return f"{self.name} {show(self.measured)} {relation} {show(self.limit)}"


@dataclass(frozen=True)
class Verdict:
    checks: tuple[ThresholdCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> tuple[ThresholdCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)


def evaluate(thresholds: Thresholds, latency: LatencyStats | None, error_rate: float | None) -> Verdict:
    """Compare the figures with every limit that is switched on, in the order P50, P95, P99, error rate.

    A figure that could not be measured (no responses, no requests) fails its check: never a silent pass.
    """
    checks = []
    for name in ("p50", "p95", "p99"):
        limit = getattr(thresholds, name)
        if limit is not None:
            measured = getattr(latency, name) if latency is not None else None
            checks.append(ThresholdCheck(name.upper(), measured, limit, "s"))
    if thresholds.error_rate is not None:
        checks.append(ThresholdCheck("error rate", error_rate, thresholds.error_rate, "fraction"))
    return Verdict(tuple(checks))
