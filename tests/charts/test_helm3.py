"""The charts render the same objects under Helm 3 (the oldest supported, 3.14) as under Helm 4."""

from __future__ import annotations

import shutil

import pytest

from archangel_helm import Helm, Manifest, RenderError, find_helm, render
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.testing import assertions as a
from archangel_helm.testing.golden import normalize
from tests.support.project import APP_CHART, SHIPPED_VALUES

HELM3 = shutil.which("helm3")
pytestmark = pytest.mark.skipif(
    HELM3 is None, reason="no helm3 binary on PATH (make setup installs Helm 3.14.0 as .venv/bin/helm3)"
)


@pytest.fixture(scope="module")
def helm3() -> Helm:
    assert HELM3
    helm = find_helm(HELM3)
    assert helm.major == 3
    return helm


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_helm3_renders_the_same_objects(shipped: ShippedValues, helm3: Helm, helm: Helm) -> None:
    def with_helm(binary: Helm) -> Manifest:
        return shipped.render(helm=binary)

    old, new = with_helm(helm3), with_helm(helm)
    assert list(old.objects) == list(new.objects)
    assert normalize(old.text) == normalize(new.text)  # the goldens read the same whichever helm wrote them


def test_helm3_renders_the_charts_without_a_kube_version(helm3: Helm) -> None:
    # Helm 3.14's own default is Kubernetes 1.29, below the charts' kubeVersion; render() pins 1.37 instead.
    assert len(render(APP_CHART, helm=helm3, cache=False)) == len(render(APP_CHART, cache=False))


def test_helm3_enforces_the_values_schema(helm3: Helm) -> None:
    with pytest.raises(RenderError) as caught:
        render(APP_CHART, set_values={"core": {"replica": 3}}, helm=helm3)
    assert "core: Additional property replica is not allowed" in caught.value.helm_message
    assert a.failed_values_schema(caught.value, "core", "additionalProperties")
