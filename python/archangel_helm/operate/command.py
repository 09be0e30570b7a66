"""`archangel-helm deploy|verify|status ENV`.

Exit codes: 0 done; 1 a step failed (no reachable cluster is a failed preflight, and is reported as one);
2 bad input (an unknown environment, a bad option), before anything is contacted."""

from __future__ import annotations

import argparse
import asyncio
import math
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.helm import find_helm
from archangel_helm.operate import deploy_report, verify
from archangel_helm.operate.checks import Status, StepCheck, failed, table
from archangel_helm.operate.connect import connect, describe
from archangel_helm.operate.deploy import Deployer, DeployOptions, quiet_pyhelm3
from archangel_helm.operate.deploy_report import DeployReport
from archangel_helm.plan.environments import Environment, find_project_root, load_environment


def _environment(args: argparse.Namespace) -> tuple[Path, Environment]:
    project = args.project or find_project_root()
    environment = load_environment(project, args.environment)
    if getattr(args, "example_values", False):
        environment = environment.with_example_values()
    extra: dict[str, tuple[Path, ...]] = {}
    for release, file in getattr(args, "extra_values", None) or []:
        extra[release] = (*extra.get(release, ()), file)
    return project, environment.with_extra_values(extra) if extra else environment


def _write_report(report: DeployReport, project: Path, args: argparse.Namespace) -> None:
    directory = args.report_dir or project / "build" / report.environment / "report"
    for path in deploy_report.write(report, directory):
        print(f"report: {path}")


def _options(args: argparse.Namespace, dry_run: bool = False) -> DeployOptions:
    return DeployOptions(
        dry_run=dry_run,
        timeout=getattr(args, "timeout", "15m"),
        kubeconfig=args.kubeconfig,
        context=args.context,
        load_url=args.load_url,
        load_duration=args.load_duration,
        load_concurrency=args.load_concurrency,
        skip_load=args.skip_load_check,
        allow_missing_apis=frozenset(getattr(args, "allow_missing_api", None) or ()),
    )


def _connect_or_report(deployer: Deployer, args: argparse.Namespace) -> Any:
    """The cluster connection, or None after recording the failure as the first preflight check."""
    try:
        api_client = connect(args.kubeconfig, args.context)
    except ConfigurationError as error:
        deployer.report.checks.append(StepCheck("preflight", "cluster", Status.FAIL, str(error)))
        print("Preflight\n" + table(deployer.report.checks))
        deployer.stop(
            "preflight",
            [
                str(error),
                "check KUBECONFIG / --kubeconfig and --context, and that the API server is reachable from here",
            ],
        )
        return None
    deployer.connection = describe(api_client, args.kubeconfig, args.context)
    return api_client


def cmd_deploy(args: argparse.Namespace) -> int:
    project, environment = _environment(args)
    deployer = Deployer(environment, find_helm(), _options(args, args.dry_run))
    api_client = _connect_or_report(deployer, args)  # fails fast, before anything else
    report = deployer.report if api_client is None else asyncio.run(deployer.run(api_client))
    _write_report(report, project, args)
    return 0 if report.succeeded else 1


def cmd_verify(args: argparse.Namespace) -> int:
    project, environment = _environment(args)
    deployer = Deployer(environment, find_helm(), _options(args))
    deployer.report.mode = "verify"
    api_client = _connect_or_report(deployer, args)
    if api_client is None:
        _write_report(deployer.report, project, args)
        return 1

    async def run() -> DeployReport:
        from archangel_helm.operate.cluster import discover

        cluster = await asyncio.to_thread(discover, api_client, {r.namespace for r in environment.releases})
        deployer.report.versions["kubernetes"] = cluster.git_version or ".".join(map(str, cluster.version))
        return await deployer.verify_and_measure(verify.api_getter(api_client), cluster)

    report = asyncio.run(run())
    _write_report(report, project, args)
    return 0 if report.succeeded else 1


