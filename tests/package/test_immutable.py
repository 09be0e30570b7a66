"""The refused-change check that `deploy` runs before Helm applies anything: each immutable field the
production render can change, found and named with its procedure; a change Kubernetes accepts, not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.operate.immutable import GUIDE, immutable_changes

RenderEnv = Callable[..., Manifest]


@pytest.fixture(scope="module")
def installed(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (
            {"vectorStore.qdrant.persistence.size": "150Gi"},
            "StatefulSet/archangel-qdrant: spec.volumeClaimTemplates[storage].spec.resources.requests.storage "
            "100Gi -> 150Gi: grow each claim",
        ),
        (
            {"vectorStore.qdrant.persistence.storageClassName": "fast-ssd"},
            "StatefulSet/archangel-qdrant: spec.volumeClaimTemplates[storage].spec.storageClassName standard-ssd -> "
            "fast-ssd: a volume cannot change class",
        ),
        ({"storage.classes.standard.parameters.type": "gp2"}, "StorageClass/standard-ssd: parameters "),
        ({"nameOverride": "angel"}, "Deployment/archangel-core: spec.selector "),
        (
            {
                "priorityClasses.items": [
                    {"name": "archangel-critical", "value": 5},
                    {"name": "archangel-high", "value": 4},
                ]
            },
            "PriorityClass/archangel-critical: value 1000000 -> 5: delete the PriorityClass",
        ),
    ],
)
def test_each_refused_change_is_named_with_its_procedure(
    render_env: RenderEnv, installed: Manifest, change: dict[str, Any], found: str
) -> None:
    changes = [
        str(c) for c in immutable_changes(installed.objects, render_env("production", "archangel", change).objects)
    ]
    assert any(c.startswith(found) for c in changes), changes
    assert all(c.endswith(f"({GUIDE})") for c in changes)


@pytest.mark.parametrize(
    "change",
    [
        {"core.replicas": 5},
        {"core.image.tag": "1.4.3"},
        {"agents.autoscaling.maxReplicas": 10},
        {"database.cloudnativepg.parameters.work_mem": "32MB"},
        {"database.cloudnativepg.storage.size": "300Gi"},  # the operator grows the instances' claims
        {"backup.database.schedule": "30 1 * * *"},
    ],
)
def test_changes_kubernetes_accepts_are_not_reported(
    render_env: RenderEnv, installed: Manifest, change: dict[str, Any]
) -> None:
    assert immutable_changes(installed.objects, render_env("production", "archangel", change).objects) == []


def test_the_same_size_written_another_way_is_no_change(render_env: RenderEnv, installed: Manifest) -> None:
    same = render_env("production", "archangel", {"vectorStore.qdrant.persistence.size": "102400Mi"})
    assert immutable_changes(installed.objects, same.objects) == []


def test_hooks_are_left_out_helm_recreates_them(installed: Manifest) -> None:
    job = installed.get("Job", "archangel-secrets-hook")
    changed = {**job, "spec": {**job["spec"], "template": {"spec": {"containers": []}}}}
    assert immutable_changes([job], [changed]) == []
