"""render(): helm invocation, parsing, errors, set_values and the cache."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import textwrap
from pathlib import Path

import pytest

from archangel_helm import Manifest, ObjectNotFoundError, RenderError, find_helm, render
from archangel_helm.core.render import expand_dotted
from archangel_helm.core.render_cache import RenderCache
from tests.support.project import FIXTURES

WORKLOADS = FIXTURES / "charts" / "workloads"


@pytest.fixture
def cache(tmp_path: Path) -> RenderCache:
    return RenderCache(tmp_path / "cache")


def test_render_returns_objects_in_helms_install_order_hooks_last(cache: RenderCache) -> None:
    manifest = render(WORKLOADS, cache=cache)
    assert [o["kind"] for o in manifest] == [
        "Service",
        "DaemonSet",
        "Pod",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "Job",
    ]
    assert manifest.source_of(manifest.get("Service", "web")) == "workloads/templates/workloads.yaml"
    assert manifest.kinds()["Deployment"] == 1


def test_get_names_what_is_there_when_the_object_is_missing(cache: RenderCache) -> None:
    manifest = render(WORKLOADS, cache=cache)
    with pytest.raises(ObjectNotFoundError, match=r"no Deployment named 'nope'.*\['web'\]"):
        manifest.get("Deployment", "nope")
    assert manifest.find("Deployment", "nope") is None


def test_select_runs_jmespath_over_all_objects(cache: RenderCache) -> None:
    manifest = render(WORKLOADS, cache=cache)
    assert manifest.select("[?kind=='Service'].spec.ports[0].name") == ["http"]
    assert manifest.select("[?kind=='Deployment'].metadata.annotations.\"a.b/c\"") == ["dotted"]


def test_pod_templates_cover_every_pod_owning_kind_including_jobs_and_cronjobs(cache: RenderCache) -> None:
    manifest = render(WORKLOADS, cache=cache)
    found = {(t.owner_kind, t.owner_name): t for t in manifest.pod_templates()}
    assert set(found) == {
        ("Deployment", "web"),
        ("StatefulSet", "db"),
        ("DaemonSet", "agent"),
        ("Job", "migrate"),
        ("CronJob", "nightly"),
        ("Pod", "probe"),
    }
    assert found[("CronJob", "nightly")].path == ("spec", "jobTemplate", "spec", "template")
    assert found[("CronJob", "nightly")].labels == {"app": "nightly"}
    assert found[("Job", "migrate")].spec["restartPolicy"] == "Never"
    assert found[("Pod", "probe")].containers()[0]["name"] == "main"


def test_hooks_lists_objects_with_a_helm_hook_annotation(cache: RenderCache) -> None:
    assert [o["metadata"]["name"] for o in render(WORKLOADS, cache=cache).hooks()] == ["migrate"]


def test_a_failing_render_raises_with_helms_message(cache: RenderCache) -> None:
    with pytest.raises(RenderError) as caught:
        render(WORKLOADS, set_values={"failMe": True}, cache=cache)
    assert "failMe: the fixture chart was asked to fail" in caught.value.helm_message
    assert caught.value.returncode == 1
    assert "helm template of" in str(caught.value)


def test_a_schema_violation_raises_naming_the_value(cache: RenderCache) -> None:
    with pytest.raises(RenderError) as caught:
        render(WORKLOADS, set_values={"replicas": "three"}, cache=cache)
    assert "replicas" in caught.value.helm_message


def test_set_values_keep_their_json_types(cache: RenderCache) -> None:
    manifest = render(WORKLOADS, set_values={"replicas": 5}, cache=cache)
    assert manifest.get("Deployment", "web")["spec"]["replicas"] == 5


def test_values_files_are_applied_in_order(tmp_path: Path, cache: RenderCache) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("replicas: 3\n")
    second.write_text("replicas: 4\n")
    assert render(WORKLOADS, [first, second], cache=cache).get("Deployment", "web")["spec"]["replicas"] == 4


def test_expand_dotted_builds_nested_values_and_keeps_dotted_keys_in_nested_maps() -> None:
    assert expand_dotted({"a.b": 1, "a.c": {"x.y/z": 2}, "d": 3}) == {"a": {"b": 1, "c": {"x.y/z": 2}}, "d": 3}


def test_release_namespace_and_kube_version_reach_the_chart(tmp_path: Path, cache: RenderCache) -> None:
    chart = tmp_path / "caps"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: caps\nversion: 0.1.0\nkubeVersion: '>=1.29.0-0'\n")
    (chart / "templates" / "cm.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}
          namespace: {{ .Release.Namespace }}
        data:
          kube: {{ .Capabilities.KubeVersion.Version | quote }}
          vpa: {{ .Capabilities.APIVersions.Has "autoscaling.k8s.io/v1/VerticalPodAutoscaler" | quote }}
          upgrade: {{ .Release.IsUpgrade | quote }}
        """)
    )
    manifest = render(
        chart,
        release="rel",
        namespace="ns",
        kube_version="1.31.4",
        api_versions=["autoscaling.k8s.io/v1/VerticalPodAutoscaler"],
        is_upgrade=True,
        cache=cache,
    )
    configmap = manifest.get("ConfigMap", "rel")
    assert configmap["metadata"]["namespace"] == "ns"
    assert configmap["data"] == {"kube": "v1.31.4", "vpa": "true", "upgrade": "true"}


