"""Every object of every values file we ship validates: strict Kubernetes schemas for the oldest and newest
supported versions, and CRD schemas for custom resources."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archangel_helm import Chart, Manifest
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.validate import CrdSchemas, SchemaValidator, supported_kube_versions
from archangel_helm.validate import kubernetes as builtin
from archangel_helm.validate.graph import check_graph
from tests.support.project import SHIPPED_VALUES


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_builtin_objects_are_valid_for_oldest_and_newest_kubernetes(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    manifest = render_shipped(shipped)
    validator = SchemaValidator(supported_kube_versions(Chart.load(shipped.chart)))
    objects = [o for o in manifest if builtin.is_builtin(o["apiVersion"], o["kind"])]
    assert [str(p) for p in validator.validate(objects)] == []


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_every_object_has_a_schema_and_is_valid(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest], crd_schemas: CrdSchemas
) -> None:
    manifest = render_shipped(shipped)
    validator = SchemaValidator(supported_kube_versions(Chart.load(shipped.chart)), crd_schemas)
    assert [str(p) for p in validator.validate(manifest)] == []


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_object_graph_resolves(shipped: ShippedValues, render_shipped: Callable[..., Manifest]) -> None:
    """Selectors select, ports named by Services, policies and monitors exist, autoscalers have targets."""
    assert [str(p) for p in check_graph(render_shipped(shipped))] == []
