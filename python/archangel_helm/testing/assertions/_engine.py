"""How an assertion runs: apply a check to each document of the target, gather every failure, and raise one
AssertionError that names each document, path, expectation and actual value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archangel_helm.core import paths
from archangel_helm.core.paths import ObjectPath
from archangel_helm.testing.assertions._format import Document, PathLike, Target, indent, show
from archangel_helm.testing.assertions.selection import Documents, documents

_MAX_FAILURES = 10  # failures listed in one message; the rest are counted


@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    note: str = ""  # shown when the check fails: a diff, a count, the actual type


@dataclass(frozen=True)
class Failure:
    path: str
    expected: str
    actual: str
    note: str = ""


class Unusable(Exception):
    """A value a transform cannot handle (not base64): the assertion fails with this message."""


def run(assertion: str, target: Target, check: Callable[[Document], list[Failure]]) -> None:
    """Apply ``check`` to each document and raise one AssertionError that lists every failure."""
    __tracebackhide__ = True
    selected = documents(target)
    if not len(selected):
        if selected.allow_empty:
            return
        raise AssertionError(f"{assertion} failed: no documents to check in {selected.description}")
    failed = [
        (ref, failure) for obj, ref in zip(selected.objects, selected.refs(), strict=True) for failure in check(obj)
    ]
    if failed:
        raise AssertionError(_report(assertion, selected, failed))


def check_values(
    assertion: str,
    target: Target,
    path: PathLike,
    check: Callable[[Any], CheckOutcome],
    expected: str,
    *,
    negate: bool = False,
    transform: Callable[[Any], Any] | None = None,
) -> None:
    """Run ``check`` on every value the path names in every document; ``negate`` flips each verdict."""
    __tracebackhide__ = True
    parsed = paths.parse(path)
    expectation = f"not {expected}" if negate else expected
    if negate:
        assertion = f"{assertion}(negate=True)"

    def per_document(obj: Document) -> list[Failure]:
        resolution = paths.resolve(obj, parsed)
        if resolution.misses:
            return [miss_failure(resolution, expectation)]
        failures = []
        for match in resolution.matches:
            try:
                value = transform(match.value) if transform else match.value
            except Unusable as error:
                location = match_location(match, parsed)
                failures.append(Failure(location, expectation, show(match.value), f"note: {error}"))
                continue
            outcome = check(value)
            if outcome.ok == negate:
                failures.append(Failure(match_location(match, parsed), expectation, show(value), outcome.note))
        return failures

    run(assertion, target, per_document)


def miss_failure(resolution: paths.Resolution, expected: str) -> Failure:
    reasons = [f"why: {miss}" for miss in resolution.misses] or ["why: it names no value"]
    note = "\n".join(reasons[:5]) + (f"\n... and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    return Failure(str(resolution.path), expected, "(the path does not resolve)", note)


def match_location(match: paths.Match, parsed: ObjectPath) -> str:
    # For a wildcard path, name the concrete item and the path asked for, so both can be found.
    return match.where if parsed.is_single else f"{match.where} (from {parsed})"


def _report(assertion: str, selected: Documents, failed: list[tuple[str, Failure]]) -> str:
    refs = list(dict.fromkeys(ref for ref, _ in failed))
    many = len(selected) > 1
    if many:
        header = f"{assertion} failed on {len(refs)} of {len(selected)} documents ({selected.description})"
    else:
        header = f"{assertion} failed on {refs[0]}"
    lines = [header]
    previous = ""
    for ref, failure in failed[:_MAX_FAILURES]:
        if many and ref != previous:
            lines.append(f"- {ref}")
        elif ref == previous:
            lines.append("")  # a blank line between two failures of one document
        previous = ref
        lines += [indent(line) if many else line for line in _failure_lines(failure)]
    if len(failed) > _MAX_FAILURES:
        lines.append(f"... and {len(failed) - _MAX_FAILURES} more failures")
    return "\n".join(lines)


def _failure_lines(failure: Failure) -> list[str]:
    lines = [_field("path", failure.path), _field("expected", failure.expected), _field("actual", failure.actual)]
    return lines + ([indent(failure.note)] if failure.note else [])


def _field(label: str, text: str) -> str:
    if "\n" in text:
        return f"  {label}:\n{indent(text, 4)}"
    return f"  {label + ':':<9} {text}"
