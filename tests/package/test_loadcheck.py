"""The load checker's pure parts: nearest-rank percentiles, histogram, verdict at the threshold edges,
result figures from synthetic samples, input validation and the CLI's usage errors. Runs against real
local servers are in tests/e2e/test_loadcheck_server.py."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from typing import Any, cast

import pytest

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.loadcheck import (
    ErrorPolicy,
    Histogram,
    LatencyStats,
    LoadCheckConfig,
    LoadCheckConfigError,
    Sample,
    Thresholds,
    evaluate,
    format_summary,
    main,
    percentile,
    summarise,
)

URL = "http://127.0.0.1:8080/health"


def stats(**figures: float) -> LatencyStats:
    base = {"count": 100, "min": 0.001, "mean": 0.1, "p50": 0.1, "p90": 0.2, "p95": 0.3, "p99": 0.4, "max": 0.5}
    return LatencyStats(**{**base, **figures})  # type: ignore[arg-type]


def response(latency: float, status: int = 200) -> Sample:
    return Sample(0.0, latency, "response", status)


# --- percentiles --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "expected"), [(0, 1), (1, 1), (50, 50), (90, 90), (95, 95), (99, 99), (99.5, 100), (100, 100)]
)
def test_nearest_rank_on_one_to_hundred(percent: float, expected: int) -> None:
    assert percentile(list(range(1, 101)), percent) == expected


@pytest.mark.parametrize(("percent", "expected"), [(50, 5), (90, 9), (95, 10), (99, 10), (10, 1), (11, 2)])
def test_nearest_rank_on_one_to_ten(percent: float, expected: int) -> None:
    # rank = ceil(p/100 * n): P95 of 10 samples is the 10th, P50 the 5th (no interpolation).
    assert percentile(list(range(1, 11)), percent) == expected


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert {percentile([0.25], p) for p in (0, 50, 99, 100)} == {0.25}


def test_percentile_refuses_no_samples_and_bad_percent() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="percent"):
        percentile([1.0], 101)


def test_latency_stats_are_exact_on_a_known_list() -> None:
    samples = [i / 1000 for i in range(200, 0, -1)]  # 1..200 ms, reversed: the stats sort them
    latency = LatencyStats.of(samples)
    assert latency == LatencyStats(
        count=200, min=0.001, mean=cast(float, pytest.approx(0.1005)), p50=0.1, p90=0.18, p95=0.19, p99=0.198, max=0.2
    )
    assert LatencyStats.of([]) is None


# --- histogram ----------------------------------------------------------------------------------------------


def test_histogram_edges_follow_one_two_five_and_close_over_the_maximum() -> None:
    histogram = Histogram.of([0.00005, 0.0001, 0.00015, 0.3])
    assert histogram.edges == (0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    # Buckets are (lo, hi]: 0.1 ms falls in the first, 0.15 ms in the second, 300 ms in (0.2, 0.5].
    assert histogram.counts == (2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert len(histogram.edges) == len(histogram.counts) + 1


def test_histogram_counts_every_sample() -> None:
    samples = [i * 0.0137 for i in range(500)]
    histogram = Histogram.of(samples)
    assert sum(histogram.counts) == 500
    assert histogram.edges[-1] >= max(samples) > histogram.edges[-2]


def test_histogram_of_nothing_has_one_empty_bucket() -> None:
    assert Histogram.of([]) == Histogram((0.0, 0.0001), (0,))


# --- verdict ------------------------------------------------------------------------------------------------


def test_default_thresholds_are_the_issues() -> None:
    assert Thresholds() == Thresholds(p50=None, p95=2.0, p99=5.0, error_rate=0.01)


def test_figures_below_every_limit_pass() -> None:
    verdict = evaluate(Thresholds(), stats(p95=1.999, p99=4.999), 0.0099)
    assert verdict.passed
    assert [c.name for c in verdict.checks] == ["P95", "P99", "error rate"]


@pytest.mark.parametrize(
    ("latency", "error_rate", "failing"),
    [
        (stats(p95=2.0, p99=2.0), 0.0, ["P95"]),  # equal to the limit fails: the bound is strict
        (stats(p95=1.0, p99=5.0), 0.0, ["P99"]),
        (stats(p95=1.0, p99=1.0), 0.01, ["error rate"]),
        (stats(p95=2.5, p99=6.0), 0.5, ["P95", "P99", "error rate"]),
    ],
)
def test_limits_are_strict_and_failures_named(latency: LatencyStats, error_rate: float, failing: list[str]) -> None:
    verdict = evaluate(Thresholds(), latency, error_rate)
    assert not verdict.passed
    assert [c.name for c in verdict.failures] == failing


def test_failure_text_names_figure_and_limit() -> None:
    (check,) = evaluate(Thresholds(p99=None, error_rate=None), stats(p95=2.3456), 0.0).failures
    assert check.describe() == "P95 2.346 s >= 2.000 s"
    (check,) = evaluate(Thresholds(p95=None, p99=None), None, 0.0125).failures
    assert check.describe() == "error rate 1.25 % >= 1.00 %"


def test_nothing_measured_fails_rather_than_passes() -> None:
    verdict = evaluate(Thresholds(), None, None)
    assert [c.name for c in verdict.failures] == ["P95", "P99", "error rate"]
    assert "nothing to measure" in verdict.failures[0].describe()


def test_switched_off_limits_are_not_checked_and_p50_can_be_switched_on() -> None:
    verdict = evaluate(Thresholds(p50=0.05, p95=None, p99=None, error_rate=None), stats(p50=0.05), 0.9)
    assert [c.name for c in verdict.failures] == ["P50"]
    assert evaluate(Thresholds(p95=None, p99=None, error_rate=None), None, None).passed


# --- result from synthetic samples --------------------------------------------------------------------------


def synthetic_samples() -> list[Sample]:
    # 96 fast 200s (1..96 ms), one 404, two 503s, one timeout at 1 s, one refused connection.
    samples = [response(i / 1000) for i in range(1, 97)]
    samples += [response(0.097, 404), response(0.098, 503), response(0.099, 503)]
    samples += [Sample(0.0, 1.0, "timeout", None), Sample(0.0, 0.00001, "connection", None)]
    return samples


def test_result_counts_errors_by_kind() -> None:
    result = summarise(LoadCheckConfig(URL), synthetic_samples(), window=2.0)
    assert result.requests == 101
    assert result.throughput == 50.5
    assert result.statuses == {200: 96, 404: 1, 503: 2}
    assert (result.errors.statuses, result.errors.timeout, result.errors.connection) == ({503: 2}, 1, 1)
    assert result.errors.total == 4
    assert result.error_rate == 4 / 101


def test_latency_keeps_timeouts_and_drops_connection_failures() -> None:
    result = summarise(LoadCheckConfig(URL), synthetic_samples(), window=2.0)
    assert result.latency is not None
    # 100 samples: 1..99 ms and the 1 s timeout. Without the refused connection the minimum stays 1 ms.
    assert (result.latency.count, result.latency.min, result.latency.max) == (100, 0.001, 1.0)
    assert (result.latency.p50, result.latency.p99) == (0.05, 0.099)
    assert sum(result.histogram.counts) == 100


def test_error_policy_is_configurable() -> None:
    policy = ErrorPolicy(status_from=600, statuses=frozenset({404}), timeouts=False, connection_errors=False)
    result = summarise(LoadCheckConfig(URL, error_policy=policy), synthetic_samples(), window=1.0)
    assert result.errors.statuses == {404: 1}
    assert result.errors.total == 1
    # Still reported as outcomes, just not counted against the error rate.
    assert (result.timeouts, result.connection_failures) == (1, 1)


def test_no_samples_gives_an_empty_failing_result() -> None:
    result = summarise(LoadCheckConfig(URL), [], window=0.0)
    assert (result.requests, result.throughput, result.error_rate, result.latency) == (0, 0.0, None, None)
    assert not result.passed


def test_json_form_round_trips_and_leaves_out_header_values() -> None:
    config = LoadCheckConfig(URL, headers={"Authorization": "Bearer s3cret"}, body=b"{}", method="POST")
    data = summarise(config, synthetic_samples(), window=2.0).as_dict()
    text = json.dumps(data)
    assert "s3cret" not in text
    loaded: dict[str, Any] = json.loads(text)
    assert loaded["target"]["header_names"] == ["Authorization"]
    assert loaded["errors"] == {
        "total": 4,
        "statuses": {"503": 2},
        "timeout": 1,
        "connection": 1,
        "examples": {},
    }
    assert loaded["percentile_method"] == "nearest-rank"
    assert loaded["latency_seconds"]["p99"] == 0.099
    assert len(loaded["histogram"]["edges_seconds"]) == len(loaded["histogram"]["counts"]) + 1
    assert loaded["verdict"]["passed"] is False
    assert [c["name"] for c in loaded["verdict"]["checks"] if not c["passed"]] == ["error rate"]


def test_summary_names_the_failing_figures() -> None:
    text = format_summary(summarise(LoadCheckConfig(URL), synthetic_samples(), window=2.0))
    assert "requests   101 in 2.00 s = 50.5 req/s" in text
    assert "errors     4 (3.96 %): HTTP 503 x2, timeout x1, connection x1" in text
    assert "verdict    FAIL: error rate 3.96 % >= 1.00 %" in text
    assert "held: P95 95.0 ms < 2.000 s; P99 99.0 ms < 5.000 s" in text


# --- input validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "127.0.0.1:8080/health"}, "url"),
        ({"url": "http:///path"}, "url"),
        ({"url": "http://example.com:99999/"}, "url"),
        ({"method": "GE T"}, "method"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"headers": {"X-Ok": "a\r\nInjected: yes"}}, "headers"),
        ({"body": "text"}, "body"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"duration": 0}, "duration"),
        ({"duration": -1.0}, "duration"),
        ({"duration": math.nan}, "duration"),
        ({"duration": None, "requests": None}, "duration/requests"),
        ({"requests": 0}, "requests"),
        ({"timeout": 0}, "timeout"),
        ({"warmup": -0.1}, "warmup"),
    ],
)
def test_bad_config_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(LoadCheckConfigError, match=rf"^{field}: "):
        LoadCheckConfig(**{"url": URL, **changes})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Thresholds(p95=0), "thresholds.p95"),
        (lambda: Thresholds(p99=-1), "thresholds.p99"),
        (lambda: Thresholds(error_rate=0), "thresholds.error_rate"),
        (lambda: Thresholds(error_rate=1.5), "thresholds.error_rate"),
        (lambda: ErrorPolicy(status_from=0), "error_policy.status_from"),
        (lambda: ErrorPolicy(statuses=frozenset({700})), "error_policy.statuses"),
    ],
)
def test_bad_thresholds_and_policy_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(LoadCheckConfigError, match=rf"^{field}: "):
        build()


def test_config_error_is_a_configuration_error_and_headers_are_frozen() -> None:
    assert issubclass(LoadCheckConfigError, ConfigurationError)
    headers = {"X-Run": "1"}
    config = LoadCheckConfig(URL, headers=headers)
    headers["X-Run"] = "2"
    assert config.headers["X-Run"] == "1"


# --- CLI usage errors (exit 2) before any request -----------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket nobody accepts on: any connection the checker made would be pending on it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--concurrency", "0"], "concurrency: expected an integer >= 1, got 0"),
        (["--duration", "-5"], "duration: expected a finite number of seconds > 0, got -5.0"),
        (["--timeout", "0"], "timeout: "),
        (["--header", "no-colon"], "--header 'no-colon': expected 'Name: value'"),
        (["--max-p95", "0"], "thresholds.p95: "),
        (["--max-error-percent", "0"], "--max-error-percent: expected a percentage in (0, 100]"),
        (["--data-file", "/nonexistent/body.json"], "--data-file /nonexistent/body.json: "),
    ],
)
def test_cli_refuses_bad_input_with_exit_2_before_any_request(
    listener: socket.socket, arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    assert main([url, *arguments]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_cli_refuses_a_non_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ftp://example.com/file"]) == 2
    assert "url: expected an http:// or https:// URL" in capsys.readouterr().err


def test_cli_argument_type_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([URL, "--concurrency", "many"])
    assert exit_info.value.code == 2
    assert "--concurrency" in capsys.readouterr().err


# --- the benchmark's wrk parser -----------------------------------------------------------------------------

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:46709/
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.15ms    1.15ms  13.36ms   93.99%
    Req/Sec     5.13k     1.12k    6.82k    70.00%
  Latency Distribution
     50%  870.00us
     75%    1.02ms
     90%    1.60ms
     99%    1.05s
  10205 requests in 1.00s, 1.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  10161.75
Transfer/sec:      1.49MB
"""


def test_bench_parses_wrk_output() -> None:
    from bench.load import parse_wrk

    rps, p50, p99, errors = parse_wrk(WRK_OUTPUT)
    assert (rps, errors) == (10161.75, 12)
    assert p50 == pytest.approx(0.00087)
    assert p99 == pytest.approx(1.05)
    with pytest.raises(ValueError, match="Requests/sec"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")
