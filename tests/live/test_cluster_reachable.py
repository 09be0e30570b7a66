"""The cluster suite's entry check: a reachable cluster with a server version the charts support."""

from __future__ import annotations

import json
import shutil
import subprocess

from archangel_helm import Chart
from archangel_helm.core.chart import kube_version_bounds
from tests.support.project import APP_CHART


def test_server_version_is_within_the_chart_kubeversion(kube_config: str) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl
    out = subprocess.run(
        [kubectl, "--kubeconfig", kube_config, "version", "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
    server = json.loads(out)["serverVersion"]
    version = (int(server["major"]), int(server["minor"].rstrip("+")))
    lower, upper = kube_version_bounds(Chart.load(APP_CHART).kube_version_constraint)
    assert version >= lower
    assert upper is None or version <= upper
