"""archangel_helm: render, validate, test, back up and operate the Archangel Helm charts."""

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
