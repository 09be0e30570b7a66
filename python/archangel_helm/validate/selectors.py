"""Kubernetes label selectors: which pod templates (or objects) a Service, PDB, NetworkPolicy... selects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archangel_helm.core.labelselector import matches, parse_selector
from archangel_helm.core.manifest import PodTemplate

__all__ = ["matches", "parse_selector", "selected_pod_templates"]


def selected_pod_templates(
    selector: Mapping[str, Any] | None, templates: Iterable[PodTemplate], *, plain: bool = False
) -> list[PodTemplate]:
    return [t for t in templates if matches(selector, t.labels, plain=plain)]
