"""`archangel-helm cluster build|up|down|status`: the local control plane for tests and trials."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archangel_helm.localcluster import control_plane, settings, tools
from archangel_helm.plan.environments import find_project_root

EXIT_OK, EXIT_NOT_RUNNING = 0, 1


def _settings(args: argparse.Namespace) -> settings.Settings:
    crds = tuple(args.crds) if args.crds else None
    return settings.Settings.from_environment(_project(args), crds)


def _project(args: argparse.Namespace) -> Path:
    return find_project_root(args.project)


def cmd_build(args: argparse.Namespace) -> int:
    toolset = tools.build(_project(args))
    print(toolset.bin)
    return EXIT_OK


def cmd_up(args: argparse.Namespace) -> int:
    project = _project(args)
    toolset = tools.build(project)
    where = _settings(args)
    control_plane.up(where, toolset)
    print(f"export KUBECONFIG={where.kubeconfig}")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    control_plane.down(_settings(args))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    where = _settings(args)
    current = control_plane.status(where)
    report: dict[str, Any] = {
        "directory": str(where.directory),
        "running": current.running,
        "stopped": current.stopped,
        "kubeconfig": str(where.kubeconfig) if current.state else None,
        "server": where.server if current.state else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    elif current.state is None:
        print(f"no cluster in {where.directory}")
    else:
        print(f"cluster in {where.directory}: {where.server}")
        print(f"  running: {', '.join(current.running) or '-'}")
        if current.stopped:
            print(f"  NOT running: {', '.join(current.stopped)} (stale: `archangel-helm cluster down` cleans up)")
        print(f"  kubeconfig: {where.kubeconfig}")
    return EXIT_OK if current.healthy else EXIT_NOT_RUNNING


def add_commands(commands: Any) -> None:
    cluster = commands.add_parser(
        "cluster",
        help="a local control plane from pinned Go modules (build, up, down, status)",
        description=control_plane.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="cluster_command", required=True)

    def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--project", type=Path, help="the repository (default: search upwards)")
        parser.add_argument(
            "--crds",
            action="append",
            type=Path,
            help=f"a directory of CRD manifests to install (repeatable; default ${settings.CRDS_ENV}, "
            "../shared/crds, or what `archangel-helm crds fetch` downloaded)",
        )
        return parser

    common(cluster.add_parser("build", help="build the binaries from tools/cluster (cached)")).set_defaults(
        func=cmd_build
    )
    common(
        cluster.add_parser(
            "up",
            help=f"start it (or reuse the running one); ${settings.DIRECTORY_ENV} is its directory "
            f"(default build/cluster), ${settings.PORT_ENV} its first port (default "
            f"{settings.DEFAULT_BASE_PORT})",
        )
    ).set_defaults(func=cmd_up)
    common(cluster.add_parser("down", help="stop what `up` started, by PID, and remove its directory")).set_defaults(
        func=cmd_down
    )
    p = common(cluster.add_parser("status", help="which processes run; exit 1 unless all do"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
