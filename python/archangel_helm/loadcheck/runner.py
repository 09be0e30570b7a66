"""The closed-loop load: N workers on one aiohttp session, each sending its next request when the last ends."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from archangel_helm.loadcheck.config import LoadCheckConfig
from archangel_helm.loadcheck.result import LoadResult, OutcomeKind, Sample, summarise

USER_AGENT = "archangel-helm-loadcheck"
Slot = Literal["warmup", "measured"]


class _Schedule:
    """Hands out request slots: warm-up until its end, then measured ones until the deadline or the count.

    The deadline and the count bound when a request may *start*; requests in flight finish and are recorded,
    so no response is thrown away half-measured.
    """

    def __init__(self, config: LoadCheckConfig, origin: float) -> None:
        self.warmup_end = origin + config.warmup
        self.deadline = self.warmup_end + config.duration if config.duration is not None else math.inf
        self.remaining = config.requests

    def next(self, now: float) -> Slot | None:
        if now < self.warmup_end:
            return "warmup"
        if now >= self.deadline or self.remaining == 0:
            return None
        if self.remaining is not None:
            self.remaining -= 1
        return "measured"


@dataclass
class _Recording:
    origin: float
    samples: list[Sample] = field(default_factory=list)
    warmup_requests: int = 0
    last_end: float = 0.0
    examples: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Request:
    method: str
    url: URL
    body: bytes | None
    timeout: float


async def _send(session: aiohttp.ClientSession, request: _Request) -> tuple[OutcomeKind, int | None, str]:
    """Send one request and read the whole body; return the outcome kind, the status and a failure message."""
    try:
        # No redirects: the check measures the URL it was given; a 3xx shows up in the status counts.
        async with session.request(request.method, request.url, data=request.body, allow_redirects=False) as response:
            await response.read()
            return "response", response.status, ""
    except TimeoutError as error:  # before ClientError: aiohttp's ServerTimeoutError is both
        return "timeout", None, str(error) or f"no complete response within {request.timeout} s"
    except aiohttp.ClientError as error:
        return "connection", None, str(error) or type(error).__name__


async def _worker(
    session: aiohttp.ClientSession, request: _Request, schedule: _Schedule, recording: _Recording
) -> None:
    clock = time.perf_counter
    while (slot := schedule.next(clock())) is not None:
        start = clock()
        kind, status, message = await _send(session, request)
        end = clock()
        if slot == "warmup":
            recording.warmup_requests += 1
            continue
        recording.samples.append(Sample(start - recording.origin, end - start, kind, status))
        recording.last_end = max(recording.last_end, end)
        if message:
            recording.examples.setdefault(kind, message)


def _session(config: LoadCheckConfig) -> aiohttp.ClientSession:
    # Pool sized to the workers so every worker holds one keep-alive connection, as N real clients would.
    connector = aiohttp.TCPConnector(limit=config.concurrency, ssl=config.verify_tls)
    headers = CIMultiDict({"User-Agent": USER_AGENT})
    headers.update(config.headers)  # case-insensitive: a caller's user-agent replaces ours
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=config.timeout),
        headers=headers,
        # No cookie jar: a cookie set by one response must not change what later requests measure.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def run_load_check_async(config: LoadCheckConfig) -> LoadResult:
    """Run the load check described by `config` (already validated) in the running event loop."""
    request = _Request(config.method, URL(config.url), config.body, config.timeout)
    async with _session(config) as session:
        origin = time.perf_counter()
        schedule = _Schedule(config, origin)
        recording = _Recording(origin)
        await asyncio.gather(*(_worker(session, request, schedule, recording) for _ in range(config.concurrency)))
    window = max(recording.last_end - schedule.warmup_end, 0.0) if recording.samples else 0.0
    return summarise(
        config,
        recording.samples,
        window=window,
        warmup_requests=recording.warmup_requests,
        error_examples=recording.examples,
    )


def run_load_check(config: LoadCheckConfig) -> LoadResult:
    """Run the load check in a fresh event loop; for callers that are not async themselves."""
    return asyncio.run(run_load_check_async(config))
