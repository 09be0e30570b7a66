"""NOTES.txt as a user sees it: `helm template` does not render it, `helm install --dry-run=client` does."""

from __future__ import annotations

import pytest

from archangel_helm.core.helm import find_helm
from tests.support.project import APP_CHART

# Production's database is a CloudNativePG Cluster, which needs the operator's API, and `helm install` (unlike
# `helm template`) takes no --api-versions: the dry run uses the builtin database (the notes under test are
# about other things; the cloudnativepg refusal without the API is tested on its own).
BUILTIN_DATABASE = ("--set", "database.mode=builtin", "--set", "database.postgresql.metrics.enabled=false")


def install_notes(*args: str) -> str:
    """The notes `helm install --dry-run=client` prints for the application chart, with these arguments."""
    helm = find_helm()
    if helm.major < 4:
        pytest.skip("helm 3's install --dry-run=client still asks a cluster for its version; Helm 4 does not")
    command = ["install", "archangel", str(APP_CHART), "-n", "archangel", "--dry-run=client", *args, *BUILTIN_DATABASE]
    result = helm.run(command)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]
