"""Benchmark: `archangel-helm check` on every shipped values file of both charts, against the bare renders.

    python bench/check.py [--runs 5]

For each shipped values file (environments.yaml's values files and every chart's ci/*-values.yaml), median over
several runs of:
- `helm template` of the same inputs, as a fresh process (the bare render);
- `archangel-helm check` as a fresh process with the render cache off: Python start-up, the render, the
  determinism re-render, schema validation for the oldest and newest Kubernetes and the CRDs, and every rule;
- the same work in one warm process (what a test suite or a CI loop over many files pays per file): render,
  re-render, validation and every rule, without the interpreter start-up and schema loading.
Target (issue 8): report the ratio; the check is a pre-merge gate, so seconds per file are what matter.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from archangel_helm import Chart, find_helm
from archangel_helm.plan.shipped import ShippedValues, shipped_values
from archangel_helm.validate import CrdSchemas, SchemaValidator, default_crd_directories, supported_kube_versions
from archangel_helm.validate.rules import Release, run_checks

PROJECT = Path(__file__).resolve().parent.parent


def median_seconds(command: list[str], runs: int, env: dict[str, str], *, expect_ok: bool) -> float:
    subprocess.run(command, capture_output=True, env=env, check=False)  # warm-up: page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, check=False)
        samples.append(time.perf_counter() - start)
        if expect_ok and done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout.decode()}{done.stderr.decode()}")
    return statistics.median(samples)


def in_process_seconds(shipped: ShippedValues, crds: CrdSchemas, runs: int) -> float:
    chart = Chart.load(shipped.chart)
    validator = SchemaValidator(supported_kube_versions(chart), crds)

    def once() -> str:
        return shipped.render(cache=False).text

    def check() -> None:
        manifest = shipped.render(cache=False)
        result = run_checks(Release(chart, manifest, once), [], extra=lambda r: validator.validate(r.manifest))
        if not result.ok:
            raise SystemExit(f"{shipped.id}: check failed in process")

    check()  # warm-up: schemas compiled, page cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        check()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def inputs(shipped: ShippedValues) -> list[str]:
    arguments = ["--namespace", shipped.namespace, "--values", str(shipped.values_file)]
    for site in shipped.site_values:
        arguments += ["--values", str(site)]
    if shipped.kube_version:
        arguments += ["--kube-version", shipped.kube_version]
    for api in shipped.api_versions:
        arguments += ["--api-versions", api]
    return arguments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    helm = find_helm()
    crd_dirs = [d for d in [*default_crd_directories(), PROJECT.parent / "shared" / "crd-schemas"] if d.is_dir()]
    env = {
        **os.environ,
        "ARCHANGEL_HELM_CACHE": "/nonexistent-cache-disabled",
        "ARCHANGEL_CRD_SCHEMAS": os.pathsep.join(str(d) for d in crd_dirs),
    }
    print(f"# check benchmark: every shipped values file, {args.runs} runs each, median")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"helm {helm.build}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    crds = CrdSchemas.from_directories(*crd_dirs)
    print(
        "| values file | helm template | `archangel-helm check` (new process) | ratio | check, warm process | ratio |"
    )
    print("|---|---|---|---|---|---|")
    total_bare = total_check = total_warm = 0.0
    for shipped in shipped_values(PROJECT):
        common = inputs(shipped)
        bare = [helm.executable, "template", shipped.release, str(shipped.chart), *common]
        check = [sys.executable, "-m", "archangel_helm.cli", "check", str(shipped.chart), "--release", shipped.release]
        check += [a.replace("--api-versions", "-a") for a in common]
        bare_s = median_seconds(bare, args.runs, env, expect_ok=True)
        check_s = median_seconds(check, args.runs, env, expect_ok=True)
        warm_s = in_process_seconds(shipped, crds, args.runs)
        total_bare += bare_s
        total_check += check_s
        total_warm += warm_s
        print(
            f"| {shipped.id} | {bare_s * 1000:.0f} ms | {check_s * 1000:.0f} ms | {check_s / bare_s:.1f} | "
            f"{warm_s * 1000:.0f} ms | {warm_s / bare_s:.1f} |"
        )
    print(
        f"| **all files** | {total_bare * 1000:.0f} ms | {total_check * 1000:.0f} ms | "
        f"{total_check / total_bare:.1f} | {total_warm * 1000:.0f} ms | {total_warm / total_bare:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
