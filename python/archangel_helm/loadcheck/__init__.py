"""HTTP load checker: N closed-loop workers against any URL; throughput, exact percentiles, errors, verdict.

No Kubernetes dependency: usable against any http(s) URL, from Python or as
`python -m archangel_helm.loadcheck URL --concurrency 50 --duration 10`. See docs/LOADCHECK.md.
"""

from archangel_helm.loadcheck.command import add_arguments, build_parser, config_from_args, main, run_command
from archangel_helm.loadcheck.config import ErrorPolicy, LoadCheckConfig, LoadCheckConfigError, Thresholds
from archangel_helm.loadcheck.result import ErrorCounts, LoadResult, Sample, summarise
from archangel_helm.loadcheck.runner import run_load_check, run_load_check_async
from archangel_helm.loadcheck.stats import Histogram, LatencyStats, percentile
from archangel_helm.loadcheck.summary import format_summary, to_json
from archangel_helm.loadcheck.verdict import ThresholdCheck, Verdict, evaluate

__all__ = [
    "ErrorCounts",
    "ErrorPolicy",
    "Histogram",
    "LatencyStats",
    "LoadCheckConfig",
    "LoadCheckConfigError",
    "LoadResult",
    "Sample",
    "ThresholdCheck",
    "Thresholds",
    "Verdict",
    "add_arguments",
    "build_parser",
    "config_from_args",
    "evaluate",
    "format_summary",
    "main",
    "percentile",
    "run_command",
    "run_load_check",
    "run_load_check_async",
    "summarise",
    "to_json",
]