def cmd_status(args: argparse.Namespace) -> int:
    _, environment = _environment(args)
    api_client = connect(args.kubeconfig, args.context)  # a ConfigurationError: main's "error: ...", exit 2
    get = verify.api_getter(api_client)
    now = datetime.now(UTC)
    rows: list[list[str]] = []
    failures = 0
    for release in environment.releases:
        namespace, name = release.namespace, release.name
        rows.append([name, "helm", _helm_status(name, namespace, args)])
        results = verify.guarded(f"rollouts ({name})", partial(verify.check_rollouts, get, namespace, name))
        results += verify.guarded(f"autoscalers ({name})", partial(verify.check_autoscalers, get, namespace, name))
        results += verify.guarded(f"backups ({name})", partial(verify.check_backups, get, namespace, name, now))
        rows += [
            [name, result.name.removeprefix("rollout "), result.detail]
            for result in results
            if "no Deployment" not in result.detail
        ]
        failures += len(failed(results))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    for row in rows:
        print(f"{row[0].ljust(width[0])}  {row[1].ljust(width[1])}  {row[2]}")
    # The exit codes of every command: 0 all well, 1 something found wrong, 2 bad input (main).
    return 1 if failures else 0


def _helm_status(name: str, namespace: str, args: argparse.Namespace) -> str:
    from pyhelm3 import Client
    from pyhelm3.errors import Error as HelmError
    from pyhelm3.errors import ReleaseNotFoundError
    from pyhelm3.models import ReleaseRevision

    quiet_pyhelm3()
    client = Client(
        executable=find_helm().executable,
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        kubecontext=args.context,
    )

    async def current() -> ReleaseRevision:
        return await client.get_current_revision(name, namespace=namespace)

    try:
        revision = asyncio.run(current())
    except ReleaseNotFoundError:
        return "not installed"
    except HelmError as error:
        return "helm status failed: " + (error.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
    return f"revision {revision.revision} {revision.status.value} ({revision.updated})"


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not math.isfinite(value) or value <= 0:  # float("nan") <= 0 is False: refuse nan and inf here
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {kind.__name__}")
        return value

    return parse


def _release_values(text: str) -> tuple[str, Path]:
    release, separator, file = text.partition("=")
    if not separator or not release or not file:
        raise argparse.ArgumentTypeError(f"{text!r}: expected RELEASE=FILE (e.g. archangel=site-values.yaml)")
    return release, Path(file)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("environment")
    parser.add_argument(
        "--values",
        dest="extra_values",
        action="append",
        type=_release_values,
        metavar="RELEASE=FILE",
        help="one more values file for a release, after environments.yaml's (repeatable; later files win): "
        "site identities kept outside the repository, a test cluster's settings",
    )
    parser.add_argument(
        "--example-values",
        action="store_true",
        help="add each release's exampleValuesFiles (documentation placeholders for the site values): for a trial "
        "on a test cluster, never for a real one",
    )
    parser.add_argument("--project", type=Path, help="directory with environments.yaml (default: search upwards)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")


def _verification(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load-url", help="URL the load check drives (default: environments.yaml verify.loadCheck.url)"
    )
    parser.add_argument("--load-duration", type=_positive(float), help="seconds (default: verify.loadCheck)")
    parser.add_argument(
        "--load-concurrency", type=_positive(int), help="requests in flight (default: verify.loadCheck)"
    )
    parser.add_argument("--skip-load-check", action="store_true")
    parser.add_argument("--report-dir", type=Path, help="where report.md/.json/.html go (default build/ENV/report)")


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("deploy", help="preflight, install/upgrade both charts, verify, load-check, report")
    _common(p)
    _verification(p)
    p.add_argument("--dry-run", action="store_true", help="preflight and render against the cluster; change nothing")
    p.add_argument("--timeout", default="15m", help="how long Helm waits for each release (Go duration)")
    p.add_argument(
        "--allow-missing-api",
        action="append",
        metavar="GROUP/VERSION",
        help="install although the cluster does not serve this API (e.g. metrics.k8s.io/v1beta1 before "
        "metrics-server lands): preflight warns instead of failing, and the report says what will not work",
    )
    p.set_defaults(func=cmd_deploy)
    p = subparsers.add_parser("verify", help="post-deploy verification, load check and report (no changes)")
    _common(p)
    _verification(p)
    p.set_defaults(func=cmd_verify)
    p = subparsers.add_parser("status", help="a short table: releases, workloads, autoscalers, backups")
    _common(p)
    p.set_defaults(func=cmd_status)
