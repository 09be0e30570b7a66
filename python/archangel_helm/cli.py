"""The `archangel-helm` command."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archangel_helm.backup.errors import BackupError, TerminatedError
from archangel_helm.core.chart import Chart, format_kube_version
from archangel_helm.core.errors import ArchangelHelmError, ReleaseRenderErrors, RenderError
from archangel_helm.core.logsetup import logger
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.output import write_objects
from archangel_helm.core.release_inputs import DEFAULT_NAMESPACE, DEFAULT_RELEASE, ReleaseInputs
from archangel_helm.core.render import default_cache
from archangel_helm.crds import fetch as crds_fetch
from archangel_helm.plan.environments import find_project_root, load_environment
from archangel_helm.plan.release_plan import kube_version_labels, plan, plan_json, report
from archangel_helm.testing import golden
from archangel_helm.validate import (
    CrdSchemas,
    SchemaValidator,
    check_output,
    default_crd_directories,
    supported_kube_versions,
)
from archangel_helm.validate.references import ExternalObjects
from archangel_helm.validate.rules import Release, load_waivers, run_checks

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chart", type=Path, help="chart directory")
    parser.add_argument(
        "-f",
        "--values",
        dest="values_files",
        action="append",
        default=[],
        type=Path,
        help="values file (repeatable; later files win)",
    )
    # Helm's own flags, handed to Helm in their order: its parsing, not ours (--set x=1.10 is the string "1.10").
    for flag, metavar, what in (
        ("--set", "PATH=VALUE", "set a value as `helm --set` does (a,b for several; typed: true, 3, null)"),
        ("--set-string", "PATH=VALUE", "set a value, always a string"),
        ("--set-json", "PATH=JSON", "set a value from JSON"),
        ("--set-file", "PATH=FILE", "set a value to a file's contents"),
    ):
        parser.add_argument(flag, dest="set_flags", action=_HelmSet, default=[], metavar=metavar, help=what)
    parser.add_argument(
        "-s",
        "--show-only",
        action="append",
        default=[],
        metavar="TEMPLATE",
        help="render only this template, as templates/core/deployment.yaml (repeatable; helm's --show-only)",
    )
    parser.add_argument("--release", default="archangel")
    parser.add_argument("-n", "--namespace", default="archangel")
    parser.add_argument("--kube-version", help="Capabilities.KubeVersion for the render")
    parser.add_argument(
        "-a",
        "--api-versions",
        action="append",
        default=[],
        help="an API the cluster serves, group/version[/Kind] (repeatable)",
    )


def _add_example_values_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example-values",
        action="store_true",
        help="add each release's exampleValuesFiles (environments.yaml): documentation placeholders for the site "
        "values, so an environment renders before your site's values exist",
    )


def _add_crd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crd-dir",
        action="append",
        default=[],
        type=Path,
        help="directory of CRD manifests (kubectl get crd -o yaml) or <group>/<version>/<Kind>.json "
        "schemas (repeatable; default $ARCHANGEL_CRD_SCHEMAS, else `crds fetch` output)",
    )


class _HelmSet(argparse.Action):
    """Collects --set, --set-string, --set-json and --set-file as (flag, argument), in command-line order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        collected = list(getattr(namespace, self.dest) or [])
        collected.append((str(option_string), str(values)))
        setattr(namespace, self.dest, collected)


def _crds(directories: Sequence[Path]) -> CrdSchemas:
    return CrdSchemas.from_directories(*(directories or default_crd_directories()))


def _inputs(args: argparse.Namespace) -> ReleaseInputs:
    """The command line's release: the chart, -f files in order, --set flags, release, namespace and cluster."""
    return ReleaseInputs(
        Path(args.chart),
        tuple(map(Path, args.values_files)),
        args.release or DEFAULT_RELEASE,
        args.namespace or DEFAULT_NAMESPACE,
        args.kube_version,
        tuple(args.api_versions),
        tuple(args.set_flags),
    )


def _render(args: argparse.Namespace) -> Manifest:
    return _inputs(args).render(show_only=args.show_only)


