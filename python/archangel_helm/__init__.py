"""archangel_helm: render, validate, test, back up and operate the Archangel Helm charts.

The names below load their module on first use (PEP 562): `import archangel_helm` (which every pytest run
does through the plugin's entry point, and every in-cluster job) costs only what is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archangel_helm.core.chart import Chart
    from archangel_helm.core.errors import (
        ArchangelHelmError,
        ConfigurationError,
        HelmNotFoundError,
        ObjectNotFoundError,
        RenderError,
        SchemaNotFoundError,
    )
    from archangel_helm.core.helm import Helm, find_helm
    from archangel_helm.core.manifest import Manifest, PodTemplate
    from archangel_helm.core.render import render

_WHERE = {
    "Chart": ".core.chart",
    "ArchangelHelmError": ".core.errors",
    "ConfigurationError": ".core.errors",
    "HelmNotFoundError": ".core.errors",
    "ObjectNotFoundError": ".core.errors",
    "RenderError": ".core.errors",
    "SchemaNotFoundError": ".core.errors",
    "Helm": ".core.helm",
    "find_helm": ".core.helm",
    "Manifest": ".core.manifest",
    "PodTemplate": ".core.manifest",
    "render": ".core.render",
}

__all__ = [
    "ArchangelHelmError",
    "Chart",
    "ConfigurationError",
    "Helm",
    "HelmNotFoundError",
    "Manifest",
    "ObjectNotFoundError",
    "PodTemplate",
    "RenderError",
    "SchemaNotFoundError",
    "find_helm",
    "render",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'archangel_helm' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value
