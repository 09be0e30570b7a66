"""Chart metadata, kubeVersion bounds and helm discovery."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from archangel_helm import Chart, ConfigurationError, HelmNotFoundError, find_helm
from archangel_helm.core.chart import kube_version_bounds
from archangel_helm.core.helm import MINIMUM_HELM
from tests.support.project import APP_CHART


@pytest.mark.parametrize(
    ("constraint", "bounds"),
    [
        (">=1.29.0-0", ((1, 29), None)),
        (">=1.29.0-0 <1.38.0-0", ((1, 29), (1, 37))),
        (">= 1.30.0, < 1.36.2", ((1, 30), (1, 36))),
        (">=v1.28", ((1, 28), None)),
        ("<=1.33.0 >=1.29.0", ((1, 29), (1, 33))),
    ],
)
def test_kube_version_bounds(constraint: str, bounds: tuple[object, object]) -> None:
    assert kube_version_bounds(constraint) == bounds


@pytest.mark.parametrize(
    ("constraint", "message"), [("<1.38.0", "no lower bound"), ("1.29 || 1.30", "cannot read '||'")]
)
def test_kube_version_bounds_refuses_what_it_cannot_read(constraint: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        kube_version_bounds(constraint)


def test_chart_metadata_and_hash() -> None:
    chart = Chart.load(APP_CHART)
    assert chart.name == "archangel"
    assert chart.kube_version_constraint.startswith(">=1.32")
    assert chart.content_hash() == Chart.load(APP_CHART).content_hash()


def test_chart_hash_changes_with_any_file(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 0.1.0\n")
    before = Chart.load(tmp_path).content_hash()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "a.yaml").write_text("")
    assert Chart.load(tmp_path).content_hash() != before


def test_not_a_chart_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a chart directory"):
        Chart.load(tmp_path)


def test_helm_is_found_and_recent_enough() -> None:
    helm = find_helm()
    assert helm.version >= MINIMUM_HELM
    assert helm.build.startswith("v")


def test_a_missing_helm_says_how_to_get_one() -> None:
    with pytest.raises(HelmNotFoundError, match="make setup"):
        find_helm("/nonexistent/helm")


def test_an_old_helm_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho v3.13.2+gabcdef\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(HelmNotFoundError, match=r"needs helm >= 3\.14\.0"):
        find_helm(fake)
