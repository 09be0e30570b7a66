"""verify's disruption budgets: one that selects no pods is a failure on a real cluster (what it protects does
not run: PgBouncer's, when the operator has not started it) and skipped, with the reason, on simulated nodes."""

from __future__ import annotations

from typing import Any

from archangel_helm.operate.checks import Status
from archangel_helm.operate.verify import Scope, check_disruption_budgets


def listing(*statuses: dict[str, Any]) -> Any:
    items = [{"metadata": {"name": f"pdb-{i}"}, "status": status} for i, status in enumerate(statuses)]
    return lambda _path: {"items": items}


def test_a_budget_over_no_pods_fails_on_a_real_cluster_and_is_skipped_on_simulated_nodes() -> None:
    get = listing({"disruptionsAllowed": 1, "expectedPods": 3}, {"disruptionsAllowed": 0, "expectedPods": 0})
    real = check_disruption_budgets(get, "archangel", "archangel")
    assert [(r.status, r.detail) for r in real] == [
        (Status.PASS, "1 disruption(s) allowed"),
        (Status.FAIL, "selects no pods: the pods it protects do not run"),
    ]
    simulated = check_disruption_budgets(get, "archangel", "archangel", Scope(runs_containers=False))
    assert simulated[1].status is Status.SKIP
    assert "simulated (kwok)" in simulated[1].detail


def test_a_budget_that_blocks_every_disruption_fails() -> None:
    (result,) = check_disruption_budgets(
        listing({"disruptionsAllowed": 0, "expectedPods": 2}), "archangel", "archangel"
    )
    assert (result.status, result.detail) == (Status.FAIL, "0 disruption(s) allowed")
