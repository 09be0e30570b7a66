"""Object names fit Kubernetes limits whatever the release name: 63 characters for names and label values,
52 for CronJobs and StatefulSets (their controllers append suffixes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import labels_of, name_of
from archangel_helm.plan.shipped import ShippedValues
from tests.support.project import SHIPPED_VALUES

LONGEST_RELEASE = "r" * 53  # Helm's own limit for release names
SUFFIXED_KINDS = {"CronJob", "StatefulSet"}


def _too_long(manifest: Manifest) -> list[str]:
    problems = []
    for obj in manifest:
        name = name_of(obj)
        limit = 52 if obj["kind"] in SUFFIXED_KINDS else 63
        if len(name) > limit:
            problems.append(f"{obj['kind']}/{name}: {len(name)} > {limit}")
        for key, value in labels_of(obj).items():
            if len(str(value)) > 63:
                problems.append(f"{obj['kind']}/{name}: label {key} is {len(str(value))} characters")
    for template in manifest.pod_templates():
        for key, value in template.labels.items():
            if len(str(value)) > 63:
                problems.append(f"{template.ref}: pod label {key} is {len(str(value))} characters")
    return problems


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
@pytest.mark.parametrize("naming", ["release", "fullnameOverride"])
def test_names_fit_with_the_longest_release_name(
    shipped: ShippedValues, naming: str, render_shipped: Callable[..., Manifest]
) -> None:
    if naming == "release":
        manifest = render_shipped(shipped, release=LONGEST_RELEASE)
    else:
        manifest = render_shipped(shipped, {"fullnameOverride": "f" * 63})
    assert _too_long(manifest) == []
    assert len(manifest) > 0


def test_release_name_containing_the_chart_name_is_not_repeated(render_shipped: Callable[..., Manifest]) -> None:
    shipped = next(s for s in SHIPPED_VALUES if s.id == "values/production.yaml")
    names = {name_of(o) for o in render_shipped(shipped, release="archangel-prod")}
    assert "archangel-prod-core" in names
