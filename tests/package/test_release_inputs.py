"""ReleaseInputs: the one way plan, check, the goldens, deploy, preflight, the plugin and the tests render or
install a release, so what is validated is what is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from archangel_helm import render
from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.release_inputs import ReleaseInputs
from archangel_helm.operate.cluster import ClusterInfo
from archangel_helm.plan.environments import load_environment
from tests.support.project import APP_CHART, PROJECT, SHIPPED_VALUES


def test_an_environment_a_shipped_values_file_and_a_cluster_give_the_same_inputs() -> None:
    """plan (Environment.inputs), the goldens and validation (ShippedValues.inputs) and deploy on a cluster of
    the environment's version and APIs (ClusterInfo.release_inputs) build the same release."""
    production = load_environment(PROJECT, "production").with_example_values()
    (shipped,) = [s for s in SHIPPED_VALUES if s.id == "values/production.yaml"]
    release = production.release("archangel")
    major, minor = map(int, production.kube_version.split(".")[:2])
    cluster = ClusterInfo((major, minor), f"v{production.kube_version}", set(production.api_versions))

    planned = production.inputs("archangel")
    assert shipped.inputs == planned
    assert production.inputs(release) == planned  # by release or by chart name
    on_cluster = cluster.release_inputs(release)
    assert on_cluster.values_files == planned.values_files
    assert on_cluster.kube_version == f"{major}.{minor}.0"
    assert set(on_cluster.api_versions) == set(planned.api_versions)


def test_what_deploy_installs_renders_as_what_plan_validated(tmp_path: Path) -> None:
    """deploy hands Helm one values document (pyhelm3 takes a mapping); with a later file that replaces a list
    and merges maps, that document must render exactly as `helm template -f a -f b` does (nulls: test_render)."""
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "core:\n  replicas: 4\ncommonLabels: {team: sre}\nnetworkPolicy:\n  clusterCIDRs: [10.0.0.0/8]\n"
    )
    inputs = load_environment(PROJECT, "production").with_example_values().inputs("archangel").with_values(overlay)
    one_document = tmp_path / "installed.yaml"
    one_document.write_text(yamlio.dump(inputs.values()))

    as_files = inputs.render(cache=False)
    as_installed = ReleaseInputs(
        inputs.chart, (one_document,), inputs.release, inputs.namespace, inputs.kube_version, inputs.api_versions
    ).render(cache=False)
    assert as_installed.text == as_files.text
    assert as_files.get("Deployment", "archangel-core")["spec"]["replicas"] == 4


def test_values_args_keep_the_order_helm_layers_them_in() -> None:
    inputs = ReleaseInputs(APP_CHART, (Path("a.yaml"), Path("b.yaml")), set_flags=(("--set", "core.replicas=2"),))
    assert inputs.with_values("c.yaml").values_args() == [
        "-f",
        "a.yaml",
        "-f",
        "b.yaml",
        "-f",
        "c.yaml",
        "--set",
        "core.replicas=2",
    ]


def test_set_flags_render_through_helm_but_are_refused_as_a_values_document() -> None:
    inputs = ReleaseInputs(APP_CHART, set_flags=(("--set", "core.image.tag=1.10"),))
    image = inputs.render().get("Deployment", "archangel-core")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":1.10")  # Helm's --set parsing: a string, not the number 1.1
    with pytest.raises(ConfigurationError, match=r"cannot include --set core.image.tag=1.10: use a values file"):
        inputs.values()


def test_a_render_option_naming_an_input_overrides_it_for_that_render_only() -> None:
    inputs = load_environment(PROJECT, "staging").with_example_values().inputs("archangel")
    moved = inputs.render(namespace="elsewhere", show_only=["templates/core/service.yaml"])
    assert {obj["metadata"].get("namespace") for obj in moved.objects} <= {"elsewhere", None}
    assert (
        moved.text
        == render(
            inputs.chart,
            inputs.values_files,
            release=inputs.release,
            namespace="elsewhere",
            kube_version=inputs.kube_version,
            api_versions=inputs.api_versions,
            show_only=["templates/core/service.yaml"],
        ).text
    )
    assert inputs.namespace != "elsewhere"
