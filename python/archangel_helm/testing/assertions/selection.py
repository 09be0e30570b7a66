"""Which documents an assertion applies to: a whole manifest, one object, a list, or a `select`ion by kind,
name, labels, template, index or values at paths.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from archangel_helm.core import paths
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.paths import same_value
from archangel_helm.testing.assertions._format import Document, Target, clip, document_ref


@dataclass(frozen=True)
class Documents:
    """The documents an assertion applies to; each one must pass. Made by `documents` and `select`."""

    objects: tuple[Document, ...]
    sources: tuple[str, ...]  # the template of each object ("" when unknown), parallel to objects
    description: str = "documents"
    allow_empty: bool = False  # an empty selection passes every assertion (helm-unittest's skipEmptyTemplates)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    def refs(self) -> list[str]:
        return [document_ref(obj, source) for obj, source in zip(self.objects, self.sources, strict=True)]


def documents(target: Target) -> Documents:
    """Any target as a `Documents` selection (a Manifest keeps each object's template name for messages)."""
    if isinstance(target, Documents):
        return target
    if isinstance(target, Manifest):
        return Documents(target.objects, target.sources, "the manifest")
    if isinstance(target, Mapping):
        return Documents((target,), ("",), document_ref(target, ""))
    objects = tuple(target)
    for obj in objects:
        if not isinstance(obj, Mapping):
            raise TypeError(f"an assertion target must hold mappings (objects), found {type(obj).__name__}")
    return Documents(objects, ("",) * len(objects), f"{len(objects)} documents")


def select(
    target: Target,
    *,
    kind: str | None = None,
    name: str | None = None,
    api_version: str | None = None,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    where: Mapping[str, Any] | None = None,
    template: str | None = None,
    index: int | None = None,
    match_many: bool = True,
    allow_empty: bool = False,
) -> Documents:
    """The documents matching every criterion given: helm-unittest's documentSelector, and more.

    ``where`` maps paths to values (``{"spec.type": "ClusterIP"}``); a document where the path does not resolve
    does not match. ``template`` matches the template a document came from (``core/deployment.yaml``, a glob, or
    the full ``archangel/templates/...`` name). ``index`` picks one document of those matched. An empty result
    fails at once, listing what is there, unless ``allow_empty``; with ``match_many=False`` more than one
    match fails too.
    """
    __tracebackhide__ = True
    source = documents(target)
    criteria = Criteria(kind, name, api_version, namespace, labels, where, template)
    picked = [(obj, src) for obj, src in zip(source.objects, source.sources, strict=True) if criteria.accepts(obj, src)]
    described = str(criteria)
    if index is not None:
        picked = _pick_index(picked, index, described)
        described += f", index={index}"
    if not picked and not allow_empty:
        raise AssertionError(f"select({described}) matched no document; documents there: {clip(source.refs())}")
    if len(picked) > 1 and not match_many:
        found = [document_ref(obj, src) for obj, src in picked]
        raise AssertionError(f"select({described}) matched {len(picked)} documents, expected one: {clip(found)}")
    objects, sources = tuple(obj for obj, _ in picked), tuple(src for _, src in picked)
    return Documents(objects, sources, f"select({described})", allow_empty)


def one(target: Target, kind: str, name: str, **criteria: Any) -> Documents:
    """The one document of this kind and name (and any other `select` criteria): a selection that fails at once,
    listing what is there, when it matches none or more than one."""
    __tracebackhide__ = True
    return select(target, kind=kind, name=name, match_many=False, **criteria)


@dataclass(frozen=True)
class Criteria:
    """What `select` matches on; None means "any"."""

    kind: str | None = None
    name: str | None = None
    api_version: str | None = None
    namespace: str | None = None
    labels: Mapping[str, str] | None = None
    where: Mapping[str, Any] | None = None
    template: str | None = None

    def __str__(self) -> str:
        given = {key: value for key, value in vars(self).items() if value is not None}
        return ", ".join(f"{key}={value!r}" for key, value in given.items())

    def accepts(self, obj: Document, source: str) -> bool:
        metadata = obj.get("metadata") or {}
        pairs = (
            (self.kind, obj.get("kind")),
            (self.name, metadata.get("name")),
            (self.api_version, obj.get("apiVersion")),
            (self.namespace, metadata.get("namespace")),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in pairs):
            return False
        present = metadata.get("labels") or {}
        if self.labels and any(present.get(key) != value for key, value in self.labels.items()):
            return False
        if self.template is not None and not _template_matches(source, self.template):
            return False
        return all(_path_equals(obj, path, value) for path, value in (self.where or {}).items())


def _template_matches(source: str, template: str) -> bool:
    # helm names sources "<chart>/templates/<file>"; let users write only the part they think of.
    return fnmatch.fnmatch(source, template) or fnmatch.fnmatch(source, f"*/{template}")


def _path_equals(obj: Document, path: str, value: Any) -> bool:
    resolution = paths.resolve(obj, path)
    return bool(resolution.matches) and not resolution.misses and all(same_value(v, value) for v in resolution.values)


def _pick_index(picked: list[tuple[Document, str]], index: int, criteria: str) -> list[tuple[Document, str]]:
    if not -len(picked) <= index < len(picked):
        raise AssertionError(f"select({criteria}): index {index} is out of range, {len(picked)} documents matched")
    return [picked[index]]
