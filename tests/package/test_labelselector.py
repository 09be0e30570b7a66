"""The one label-selector implementation: the string form (kubectl, the API's labelSelector) read into a
LabelSelector, and matched as the API server matches it."""

from __future__ import annotations

import pytest

from archangel_helm.core.labelselector import matches, parse_selector

LABELS = {"app": "web", "tier": "front", "canary": ""}


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # a label that is absent differs from any value
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("missing notin (x)", True),
        ("canary", True),  # a bare key: the label exists, whatever its value
        ("!canary", False),
        ("!missing", True),
        ("app=web,tier in (back),canary", False),  # every term must hold
        ("app=web, tier in (front,back) ,canary", True),
        ("", True),  # no term: everything, as the API server reads an empty selector
    ],
)
def test_the_string_form_matches_as_the_api_server_does(selector: str, selected: bool) -> None:
    assert matches(parse_selector(selector), LABELS) is selected


def test_parsing_gives_a_label_selector() -> None:
    assert parse_selector("a=b,c!=d,e in (f,g),h,!i") == {
        "matchLabels": {"a": "b"},
        "matchExpressions": [
            {"key": "c", "operator": "NotIn", "values": ["d"]},
            {"key": "e", "operator": "In", "values": ["f", "g"]},
            {"key": "h", "operator": "Exists"},
            {"key": "i", "operator": "DoesNotExist"},
        ],
    }


@pytest.mark.parametrize("selector", ["a in b", "a=(b)", "a=b=c", "a in (b"])
def test_a_term_it_cannot_read_is_named(selector: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_selector(selector)


def test_a_key_given_twice_must_hold_both_times() -> None:
    """app=a,app=b selects nothing, as the API server reads it (the second term must not replace the first)."""
    assert not matches(parse_selector("app=web,app=db"), LABELS)
    assert matches(parse_selector("app=web,app=web"), LABELS)
