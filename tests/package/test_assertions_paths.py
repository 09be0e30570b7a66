"""archangel_helm.core.paths: the path syntax of the assertions, and misses that say which segment failed."""

from __future__ import annotations

from typing import Any

import pytest

from archangel_helm.core.paths import (
    Filter,
    Index,
    Key,
    PathNotFoundError,
    PathSyntaxError,
    Wildcard,
    format_location,
    parse,
    resolve,
    value_at,
)

POD: dict[str, Any] = {
    "metadata": {"labels": {"app.kubernetes.io/name": "web"}, "annotations": {"a.b/c": "dotted", "plain": "x"}},
    "spec": {
        "containers": [
            {"name": "web", "image": "web:1", "ports": [{"name": "http", "containerPort": 8080}]},
            {"name": "sidecar", "image": "side:2", "env": [{"name": "A", "value": "1"}]},
        ],
        "replicas": 2,
        "empty": [],
    },
}


@pytest.mark.parametrize(
    ("path", "segments", "canonical"),
    [
        (
            "spec.containers[0].image",
            (Key("spec"), Key("containers"), Index(0), Key("image")),
            "spec.containers[0].image",
        ),
        (
            'metadata.annotations["a.b/c"]',
            (Key("metadata"), Key("annotations"), Key("a.b/c")),
            'metadata.annotations["a.b/c"]',
        ),
        (
            "metadata.labels['app.kubernetes.io/name']",
            (Key("metadata"), Key("labels"), Key("app.kubernetes.io/name")),
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        (
            "metadata.annotations.a\\.b/c",
            (Key("metadata"), Key("annotations"), Key("a.b/c")),
            'metadata.annotations["a.b/c"]',
        ),
        ("spec.containers[-1]", (Key("spec"), Key("containers"), Index(-1)), "spec.containers[-1]"),
        (
            "spec.containers[*].name",
            (Key("spec"), Key("containers"), Wildcard(), Key("name")),
            "spec.containers[*].name",
        ),
        ("$.spec.containers.*", (Key("spec"), Key("containers"), Wildcard()), "spec.containers[*]"),
        (
            'spec.containers[?(@.name == "web")]',
            (Key("spec"), Key("containers"), Filter(("name",), True, "web")),
            'spec.containers[?name=="web"]',
        ),
        (
            "c[?securityContext.privileged != true]",
            (Key("c"), Filter(("securityContext", "privileged"), False, True)),
            "c[?securityContext.privileged!=true]",
        ),
        ('["a]b"]', (Key("a]b"),), '["a]b"]'),
        ("", (), ""),
    ],
)
def test_parse_reads_dots_brackets_quotes_wildcards_and_filters(
    path: str, segments: tuple[Any, ...], canonical: str
) -> None:
    parsed = parse(path)
    assert parsed.segments == segments
    assert parsed.text == canonical


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a[", r"unclosed '\['"),
        ("a[x]", r"\[x\] is neither an index, '\*', a quoted key nor a \?filter"),
        ("a..b", r"empty key at character 2"),
        ('a["x]', r'unclosed "'),
        ("a]", r"'\]' without '\['"),
        ('a["x"y]', r"expected '\]'"),
        ("a[?name]", r"is not a filter like"),
    ],
)
def test_parse_errors_say_what_and_where(path: str, message: str) -> None:
    with pytest.raises(PathSyntaxError, match=message):
        parse(path)


def test_resolve_returns_concrete_locations_for_wildcards_filters_and_negative_indexes() -> None:
    assert [(m.where, m.value) for m in resolve(POD, "spec.containers[*].image").matches] == [
        ("spec.containers[0].image", "web:1"),
        ("spec.containers[1].image", "side:2"),
    ]
    assert resolve(POD, "spec.containers[-1].name").matches[0].where == "spec.containers[1].name"
    assert resolve(POD, 'spec.containers[?name=="sidecar"].env[0].value').values == ["1"]
    assert resolve(POD, "metadata.annotations.*").values == ["dotted", "x"]
    assert resolve(POD, 'spec.containers[?image!="web:1"].name').values == ["sidecar"]
    assert resolve(POD, "spec.containers[?privileged!=true].name").values == ["web", "sidecar"]  # missing differs
    assert resolve(POD, "").values == [POD]


