"""deploy's wait for what operators make of a release (CloudNativePG's Cluster, cert-manager's certificates),
which Helm's --wait does not cover: it polls until they are healthy, or reports them failed at the deadline;
a kind the cluster does not serve is not checked; simulated nodes run no operator."""

from __future__ import annotations

from typing import Any

import pytest

from archangel_helm.operate.checks import Status
from archangel_helm.operate.verify import Scope, check_operator_objects, wait_for_operator_objects

CLUSTERS = "/apis/postgresql.cnpg.io/v1/namespaces/archangel/clusters"
CERTIFICATES = "/apis/cert-manager.io/v1/namespaces/archangel/certificates"


class NotFound(Exception):
    status = 404


def cluster(phase: str, ready: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "archangel-postgresql"},
        "spec": {"instances": 3},
        "status": {"phase": phase, "readyInstances": ready},
    }


class Api:
    """The Cluster's phases over successive polls; cert-manager's API not served."""

    def __init__(self, phases: list[tuple[str, int]]) -> None:
        self.phases = phases
        self.polls = 0

    def get(self, path: str) -> Any:
        if path.startswith(CERTIFICATES):
            raise NotFound(path)
        assert path.startswith(CLUSTERS)
        assert "labelSelector=app.kubernetes.io%2Finstance%3Darchangel" in path
        phase, ready = self.phases[min(self.polls, len(self.phases) - 1)]
        self.polls += 1
        return {"items": [cluster(phase, ready)]}


def test_the_wait_ends_when_the_cluster_is_healthy() -> None:
    api = Api([("Setting up primary", 0), ("Creating a new replica", 2), ("Cluster in healthy state", 3)])
    lines: list[str] = []
    results = wait_for_operator_objects(
        api.get, "archangel", "archangel", Scope(), timeout_seconds=60, poll_seconds=0, progress=lines.append
    )
    assert [(r.name, r.status) for r in results] == [("Cluster/archangel-postgresql", Status.PASS)]
    assert api.polls == 3
    assert lines == [
        "  Cluster/archangel-postgresql: Setting up primary; 0/3 instances ready",
        "  Cluster/archangel-postgresql: Creating a new replica; 2/3 instances ready",
        "  Cluster/archangel-postgresql: Cluster in healthy state; 3/3 instances ready",
    ]


def test_at_the_deadline_the_unhealthy_cluster_fails() -> None:
    api = Api([("Creating a new replica", 2)])
    results = wait_for_operator_objects(
        api.get, "archangel", "archangel", Scope(), timeout_seconds=0, poll_seconds=0, progress=lambda _: None
    )
    (result,) = results
    assert result.status is Status.FAIL
    assert result.detail == "Creating a new replica; 2/3 instances ready"


def test_healthy_phase_with_an_instance_missing_is_not_healthy() -> None:
    (result,) = check_operator_objects(Api([("Cluster in healthy state", 2)]).get, "archangel", "archangel")
    assert result.status is Status.FAIL


def test_simulated_nodes_skip_with_the_reason_and_never_wait() -> None:
    api = Api([("Setting up primary", 0)])
    results = wait_for_operator_objects(
        api.get, "archangel", "archangel", Scope(runs_containers=False), timeout_seconds=60, poll_seconds=0
    )
    assert [r.status for r in results] == [Status.SKIP]
    assert api.polls == 1


def test_another_api_error_is_not_taken_for_an_absent_kind() -> None:
    def broken(path: str) -> Any:
        raise PermissionError("403 forbidden")

    with pytest.raises(PermissionError):
        check_operator_objects(broken, "archangel", "archangel")


def test_a_certificate_is_waited_for_until_ready() -> None:
    conditions = iter(
        [
            [{"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"}],
            [{"type": "Ready", "status": "True", "message": "Certificate is up to date and has not expired"}],
        ]
    )

    def get(path: str) -> Any:
        if path.startswith(CLUSTERS):
            raise NotFound(path)  # no CloudNativePG: only the certificate is waited for
        status = {"conditions": next(conditions)}
        return {"items": [{"metadata": {"name": "archangel-qdrant-tls"}, "status": status}]}

    lines: list[str] = []
    (result,) = wait_for_operator_objects(
        get, "archangel", "archangel", Scope(), timeout_seconds=60, poll_seconds=0, progress=lines.append
    )
    assert (result.name, result.status) == ("Certificate/archangel-qdrant-tls", Status.PASS)
    assert lines[0] == "  Certificate/archangel-qdrant-tls: Ready=False: Issuing certificate as Secret does not exist"


def test_an_api_error_while_waiting_is_a_failed_row_polled_again() -> None:
    answers = iter([PermissionError("403 forbidden"), {"items": []}])

    def get(path: str) -> Any:
        if path.startswith(CERTIFICATES):
            raise NotFound(path)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for_operator_objects(get, "archangel", "archangel", Scope(), timeout_seconds=60, poll_seconds=0) == []
