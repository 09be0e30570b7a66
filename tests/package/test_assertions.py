"""archangel_helm.testing.assertions: each assertion passes on a real render and fails, with a useful message, on a
broken one. "Real" is the fixture chart tests/fixtures/charts/assertions and the shipped chart with the
production values; "broken" is the fixture chart with broken=true (see its templates)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from archangel_helm import Manifest, RenderError, render
from archangel_helm.core.paths import PathSyntaxError
from archangel_helm.plan.environments import load_environment
from archangel_helm.testing import assertions as a
from tests.support.project import FIXTURES, PROJECT

CHART = FIXTURES / "charts" / "assertions"
IMAGE = 'spec.template.spec.containers[?name=="web"].image'
WEB = "spec.template.spec.containers[0]"


@pytest.fixture(scope="module")
def good() -> Manifest:
    return render(CHART)


@pytest.fixture(scope="module")
def broken() -> Manifest:
    return render(CHART, set_values={"broken": True})


@pytest.fixture(scope="module")
def production() -> Manifest:
    return load_environment(PROJECT, "production").with_example_values().inputs("archangel").render()


def deployment(manifest: Manifest) -> a.Documents:
    return a.select(manifest, kind="Deployment", name="archangel-web")


def fails(pattern: str) -> pytest.RaisesExc[AssertionError]:
    """pytest.raises for an assertion failure whose message matches ``pattern`` (re.DOTALL: messages span lines)."""
    return pytest.raises(AssertionError, match=re.compile(pattern, re.DOTALL))


# --------------------------------------------------------------------------------------------- documents


def test_has_documents_counts_all_or_those_of_a_kind_and_name(good: Manifest, production: Manifest) -> None:
    a.has_documents(good, 4)
    a.has_documents(good)
    a.has_documents(production, 2, kind="Deployment")
    a.has_documents(production, 1, kind="HorizontalPodAutoscaler", name="archangel-agents")
    a.has_documents(production, 0, kind="ScaledObject")  # KEDA is the alternative to our HPA, never both
    a.has_documents(a.select(production, kind="Deployment"), 1, name="archangel-core")  # selection, then count


def test_has_documents_fails_with_the_count_and_what_is_there(broken: Manifest) -> None:
    with fails(
        r"expected 1 document matching kind='Service' in the manifest, found 0.*all documents: Secret/archangel-web"
    ):
        a.has_documents(broken, 1, kind="Service")
    with fails(
        r"expected 4 documents in the manifest, found 3: Secret/archangel-web \(assertions/templates/secret.yaml\)"
    ):
        a.has_documents(broken, 4)


def test_contains_document_finds_by_kind_api_version_name_and_namespace(production: Manifest) -> None:
    a.contains_document(production, "ServiceMonitor", "monitoring.coreos.com/v1", name="archangel-core")
    a.contains_document(production, "HorizontalPodAutoscaler", "autoscaling/v2", namespace="archangel")
    a.contains_document(production, "ScaledObject", negate=True)


def test_contains_document_fails_naming_the_documents_of_that_kind(broken: Manifest, good: Manifest) -> None:
    with fails(r"no document with kind='Service', api_version='v1'.*Service documents there: none.*all documents: "):
        a.contains_document(broken, "Service", "v1")
    with fails(
        r"no document with kind='Deployment', name='other'.*Deployment documents there: Deployment/archangel-web"
    ):
        a.contains_document(good, "Deployment", name="other")
    with fails(r"expected no document with kind='Service', found \['Service/archangel-web"):
        a.contains_document(good, "Service", negate=True)


def test_is_kind_and_is_api_version_hold_for_every_selected_document(production: Manifest) -> None:
    workloads = a.select(production, kind="Deployment")
    a.is_kind(workloads, "Deployment")
    a.is_api_version(workloads, "apps/v1")
    a.is_api_version(a.select(production, kind="HorizontalPodAutoscaler"), "autoscaling/v2")
    a.is_kind(workloads, "StatefulSet", negate=True)


def test_is_kind_and_is_api_version_fail_naming_each_wrong_document(broken: Manifest) -> None:
    with fails(
        r'is_kind failed on 2 of 3 documents \(the manifest\).*- Secret/archangel-web.*path:     kind.*expected: "Deployment".*actual:   "Secret"'
    ):
        a.is_kind(broken, "Deployment")
    with fails(
        r'is_api_version\(negate=True\) failed on Deployment/archangel-web.*expected: not "apps/v1".*actual:   "apps/v1"'
    ):
        a.is_api_version(deployment(broken), "apps/v1", negate=True)


# ---------------------------------------------------------------------------------------------- select


def test_select_by_kind_name_labels_where_and_template_matches_many(production: Manifest) -> None:
    core = a.select(production, labels={"app.kubernetes.io/component": "core"}, kind="Deployment", match_many=False)
    assert [d["metadata"]["name"] for d in core] == ["archangel-core"]
    # Services come from several templates: the selector spans them all (helm-unittest #275/#590).
    services = a.select(production, kind="Service", where={"spec.type": "ClusterIP"})
    assert len(services) >= 4
    a.is_subset(services, "metadata.labels", {"app.kubernetes.io/instance": "archangel"})
    a.has_documents(a.select(production, template="core/*.yaml", kind="Deployment"), 1)
    a.has_documents(a.select(production, kind="Deployment", index=-1), 1)


def test_select_fails_when_nothing_or_too_much_matches(production: Manifest) -> None:
    with fails(r"select\(kind='Deployment', name='nope'\) matched no document; documents there: PriorityClass/"):
        a.select(production, kind="Deployment", name="nope")
    with fails(r"select\(kind='Deployment'\) matched 2 documents, expected one: Deployment/archangel-agents"):
        a.select(production, kind="Deployment", match_many=False)
    with fails(r"index 5 is out of range, 2 documents matched"):
        a.select(production, kind="Deployment", index=5)


def test_an_empty_selection_fails_assertions_unless_allowed(good: Manifest) -> None:
    nothing = a.select(good, kind="CronJob", allow_empty=True)
    a.equal(nothing, "spec.schedule", "never checked")  # helm-unittest's skipEmptyTemplates
    with fails(r"equal failed: no documents to check in 0 documents"):
        a.equal([], "spec.schedule", "x")


def test_assertions_apply_to_each_selected_document_and_report_every_failure(broken: Manifest) -> None:
    with fails(
        r"is_subset failed on 3 of 3 documents.*- Secret/.*- ConfigMap/.*- Deployment/.*missing \(expected \"assertions\"\)"
    ):
        a.is_subset(broken, "metadata.labels", {"app.kubernetes.io/name": "assertions"})


def test_a_single_object_or_a_list_of_objects_is_a_target(good: Manifest) -> None:
    container = good.get("Deployment", "archangel-web")["spec"]["template"]["spec"]["containers"][0]
    a.equal(container, "name", "web")
    with fails(r"equal failed on the object\n  path:     name"):
        a.equal(container, "name", "sidecar")
    a.is_kind(good.of_kind("Service"), "Service")


# ------------------------------------------------------------------------------------------------ equal


def test_equal_on_scalars_structures_brackets_filters_and_negative_indexes(
    good: Manifest, production: Manifest
) -> None:
    web = deployment(good)
    a.equal(web, "spec.replicas", 2)
    a.equal(web, IMAGE, "registry.example/web:1.0.0")
    a.equal(web, 'metadata.annotations["example.com/owner"]', "platform")
    a.equal(web, "metadata.labels['app.kubernetes.io/name']", "assertions")
    a.equal(web, "spec.template.spec.containers[-1].name", "sidecar")
    a.equal(web, f"{WEB}.ports", [{"name": "http", "containerPort": 8080}])
    core = a.select(production, kind="Deployment", name="archangel-core")
    a.equal(core, 'spec.template.spec.containers[?name=="core"].env[?name=="DATABASE_PORT"].value', "5432")
    hpa = a.select(production, kind="HorizontalPodAutoscaler", name="archangel-agents")
    a.equal(hpa, 'spec.metrics[?type=="Pods"].pods.metric.name', "agent_decisions_per_second")


def test_equal_fails_with_types_shown_so_2_and_quoted_2_differ(broken: Manifest) -> None:
    with fails(
        r'equal failed on Deployment/archangel-web \(assertions/templates/deployment.yaml\)\n  path:     spec.replicas\n  expected: 2\n  actual:   "2"'
    ):
        a.equal(deployment(broken), "spec.replicas", 2)
    with fails(r"expected: true\n  actual:   1"):
        a.equal({"kind": "X", "v": 1}, "v", True)  # a bool is not a number, although Python says 1 == True


def test_equal_on_a_structure_fails_with_a_diff(broken: Manifest) -> None:
    expected = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}
    with fails(r"diff:\n    --- expected\n    \+\+\+ actual.*-  cpu: 500m\n.*\+  cpu: 250m"):
        a.equal(deployment(broken), f"{WEB}.resources", expected)


def test_equal_decodes_base64_secret_data_one_key_or_all(good: Manifest) -> None:
    secret = a.select(good, kind="Secret")
    a.equal(secret, "data.password", "s3cret", decode_base64=True)
    a.equal(secret, "data", {"password": "s3cret"}, decode_base64=True)
    a.equal(secret, "data.password", "s3cret", negate=True)  # still encoded without the flag


def test_equal_decode_base64_fails_on_data_that_is_not_base64(broken: Manifest) -> None:
    with fails(
        r'path:     data.password\n  expected: "s3cret"\n  actual:   "not-base64!"\n  note: decode_base64: "not-base64!" is not base64'
    ):
        a.equal(a.select(broken, kind="Secret"), "data.password", "s3cret", decode_base64=True)


def test_negated_equal_passes_on_a_difference_and_fails_on_equality(good: Manifest, broken: Manifest) -> None:
    a.equal(deployment(good), IMAGE, "registry.example/web:latest", negate=True)
    with fails(
        r'equal\(negate=True\) failed on Deployment/archangel-web.*expected: not "registry.example/web:latest"\n  actual:   "registry.example/web:latest"'
    ):
        a.equal(deployment(broken), IMAGE, "registry.example/web:latest", negate=True)


def test_a_path_that_does_not_resolve_names_the_failed_segment_and_what_was_there(good: Manifest) -> None:
    web = deployment(good)
    with fails(
        r"path:     spec.template.spec.containers\[3\].image\n.*actual:   \(the path does not resolve\)\n  why: segment '\[3\]' failed at spec.template.spec.containers: index 3 out of range \(2 items; valid: 0..1 or -2..-1\)"
    ):
        a.equal(web, "spec.template.spec.containers[3].image", "x")
    with fails(
        r"why: segment 'imagee' failed at spec.template.spec.containers\[0\]: no key 'imagee'; keys there: name, image, ports, env, resources"
    ):
        a.equal(web, f"{WEB}.imagee", "x", negate=True)  # both polarities need the path: absence is exists(negate)
    with fails(r"why: segment 'x' failed at spec.replicas: int 2, not a mapping"):
        a.equal(web, "spec.replicas.x", 1)


def test_a_bad_path_is_a_usage_error_not_an_assertion_failure(good: Manifest) -> None:
    with pytest.raises(PathSyntaxError, match=r"bad path 'metadata.labels\[\"a': unclosed \""):
        a.equal(good, 'metadata.labels["a', "x")


# ---------------------------------------------------------------------------------------- exists / null


def test_exists_and_its_negation(good: Manifest, production: Manifest) -> None:
    a.exists(deployment(good), 'metadata.annotations["example.com/owner"]')
    a.exists(deployment(good), "spec.template.spec.containers[*].resources.limits")  # in every container
    workloads = a.select(production, kind="Deployment")
    a.exists(workloads, "metadata.labels['app.kubernetes.io/name']")
    a.exists(workloads, "spec.template.spec.hostNetwork", negate=True)
    a.exists(
        a.select(production, kind="Deployment", name="archangel-agents"), "spec.replicas", negate=True
    )  # HPA owns it
    a.exists(deployment(good), "spec.template.spec.hostNetwork", negate=True)


def test_exists_fails_with_the_keys_that_were_there(broken: Manifest) -> None:
    with fails(
        r"""exists failed on Deployment/archangel-web.*path:     metadata.annotations\["example.com/owner"\].*why: segment '\["example.com/owner"\]' failed at metadata.annotations: no key 'example.com/owner'; keys there: checksum/config"""
    ):
        a.exists(deployment(broken), 'metadata.annotations["example.com/owner"]')
    with fails(r"why: segment 'env' failed at spec.template.spec.containers\[1\]: no key 'env'"):
        a.exists(deployment(broken), "spec.template.spec.containers[*].env")


def test_negated_exists_fails_showing_the_value_found(broken: Manifest) -> None:
    with fails(
        r"exists\(negate=True\) failed on Deployment/archangel-web.*path:     spec.template.spec.hostNetwork\n  expected: no value \(the path not to resolve\)\n  actual:   true"
    ):
        a.exists(deployment(broken), "spec.template.spec.hostNetwork", negate=True)


def test_is_null_or_empty(good: Manifest) -> None:
    a.is_null_or_empty(deployment(good), "spec.template.spec.tolerations")
    a.is_null_or_empty(a.select(good, kind="ConfigMap"), "data.EXTRA")
    a.is_null_or_empty(deployment(good), f"{WEB}.securityContext.allowPrivilegeEscalation")  # false is a zero value
    a.is_null_or_empty(deployment(good), f"{WEB}.env", negate=True)


def test_is_null_or_empty_fails_on_a_value_and_on_a_missing_path(broken: Manifest) -> None:
    with fails(
        r'path:     spec.template.spec.tolerations\n  expected: null or empty\n  actual:   \[\{"operator": "Exists"\}\]'
    ):
        a.is_null_or_empty(deployment(broken), "spec.template.spec.tolerations")
    with fails(r"why: segment 'nodeSelector' failed at spec.template.spec"):
        a.is_null_or_empty(deployment(broken), "spec.template.spec.nodeSelector")
    with fails(
        r'is_null_or_empty\(negate=True\) failed on ConfigMap/archangel-web.*expected: not null or empty\n  actual:   ""'
    ):
        a.is_null_or_empty(a.select(render(CHART), kind="ConfigMap"), "data.EXTRA", negate=True)


# ------------------------------------------------------------------------------------- subset / contains


def test_is_subset_compares_nested_mappings_key_by_key(good: Manifest, production: Manifest) -> None:
    a.is_subset(
        good, "metadata.labels", {"app.kubernetes.io/name": "assertions", "app.kubernetes.io/instance": "archangel"}
    )
    a.is_subset(deployment(good), f"{WEB}.resources", {"limits": {"cpu": "500m"}})
    core = a.select(production, kind="Service", name="archangel-core")
    a.is_subset(core, "spec.selector", {"app.kubernetes.io/component": "core"})
    a.is_subset(core, "spec.selector", {"app.kubernetes.io/component": "agents"}, negate=True)


def test_is_subset_fails_listing_each_difference(broken: Manifest) -> None:
    with fails(
        r"differences:\n    limits.cpu: expected \"500m\", found \"250m\"\n    limits.gpu: missing \(expected 1\)"
    ):
        a.is_subset(deployment(broken), f"{WEB}.resources", {"limits": {"cpu": "500m", "gpu": 1}})
    with fails(r"note: the value is list, not a map"):
        a.is_subset(deployment(broken), f"{WEB}.env", {"name": "PORT"})


def test_contains_an_item_exactly_partially_and_a_number_of_times(good: Manifest, production: Manifest) -> None:
    web = deployment(good)
    a.contains(web, f"{WEB}.env", {"name": "LOG_LEVEL", "value": "info"})
    a.contains(web, f"{WEB}.env", {"name": "LOG_LEVEL"}, any=True)
    a.contains(web, f"{WEB}.env", {"name": "PORT"}, any=True, count=1)
    a.contains(web, f"{WEB}.env", {"name": "DEBUG"}, any=True, negate=True)
    core = a.select(production, kind="Deployment", name="archangel-core")
    a.contains(core, "spec.template.spec.containers[0].ports", {"name": "http"}, any=True)
    # The secrets hook may create secrets: a rule whose verbs are exactly [create].
    a.contains(
        a.select(production, kind="Role", name="archangel-secrets-hook"), "rules", {"verbs": ["create"]}, any=True
    )


def test_contains_fails_showing_the_list_and_how_many_matched(broken: Manifest, good: Manifest) -> None:
    with fails(
        r'contains failed on Deployment/archangel-web.*expected: a list with an item including \{"name": "LOG_LEVEL"\}\n  actual:   \[\{"name": "PORT", "value": "8080"\}\]\n  note: found 0 matching items'
    ):
        a.contains(deployment(broken), f"{WEB}.env", {"name": "LOG_LEVEL"}, any=True)
    with fails(r"exactly 2 times.*note: found 1 matching item$"):
        a.contains(deployment(good), f"{WEB}.env", {"name": "PORT"}, any=True, count=2)
    with fails(r'expected: not a list with the item \{"name": "PORT", "value": "8080"\}'):
        a.contains(deployment(good), f"{WEB}.env", {"name": "PORT", "value": "8080"}, negate=True)


def test_length_equal_on_lists_maps_and_strings(good: Manifest) -> None:
    web = deployment(good)
    a.length_equal(web, "spec.template.spec.containers", 2)
    a.length_equal(web, f"{WEB}.env", 2)
    a.length_equal(web, f"{WEB}.resources.limits", 2)
    a.length_equal(web, f"{WEB}.name", 3)
    a.length_equal(web, "spec.template.spec.containers", 3, negate=True)


def test_length_equal_fails_with_the_actual_length(broken: Manifest) -> None:
    with fails(r"length_equal failed on Deployment/archangel-web.*expected: length 2\n.*note: its length is 1"):
        a.length_equal(deployment(broken), f"{WEB}.env", 2)
    with fails(r"note: the value is int, which has no length"):
        a.length_equal(deployment(broken), f"{WEB}.ports[0].containerPort", 4)


# ------------------------------------------------------------------------------------------ type / order


@pytest.mark.parametrize(
    ("path", "type_"),
    [
        ("spec.replicas", "int"),
        ("spec.replicas", int),
        ("spec.replicas", "number"),
        ("metadata.name", "string"),
        ("metadata.labels", "map[string]interface {}"),
        ("metadata.labels", dict),
        ("spec.template.spec.containers", "list"),
        (f"{WEB}.securityContext.runAsNonRoot", "bool"),
    ],
)
def test_is_type_accepts_our_go_and_python_type_names(good: Manifest, path: str, type_: str | type) -> None:
    a.is_type(deployment(good), path, type_)


def test_is_type_fails_naming_the_actual_type(broken: Manifest) -> None:
    with fails(
        r'is_type failed on Deployment/archangel-web.*path:     spec.replicas\n  expected: type int\n  actual:   "2"\n  note: it is string'
    ):
        a.is_type(deployment(broken), "spec.replicas", int)
    with fails(r"expected: not type bool"):
        a.is_type(deployment(broken), "spec.template.spec.hostNetwork", bool, negate=True)
    with pytest.raises(ValueError, match=r"unknown type name 'integr'; known: "):
        a.is_type(deployment(broken), "spec.replicas", "integr")


def test_greater_and_less_or_equal_compare_numbers_and_quantities(good: Manifest, production: Manifest) -> None:
    web = deployment(good)
    a.greater_or_equal(web, "spec.replicas", 1)
    a.greater_or_equal(web, f"{WEB}.resources.limits.cpu", "0.5")  # "500m" and 0.5 are the same quantity
    a.less_or_equal(web, f"{WEB}.resources.limits.memory", "1Gi")
    a.less_or_equal(web, "spec.template.spec.containers[*].resources.limits.cpu", 1)
    containers = "spec.template.spec.containers[*].resources.limits.memory"
    a.greater_or_equal(a.select(production, kind="Deployment"), containers, "512Mi")
    a.less_or_equal(a.select(production, kind="StatefulSet"), containers, "64Gi")
    a.greater_or_equal(web, "spec.replicas", 3, negate=True)


def test_greater_or_equal_fails_with_both_sides_in_base_units(broken: Manifest) -> None:
    with fails(
        r'greater_or_equal failed on Deployment/archangel-web.*path:     spec.template.spec.containers\[0\].resources.limits.memory \(from spec.template.spec.containers\[\*\].resources.limits.memory\)\n  expected: >= "128Mi"\n  actual:   "64Mi"\n  note: in base units, 67108864 against 134217728\n\n  path:     spec.template.spec.containers\[1\]'
    ):
        a.greater_or_equal(deployment(broken), "spec.template.spec.containers[*].resources.limits.memory", "128Mi")
    with fails(r'less_or_equal failed.*expected: <= "100m"\n  actual:   "250m"'):
        a.less_or_equal(deployment(broken), f"{WEB}.resources.limits.cpu", "100m")
    with fails(r'note: "registry.example/web:latest" is neither a number nor a Kubernetes quantity'):
        a.less_or_equal(deployment(broken), f"{WEB}.image", 1)
    with pytest.raises(ValueError, match=r"bound 'lots' is neither a number nor a Kubernetes quantity"):
        a.greater_or_equal(deployment(broken), "spec.replicas", "lots")


# ------------------------------------------------------------------------------------------------ regex


def test_match_regex_and_its_negation(good: Manifest, production: Manifest) -> None:
    images = "spec.template.spec.containers[*].image"
    workloads = a.select(production, kind="Deployment")
    a.match_regex(workloads, images, r":\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$")  # pinned
    a.match_regex(workloads, images, r":latest$", negate=True)
    a.match_regex(a.select(good, kind="Secret"), "data.password", r"^s3", decode_base64=True)
    a.match_regex(deployment(good), IMAGE, r"latest", negate=True)


def test_match_regex_fails_with_the_pattern_and_the_string(broken: Manifest) -> None:
    with fails(
        r'match_regex failed on Deployment/archangel-web.*path:     spec.template.spec.containers\[0\].image \(from spec.template.spec.containers\[\*\].image\)\n  expected: a string matching /:\\d\+\\.\\d\+\\.\\d\+\$/\n  actual:   "registry.example/web:latest"'
    ):
        a.match_regex(deployment(broken), "spec.template.spec.containers[*].image", r":\d+\.\d+\.\d+$")
    with fails(
        r'match_regex\(negate=True\) failed.*expected: not a string matching /:latest\$/\n  actual:   "registry.example/web:latest"'
    ):
        a.match_regex(deployment(broken), IMAGE, r":latest$", negate=True)
    with fails(r'actual:   "not-base64!"\n  note: decode_base64: "not-base64!" is not base64 of UTF-8 text'):
        a.match_regex(a.select(broken, kind="Secret"), "data.password", r"s3", decode_base64=True)
    with fails(r"note: the value is int, not a string"):
        a.match_regex(deployment(broken), f"{WEB}.ports[0].containerPort", r"80")


# ------------------------------------------------------------------------------------------ failed render


def test_failed_template_with_message_or_pattern_returns_the_error() -> None:
    error = a.failed_template(lambda: render(CHART, set_values={"replicas": 0}), message="replicas must be at least 1")
    assert isinstance(error, RenderError)
    a.failed_template(lambda: render(CHART, set_values={"image.tag": ""}), pattern=r"image\.tag is required$")
    a.failed_template(error, message="got 0")  # an error caught already
    a.failed_template(lambda: render(CHART, set_values={"replicas": 0}))  # any failure


def test_failed_template_fails_when_the_chart_renders_or_says_something_else() -> None:
    with fails(r'expected the render to fail with a message containing "boom", but it rendered Secret/archangel-web'):
        a.failed_template(lambda: render(CHART), message="boom")
    with fails(
        r'helm\'s error does not contain "replicas must be at least 2"\n  helm said:\n    .*replicas must be at least 1, got 0'
    ):
        a.failed_template(lambda: render(CHART, set_values={"replicas": 0}), message="replicas must be at least 2")
    with fails(r"helm's error does not match /\^replicas/"):
        a.failed_template(lambda: render(CHART, set_values={"replicas": 0}), pattern=r"^replicas")


def test_renders_returns_the_manifest_or_fails_with_helms_message(good: Manifest) -> None:
    manifest = a.renders(lambda: render(CHART))
    a.has_documents(manifest, 4)
    assert a.renders(good) is good
    with fails(r"renders failed: the render failed:\n  .*image.tag is required"):
        a.renders(lambda: render(CHART, set_values={"image.tag": ""}))


# ---------------------------------------------------------------------------------------------- schema


def test_is_valid_schema_on_a_real_render(good: Manifest, production: Manifest) -> None:
    a.is_valid_schema(good)
    a.is_valid_schema(a.select(production, kind="Deployment"))


def test_is_valid_schema_fails_listing_each_problem(broken: Manifest) -> None:
    with fails(
        r"is_valid_schema failed on Deployment/archangel-web.*2 problems:\n    spec.replicas: got string '2', want integer.*\n    spec.template.spec.containers\[1\].imagePullPolice: unknown field"
    ):
        a.is_valid_schema(deployment(broken))
    with fails(r"expected: at least one schema problem"):
        a.is_valid_schema(a.select(broken, kind="ConfigMap"), negate=True)


# ---------------------------------------------------------------------------------------------- messages


def test_long_values_are_shown_as_yaml_and_clipped() -> None:
    big: dict[str, Any] = {
        "kind": "ConfigMap",
        "metadata": {"name": "big"},
        "data": {f"key{i}": "v" * 10 for i in range(60)},
    }
    with pytest.raises(AssertionError) as raised:
        a.equal(big, "data", {})
    message = str(raised.value)
    assert "  actual:\n    key0: vvvvvvvvvv\n    key1: vvvvvvvvvv" in message
    assert "... (35 more lines)" in message
    assert len(message) < 6000


def test_many_failures_are_counted_not_all_listed() -> None:
    objects = [{"kind": "ConfigMap", "metadata": {"name": f"cm{i}"}, "data": {}} for i in range(14)]
    with fails(r"equal failed on 14 of 14 documents \(14 documents\).*- ConfigMap/cm9\n.*\.\.\. and 4 more failures$"):
        a.equal(objects, "data", {"x": "1"})


def test_value_at_reads_one_value_for_custom_checks(good: Manifest) -> None:
    assert a.value_at(good.get("Deployment", "archangel-web"), IMAGE) == "registry.example/web:1.0.0"


def test_the_reference_page_documents_every_public_name() -> None:
    page = (PROJECT / "docs" / "ASSERTIONS.md").read_text()
    missing = [name for name in a.__all__ if f"{name}(" not in page and f"`{name}`" not in page]
    assert not missing, f"docs/ASSERTIONS.md does not mention {missing}"


def test_one_negation_style_every_opposite_is_negate_true() -> None:
    """helm-unittest has both `not: true` and notX twins; the library keeps one: a `negate` keyword."""
    import inspect

    twins = [name for name in a.__all__ if name.startswith("not_")]
    assert not twins, f"negated twins {twins}: use negate=True"
    takes_negate = {
        name
        for name in a.__all__
        if inspect.isfunction(getattr(a, name)) and "negate" in inspect.signature(getattr(a, name)).parameters
    }
    # no opposite: the render pair (failed_template / renders), has_documents (count=0), selection, snapshots
    no_opposite = {
        "has_documents",
        "documents",
        "select",
        "one",
        "failed_template",
        "failed_values_schema",
        "renders",
        "match_snapshot",
        "value_at",
    }
    functions = {name for name in a.__all__ if inspect.isfunction(getattr(a, name))}
    assert functions - no_opposite == takes_negate


def test_one_selects_exactly_one_document_or_fails_listing_what_is_there(good: Manifest) -> None:
    assert len(a.one(good, "Deployment", "archangel-web")) == 1
    with pytest.raises(AssertionError, match=r"select\(kind='Deployment', name='archangel-webb'\) matched no document"):
        a.one(good, "Deployment", "archangel-webb")
    twice = [*good.objects, *good.objects]
    with pytest.raises(AssertionError, match=r"matched 2 documents, expected one"):
        a.one(twice, "Deployment", "archangel-web")
