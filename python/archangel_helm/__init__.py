"""archangel_helm: render, validate, test, back up and operate the Archangel Helm charts.

The names below load their module on first use (PEP 562): `import archangel_helm` (which every pytest run
does through the plugin's entry point, and every in-cluster job) costs only what is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chart import Chart
    from .errors import (
        ArchangelHelmError,
        ConfigurationError,
        HelmNotFoundError,
        ObjectNotFoundError,
        RenderError,
        SchemaNotFoundError,
    )
    from .helm import Helm, find_helm
    from .manifest import Manifest, PodTemplate
    from .render import render

_WHERE = {
    "Chart": ".chart",
    "ArchangelHelmError": ".errors",
    "ConfigurationError": ".errors",
    "HelmNotFoundError": ".errors",
    "ObjectNotFoundError": ".errors",
    "RenderError": ".errors",
    "SchemaNotFoundError": ".errors",
    "Helm": ".helm",
    "find_helm": ".helm",
    "Manifest": ".manifest",
    "PodTemplate": ".manifest",
    "render": ".render",
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
