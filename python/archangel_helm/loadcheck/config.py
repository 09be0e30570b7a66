"""What a load check runs against and what it accepts: validated before any request is made."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from archangel_helm.core.errors import ConfigurationError

# RFC 9110 token: what a method or a header name may be made of.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class LoadCheckConfigError(ConfigurationError):
    """A load-check setting is out of range; the message names the setting and what was expected."""


def _require_int(name: str, value: object, minimum: int) -> None:
    # bool is an int to Python, but `concurrency=True` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LoadCheckConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _require_seconds(name: str, value: object, *, allow_zero: bool = False) -> None:
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 or (allow_zero and value == 0))
    )
    if not valid:
        expected = ">= 0" if allow_zero else "> 0"
        raise LoadCheckConfigError(f"{name}: expected a finite number of seconds {expected}, got {value!r}")


@dataclass(frozen=True)
class ErrorPolicy:
    """Which outcomes count as errors. A status is an error when >= status_from or listed in statuses."""

    status_from: int = 500
    statuses: frozenset[int] = frozenset()
    timeouts: bool = True
    connection_errors: bool = True

    def __post_init__(self) -> None:
        _require_int("error_policy.status_from", self.status_from, 100)
        for status in self.statuses:
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise LoadCheckConfigError(f"error_policy.statuses: expected HTTP status codes 100-599, got {status!r}")

    def status_is_error(self, status: int) -> bool:
        return status >= self.status_from or status in self.statuses


@dataclass(frozen=True)
class Thresholds:
    """Limits the figures must stay strictly below for the check to pass; None switches a limit off."""

    p50: float | None = None
    p95: float | None = 2.0
    p99: float | None = 5.0
    error_rate: float | None = 0.01  # a fraction: 0.01 is 1 %

    def __post_init__(self) -> None:
        for name in ("p50", "p95", "p99"):
            value = getattr(self, name)
            if value is not None:
                _require_seconds(f"thresholds.{name}", value)
        rate = self.error_rate
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1):
            raise LoadCheckConfigError(f"thresholds.error_rate: expected a fraction in (0, 1], got {rate!r}")


@dataclass(frozen=True)
class LoadCheckConfig:
    """One load check: N closed-loop workers against one URL, for a duration and/or a request count."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    concurrency: int = 10
    duration: float | None = 10.0
    requests: int | None = None
    timeout: float = 10.0
    warmup: float = 0.0
    verify_tls: bool = True
    error_policy: ErrorPolicy = field(default_factory=ErrorPolicy)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        self._check_target()
        _require_int("concurrency", self.concurrency, 1)
        if self.duration is None and self.requests is None:
            raise LoadCheckConfigError("duration/requests: expected a duration, a request count, or both")
        if self.duration is not None:
            _require_seconds("duration", self.duration)
        if self.requests is not None:
            _require_int("requests", self.requests, 1)
        _require_seconds("timeout", self.timeout)
        _require_seconds("warmup", self.warmup, allow_zero=True)
        # Freeze a copy so a caller mutating its dict cannot change a running check.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    def _check_target(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise LoadCheckConfigError(f"url: expected an http:// or https:// URL with a host, got {self.url!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
        except ValueError as error:
            raise LoadCheckConfigError(f"url: bad port in {self.url!r}: {error}") from None
        if not isinstance(self.method, str) or not _TOKEN.match(self.method):
            raise LoadCheckConfigError(f"method: expected an HTTP method token such as GET, got {self.method!r}")
        for name, value in self.headers.items():
            if not isinstance(name, str) or not _TOKEN.match(name):
                raise LoadCheckConfigError(f"headers: expected a header name token, got {name!r}")
            if not isinstance(value, str) or "\r" in value or "\n" in value:
                raise LoadCheckConfigError(f"headers: value of {name!r} must be a single-line string, got {value!r}")
        if self.body is not None and not isinstance(self.body, bytes):
            raise LoadCheckConfigError(f"body: expected bytes or None, got {type(self.body).__name__}")
