"""The plain-text summary and the JSON form of a load-check result."""

from __future__ import annotations

import json

from archangel_helm.loadcheck.result import PERCENTILE_METHOD, LoadResult
from archangel_helm.loadcheck.verdict import format_rate, format_seconds


def _target_line(result: LoadResult) -> str:
    config = result.config
    limits = []
    if config.duration is not None:
        limits.append(f"{config.duration:g} s")
    if config.requests is not None:
        limits.append(f"{config.requests} requests")
    warmup = f", warm-up {config.warmup:g} s ({result.warmup_requests} requests, not counted)" if config.warmup else ""
    return f"load check {config.method} {config.url}: {config.concurrency} workers, {' or '.join(limits)}{warmup}"


def _latency_line(result: LoadResult) -> str:
    latency = result.latency
    if latency is None:
        return "latency    no responses"
    figures = [
        ("min", latency.min),
        ("mean", latency.mean),
        ("P50", latency.p50),
        ("P90", latency.p90),
        ("P95", latency.p95),
        ("P99", latency.p99),
        ("max", latency.max),
    ]
    return "latency    " + "  ".join(f"{name} {format_seconds(value)}" for name, value in figures)


def _errors_line(result: LoadResult) -> str:
    errors = result.errors
    rate = format_rate(result.error_rate) if result.error_rate is not None else "n/a"
    kinds = [f"HTTP {code} x{count}" for code, count in errors.statuses.items()]
    others = (("timeout", errors.timeout), ("connection", errors.connection))
    kinds += [f"{name} x{count}" for name, count in others if count]
    return f"errors     {errors.total} ({rate})" + (": " + ", ".join(kinds) if errors.total else "")


def format_summary(result: LoadResult) -> str:
    """A few lines for a terminal: target, throughput, latency, errors, statuses, verdict."""
    statuses = ", ".join(f"{code} x{count}" for code, count in result.statuses.items()) or "none"
    lines = [
        _target_line(result),
        f"requests   {result.requests} in {result.window:.2f} s = {result.throughput:.1f} req/s",
        _latency_line(result) + f"  ({PERCENTILE_METHOD})",
        _errors_line(result),
        f"responses  {statuses}",
    ]
    lines += [f"           {kind}: {message}" for kind, message in result.error_examples.items()]
    lines += _verdict_lines(result)
    return "\n".join(lines)


def _verdict_lines(result: LoadResult) -> list[str]:
    verdict = result.verdict
    if verdict.passed:
        return ["verdict    PASS: " + ("; ".join(c.describe() for c in verdict.checks) or "no thresholds set")]
    held = [c.describe() for c in verdict.checks if c.passed]
    lines = ["verdict    FAIL: " + "; ".join(c.describe() for c in verdict.failures)]
    return lines + (["           held: " + "; ".join(held)] if held else [])


def to_json(result: LoadResult) -> str:
    return json.dumps(result.as_dict(), indent=2)