# --- cache -------------------------------------------------------------------------------------------------


def test_second_render_is_served_from_memory(cache: RenderCache) -> None:
    render(WORKLOADS, cache=cache)
    render(WORKLOADS, cache=cache)
    assert (cache.stats.misses, cache.stats.memory_hits) == (1, 1)


def test_a_new_process_reads_the_disk_cache(cache: RenderCache) -> None:
    render(WORKLOADS, cache=cache)
    fresh = RenderCache(cache.directory)
    render(WORKLOADS, cache=fresh)
    assert (fresh.stats.misses, fresh.stats.disk_hits) == (0, 1)


def test_failed_renders_are_cached_too(cache: RenderCache) -> None:
    for _ in range(2):
        with pytest.raises(RenderError):
            render(WORKLOADS, set_values={"failMe": True}, cache=cache)
    assert (cache.stats.misses, cache.stats.memory_hits) == (1, 1)


@pytest.mark.parametrize("change", ["template", "values", "set", "kube_version", "api_versions", "namespace"])
def test_every_input_that_shapes_the_output_is_part_of_the_key(tmp_path: Path, change: str) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(WORKLOADS, chart)
    values = tmp_path / "values.yaml"
    values.write_text("replicas: 2\n")
    cache = RenderCache(tmp_path / "cache")
    options: dict[str, object] = {"kube_version": "1.30.0", "api_versions": (), "namespace": "a"}
    render(chart, [values], {"replicas": 2}, cache=cache, **options)  # type: ignore[arg-type]
    set_values = {"replicas": 2}
    if change == "template":
        (chart / "templates" / "extra.yaml").write_text("# a comment changes the chart hash\n")
    elif change == "values":
        values.write_text("replicas: 3\n")
    elif change == "set":
        set_values = {"replicas": 4}
    elif change == "kube_version":
        options["kube_version"] = "1.31.0"
    elif change == "api_versions":
        options["api_versions"] = ("x.example/v1/Thing",)
    else:
        options["namespace"] = "b"
    render(chart, [values], set_values, cache=cache, **options)  # type: ignore[arg-type]
    assert cache.stats.misses == 2


def test_a_corrupt_disk_entry_is_recomputed(cache: RenderCache) -> None:
    render(WORKLOADS, cache=cache)
    assert cache.directory is not None
    for entry in cache.directory.glob("*.json"):
        entry.write_text("{not json")
    fresh = RenderCache(cache.directory)
    assert len(render(WORKLOADS, cache=fresh)) == 7
    assert fresh.stats.misses == 1


def _counting_helm(tmp_path: Path) -> tuple[Path, Path]:
    """A helm wrapper that logs each `template` call, so a test can count real renders."""
    log = tmp_path / "helm-calls.log"
    wrapper = tmp_path / "helm"
    real = find_helm().executable
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = template ] && echo "$$" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def _render_in_child(args: tuple[str, str, str]) -> int:
    helm_path, cache_dir, chart = args
    manifest = render(chart, helm=find_helm(helm_path), cache=RenderCache(Path(cache_dir)))
    return len(manifest)


