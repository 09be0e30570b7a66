"""The renders most chart tests read: the application chart as production and staging deploy it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from archangel_helm import Manifest


@pytest.fixture(scope="module")
def production(render_env: Callable[..., Manifest]) -> Manifest:
    """The application chart as production deploys it (a module may define its own `production`)."""
    return render_env("production", "archangel")


@pytest.fixture(scope="module")
def staging(render_env: Callable[..., Manifest]) -> Manifest:
    return render_env("staging", "archangel")
