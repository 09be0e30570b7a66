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
from archangel_helm.core.output import write_objects
from tests.support.project import PROJECT, SHIPPED_VALUES

CHECKOV = PROJECT / ".venv-checkov" / "bin" / "checkov"
pytestmark = pytest.mark.skipif(not CHECKOV.exists(), reason="checkov not installed (make setup creates .venv-checkov)")

# Findings accepted by this test, for renders other than production's only: staging and the ci cases pull images
# by their pinned tags (production sets global.requireImageDigests). Every other finding is fixed, or waived on
# its object with checkov's own annotation (checkov.io/skipN: ID=reason), where a reader of the manifest sees it.
TAG_PINNED: dict[str, str] = {
    "CKV_K8S_43": "staging and ci pull by exact version tag; production pulls by digest",
    "CKV_K8S_15": "a pinned tag never moves, so IfNotPresent is safe (production pulls by digest)",
}
PRODUCTION = {"production.yaml", "monitoring-production.yaml"}
# Production again with the restore Job and maintenance on: the restore's objects render only then.
RESTORE = {"restore": {"enabled": True, "requestId": "inc-1", "force": True}, "maintenance": {"enabled": True}}


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, render_shipped: Callable[..., Manifest]) -> dict[str, object]:
    root = tmp_path_factory.mktemp("checkov")
    for index, shipped in enumerate(SHIPPED_VALUES):
        write_objects(render_shipped(shipped), root / f"{index:02d}-{shipped.values_file.name}")
        if shipped.values_file.name == "production.yaml":
            write_objects(render_shipped(shipped, RESTORE), root / f"{index:02d}-restore-{shipped.values_file.name}")
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


def _rendered_from(check: dict[str, str]) -> str:
    """The values file a finding's manifest was rendered from (the scan's directory name)."""
    return check["file_path"].strip("/").split("/")[0].split("-", 1)[1].removeprefix("restore-")


def test_no_failed_check_outside_the_tag_pinned_images_of_non_production_renders(scan: dict[str, object]) -> None:
    results = scan["results"]
    assert isinstance(results, dict)
    unwaived = sorted(
        {
            f"{check['check_id']} {_ref(check['resource'])} ({_rendered_from(check)}): {check['check_name']}"
            for check in results["failed_checks"]
            if not (check["check_id"] in TAG_PINNED and _rendered_from(check) not in PRODUCTION)
        }
    )
    assert unwaived == []


def test_production_passes_with_its_waivers_on_the_objects_each_with_a_reason(scan: dict[str, object]) -> None:
    results = scan["results"]
    assert isinstance(results, dict)
    production_failed = [c for c in results["failed_checks"] if _rendered_from(c) in PRODUCTION]
    assert production_failed == []
    skipped = [c for c in results["skipped_checks"] if _rendered_from(c) in PRODUCTION]
    assert {(c["check_id"], _ref(c["resource"])) for c in skipped} >= {
        ("CKV_K8S_40", "StatefulSet/archangel-qdrant"),  # PostgreSQL: the operator runs it in production
        ("CKV_K8S_38", "Job/archangel-secrets-hook"),
        ("CKV_K8S_8", "Pod/archangel-helm-test"),
    }
    assert any(_ref(c["resource"]).startswith("Job/archangel-restore-inc-1-") for c in skipped)
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, (check["check_id"], check["resource"], reason)


def test_the_tag_pinned_waivers_are_still_needed(scan: dict[str, object]) -> None:
    results = scan["results"]
    assert isinstance(results, dict)
    failing = {c["check_id"] for c in results["failed_checks"] if _rendered_from(c) not in PRODUCTION}
    assert set(TAG_PINNED) <= failing
