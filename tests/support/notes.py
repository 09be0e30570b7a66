"""NOTES.txt as a user sees it: `helm template` does not render it, `helm install --dry-run=client` does."""

from __future__ import annotations

import pytest

from archangel_helm.helm import find_helm
from tests.conftest import APP_CHART


def install_notes(*args: str) -> str:
    """The notes `helm install --dry-run=client` prints for the application chart, with these arguments."""
    helm = find_helm()
    if helm.major < 4:
        pytest.skip("helm 3's install --dry-run=client still asks a cluster for its version; Helm 4 does not")
    result = helm.run(["install", "archangel", str(APP_CHART), "-n", "archangel", "--dry-run=client", *args])
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]
