"""A second opinion on the rendered manifests from a public policy scanner (checkov, in its own environment).

Every shipped values file is rendered and scanned in one run; any failed check that is not waived below, with
its reason, fails the test. checkov skips a broken file silently, so the resource count is checked too.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

import pytest

from archangel_helm import Manifest
from archangel_helm.output import write_objects
from tests.conftest import PROJECT, SHIPPED_VALUES

CHECKOV = PROJECT / ".venv-checkov" / "bin" / "checkov"
pytestmark = pytest.mark.skipif(not CHECKOV.exists(), reason="checkov not installed (make setup creates .venv-checkov)")

# (check id, "Kind/name" or "*") -> why the finding is accepted.
WAIVERS: dict[tuple[str, str], str] = {
    ("CKV_K8S_43", "*"): "images are pinned by exact version tag; set image.digest per image where the release "
    "pipeline publishes digests",
    ("CKV_K8S_15", "*"): "pinned tags never move, so IfNotPresent is safe and keeps pods starting when the "
    "registry is down",
    ("CKV_K8S_38", "Job/archangel-secrets-hook"): "the hook's whole job is to call the Kubernetes API",
    ("CKV_K8S_38", "CronJob/archangel-volume-snapshots"): "creates and prunes VolumeSnapshots through the API",
    ("CKV_K8S_40", "StatefulSet/archangel-postgresql"): "the official postgres image's user (999) owns its files",
    ("CKV_K8S_40", "StatefulSet/archangel-qdrant"): "the official Qdrant image's user (1000) owns its files",
    ("CKV_K8S_35", "StatefulSet/archangel-qdrant"): "Qdrant reads its API key only from the environment (no *_FILE)",
    # archangel-monitoring, standalone mode
    ("CKV_K8S_38", "StatefulSet/archangel-monitoring-prometheus"): "Kubernetes service discovery and the kubelet "
    "scrapes authenticate with the ServiceAccount token (read-only ClusterRole)",
    ("CKV_K8S_38", "Deployment/archangel-monitoring-kube-state-metrics"): "lists and watches the objects it reports on",
    ("CKV_K8S_38", "Job/archangel-monitoring-secrets-hook"): "the hook's whole job is to call the Kubernetes API",
    ("CKV_K8S_40", "Deployment/archangel-monitoring-grafana"): "the official Grafana image's user (472) owns its files",
}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, render_shipped: Callable[..., Manifest]) -> dict[str, object]:
    root = tmp_path_factory.mktemp("checkov")
    for index, shipped in enumerate(SHIPPED_VALUES):
        write_objects(render_shipped(shipped), root / f"{index:02d}-{shipped.values_file.stem}")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    result = subprocess.run(
        [str(CHECKOV), "-d", str(root), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout)
    return report


def _ref(resource: str) -> str:
    kind, _namespace, name = resource.split(".", 2)
    return f"{kind}/{name}"


def test_checkov_scanned_every_object(scan: dict[str, object]) -> None:
    summary = scan["summary"]
    assert isinstance(summary, dict)
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 100


def test_no_failed_check_without_a_waiver(scan: dict[str, object]) -> None:
    results = scan["results"]
    assert isinstance(results, dict)
    unwaived = sorted(
        {
            f"{check['check_id']} {_ref(check['resource'])}: {check['check_name']}"
            for check in results["failed_checks"]
            if (check["check_id"], "*") not in WAIVERS
            and (check["check_id"], _ref(check["resource"])) not in WAIVERS
            and not check["resource"].startswith(
                "Pod."
            )  # checkov's synthetic per-template pods repeat the owner's checks
        }
    )
    assert unwaived == []


def test_every_waiver_is_still_needed(scan: dict[str, object]) -> None:
    results = scan["results"]
    assert isinstance(results, dict)
    failing = {(c["check_id"], _ref(c["resource"])) for c in results["failed_checks"]}
    failing_ids = {check_id for check_id, _ in failing}
    stale = [
        key
        for key in WAIVERS
        if (key[1] == "*" and key[0] not in failing_ids) or (key[1] != "*" and key not in failing)
    ]
    assert stale == []