def test_filters_compare_as_the_assertions_do_a_bool_is_not_a_number() -> None:
    """[?on==1] must not match `on: true` (Python's True == 1), nor [?n==true] match `n: 1`: the library's one
    equality (same_value), as equals() uses."""
    items = {"items": [{"name": "flag", "on": True}, {"name": "one", "on": 1}, {"name": "float", "on": 1.0}]}
    assert resolve(items, "items[?on==1].name").values == ["one", "float"]
    assert resolve(items, "items[?on==true].name").values == ["flag"]
    assert resolve(items, "items[?on!=1].name").values == ["flag"]
    nested = {"items": [{"name": "a", "ports": [80]}, {"name": "b", "ports": (80,)}]}
    assert resolve(nested, "items[?name==a].ports").values == [[80]]


@pytest.mark.parametrize(
    ("path", "miss"),
    [
        (
            "spec.containers[0].imagee",
            "segment 'imagee' failed at spec.containers[0]: no key 'imagee'; keys there: name, image, ports",
        ),
        (
            "spec.containers[2]",
            "segment '[2]' failed at spec.containers: index 2 out of range (2 items; valid: 0..1 or -2..-1)",
        ),
        ("spec.empty[0]", "segment '[0]' failed at spec.empty: index 0 out of range (0 items; the list is empty)"),
        ("spec.replicas.x", "segment 'x' failed at spec.replicas: int 2, not a mapping"),
        ("spec.replicas[0]", "segment '[0]' failed at spec.replicas: int 2, not a list"),
        ("spec.containers.name", "segment 'name' failed at spec.containers: a list of 2 items, not a mapping"),
        ("spec.empty[*]", "segment '[*]' failed at spec.empty: a list of 0 items: nothing to iterate"),
        (
            'spec.containers[?name=="db"]',
            'segment \'[?name=="db"]\' failed at spec.containers: no item matches; name values there: "sidecar", "web"',
        ),
        (
            'metadata.labels["app"]',
            "segment 'app' failed at metadata.labels: no key 'app'; keys there: app.kubernetes.io/name",
        ),
    ],
)
def test_a_miss_names_the_failed_segment_and_what_was_there(path: str, miss: str) -> None:
    resolution = resolve(POD, path)
    assert resolution.matches == ()
    assert [str(m) for m in resolution.misses] == [miss]


def test_a_wildcard_reports_each_branch_that_stops_short() -> None:
    resolution = resolve(POD, "spec.containers[*].env")
    assert resolution.values == [[{"name": "A", "value": "1"}]]
    assert [str(m) for m in resolution.misses] == [
        "segment 'env' failed at spec.containers[0]: no key 'env'; keys there: name, image, ports"
    ]


def test_value_at_returns_one_value_or_raises_with_the_miss() -> None:
    assert value_at(POD, 'metadata.annotations["a.b/c"]') == "dotted"
    with pytest.raises(PathNotFoundError, match=r"path spec.containers\[5\] does not resolve: segment '\[5\]' failed"):
        value_at(POD, "spec.containers[5]")
    with pytest.raises(PathNotFoundError, match=r"names 2 values, expected exactly 1"):
        value_at(POD, "spec.containers[*].name")


def test_format_location_quotes_keys_that_are_not_plain() -> None:
    assert (
        format_location(("metadata", "labels", "app.kubernetes.io/name")) == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert format_location(("spec", "containers", 0, "my key")) == 'spec.containers[0]["my key"]'
    assert format_location(()) == "(the object itself)"