def test_concurrent_processes_share_one_render(tmp_path: Path) -> None:
    wrapper, log = _counting_helm(tmp_path)
    jobs = [(str(wrapper), str(tmp_path / "shared-cache"), str(WORKLOADS))] * 6
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        counts = pool.map_async(_render_in_child, jobs).get(timeout=300)
    assert counts == [7] * 6
    assert len(log.read_text().splitlines()) == 1


def test_cache_false_always_runs_helm(tmp_path: Path) -> None:
    wrapper, log = _counting_helm(tmp_path)
    helm = find_helm(wrapper)
    render(WORKLOADS, helm=helm, cache=False)
    render(WORKLOADS, helm=helm, cache=False)
    assert len(log.read_text().splitlines()) == 2


def test_cache_clear_removes_entries(cache: RenderCache) -> None:
    render(WORKLOADS, cache=cache)
    assert cache.clear() == 1
    render(WORKLOADS, cache=cache)
    assert cache.stats.misses == 2


def test_cache_entries_are_plain_json(cache: RenderCache) -> None:
    render(WORKLOADS, cache=cache)
    assert cache.directory is not None
    (entry,) = cache.directory.glob("*.json")
    assert set(json.loads(entry.read_text())) == {"returncode", "stdout", "stderr"}
    assert os.access(entry, os.R_OK)


def test_a_render_error_survives_pickling_with_every_field() -> None:
    # Pool.map and xdist ship exceptions between processes; a lossy pickle used to hang the pool instead.
    import pickle

    error = RenderError("charts/x", ["helm", "template"], 1, "Error: boom\n")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.chart, copy.command, copy.returncode, copy.helm_message) == (
        "charts/x",
        ["helm", "template"],
        1,
        "Error: boom",
    )
    assert str(copy) == str(error)


def test_the_default_kube_version_is_the_newest_schema_and_helm_4s_own_default(tmp_path: Path) -> None:
    from archangel_helm.core.render import DEFAULT_KUBE_VERSION
    from archangel_helm.validate import kubernetes

    newest = kubernetes.shipped_versions()[-1]
    assert f"{newest[0]}.{newest[1]}.0" == DEFAULT_KUBE_VERSION
    chart = tmp_path / "caps"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: caps\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    assert render(chart, cache=False).get("ConfigMap", "c")["data"]["kube"] == f"v{DEFAULT_KUBE_VERSION}"
    helm = find_helm()
    if helm.major >= 4:  # the pinned Helm 4 renders the same without the flag; Helm 3 differs, hence the pin
        plain = helm.run(["template", "x", str(chart)])
        assert f'kube: "v{DEFAULT_KUBE_VERSION}"' in plain.stdout, plain.stderr


def test_another_helm_binary_is_another_cache_entry(tmp_path: Path, cache: RenderCache) -> None:
    wrapper, log = _counting_helm(tmp_path)
    render(WORKLOADS, cache=cache)
    render(WORKLOADS, helm=find_helm(wrapper), cache=cache)  # same version, another executable: not shared
    assert cache.stats.misses == 2
    assert len(log.read_text().splitlines()) == 1


def test_a_missing_object_is_a_failed_assertion_and_a_manifest_prints_short() -> None:
    """In a test, get() of an object the chart did not render fails the test (AssertionError, pytest's failure,
    not an error), names what is there, and the manifest's repr in pytest's report is one line."""
    manifest = Manifest.parse(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
    )
    with pytest.raises(
        AssertionError, match=r"no Service named 'api' in the manifest; Service objects present: \['db', 'web'\]"
    ):
        manifest.get("Service", "api")
    with pytest.raises(KeyError):  # and still a KeyError, for code that caught one
        manifest.get("Service", "api")
    assert repr(manifest) == "<Manifest of 3 objects: 1 Deployment, 2 Service>"


