"""Assertions on a render itself: it fails (with helm's message, or a values.schema.json refusal at a field),
or it renders.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from archangel_helm.core.errors import RenderError
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.schema_refusals import ValuesViolation
from archangel_helm.testing.assertions._format import clip, clip_text, indent, show
from archangel_helm.testing.assertions.selection import documents

RenderAttempt = Callable[[], Manifest] | Manifest | RenderError


def failed_template(attempt: RenderAttempt, *, message: str | None = None, pattern: str | None = None) -> RenderError:
    """The render fails; helm's message contains ``message`` and/or matches the regex ``pattern``.

    ``attempt`` is a callable that renders (``lambda: render(chart, set_values={...})``), or the RenderError
    caught already. Returns the error, for further checks.
    """
    __tracebackhide__ = True
    error, manifest = _attempt(attempt)
    wanted = _failure_wanted(message, pattern)
    if error is None:
        rendered = clip(documents(manifest).refs()) if manifest is not None else "(nothing)"
        raise AssertionError(f"failed_template failed: expected the render to fail{wanted}, but it rendered {rendered}")
    text = error.helm_message
    if message is not None and message not in text:
        raise AssertionError(_failure_mismatch("does not contain", show(message), text))
    if pattern is not None and not re.search(pattern, text, re.MULTILINE):
        raise AssertionError(_failure_mismatch("does not match", f"/{pattern}/", text))
    return error


def failed_values_schema(attempt: RenderAttempt, field: str, keyword: str | None = None) -> ValuesViolation:
    """The chart's values.schema.json refuses the value at ``field`` (``core/replicas``; "" is the root).

    ``keyword`` names the JSON Schema keyword that must have failed (``minimum``, ``enum``, ``additionalProperties``
    ...). Helm 3 and Helm 4 word these refusals differently; this reads both. Returns the violation.
    """
    __tracebackhide__ = True
    error, manifest = _attempt(attempt)
    wanted = f"at /{field.strip('/')}" + (f" ({keyword})" if keyword else "")
    if error is None:
        rendered = clip(documents(manifest).refs()) if manifest is not None else "(nothing)"
        raise AssertionError(f"failed_values_schema failed: expected a refusal {wanted}, but it rendered {rendered}")
    violations = error.values_violations
    for violation in violations:
        if violation.names(field) and (keyword is None or violation.keyword == keyword):
            return violation
    found = "\n".join(f"/{v.pointer.lstrip('/')} ({v.keyword or 'unrecognised'}): {v.message}" for v in violations)
    raise AssertionError(
        f"failed_values_schema failed: no schema refusal {wanted}\n"
        f"  refusals read:\n{indent(found or '(none: not a values schema error)', 4)}\n"
        f"  helm said:\n{indent(clip_text(error.helm_message), 4)}"
    )


def renders(attempt: RenderAttempt) -> Manifest:
    """The render succeeds; returns the Manifest for further assertions."""
    __tracebackhide__ = True
    error, manifest = _attempt(attempt)
    if error is not None:
        raise AssertionError(f"renders failed: the render failed:\n{indent(error.helm_message)}")
    assert manifest is not None  # _attempt gives one or the other
    return manifest


def _attempt(attempt: RenderAttempt) -> tuple[RenderError | None, Manifest | None]:
    if isinstance(attempt, RenderError):
        return attempt, None
    if isinstance(attempt, Manifest):
        return None, attempt
    try:
        return None, attempt()
    except RenderError as error:
        return error, None


def _failure_wanted(message: str | None, pattern: str | None) -> str:
    parts = ([f"with a message containing {show(message)}"] if message is not None else []) + (
        [f"with a message matching /{pattern}/"] if pattern is not None else []
    )
    return (" " + " and ".join(parts)) if parts else ""


def _failure_mismatch(verb: str, expected: str, text: str) -> str:
    return f"failed_template failed: helm's error {verb} {expected}\n  helm said:\n{indent(clip_text(text), 4)}"
