"""Probe HTTP endpoints and push the results to a Pushgateway.

    python -m archangel_helm.monitoring.healthcheck --pushgateway URL \
        --check core=http://archangel-core.archangel.svc/healthz/ready \
        --check prometheus=http://prometheus:9090/-/ready [--timeout 5] [--job archangel-healthcheck]

Each check passes when its URL answers 2xx within the timeout (redirects are not followed: a readiness endpoint
that redirects is misconfigured). The results go to the Pushgateway with push-add (HTTP POST), so a run replaces
the series it reports and leaves others of the same job alone:

    archangel_healthcheck_success{check}            1 when the check passed
    archangel_healthcheck_duration_seconds{check}   how long it took
    archangel_healthcheck_last_run_timestamp_seconds when this run ended

Exit codes: 0 the results were pushed (whatever they say: a failing check is reported by its metric and
alerted on by the rules), 1 the push failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from archangel_helm.core.logsetup import logger


def _log() -> logging.Logger:
    return logger("archangel.healthcheck")


DEFAULT_JOB = "archangel-healthcheck"
_CHECK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class UsageError(ValueError):
    """A malformed argument; the message names it and says what was expected."""


@dataclass(frozen=True)
class Check:
    name: str
    url: str


@dataclass(frozen=True)
class HealthCheckResult:
    name: str
    success: bool
    duration_seconds: float
    detail: str


def parse_check(text: str) -> Check:
    """NAME=URL, e.g. core=http://archangel-core.archangel.svc/healthz/ready."""
    name, separator, url = text.partition("=")
    if not separator:
        raise UsageError(f"--check {text!r}: expected NAME=URL")
    if not _CHECK_NAME.match(name):
        raise UsageError(f"--check {text!r}: name {name!r} must be lower-case letters, digits, '-' or '_'")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--check {text!r}: {url!r} is not an http(s) URL")
    return Check(name, url)


def parse_grouping_key(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", key) or not value:
        raise UsageError(f"--grouping-key {text!r}: expected LABEL=VALUE")
    return key, value


def run_check(
    check: Check, session: requests.Session, timeout: float, clock: Callable[[], float] = time.monotonic
) -> HealthCheckResult:
    started = clock()
    try:
        response = session.get(check.url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        return HealthCheckResult(check.name, False, clock() - started, f"{type(error).__name__}: {error}")
    duration = clock() - started
    response.close()
    success = 200 <= response.status_code < 300
    return HealthCheckResult(check.name, success, duration, f"HTTP {response.status_code}")


def build_registry(results: Sequence[HealthCheckResult], finished_at: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    success = Gauge(
        "archangel_healthcheck_success", "1 when the check passed on the last run", ["check"], registry=registry
    )
    duration = Gauge(
        "archangel_healthcheck_duration_seconds", "Duration of the check on the last run", ["check"], registry=registry
    )
    last_run = Gauge(
        "archangel_healthcheck_last_run_timestamp_seconds", "When the health check last ran", registry=registry
    )
    for result in results:
        success.labels(check=result.name).set(1 if result.success else 0)
        duration.labels(check=result.name).set(result.duration_seconds)
    last_run.set(finished_at)
    return registry


def run(
    checks: Sequence[Check],
    pushgateway: str,
    *,
    job: str = DEFAULT_JOB,
    timeout: float = 5.0,
    grouping_key: dict[str, str] | None = None,
    session: requests.Session | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> list[HealthCheckResult]:
    """Run every check, push the results with push-add, and return them. Raises OSError when the push fails."""
    own_session = session is None
    http = session or requests.Session()
    try:
        results = [run_check(check, http, timeout) for check in checks]
    finally:
        if own_session:
            http.close()
    registry = build_registry(results, wall_clock())
    pushadd_to_gateway(pushgateway, job=job, registry=registry, grouping_key=grouping_key or {}, timeout=timeout)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m archangel_helm.monitoring.healthcheck", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pushgateway", required=True, help="Pushgateway URL, e.g. http://pushgateway:9091")
    parser.add_argument("--check", action="append", default=[], metavar="NAME=URL", help="a URL to probe (repeatable)")
    parser.add_argument("--job", default=DEFAULT_JOB, help=f"job label of the pushed group (default {DEFAULT_JOB})")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per probe and for the push (default 5)")
    parser.add_argument(
        "--grouping-key", action="append", default=[], metavar="LABEL=VALUE", help="extra grouping label (repeatable)"
    )
    arguments = parser.parse_args(argv)
    try:
        checks = [parse_check(text) for text in arguments.check]
        if not checks:
            raise UsageError("give at least one --check NAME=URL")
        names = [check.name for check in checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise UsageError(f"--check names must be unique; repeated: {', '.join(duplicates)}")
        if arguments.timeout <= 0:
            raise UsageError(f"--timeout {arguments.timeout}: must be positive")
        grouping = dict(parse_grouping_key(text) for text in arguments.grouping_key)
    except UsageError as error:
        _log().error(f"healthcheck: {error}")
        return 2
    try:
        results = run(
            checks, arguments.pushgateway, job=arguments.job, timeout=arguments.timeout, grouping_key=grouping
        )
    except OSError as error:
        _log().error(f"healthcheck: could not push to {arguments.pushgateway}: {error}")
        return 1
    for result in results:
        state = "ok" if result.success else "FAILED"
        _log().info(f"{result.name}: {state} ({result.detail}, {result.duration_seconds:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