def test_the_tests_render_cache_is_the_repositorys_not_the_users() -> None:
    from archangel_helm.core.render_cache import default_cache_dir
    from tests.support.project import PROJECT, TEST_RENDER_CACHE

    assert default_cache_dir() == TEST_RENDER_CACHE
    assert TEST_RENDER_CACHE.is_relative_to(PROJECT / "build")
    assert not default_cache_dir().is_relative_to(Path.home() / ".cache")


def test_the_plugin_imports_only_pytest_until_a_fixture_is_used() -> None:
    """pytest loads the plugin in every run: its import must not pull the render core, the validators or
    jsonschema (a sixth of a second before); the fixtures import what they use."""
    import subprocess
    import sys

    code = (
        "import sys, archangel_helm.testing.plugin, archangel_helm\n"
        "heavy = [m for m in ('archangel_helm.core.render', 'archangel_helm.validate', 'archangel_helm.testing.assertions', "
        "'jsonschema', 'kubernetes') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    import archangel_helm

    assert archangel_helm.Manifest is Manifest  # the names still load, on first use
    assert archangel_helm.render is render


def test_show_only_renders_only_the_named_templates() -> None:
    chart = Path(__file__).resolve().parents[1] / "fixtures" / "charts" / "docs-example"
    manifest = render(chart, show_only=["templates/core/service.yaml", "templates/core/secret.yaml"])
    assert sorted(manifest.refs()) == [("Secret", "archangel-core"), ("Service", "archangel-core")]
    with pytest.raises(RenderError, match=r"could not find template templates/absent\.yaml"):
        render(chart, show_only=["templates/absent.yaml"])


def test_chart_and_app_versions_render_as_if_chart_yaml_said_so() -> None:
    """helm-unittest's suite-level chart version and appVersion: the chart itself is never edited."""
    chart = Path(__file__).resolve().parents[1] / "fixtures" / "charts" / "docs-example"
    before = (chart / "Chart.yaml").read_text()
    labels = render(chart, chart_version="9.8.7", app_version="2.0.0").get("Service", "archangel-core")["metadata"][
        "labels"
    ]
    assert (labels["helm.sh/chart"], labels["app.kubernetes.io/version"]) == ("docs-example-9.8.7", "2.0.0")
    plain = render(chart).get("Service", "archangel-core")["metadata"]["labels"]
    assert (plain["helm.sh/chart"], plain["app.kubernetes.io/version"]) == ("docs-example-0.1.0", "1.4.2")
    assert (chart / "Chart.yaml").read_text() == before


def test_deploys_one_document_is_what_helm_makes_of_the_files_in_order(tmp_path: Path) -> None:
    """deploy sends pyhelm3 one values document; it must install what `helm -f a -f b` (plan, check, golden)
    renders: a null in a later file deletes the chart's default (merging it away at once let the default
    come back), and a later list replaces an earlier one (pyhelm3's own merge would join them)."""
    from archangel_helm.core.values_layering import layered_values

    chart = Path(__file__).resolve().parents[1] / "fixtures" / "charts" / "docs-example"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("core:\n  replicas: 5\n  logLevel: debug\nimage:\n  tag: '2.0.0'\nextraArgs: [a, b]\n")
    second.write_text("core:\n  logLevel: null\n  replicas: 6\nextraArgs: [c]\n")
    layered = render(chart, [first, second], cache=False)
    one_document = render(chart, set_values=layered_values([first, second]), cache=False)
    assert list(one_document) == list(layered)
    env = layered.get("Deployment", "archangel-core")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "LOG_LEVEL", "value": "info"}  # the null deleted debug; the template's default
    assert layered_values([first, second])["core"] == {"replicas": 6, "logLevel": None}
    assert layered_values([first, second])["extraArgs"] == ["c"]  # replaced, as Helm does; pyhelm3 would join
    args = layered.get("Deployment", "archangel-core")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["c"]


def test_every_lazy_name_of_the_package_loads() -> None:
    import archangel_helm

    assert sorted(archangel_helm.__all__) == sorted(archangel_helm._WHERE)
    for name in archangel_helm.__all__:
        assert getattr(archangel_helm, name) is not None