def cmd_render(args: argparse.Namespace) -> int:
    manifest = _render(args)
    if args.output:
        written = write_objects(manifest, args.output)
        print(f"wrote {len(written)} objects to {args.output}")
    else:
        sys.stdout.write(manifest.text)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    chart = Chart.load(args.chart)
    versions = supported_kube_versions(chart)
    try:
        manifest = _render(args)
    except RenderError as error:
        print(f"{chart.name}: render failed:\n{error.helm_message}", file=sys.stderr)
        return EXIT_PROBLEMS
    problems = SchemaValidator(versions, _crds(args.crd_dir)).validate(manifest)
    if args.json:
        print(json.dumps([p.as_dict() for p in problems], indent=2))
    else:
        for problem in problems:
            print(problem)
        label = " and ".join(format_kube_version(v) for v in versions)
        print(
            f"{len(manifest)} objects, {len(problems)} problem(s) (Kubernetes {label} + CRD schemas)", file=sys.stderr
        )
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from archangel_helm.validate.argo_hooks import (
        hook_report,  # imported here: this command's own needs stay in this function
    )

    chart = Chart.load(args.chart)
    # Release, namespace, kubeVersion, API versions: explicit flags, then --env's release of this chart, then defaults.
    if args.env:
        environment = load_environment(args.project or find_project_root(), args.env)
        if args.example_values:
            environment = environment.with_example_values()
        spec = environment.release_for_chart(chart.name)
        args.release = args.release or spec.name
        args.namespace = args.namespace or spec.namespace
        args.kube_version = args.kube_version or environment.kube_version or None
        args.api_versions = args.api_versions or list(environment.api_versions)
        args.values_files = args.values_files or list(spec.values_files)  # no -f: the files the environment deploys
    elif not args.api_versions:
        print(
            "warning: no --env and no -a: objects gated on cluster APIs (.Capabilities.APIVersions, e.g. "
            "ServiceMonitor, VirtualService, HTTPRoute) are not rendered, so not checked; pass --env ENV",
            file=sys.stderr,
        )
    inputs = _inputs(args)
    versions = supported_kube_versions(chart)
    try:
        manifest = inputs.render(show_only=args.show_only)
    except RenderError as error:
        print(f"{chart.name}: render failed:\n{error.helm_message}", file=sys.stderr)
        return EXIT_PROBLEMS

    def rerender() -> str:
        return inputs.render(cache=False, show_only=args.show_only).text

    validator = SchemaValidator(versions, _crds(args.crd_dir))
    release = Release(chart, manifest, rerender, ExternalObjects(set(args.external)))
    waivers = load_waivers(args.waivers) if args.waivers else []
    result = run_checks(release, waivers, extra=lambda r: validator.validate(r.manifest))
    subject = f"{chart.name} ({', '.join(str(f) for f in args.values_files) or 'chart defaults'})"
    if args.env:
        subject += f" as in {args.env}"
    if args.format == "junit":
        report = check_output.junit(result, subject)
    else:
        formatter = {"text": check_output.text, "json": check_output.as_json}[args.format]
        report = formatter(result, subject, hook_report(manifest))
    if args.output_file:
        args.output_file.write_text(report + "\n")
    else:
        print(report)
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def cmd_plan(args: argparse.Namespace) -> int:
    project = args.project or find_project_root()
    environment = load_environment(project, args.environment)
    if args.example_values:
        environment = environment.with_example_values()
    output = (args.output or project / "build") / environment.name
    result = plan(environment, _crds(args.crd_dir), output, missing_crd_schemas=args.missing_crd_schemas)
    if args.json:
        print(json.dumps(plan_json(result), indent=2, default=str))
    else:
        print(report(result, environment, kube_version_labels(environment)))
        print(f"\nManifests written to {output}")
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def cmd_golden(args: argparse.Namespace) -> int:
    project = args.project or find_project_root()
    results = golden.check(project, update=args.update, charts=tuple(args.chart))
    stale = golden.stale_files(project)
    for result in results:
        if result.updated:
            print(f"updated {result.shipped.golden_path.relative_to(project)}")
        elif result.diff:
            sys.stdout.write(result.diff)
    if args.update:
        for path in stale:
            path.unlink()
            print(f"removed {path.relative_to(project)} (no shipped values file renders it)")
        return EXIT_OK
    changed = [r for r in results if r.diff]
    for path in stale:
        print(f"stale golden file {path.relative_to(project)}: no shipped values file renders it")
    if changed or stale:
        print(
            f"{len(changed)} golden file(s) differ from the templates; review the diff, then run "
            "`archangel-helm golden --update` (make golden)",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    print(f"{len(results)} golden files match")
    return EXIT_OK


def cmd_crds_fetch(args: argparse.Namespace) -> int:
    crds_fetch.fetch(args.dir, base_url=args.base_url)
    return EXIT_OK


def cmd_cache_clear(args: argparse.Namespace) -> int:
    print(f"removed {default_cache().clear()} cached renders")
    return EXIT_OK


@dataclass(frozen=True)
class Plugin:
    """Sub-commands defined in their own module, imported only when one of them runs: between them they pull in
    aiohttp, boto3, the Kubernetes client and yamllint, several hundred milliseconds of start-up that
    `render`, `validate` and `check` do not need."""

    module: str  # has add_commands(subparsers)
    commands: dict[str, str]  # name -> one-line help, for --help without the import


PLUGINS = (
    Plugin(
        "archangel_helm.backup.command",
        {
            "backup": "back up, verify, restore and prune (PostgreSQL, Qdrant)",
            "restore": "disaster recovery: restore a backup into the database or Qdrant",
        },
    ),
    Plugin(
        "archangel_helm.operate.promote",
        {"promote": "pin production's Argo CD Applications to a revision staging has run"},
    ),
    Plugin(
        "archangel_helm.operate.command",
        {
            "deploy": "preflight, install/upgrade both charts, verify, load-check, report",
            "verify": "post-deploy verification, load check and report (no changes)",
            "status": "a short table: releases, workloads, autoscalers, backups",
        },
    ),
    Plugin(
        "archangel_helm.localcluster.command",
        {"cluster": "a local control plane from pinned Go modules (build, up, down, status)"},
    ),
    Plugin(
        "archangel_helm.loadcheck.command",
        {"loadcheck": "N concurrent requests for T seconds against a URL; P50/P95/P99, errors"},
    ),
)


def _command_of(arguments: Sequence[str]) -> str | None:
    """The sub-command named on the command line; None when there is none yet (bare call, --help)."""
    first = next((a for a in arguments if not a.startswith("-")), None)
    return first if first and not any(a in ("-h", "--help") for a in arguments[: arguments.index(first)]) else None


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with `wanted`, plug-in modules other than the one defining that command stay unimported."""
    parser = argparse.ArgumentParser(
        prog="archangel-helm", description="Render, validate, test and operate the Archangel charts."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("render", help="render a chart; with -o, one file per object")
    _add_render_arguments(p)
    p.add_argument("-o", "--output", type=Path, help="directory for <kind>-<name>.yaml files")
    p.set_defaults(func=cmd_render)

    p = commands.add_parser("validate", help="render and validate against Kubernetes and CRD schemas")
    _add_render_arguments(p)
    _add_crd_arguments(p)
    p.add_argument("--json", action="store_true", help="print problems as JSON")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser(
        "check",
        help="every whole-release rule (graph, references, availability, pod security, "
        "GitOps, schema discipline) plus schema validation; waivable per object",
    )
    _add_render_arguments(p)
    _add_crd_arguments(p)
    p.add_argument("--waivers", type=Path, help="YAML: waivers: [{rule, object (Kind/name, globs), reason}]")
    p.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="KIND/NAME",
        help="an object pods use that the release does not render (e.g. Secret/pg-credentials)",
    )
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("--output-file", type=Path, help="write the report here instead of stdout")
    p.add_argument(
        "--env",
        metavar="ENV",
        help="render as environments.yaml's ENV deploys this chart: its release name, namespace, kubeVersion and "
        "apiVersions (so CRD-backed objects render and are checked); --release, -n, --kube-version and -a still win",
    )
    p.add_argument("--project", type=Path, help="directory with environments.yaml (default: search upwards)")
    _add_example_values_argument(p)
    # None = not given, so that --env can tell an explicit flag from a default (cmd_check fills the defaults).
    p.set_defaults(func=cmd_check, release=None, namespace=None, kube_version=None)

    p = commands.add_parser("plan", help="render + validate an environment, write build/ENV, print capacity")
    p.add_argument("environment")
    p.add_argument("--project", type=Path, help="directory with environments.yaml (default: search upwards)")
    p.add_argument("-o", "--output", type=Path, help="output root (default PROJECT/build)")
    p.add_argument("--json", action="store_true")
    _add_example_values_argument(p)
    _add_crd_arguments(p)
    p.add_argument(
        "--missing-crd-schemas",
        choices=("error", "warn"),
        default="error",
        help="a custom resource whose CRD schema is not loaded: a problem (default), or listed apart with a warning",
    )
    p.set_defaults(func=cmd_plan)

    p = commands.add_parser("golden", help="compare (or --update) the normalized golden manifests in tests/golden")
    p.add_argument("--update", action="store_true", help="rewrite the golden files from the templates")
    p.add_argument("--chart", action="append", default=[], help="only this chart's files (repeatable)")
    p.add_argument("--project", type=Path, help="directory with environments.yaml (default: search upwards)")
    p.set_defaults(func=cmd_golden)

    crds = commands.add_parser("crds", help="CRD schemas for validation").add_subparsers(
        dest="crds_command", required=True
    )
    p = crds.add_parser("fetch", help="download the pinned upstream CRD manifests")
    p.add_argument("--dir", type=Path, default=crds_fetch.default_fetch_directory())
    p.add_argument("--base-url", default=crds_fetch.RAW_BASE, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_crds_fetch)

    for plugin in PLUGINS:
        if wanted is None or wanted in plugin.commands:
            importlib.import_module(plugin.module).add_commands(commands)
        else:  # listed for --help and the usage line, never parsed: `wanted` is another command
            for name, summary in plugin.commands.items():
                commands.add_parser(name, help=summary)

    cache = commands.add_parser("cache", help="the render cache").add_subparsers(dest="cache_command", required=True)
    cache.add_parser("clear", help="remove every cached render").set_defaults(func=cmd_cache_clear)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(arguments)).parse_args(arguments)
    # The error line goes through the logging set-up: plain at a terminal, a JSON record in a Job that asks.
    errors = logger("archangel.cli")
    try:
        return int(args.func(args))
    except (BackupError, TerminatedError) as error:
        errors.error(f"error: {error}")
        return error.exit_code
    except (RenderError, ReleaseRenderErrors) as error:
        errors.error(f"error: {error}")
        return EXIT_PROBLEMS
    except ArchangelHelmError as error:
        errors.error(f"error: {error}")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
