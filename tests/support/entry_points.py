"""The documented alternative public entry points (values/examples/entry-*.yaml), as set-values overlays for
tests that render production with an NLB or a Gateway route instead of its Ingress."""

from __future__ import annotations

from typing import Any

import yaml

from archangel_helm.core.render import deep_merge
from tests.support.project import PROJECT


def entry_point(name: str) -> dict[str, Any]:
    """values/examples/entry-NAME.yaml: "nlb" or "gateway"."""
    values: dict[str, Any] = yaml.safe_load((PROJECT / "values" / "examples" / f"entry-{name}.yaml").read_text())
    return values


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """extra over base, nested mappings merged (as Helm layers values files)."""
    return deep_merge(base, extra)
