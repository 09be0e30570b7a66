"""Kubernetes label selectors: which pod templates (or objects) a Service, PDB, NetworkPolicy... selects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..manifest import PodTemplate


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str], *, plain: bool = False) -> bool:
    """Whether labels satisfy a selector.

    plain=True reads the selector as a Service's (a bare label map); otherwise as a LabelSelector
    (matchLabels + matchExpressions). An empty LabelSelector selects everything; an empty Service selector
    selects nothing (Kubernetes then manages no endpoints).
    """
    if plain:
        return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selected_pod_templates(
    selector: Mapping[str, Any] | None, templates: Iterable[PodTemplate], *, plain: bool = False
) -> list[PodTemplate]:
    return [t for t in templates if matches(selector, t.labels, plain=plain)]
