"""Helm's values.schema.json refusals read the same from Helm 3.14 (gojsonschema) and Helm 4 (santhosh-tekuri).

The two fixtures are one render of charts/archangel with the same ten bad values, recorded from the pinned
Helm 4.3.1 and from Helm 3.14.0, so both wordings are tested whichever helm this machine runs.
"""

from __future__ import annotations

import pytest

from archangel_helm import RenderError
from archangel_helm.core.schema_refusals import values_violations
from archangel_helm.testing import assertions as a
from tests.support.project import FIXTURES

RECORDED = FIXTURES / "values-errors"
EXPECTED = {
    ("", "additionalProperties"),
    ("/agents/keda/prometheus/threshold", "type"),
    ("/core/replicas", "minimum"),
    ("/core/containerPorts/http", "maximum"),
    ("/core/pdb/maxUnavailable", "oneOf"),
    ("/core/pdb/maxUnavailable", "minimum"),
    ("/core/podSecurityContext/runAsNonRoot", "const"),
    ("/core/image/tag", "minLength"),
    ("/core/image/pullPolicy", "enum"),
    ("/core/resources/requests/cpu", "pattern"),
    ("/core/resources/requests", "allOf"),
}


@pytest.mark.parametrize("recording", ["helm-3.14.txt", "helm-4.3.txt"])
def test_both_wordings_give_the_same_fields_and_keywords(recording: str) -> None:
    violations = values_violations((RECORDED / recording).read_text())
    found = {(v.pointer, v.keyword) for v in violations}
    # Helm 4 also lists why each oneOf branch failed (two more `type` lines); Helm 3 does not.
    assert found - {("/core/pdb/maxUnavailable", "type")} == EXPECTED
    assert {v.chart for v in violations} == {"archangel"}
    assert all(v.message != "validation failed" for v in violations)


def test_helm3_messages_lose_the_repeated_path_and_helm4_nesting_is_kept() -> None:
    legacy = values_violations((RECORDED / "helm-3.14.txt").read_text())
    (enum,) = [v for v in legacy if v.keyword == "enum"]
    assert enum.message.startswith("must be one of the following")
    modern = values_violations((RECORDED / "helm-4.3.txt").read_text())
    cpu = next(v for v in modern if v.pointer == "/core/resources/requests/cpu")
    assert cpu.depth == 2  # below `/core` (grouping) and the allOf


def test_a_dotted_root_and_a_slash_in_a_key_become_json_pointers() -> None:
    text = (
        "Error: values don't meet the specifications of the schema(s) in the following chart(s):\n"
        "archangel:\n- (root): Additional property x is not allowed\n"
        "- ingress.annotations.a/b: Invalid type. Expected: string, given: integer\n"
    )
    assert [(v.pointer, v.keyword) for v in values_violations(text)] == [
        ("", "additionalProperties"),
        ("/ingress/annotations/a~1b", "type"),
    ]


def test_an_error_that_is_not_a_schema_refusal_has_no_violations() -> None:
    assert values_violations("Error: execution error at (archangel/templates/x.yaml:3:4): core.image.tag: bad") == ()


def test_failed_values_schema_names_what_it_read_when_the_field_is_not_refused() -> None:
    error = RenderError("charts/archangel", ["helm"], 1, (RECORDED / "helm-4.3.txt").read_text())
    assert a.failed_values_schema(error, "core/replicas", "minimum").pointer == "/core/replicas"
    with pytest.raises(
        AssertionError, match=r"no schema refusal at /core/replicas \(maximum\)[\s\S]*/core/replicas \(minimum\)"
    ):
        a.failed_values_schema(error, "core/replicas", "maximum")
    with pytest.raises(AssertionError, match="not a values schema error"):
        a.failed_values_schema(RenderError("c", ["helm"], 1, "Error: boom"), "core/replicas")
