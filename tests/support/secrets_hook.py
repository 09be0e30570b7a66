"""The secrets hook as its Job's pod would run it: on the local control plane kwok only marks the Job
complete, so the tests run the same command against the same API server, with the spec Helm recorded."""

from __future__ import annotations

import sys
from pathlib import Path

from archangel_helm import Manifest
from tests.support.local_cluster import LocalCluster


def helm_hook_spec(cluster: LocalCluster, release: str, namespace: str, revision: int | None = None) -> str:
    chosen = ["--revision", str(revision)] if revision is not None else []
    hooks = Manifest.parse(cluster.helm("get", "hooks", release, "-n", namespace, *chosen))
    return str(hooks.get("ConfigMap", f"{release}-secrets-hook")["data"]["spec.json"])


def run_the_secrets_hook(cluster: LocalCluster, spec: str, namespace: str, workdir: Path) -> None:
    """What the hook's pod does: create the release's Secret, or add the keys it lacks."""
    path = workdir / "spec.json"
    path.write_text(spec)
    cluster.run(sys.executable, "-m", "archangel_helm.hooks.secrets", "--spec", str(path), "--namespace", namespace)
