"""Backups run on demand complete, and `archangel-helm backup verify` passes against them: the database's
(HMAC, decrypt, read back the dump) and the vector store's (`--restore`: recover every collection into a
scratch collection and compare point counts).

Each backup runs as the CronJob's own Job (`kubectl create job --from=cronjob/<fullname>-backup-<target>`), so
it has exactly the scheduled run's pod: image, keys, bucket settings, NetworkPolicy labels. Each verify runs
the same pod template with the command swapped."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.live_cluster import Kubectl, ReleaseUnderTest, wait_for

pytestmark = pytest.mark.live

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


def _backup_cronjob(kubectl: Kubectl, release: ReleaseUnderTest, target: str) -> str:
    cronjob = release.component(f"backup-{target}")
    if kubectl.get("cronjob", cronjob, release.namespace) is None:
        pytest.fail(f"CronJob {release.namespace}/{cronjob} does not exist: backups are not enabled in this release")
    return cronjob


def _backup_now(kubectl: Kubectl, release: ReleaseUnderTest, cronjob: str, name: str, created: list[str]) -> str:
    """Run the CronJob's Job now; return the backup id it printed."""
    kubectl.run("create", "job", name, f"--from=cronjob/{cronjob}", "-n", release.namespace)
    created.append(name)
    logs = _run_to_completion(kubectl, name, release.namespace)
    match = re.search(r'backup id: ([^\s"]+)', logs)  # a plain or text line, or a JSON record's message
    assert match, f"the backup Job did not print its backup id:\n{logs}"
    return match[1]


def _run_with_command(
    kubectl: Kubectl, release: ReleaseUnderTest, cronjob: str, name: str, *, command: list[str], created: list[str]
) -> str:
    """Run the CronJob's pod template with another command; return its logs."""
    job: dict[str, Any] = kubectl.json(
        "create", "job", name, f"--from=cronjob/{cronjob}", "-n", release.namespace, "--dry-run=client"
    )
    job["spec"]["template"]["spec"]["containers"][0]["command"] = command
    kubectl.run("create", "-n", release.namespace, "-f", "-", stdin=json.dumps(job))
    created.append(name)
    return _run_to_completion(kubectl, name, release.namespace)


def test_an_on_demand_backup_completes_and_verifies(
    kubectl: Kubectl, release: ReleaseUnderTest, created_jobs: list[str]
) -> None:
    cronjob = _backup_cronjob(kubectl, release, "database")
    stamp = time.strftime("%H%M%S")
    backup_id = _backup_now(kubectl, release, cronjob, f"{release.fullname}-backup-now-{stamp}", created_jobs)
    command = ["archangel-helm", "backup", "verify", "database", "--backup-id", backup_id]
    name = f"{release.fullname}-verify-now-{stamp}"
    logs = _run_with_command(kubectl, release, cronjob, name, command=command, created=created_jobs)
    assert f"verified: database {backup_id}" in logs, logs


# --- the vector store ---------------------------------------------------------------------------------------------

POINTS = 5


def _qdrant_api_key(kubectl: Kubectl, release: ReleaseUnderTest) -> str:
    secret = kubectl.get("secret", f"{release.fullname}-generated", release.namespace)
    if secret is None or "qdrant-api-key" not in secret.get("data", {}):
        pytest.fail(f"Secret {release.namespace}/{release.fullname}-generated has no qdrant-api-key")
    return base64.b64decode(secret["data"]["qdrant-api-key"]).decode()


def _qdrant(port: int, api_key: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"api-key": api_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@contextmanager
def _seeded_collection(kubectl: Kubectl, release: ReleaseUnderTest, name: str) -> Iterator[None]:
    """A small collection in the release's Qdrant for the test's lifetime (a verify --restore of a backup that
    holds no collection fails on purpose). Reached through a port-forward, which the NetworkPolicies allow."""
    api_key = _qdrant_api_key(kubectl, release)
    service = f"service/{release.component('qdrant')}"
    with kubectl.port_forward(release.namespace, service, 6333) as port:
        _qdrant(port, api_key, "PUT", f"/collections/{name}", {"vectors": {"size": 4, "distance": "Cosine"}})
        points = [{"id": i, "vector": [1.0, float(i), 0.5, 0.25], "payload": {"n": i}} for i in range(1, POINTS + 1)]
        _qdrant(port, api_key, "PUT", f"/collections/{name}/points?wait=true", {"points": points})
        count = _qdrant(port, api_key, "POST", f"/collections/{name}/points/count", {"exact": True})
        assert count["result"]["count"] == POINTS
    try:
        yield
    finally:
        with kubectl.port_forward(release.namespace, service, 6333) as port:
            _qdrant(port, api_key, "DELETE", f"/collections/{name}")


def test_an_on_demand_vector_store_backup_completes_and_verifies_by_restoring(
    kubectl: Kubectl, release: ReleaseUnderTest, created_jobs: list[str]
) -> None:
    cronjob = _backup_cronjob(kubectl, release, "vectorstore")
    stamp = time.strftime("%H%M%S")
    with _seeded_collection(kubectl, release, f"ci_backup_{stamp}"):
        name = f"{release.fullname}-vs-backup-now-{stamp}"
        backup_id = _backup_now(kubectl, release, cronjob, name, created_jobs)
        command = ["archangel-helm", "backup", "verify", "vectorstore", "--restore", "--backup-id", backup_id]
        name = f"{release.fullname}-vs-verify-now-{stamp}"
        logs = _run_with_command(kubectl, release, cronjob, name, command=command, created=created_jobs)
    assert f"verified: vectorstore {backup_id} (test restore)" in logs, logs
