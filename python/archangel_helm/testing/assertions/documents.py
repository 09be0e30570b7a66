"""Assertions on which documents a render holds: counts, a document present, kinds and API versions."""

from __future__ import annotations

from archangel_helm.core import paths
from archangel_helm.testing.assertions._engine import CheckOutcome, check_values
from archangel_helm.testing.assertions._format import Target, clip, plural
from archangel_helm.testing.assertions.selection import Criteria, documents, select


def has_documents(
    target: Target,
    count: int | None = None,
    *,
    kind: str | None = None,
    name: str | None = None,
    api_version: str | None = None,
) -> None:
    """Exactly ``count`` documents (at least one when None), counting only those of the kind/name given."""
    __tracebackhide__ = True
    source = documents(target)
    found = select(source, kind=kind, name=name, api_version=api_version, allow_empty=True)
    criteria = str(Criteria(kind, name, api_version))
    wanted = "at least 1 document" if count is None else plural(count, "document")
    if (len(found) > 0) if count is None else (len(found) == count):
        return
    message = f"has_documents failed: expected {wanted}"
    message += f" matching {criteria} in {source.description}" if criteria else f" in {source.description}"
    message += f", found {len(found)}" + (f": {clip(found.refs())}" if len(found) else "")
    if criteria:
        message += f"\n  all documents: {clip(source.refs())}"
    raise AssertionError(message)


def contains_document(
    target: Target,
    kind: str,
    api_version: str | None = None,
    *,
    name: str | None = None,
    namespace: str | None = None,
    negate: bool = False,
) -> None:
    """Some document (none, with ``negate``) has this kind, and the apiVersion/name/namespace given."""
    __tracebackhide__ = True
    source = documents(target)
    found = select(source, kind=kind, api_version=api_version, name=name, namespace=namespace, allow_empty=True)
    if bool(len(found)) != negate:
        return
    criteria = str(Criteria(kind, name, api_version, namespace))
    if negate:
        raise AssertionError(f"contains_document failed: expected no document with {criteria}, found {found.refs()}")
    same_kind = select(source, kind=kind, allow_empty=True).refs()
    raise AssertionError(
        f"contains_document failed: no document with {criteria} in {source.description}\n"
        f"  {kind} documents there: {clip(same_kind) if same_kind else 'none'}\n"
        f"  all documents: {clip(source.refs())}"
    )


def is_kind(target: Target, kind: str, *, negate: bool = False) -> None:
    """Every document is of this kind (none is, with ``negate``)."""
    __tracebackhide__ = True
    check_values("is_kind", target, "kind", lambda v: CheckOutcome(v == kind), paths.format_value(kind), negate=negate)


def is_api_version(target: Target, api_version: str, *, negate: bool = False) -> None:
    """Every document has this apiVersion (none has, with ``negate``)."""
    __tracebackhide__ = True
    expected = paths.format_value(api_version)
    check_values(
        "is_api_version", target, "apiVersion", lambda v: CheckOutcome(v == api_version), expected, negate=negate
    )
