"""Chart values as Helm computes them: the chart's values.yaml, then each values file over it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archangel_helm.core import yamlio


def coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of one values layer over another: maps merge, null deletes a key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = coalesce(base.get(key), value)
        return merged
    return override


def layer(base: Any, override: Any) -> Any:
    """Helm's merge of one -f file over the previous ones (before the chart's defaults come in): maps merge,
    anything else replaces, and a null stays null, so that the chart's default it stands for is deleted when
    Helm coalesces the result with the chart's values (coalesce() here deletes at once, which is right only
    over the defaults themselves)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = layer(base.get(key), value)
        return merged
    return override


def layered_values(values_files: Sequence[Path]) -> dict[str, Any]:
    """The values files as `helm -f a -f b` layers them: what deploy sends Helm as one document."""
    values: dict[str, Any] = {}
    for file in values_files:
        values = layer(values, yamlio.load(Path(file).read_text()) or {})
    return values


def merged_values(chart: Path, values_files: Sequence[Path]) -> dict[str, Any]:
    """The values the chart's templates see: the files layered as Helm layers them, then over the defaults."""
    defaults: dict[str, Any] = yamlio.load((chart / "values.yaml").read_text()) or {}
    merged: dict[str, Any] = coalesce(defaults, layered_values(values_files))
    return merged


def get(values: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
