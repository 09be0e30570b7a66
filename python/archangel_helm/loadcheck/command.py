"""`python -m archangel_helm.loadcheck URL ...`: run a load check, print the summary, exit by the verdict.

add_arguments() and run_command() let the archangel-helm CLI offer the same command as a subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from archangel_helm.loadcheck.config import ErrorPolicy, LoadCheckConfig, LoadCheckConfigError, Thresholds
from archangel_helm.loadcheck.runner import run_load_check
from archangel_helm.loadcheck.summary import format_summary, to_json

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="http:// or https:// URL to load")
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument(
        "-H", "--header", dest="headers", action="append", default=[], metavar="NAME: VALUE", help="(repeatable)"
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--data", help="request body (UTF-8 text)")
    body.add_argument("--data-file", type=Path, help="request body read from a file")
    parser.add_argument("-c", "--concurrency", type=int, default=10, help="concurrent workers (default 10)")
    parser.add_argument("-d", "--duration", type=float, help="seconds of measured load (default 10 without -n)")
    parser.add_argument("-n", "--requests", type=int, help="measured requests in all (with -d: whichever ends first)")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds (default 10)")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds of load before measuring (default 0)")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--error-status-from", type=int, default=500, help="statuses >= this are errors (default 500)")
    parser.add_argument(
        "--error-status", type=int, action="append", default=[], help="a further status counted as an error"
    )
    parser.add_argument("--max-p50", type=float, help="P50 limit in seconds (default: none)")
    parser.add_argument("--max-p95", type=float, default=2.0, help="P95 limit in seconds (default 2)")
    parser.add_argument("--max-p99", type=float, default=5.0, help="P99 limit in seconds (default 5)")
    parser.add_argument("--max-error-percent", type=float, default=1.0, help="error-rate limit in %% (default 1)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of the summary")


def _parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    headers = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            raise LoadCheckConfigError(f"--header {pair!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def _body(args: argparse.Namespace) -> bytes | None:
    if args.data_file is not None:
        try:
            return Path(args.data_file).read_bytes()
        except OSError as error:
            raise LoadCheckConfigError(f"--data-file {args.data_file}: {error.strerror}") from None
    return args.data.encode() if args.data is not None else None


def config_from_args(args: argparse.Namespace) -> LoadCheckConfig:
    """The LoadCheckConfig the parsed arguments describe; raises LoadCheckConfigError naming a bad one."""
    duration = args.duration if args.duration is not None or args.requests is not None else 10.0
    if not 0 < args.max_error_percent <= 100:
        raise LoadCheckConfigError(
            f"--max-error-percent: expected a percentage in (0, 100], got {args.max_error_percent}"
        )
    return LoadCheckConfig(
        url=args.url,
        method=args.method,
        headers=_parse_headers(args.headers),
        body=_body(args),
        concurrency=args.concurrency,
        duration=duration,
        requests=args.requests,
        timeout=args.timeout,
        warmup=args.warmup,
        verify_tls=not args.insecure,
        error_policy=ErrorPolicy(status_from=args.error_status_from, statuses=frozenset(args.error_status)),
        thresholds=Thresholds(
            p50=args.max_p50, p95=args.max_p95, p99=args.max_p99, error_rate=args.max_error_percent / 100
        ),
    )


def run_command(args: argparse.Namespace) -> int:
    """Run the check the arguments describe: 0 when the thresholds hold, 1 when not, 2 on bad input."""
    try:
        config = config_from_args(args)
    except LoadCheckConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    result = run_load_check(config)
    print(to_json(result) if args.json else format_summary(result))
    return EXIT_PASS if result.passed else EXIT_FAIL


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`archangel-helm loadcheck`: the same options as `python -m archangel_helm.loadcheck`."""
    parser = subparsers.add_parser(
        "loadcheck", help="N concurrent requests for T seconds against a URL; P50/P95/P99, errors"
    )
    add_arguments(parser)
    parser.set_defaults(func=run_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archangel_helm.loadcheck",
        description="Closed-loop HTTP load check: throughput, latency percentiles and error rate against limits.",
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv))
