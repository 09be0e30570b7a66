"""A backup run on demand completes, and `archangel-helm backup verify database` passes against it.

The backup runs as the CronJob's own Job (`kubectl create job --from=cronjob/<fullname>-backup-database`), so
it has exactly the scheduled run's pod: image, keys, bucket settings, NetworkPolicy labels. The verify runs
the same pod template with the command swapped, checking the HMAC, decrypting and reading back the dump."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.conftest import Kubectl, ReleaseUnderTest, wait_for

pytestmark = pytest.mark.cluster

JOB_TIMEOUT = 900


def _job_outcome(kubectl: Kubectl, name: str, namespace: str) -> tuple[str | None, str]:
    job = kubectl.get("job", name, namespace)
    if job is None:
        return None, "job not found"
    conditions = {c["type"]: c["status"] for c in job.get("status", {}).get("conditions") or []}
    if conditions.get("Complete") == "True" or conditions.get("SuccessCriteriaMet") == "True":
        return "Complete", str(conditions)
    if conditions.get("Failed") == "True":
        return "Failed", str(conditions)
    status = job.get("status", {})
    return None, f"active {status.get('active', 0)}, failed {status.get('failed', 0)}, conditions {conditions}"


def _run_to_completion(kubectl: Kubectl, name: str, namespace: str) -> str:
    """Wait for the Job; return its logs; fail with them if it failed."""
    outcome = wait_for(f"Job {namespace}/{name}", lambda: _job_outcome(kubectl, name, namespace), JOB_TIMEOUT)
    logs = kubectl.run("logs", f"job/{name}", "-n", namespace, "--all-containers", "--tail=200", check=False)
    text = logs.stdout + logs.stderr
    assert outcome == "Complete", f"Job {namespace}/{name} failed:\n{text}"
    return text


@pytest.fixture
def created_jobs(kubectl: Kubectl, release: ReleaseUnderTest) -> Iterator[list[str]]:
    jobs: list[str] = []
    yield jobs
    for name in jobs:
        kubectl.run("delete", "job", name, "-n", release.namespace, "--cascade=background", "--wait=false", check=False)


def test_an_on_demand_backup_completes_and_verifies(
    kubectl: Kubectl, release: ReleaseUnderTest, created_jobs: list[str]
) -> None:
    cronjob = release.component("backup-database")
    if kubectl.get("cronjob", cronjob, release.namespace) is None:
        pytest.fail(f"CronJob {release.namespace}/{cronjob} does not exist: backups are not enabled in this release")
    stamp = time.strftime("%H%M%S")

    backup_job = f"{release.fullname}-backup-now-{stamp}"
    kubectl.run("create", "job", backup_job, f"--from=cronjob/{cronjob}", "-n", release.namespace)
    created_jobs.append(backup_job)
    logs = _run_to_completion(kubectl, backup_job, release.namespace)
    match = re.search(r"backup id: (\S+)", logs)
    assert match, f"the backup Job did not print its backup id:\n{logs}"
    backup_id = match[1]

    verify_job = f"{release.fullname}-verify-now-{stamp}"
    job: dict[str, Any] = kubectl.json(
        "create", "job", verify_job, f"--from=cronjob/{cronjob}", "-n", release.namespace, "--dry-run=client"
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["archangel-helm", "backup", "verify", "database", "--backup-id", backup_id]
    kubectl.run("create", "-n", release.namespace, "-f", "-", stdin=json.dumps(job))
    created_jobs.append(verify_job)
    logs = _run_to_completion(kubectl, verify_job, release.namespace)
    assert f"verified: database {backup_id}" in logs, logs
