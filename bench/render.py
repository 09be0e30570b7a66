"""Benchmark: render + validate of both charts for an environment, against bare `helm template`.

    python bench/render.py [--environment production] [--runs 15]

Reports medians over several runs. Two views:
- in-process: `render(cache=False)` + parse + schema validation (oldest and newest Kubernetes + CRDs), the way
  the test suite and `plan` use it, against `helm template` alone with the same arguments;
- command line: `archangel-helm validate` as a fresh process against `helm template` as a fresh process.
Target (issue 2): validation adds at most 50 % to the bare render.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from archangel_helm import Chart, find_helm
from archangel_helm.plan.environments import load_environment
from archangel_helm.validate import CrdSchemas, SchemaValidator, default_crd_directories, supported_kube_versions

PROJECT = Path(__file__).resolve().parent.parent


def median_seconds(action: Callable[[], object], runs: int) -> float:
    action()  # warm-up: process-level schema caches, page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", default="production")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    helm = find_helm()
    environment = load_environment(PROJECT, args.environment).with_example_values()
    crd_dirs = default_crd_directories() or [PROJECT.parent / "shared" / "crd-schemas"]
    crds = CrdSchemas.from_directories(*[d for d in crd_dirs if d.is_dir()])
    print(f"# render benchmark: {args.environment}, {args.runs} runs, median")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"helm {helm.build}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    print("| release | objects | helm template | render + parse + validate | ratio | validation adds |")
    print("|---|---|---|---|---|---|")
    total_bare = total_full = 0.0
    for release in environment.releases:
        chart = Chart.load(release.chart)
        inputs = environment.inputs(release)
        arguments = [
            "template",
            release.name,
            str(chart.path),
            "--namespace",
            release.namespace,
            "--kube-version",
            environment.kube_version,
        ]
        arguments += inputs.values_args()
        for api in sorted(environment.api_versions):
            arguments += ["--api-versions", api]
        validator = SchemaValidator(supported_kube_versions(chart), crds)

        def bare(arguments: list[str] = arguments) -> object:
            return subprocess.run([helm.executable, *arguments], capture_output=True, check=True)

        def full(inputs=inputs, validator=validator) -> object:  # type: ignore[no-untyped-def]
            manifest = inputs.render(helm=helm, cache=False)
            problems = validator.validate(manifest)
            assert not problems, problems
            return manifest

        objects = len(full())  # type: ignore[arg-type]
        bare_s, full_s = median_seconds(bare, args.runs), median_seconds(full, args.runs)
        total_bare += bare_s
        total_full += full_s
        print(
            f"| {release.name} | {objects} | {bare_s * 1000:.1f} ms | {full_s * 1000:.1f} ms | "
            f"{full_s / bare_s:.2f} | {(full_s / bare_s - 1) * 100:+.0f} % |"
        )
    print(
        f"| **both** | | {total_bare * 1000:.1f} ms | {total_full * 1000:.1f} ms | {total_full / total_bare:.2f} | "
        f"{(total_full / total_bare - 1) * 100:+.0f} % |\n"
    )

    print("| command line (fresh process each run) | median |")
    print("|---|---|")
    release = environment.release_for_chart("archangel")
    common = [str(release.chart), "--namespace", release.namespace, "--kube-version", environment.kube_version]
    for file in release.values_files:
        common += ["-f", str(file)]
    for api in environment.api_versions:
        common += ["-a", api]
    cli = [sys.executable, "-m", "archangel_helm.cli", "validate", "--release", release.name, *common]
    env = {**os.environ, "ARCHANGEL_HELM_CACHE": "/nonexistent-cache-disabled"}
    helm_cli = [helm.executable, "template", release.name, *common]
    helm_s = median_seconds(lambda: subprocess.run(helm_cli, capture_output=True, check=True), args.runs)
    cli_s = median_seconds(
        lambda: subprocess.run(cli, capture_output=True, env=env, check=False), max(3, args.runs // 3)
    )
    print(f"| `helm template` archangel | {helm_s * 1000:.0f} ms |")
    print(f"| `archangel-helm validate` archangel (Python start + render + validate) | {cli_s * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
