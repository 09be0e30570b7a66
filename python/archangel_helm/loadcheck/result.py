"""The figures of a load check, computed from its recorded samples, and their JSON-ready form."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple

from archangel_helm.loadcheck.config import LoadCheckConfig
from archangel_helm.loadcheck.stats import Histogram, LatencyStats
from archangel_helm.loadcheck.verdict import Verdict, evaluate

OutcomeKind = Literal["response", "timeout", "connection"]
PERCENTILE_METHOD = "nearest-rank"


class Sample(NamedTuple):
    """One measured request. A tuple, not a dataclass: the load loop creates one per request."""

    start: float  # seconds since the run began (monotonic clock)
    latency: float  # seconds from sending to the last body byte, or to the failure
    kind: OutcomeKind
    status: int | None  # None unless kind == "response"


@dataclass(frozen=True)
class ErrorCounts:
    """Requests counted as errors under the config's ErrorPolicy, by kind."""

    statuses: Mapping[int, int]
    timeout: int
    connection: int

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + self.timeout + self.connection


@dataclass(frozen=True)
class LoadResult:
    config: LoadCheckConfig
    requests: int  # measured requests (warm-up excluded)
    warmup_requests: int
    window: float  # seconds from the end of warm-up to the last measured completion
    throughput: float  # measured requests per second of window
    statuses: Mapping[int, int]  # every response by status code, errors or not
    timeouts: int
    connection_failures: int
    errors: ErrorCounts
    error_rate: float | None  # errors.total / requests; None with no measured requests
    latency: LatencyStats | None
    histogram: Histogram
    verdict: Verdict
    error_examples: Mapping[str, str]  # first failure message per kind, for the report

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def as_dict(self) -> dict[str, object]:
        """A JSON-serialisable form; header values are left out because they often carry credentials."""
        config = self.config
        return {
            "target": {
                "url": config.url,
                "method": config.method,
                "header_names": sorted(config.headers),
                "body_bytes": len(config.body or b""),
                "concurrency": config.concurrency,
                "duration_seconds": config.duration,
                "request_limit": config.requests,
                "timeout_seconds": config.timeout,
                "warmup_seconds": config.warmup,
            },
            "thresholds": asdict(config.thresholds),
            "error_policy": {**asdict(config.error_policy), "statuses": sorted(config.error_policy.statuses)},
            "requests": self.requests,
            "warmup_requests": self.warmup_requests,
            "window_seconds": self.window,
            "throughput_rps": self.throughput,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "timeouts": self.timeouts,
            "connection_failures": self.connection_failures,
            "errors": {
                "total": self.errors.total,
                "statuses": {str(code): count for code, count in sorted(self.errors.statuses.items())},
                "timeout": self.errors.timeout,
                "connection": self.errors.connection,
                "examples": dict(self.error_examples),
            },
            "error_rate": self.error_rate,
            "percentile_method": PERCENTILE_METHOD,
            "latency_seconds": asdict(self.latency) if self.latency else None,
            "histogram": {"edges_seconds": list(self.histogram.edges), "counts": list(self.histogram.counts)},
            "verdict": {
                "passed": self.verdict.passed,
                "checks": [
                    {"name": c.name, "measured": c.measured, "limit": c.limit, "passed": c.passed, "text": c.describe()}
                    for c in self.verdict.checks
                ],
            },
        }


def latency_samples(samples: Sequence[Sample]) -> list[float]:
    """Latencies that enter the statistics: every response, and every timeout at its elapsed time.

    A timeout's elapsed time is a lower bound on its true latency, so keeping it never flatters the tail.
    Connection failures are left out: they fail in microseconds and would pull the percentiles down.
    """
    return [s.latency for s in samples if s.kind != "connection"]


def summarise(
    config: LoadCheckConfig,
    samples: Sequence[Sample],
    *,
    window: float,
    warmup_requests: int = 0,
    error_examples: Mapping[str, str] | None = None,
) -> LoadResult:
    """The result of a run from its measured samples (warm-up already removed) and its window in seconds."""
    policy = config.error_policy
    statuses = Counter(s.status for s in samples if s.status is not None)
    timeouts = sum(1 for s in samples if s.kind == "timeout")
    connection = sum(1 for s in samples if s.kind == "connection")
    errors = ErrorCounts(
        statuses={code: n for code, n in sorted(statuses.items()) if policy.status_is_error(code)},
        timeout=timeouts if policy.timeouts else 0,
        connection=connection if policy.connection_errors else 0,
    )
    error_rate = errors.total / len(samples) if samples else None
    latencies = latency_samples(samples)
    latency = LatencyStats.of(latencies)
    return LoadResult(
        config=config,
        requests=len(samples),
        warmup_requests=warmup_requests,
        window=window,
        throughput=len(samples) / window if window > 0 else 0.0,
        statuses=dict(sorted(statuses.items())),
        timeouts=timeouts,
        connection_failures=connection,
        errors=errors,
        error_rate=error_rate,
        latency=latency,
        histogram=Histogram.of(latencies),
        verdict=evaluate(config.thresholds, latency, error_rate),
        error_examples=dict(error_examples or {}),
    )
