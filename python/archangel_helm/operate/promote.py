"""`archangel-helm promote REVISION`: move production's Argo CD Applications to a revision staging has run.

Staging's chart Applications follow main; production's pin a release tag or a commit (argocd/production.yaml).
Promotion rewrites that pin, and only after git confirms three things: the revision exists, it is immutable
(a tag, or a full commit id; a branch name moves under you), and it is on main, so staging has synced it. The
file is edited in place, line by line, so its comments stay; nothing is written when any check fails. Commit
the change and have it reviewed: the root Application then syncs it (argocd/root.yaml).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from archangel_helm.core.errors import ConfigurationError
from archangel_helm.plan.environments import find_project_root

PRODUCTION_FILE = Path("argocd") / "production.yaml"
STAGING_BRANCH = "main"
_FULL_COMMIT = re.compile(r"[0-9a-f]{40}")
_PIN = re.compile(r"^(?P<indent>\s*)targetRevision:\s*(?P<revision>[^\s#]+)(?P<comment>\s*#.*)?$")


@dataclass(frozen=True)
class Promotion:
    previous: tuple[str, ...]
    revision: str
    commit: str


def _git(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True, check=False)


def _commit_of(project: Path, revision: str) -> str:
    found = _git(project, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if found.returncode != 0:
        raise ConfigurationError(f"revision {revision!r}: git knows no such tag or commit in {project}")
    return found.stdout.strip()


def _require_immutable(project: Path, revision: str) -> None:
    if _FULL_COMMIT.fullmatch(revision):
        return
    if _git(project, "show-ref", "--verify", "--quiet", f"refs/tags/{revision}").returncode == 0:
        return
    raise ConfigurationError(
        f"revision {revision!r}: production pins a tag or a full 40-character commit id, never a branch or a "
        "short id (Argo CD would follow it as it moves)"
    )


def _require_on_staging(project: Path, revision: str, commit: str) -> None:
    if _git(project, "merge-base", "--is-ancestor", commit, STAGING_BRANCH).returncode != 0:
        raise ConfigurationError(
            f"revision {revision!r} ({commit[:12]}) is not on {STAGING_BRANCH}: staging follows {STAGING_BRANCH}, "
            "so it has never run this revision; merge it and let staging sync first"
        )


def promote(project: Path, revision: str) -> Promotion:
    """Check the revision, then rewrite every targetRevision of argocd/production.yaml to it."""
    path = project / PRODUCTION_FILE
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such file (the production Argo CD Applications)")
    commit = _commit_of(project, revision)
    _require_immutable(project, revision)
    _require_on_staging(project, revision, commit)
    lines = path.read_text().splitlines(keepends=True)
    previous: list[str] = []
    for index, line in enumerate(lines):
        match = _PIN.match(line.rstrip("\n"))
        if match:
            previous.append(match["revision"])
            lines[index] = f"{match['indent']}targetRevision: {revision}{match['comment'] or ''}\n"
    if not previous:
        raise ConfigurationError(f"{path}: no targetRevision line to promote")
    path.write_text("".join(lines))
    return Promotion(tuple(previous), revision, commit)


def cmd_promote(args: argparse.Namespace) -> int:
    project = args.project or find_project_root()
    result = promote(project, args.revision)
    before = ", ".join(sorted(set(result.previous)))
    print(f"{PRODUCTION_FILE}: targetRevision {before} -> {result.revision} ({result.commit[:12]})")
    print("commit and review the change; the root Application archangel-production-root syncs it", file=sys.stderr)
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("promote", help="pin production's Argo CD Applications to a revision staging has run")
    p.add_argument("revision", help="a release tag or a full commit id on main")
    p.add_argument("--project", type=Path, help="the repository (default: search upwards for environments.yaml)")
    p.set_defaults(func=cmd_promote)
