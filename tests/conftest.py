"""Project-wide test set-up: where the charts, values files and upstream CRD schemas are."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.helm import Helm
from archangel_helm.core.render_cache import CACHE_ENV
from archangel_helm.plan.environments import Environment, load_environments
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.validate.crds import CRD_DIR_ENV
from tests.support.local_cluster import group_of, mark_session, stop_if_ours
from tests.support.project import PROJECT, SHARED_CRD_SCHEMAS, TEST_RENDER_CACHE

if SHARED_CRD_SCHEMAS.is_dir() and not os.environ.get(CRD_DIR_ENV):
    os.environ[CRD_DIR_ENV] = str(SHARED_CRD_SCHEMAS)

os.environ.setdefault(CACHE_ENV, str(TEST_RENDER_CACHE))


@pytest.fixture(scope="session")
def environments() -> dict[str, Environment]:
    """The environments as the tests render them: with their example site values (overrides the plugin's, which
    render_env, also the plugin's, reads)."""
    return {name: env.with_example_values() for name, env in load_environments(PROJECT).items()}


@pytest.fixture(scope="session")
def render_shipped(helm: Helm) -> Callable[..., Manifest]:
    """render_shipped(shipped, set_values=None, **options): render a shipped values file as it is deployed."""

    def _render(shipped: ShippedValues, set_values: dict[str, Any] | None = None, **options: Any) -> Manifest:
        return shipped.inputs.render(set_values, helm=helm, **options)

    return _render


def pytest_configure(config: pytest.Config) -> None:
    mark_session(config)


def pytest_itemcollected(item: pytest.Item) -> None:
    if PROJECT / "tests" / "cluster" in item.path.parents:
        item.add_marker(pytest.mark.cluster)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """One pytest-xdist worker runs each group of the cluster layer (local_cluster.CLUSTER_GROUPS), in file
    order: a group's tests install, drain and uninstall on its own cluster, which two workers would do to each
    other; every other test is scheduled alone, as with `--dist load`. (xdist's own `loadgroup` no longer groups
    under pytest 9.2, which derives a node's id from its structured id and ignores the `_nodeid` xdist rewrites.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ClusterLayerScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            if not nodeid.startswith(CLUSTER_SCOPE):
                return nodeid
            return f"{CLUSTER_SCOPE}#{group_of(Path(nodeid.split('::', 1)[0]))}"

    return ClusterLayerScheduling(config, log)


CLUSTER_SCOPE = "tests/cluster/"


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_if_ours(PROJECT, session.config)
