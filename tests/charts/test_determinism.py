"""GitOps safety: Argo CD re-renders on every refresh, so two renders of the same inputs must be byte-identical
and no template may use a function whose result changes between renders or depends on the live cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archangel_helm import render
from tests.conftest import CHARTS, SHIPPED_VALUES, ShippedValues

FORBIDDEN = re.compile(
    r"\b(lookup|randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|uuidv4|now|genPrivateKey"
    r"|genCA|genSelfSignedCert|genSignedCert|date|dateInZone|unixEpoch)\b"
)


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_two_renders_are_byte_identical(shipped: ShippedValues) -> None:
    def once() -> str:
        return render(
            shipped.chart,
            [shipped.values_file],
            release=shipped.release,
            namespace=shipped.namespace,
            kube_version=shipped.kube_version,
            api_versions=shipped.api_versions,
            cache=False,
        ).text

    assert once() == once()


def _template_files() -> list[Path]:
    return [f for chart in CHARTS for f in sorted((chart / "templates").rglob("*")) if f.is_file()]


@pytest.mark.parametrize("template", _template_files(), ids=lambda p: str(p.relative_to(p.parents[2])))
def test_no_template_uses_a_nondeterministic_or_cluster_reading_function(template: Path) -> None:
    actions = re.findall(r"\{\{(.*?)\}\}", template.read_text(), flags=re.DOTALL)
    offenders = sorted(
        {m for action in actions if not action.strip().startswith("/*") for m in FORBIDDEN.findall(action)}
    )
    assert offenders == []


def test_the_forbidden_function_check_can_fail() -> None:
    assert FORBIDDEN.findall('{{ lookup "v1" "Secret" .Release.Namespace "x" }} {{ randAlphaNum 16 }} {{ now }}') == [
        "lookup",
        "randAlphaNum",
        "now",
    ]
