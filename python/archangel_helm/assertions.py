"""Chart assertions: helm-unittest's vocabulary in Python, for pytest.

Every assertion takes a *target* first: a `Manifest`, a `Documents` selection (see `select`), one object (a
mapping) or a list of objects. It applies to each document of the target, and raises AssertionError naming
every document that failed, the path, what was expected and what was there::

    from archangel_helm import assertions as a

    manifest = render("charts/archangel", ["values/production.yaml"])
    core = a.select(manifest, kind="Deployment", name="archangel-core")
    a.equal(core, "spec.template.spec.containers[0].image", "ghcr.io/archangel-ai/archangel-core:1.4.2")
    a.greater_or_equal(core, "spec.template.spec.containers[*].resources.limits.memory", "512Mi")
    a.not_exists(a.select(manifest, kind="Deployment"), "spec.template.spec.hostNetwork")

Paths are described in `archangel_helm.paths`. A path that does not resolve fails every value assertion
(either polarity) with the segment that failed and what was there; assert absence with `not_exists`.
Usage mistakes (a bad path, regex or type name) raise ValueError at once, not AssertionError.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths, yamlio
from .errors import RenderError
from .manifest import Manifest
from .paths import ObjectPath, same_value, value_at
from .quantity import parse_quantity
from .values_errors import ValuesViolation

if TYPE_CHECKING:
    from .validate import SchemaValidator

__all__ = [
    "UPDATE_SNAPSHOTS_ENV",
    "Documents",
    "Snapshot",
    "contains",
    "contains_document",
    "documents",
    "equal",
    "exists",
    "failed_template",
    "failed_values_schema",
    "greater_or_equal",
    "has_documents",
    "is_api_version",
    "is_kind",
    "is_null_or_empty",
    "is_subset",
    "is_type",
    "is_valid_schema",
    "length_equal",
    "less_or_equal",
    "match_regex",
    "match_snapshot",
    "not_equal",
    "not_exists",
    "not_failed_template",
    "not_match_regex",
    "select",
    "value_at",
]

Document = Mapping[str, Any]
Target = Manifest | Document | Iterable[Document]  # a Documents selection is an Iterable[Document]
PathLike = str | ObjectPath
RenderAttempt = Callable[[], Manifest] | Manifest | RenderError

UPDATE_SNAPSHOTS_ENV = "ARCHANGEL_UPDATE_SNAPSHOTS"

_MAX_FAILURES = 10  # failures listed in one message; the rest are counted
_MAX_LINES = 25  # lines of one value or diff shown
_MAX_CHARS = 2000


# --------------------------------------------------------------------------------------------- documents


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
        return [_ref(obj, source) for obj, source in zip(self.objects, self.sources, strict=True)]


def documents(target: Target) -> Documents:
    """Any target as a `Documents` selection (a Manifest keeps each object's template name for messages)."""
    if isinstance(target, Documents):
        return target
    if isinstance(target, Manifest):
        return Documents(target.objects, target.sources, "the manifest")
    if isinstance(target, Mapping):
        return Documents((target,), ("",), _ref(target, ""))
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
    criteria = _Criteria(kind, name, api_version, namespace, labels, where, template)
    picked = [(obj, src) for obj, src in zip(source.objects, source.sources, strict=True) if criteria.accepts(obj, src)]
    described = str(criteria)
    if index is not None:
        picked = _pick_index(picked, index, described)
        described += f", index={index}"
    if not picked and not allow_empty:
        raise AssertionError(f"select({described}) matched no document; documents there: {_clip(source.refs())}")
    if len(picked) > 1 and not match_many:
        found = [_ref(obj, src) for obj, src in picked]
        raise AssertionError(f"select({described}) matched {len(picked)} documents, expected one: {_clip(found)}")
    objects, sources = tuple(obj for obj, _ in picked), tuple(src for _, src in picked)
    return Documents(objects, sources, f"select({described})", allow_empty)


@dataclass(frozen=True)
class _Criteria:
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


# ------------------------------------------------------------------------------------- document assertions


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
    criteria = str(_Criteria(kind, name, api_version))
    wanted = "at least 1 document" if count is None else _plural(count, "document")
    if (len(found) > 0) if count is None else (len(found) == count):
        return
    message = f"has_documents failed: expected {wanted}"
    message += f" matching {criteria} in {source.description}" if criteria else f" in {source.description}"
    message += f", found {len(found)}" + (f": {_clip(found.refs())}" if len(found) else "")
    if criteria:
        message += f"\n  all documents: {_clip(source.refs())}"
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
    criteria = str(_Criteria(kind, name, api_version, namespace))
    if negate:
        raise AssertionError(f"contains_document failed: expected no document with {criteria}, found {found.refs()}")
    same_kind = select(source, kind=kind, allow_empty=True).refs()
    raise AssertionError(
        f"contains_document failed: no document with {criteria} in {source.description}\n"
        f"  {kind} documents there: {_clip(same_kind) if same_kind else 'none'}\n"
        f"  all documents: {_clip(source.refs())}"
    )


def is_kind(target: Target, kind: str, *, negate: bool = False) -> None:
    """Every document is of this kind (none is, with ``negate``)."""
    __tracebackhide__ = True
    _check_values("is_kind", target, "kind", lambda v: _Outcome(v == kind), paths.format_value(kind), negate=negate)


def is_api_version(target: Target, api_version: str, *, negate: bool = False) -> None:
    """Every document has this apiVersion (none has, with ``negate``)."""
    __tracebackhide__ = True
    expected = paths.format_value(api_version)
    _check_values("is_api_version", target, "apiVersion", lambda v: _Outcome(v == api_version), expected, negate=negate)


# ---------------------------------------------------------------------------------------- value assertions


def equal(target: Target, path: PathLike, expected: Any, *, decode_base64: bool = False, negate: bool = False) -> None:
    """The value at ``path`` equals ``expected`` (types matter: 3 is not "3", 1 is not true).

    ``decode_base64`` decodes the value first (a Secret's ``data.key``, or the whole ``data`` mapping).
    """
    __tracebackhide__ = True

    def check(actual: Any) -> _Outcome:
        return _Outcome(same_value(actual, expected), _diff(expected, actual))

    transform = _decode_base64 if decode_base64 else None
    _check_values("equal", target, path, check, _show(expected), negate=negate, transform=transform)


def not_equal(target: Target, path: PathLike, expected: Any, *, decode_base64: bool = False) -> None:
    """The value at ``path`` differs from ``expected`` (the path must still resolve)."""
    __tracebackhide__ = True
    equal(target, path, expected, decode_base64=decode_base64, negate=True)


def exists(target: Target, path: PathLike, *, negate: bool = False) -> None:
    """The path resolves in every document (a key set to null exists); with a wildcard, in every branch."""
    __tracebackhide__ = True
    if negate:
        not_exists(target, path)
        return
    parsed = paths.parse(path)

    def check(obj: Document) -> list[_Failure]:
        resolution = paths.resolve(obj, parsed)
        if resolution.misses or not resolution.matches:
            return [_miss_failure(resolution, "the path to resolve")]
        return []

    _run("exists", target, check)


def not_exists(target: Target, path: PathLike) -> None:
    """The path names nothing in any document; with a wildcard, in no branch."""
    __tracebackhide__ = True
    parsed = paths.parse(path)

    def check(obj: Document) -> list[_Failure]:
        return [
            _Failure(_where(m, parsed), "no value (the path not to resolve)", _show(m.value))
            for m in paths.resolve(obj, parsed).matches
        ]

    _run("not_exists", target, check)


def is_null_or_empty(target: Target, path: PathLike, *, negate: bool = False) -> None:
    """The value is null, "", 0, false, [] or {} (helm-unittest's zero values); the path must resolve."""
    __tracebackhide__ = True
    _check_values("is_null_or_empty", target, path, lambda v: _Outcome(_is_empty(v)), "null or empty", negate=negate)


def is_subset(target: Target, path: PathLike, content: Mapping[str, Any], *, negate: bool = False) -> None:
    """The mapping at ``path`` includes ``content``: every key, with equal values; nested mappings recursively."""
    __tracebackhide__ = True

    def check(actual: Any) -> _Outcome:
        if not isinstance(actual, Mapping):
            return _Outcome(False, f"note: the value is {_type_name(actual)}, not a map")
        differences = _subset_differences(content, actual, ())
        return _Outcome(not differences, "differences:\n" + _indent("\n".join(differences)) if differences else "")

    _check_values("is_subset", target, path, check, f"a map including {_show(content)}", negate=negate)


def contains(
    target: Target,
    path: PathLike,
    content: Any,
    *,
    count: int | None = None,
    any: bool = False,  # helm-unittest's name, though it shadows the builtin here
    negate: bool = False,
) -> None:
    """The list at ``path`` has ``content`` as an item (exactly ``count`` times, when given).

    With ``any=True`` an item only needs to include ``content`` (a mapping), like ``is_subset`` on each item:
    ``contains(d, "...containers[0].env", {"name": "LOG_LEVEL"}, any=True)``.
    """
    __tracebackhide__ = True
    partial = any

    def check(actual: Any) -> _Outcome:
        if not isinstance(actual, list):
            return _Outcome(False, f"note: the value is {_type_name(actual)}, not a list")
        found = sum(1 for item in actual if (_includes(item, content) if partial else same_value(item, content)))
        ok = found > 0 if count is None else found == count
        return _Outcome(ok, f"note: found {_plural(found, 'matching item')}")

    how = "an item including" if partial else "the item"
    times = "" if count is None else f" exactly {_plural(count, 'time')}"
    _check_values("contains", target, path, check, f"a list with {how} {_show(content)}{times}", negate=negate)


def length_equal(target: Target, path: PathLike, length: int, *, negate: bool = False) -> None:
    """The list, map or string at ``path`` has ``length`` items (characters)."""
    __tracebackhide__ = True

    def check(actual: Any) -> _Outcome:
        if not isinstance(actual, list | Mapping | str):
            return _Outcome(False, f"note: the value is {_type_name(actual)}, which has no length")
        return _Outcome(len(actual) == length, f"note: its length is {len(actual)}")

    _check_values("length_equal", target, path, check, f"length {length}", negate=negate)


_TYPE_ALIASES = {
    "string": "string",
    "str": "string",
    "int": "int",
    "integer": "int",
    "float": "float",
    "float64": "float",
    "number": "number",
    "bool": "bool",
    "boolean": "bool",
    "map": "map",
    "dict": "map",
    "object": "map",
    "map[string]interface {}": "map",
    "list": "list",
    "array": "list",
    "[]interface {}": "list",
    "null": "null",
    "none": "null",
}
_PYTHON_TYPES: dict[type, str] = {str: "string", int: "int", float: "float", bool: "bool", dict: "map", list: "list"}


def is_type(target: Target, path: PathLike, type_: str | type | None, *, negate: bool = False) -> None:
    """The value's type: string, int, float, number (int or float), bool, map, list or null.

    Go names (``float64``, ``map[string]interface {}``) and Python types (``str``, ``dict``, ``None``) work too.
    A bool is never an int here, although Python says it is.
    """
    __tracebackhide__ = True
    wanted = _type_alias(type_)

    def check(actual: Any) -> _Outcome:
        name = _type_name(actual)
        return _Outcome(name == wanted or (wanted == "number" and name in {"int", "float"}), f"note: it is {name}")

    _check_values("is_type", target, path, check, f"type {wanted}", negate=negate)


def greater_or_equal(target: Target, path: PathLike, bound: int | float | str, *, negate: bool = False) -> None:
    """value >= bound, for numbers and Kubernetes quantities alike (``"500m"``, ``"2Gi"``, ``"1e3"``)."""
    __tracebackhide__ = True
    _compare("greater_or_equal", target, path, bound, ">=", negate=negate)


def less_or_equal(target: Target, path: PathLike, bound: int | float | str, *, negate: bool = False) -> None:
    """value <= bound, for numbers and Kubernetes quantities alike."""
    __tracebackhide__ = True
    _compare("less_or_equal", target, path, bound, "<=", negate=negate)


def match_regex(
    target: Target, path: PathLike, pattern: str | re.Pattern[str], *, decode_base64: bool = False, negate: bool = False
) -> None:
    """The string at ``path`` contains a match of ``pattern`` (re.search: anchor with ^ and $ for all of it)."""
    __tracebackhide__ = True
    regex = re.compile(pattern)  # a bad pattern is a usage error: re.error here, not a failed assertion

    def check(actual: Any) -> _Outcome:
        if not isinstance(actual, str):
            return _Outcome(False, f"note: the value is {_type_name(actual)}, not a string")
        return _Outcome(regex.search(actual) is not None)

    transform = _decode_base64 if decode_base64 else None
    _check_values(
        "match_regex", target, path, check, f"a string matching /{regex.pattern}/", negate=negate, transform=transform
    )


def not_match_regex(
    target: Target, path: PathLike, pattern: str | re.Pattern[str], *, decode_base64: bool = False
) -> None:
    """The string at ``path`` has no match of ``pattern``."""
    __tracebackhide__ = True
    match_regex(target, path, pattern, decode_base64=decode_base64, negate=True)


# ------------------------------------------------------------------------------------- render assertions


def failed_template(attempt: RenderAttempt, *, message: str | None = None, pattern: str | None = None) -> RenderError:
    """The render fails; helm's message contains ``message`` and/or matches the regex ``pattern``.

    ``attempt`` is a callable that renders (``lambda: render(chart, set_values={...})``), or the RenderError
    caught already. Returns the error, for further checks.
    """
    __tracebackhide__ = True
    error, manifest = _attempt(attempt)
    wanted = _failure_wanted(message, pattern)
    if error is None:
        rendered = _clip(documents(manifest).refs()) if manifest is not None else "(nothing)"
        raise AssertionError(f"failed_template failed: expected the render to fail{wanted}, but it rendered {rendered}")
    text = error.helm_message
    if message is not None and message not in text:
        raise AssertionError(_failure_mismatch("does not contain", _show(message), text))
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
        rendered = _clip(documents(manifest).refs()) if manifest is not None else "(nothing)"
        raise AssertionError(f"failed_values_schema failed: expected a refusal {wanted}, but it rendered {rendered}")
    violations = error.values_violations
    for violation in violations:
        if violation.names(field) and (keyword is None or violation.keyword == keyword):
            return violation
    found = "\n".join(f"/{v.pointer.lstrip('/')} ({v.keyword or 'unrecognised'}): {v.message}" for v in violations)
    raise AssertionError(
        f"failed_values_schema failed: no schema refusal {wanted}\n"
        f"  refusals read:\n{_indent(found or '(none: not a values schema error)', 4)}\n"
        f"  helm said:\n{_indent(_clip_text(error.helm_message), 4)}"
    )


def not_failed_template(attempt: RenderAttempt) -> Manifest:
    """The render succeeds; returns the Manifest for further assertions."""
    __tracebackhide__ = True
    error, manifest = _attempt(attempt)
    if error is not None:
        raise AssertionError(f"not_failed_template failed: the render failed:\n{_indent(error.helm_message)}")
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
    parts = ([f"with a message containing {_show(message)}"] if message is not None else []) + (
        [f"with a message matching /{pattern}/"] if pattern is not None else []
    )
    return (" " + " and ".join(parts)) if parts else ""


def _failure_mismatch(verb: str, expected: str, text: str) -> str:
    return f"failed_template failed: helm's error {verb} {expected}\n  helm said:\n{_indent(_clip_text(text), 4)}"


# ------------------------------------------------------------------------------------------ schema extra


def is_valid_schema(target: Target, validator: SchemaValidator | None = None, *, negate: bool = False) -> None:
    """Every document is valid against the Kubernetes (and CRD) schemas: the check helm-unittest lacks (#351).

    Without a validator, the newest Kubernetes schemas shipped and the CRD schemas found by
    `default_crd_directories` are used. With ``negate``, each document must have at least one problem.
    """
    __tracebackhide__ = True
    checker = validator or _default_validator()

    def check(obj: Document) -> list[_Failure]:
        problems = checker.validate_object(dict(obj))
        if negate and not problems:
            return [_Failure("(the object itself)", "at least one schema problem", "none: the object is valid")]
        if not negate and problems:
            found = "\n".join(f"{p.path or '(object)'}: {p.message}" for p in problems)
            return [_Failure("(the object itself)", "no schema problems", f"{len(problems)} problems:\n{found}")]
        return []

    _run("is_valid_schema(negate=True)" if negate else "is_valid_schema", target, check)


@lru_cache(maxsize=1)  # loading the CRD schemas takes a while; every call would load the same ones
def _default_validator() -> SchemaValidator:
    from .validate import CrdSchemas, SchemaValidator, default_crd_directories
    from .validate.kubernetes import shipped_versions

    existing = [d for d in default_crd_directories() if d.is_dir()]
    return SchemaValidator((shipped_versions()[-1],), CrdSchemas.from_directories(*existing))


# --------------------------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """The snapshot file of one test. Unnamed snapshots are numbered in call order, as helm-unittest does.

    The pytest fixture ``snapshot`` makes one at ``<test dir>/__snapshots__/<module>/<test name>.yaml``; one
    file per test keeps parallel (xdist) workers from writing the same file.
    """

    file: Path
    update: bool | None = None  # None: $ARCHANGEL_UPDATE_SNAPSHOTS decides
    _taken: int = field(default=0, init=False, repr=False)
    used: set[str] = field(default_factory=set, init=False, repr=False)  # names matched: the rest are obsolete

    @classmethod
    def for_test(cls, test_file: str | os.PathLike[str], test_name: str, update: bool | None = None) -> Snapshot:
        safe = re.sub(r'[\\/:*?"<>|\s]+', "_", test_name)
        module = Path(test_file)
        return cls(module.parent / "__snapshots__" / module.stem / f"{safe}.yaml", update)

    def match(self, target: Target, *, name: str | None = None, path: PathLike | None = None) -> None:
        __tracebackhide__ = True
        match_snapshot(target, self, name=name, path=path)

    def next_name(self) -> str:
        self._taken += 1
        return str(self._taken)


def match_snapshot(
    target: Target,
    snapshot: Snapshot | str | os.PathLike[str],
    *,
    name: str | None = None,
    path: PathLike | None = None,
    update: bool | None = None,
    normalize: bool = True,
) -> None:
    """The documents (or the values at ``path`` in each) equal the stored snapshot ``name``.

    The first run writes the snapshot and passes, except under CI ($CI set), where a missing snapshot fails: a
    new snapshot must be reviewed and committed. A difference fails with a diff, or rewrites the snapshot when
    updating: ``update=True``, ``Snapshot(update=True)``, ``pytest --update-snapshots`` or
    ``ARCHANGEL_UPDATE_SNAPSHOTS=1``. ``normalize`` masks the chart version label and checksum annotations,
    as golden manifests do, so a chart version bump does not break every snapshot.
    """
    __tracebackhide__ = True
    store = snapshot if isinstance(snapshot, Snapshot) else Snapshot(Path(snapshot))
    key = name or store.next_name()
    store.used.add(key)
    current = _snapshot_content(target, path, normalize)
    entries = _read_snapshots(store.file)
    if key not in entries:
        if _under_ci() and not _should_update(update, store):
            # As syrupy: a snapshot is written by a run someone can review, never taken as a pass under CI.
            raise AssertionError(
                f"match_snapshot failed: snapshot {key!r} is not in {store.file}, and this run is under CI ($CI): "
                "write it outside CI (or with `pytest --update-snapshots`), review it and commit it"
            )
        _write_snapshots(store.file, {**entries, key: current})
        return
    stored_text, current_text = yamlio.dump(entries[key]), yamlio.dump(current)
    if stored_text == current_text:
        return
    if _should_update(update, store):
        _write_snapshots(store.file, {**entries, key: current})
        return
    diff = difflib.unified_diff(
        stored_text.splitlines(),
        current_text.splitlines(),
        f"{store.file.name} [{key}] (stored)",
        f"{key} (rendered now)",
        lineterm="",
    )
    raise AssertionError(
        f"match_snapshot failed: snapshot {key!r} in {store.file} differs\n{_indent(_clip_lines(list(diff), 60))}\n"
        f"  update it with `pytest --update-snapshots` or {UPDATE_SNAPSHOTS_ENV}=1"
    )


def _snapshot_content(target: Target, path: PathLike | None, normalize: bool) -> Any:
    selected = documents(target)
    if path is None:
        content: Any = [dict(obj) for obj in selected]
    else:
        content = [m.value for obj in selected for m in _resolved_or_fail("match_snapshot", obj, path)]
    if not normalize:
        return _plain_data(content)
    from .golden import normalize as mask_volatile  # golden renders; import only when a snapshot is taken

    # Masking works on YAML text (as for golden files), so round-trip through it.
    return yamlio.load(mask_volatile(yamlio.dump(content)))


def _resolved_or_fail(assertion: str, obj: Document, path: PathLike) -> tuple[paths.Match, ...]:
    __tracebackhide__ = True
    resolution = paths.resolve(obj, path)
    if resolution.misses:
        raise AssertionError(
            f"{assertion} failed on {_ref(obj, '')}: path {resolution.path} does not resolve: {resolution.misses[0]}"
        )
    return resolution.matches


def _under_ci() -> bool:
    """$CI, as GitHub Actions, GitLab and most CI systems set it (and .ci/run does)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _should_update(update: bool | None, store: Snapshot) -> bool:
    if update is not None:
        return update
    if store.update is not None:
        return store.update
    return os.environ.get(UPDATE_SNAPSHOTS_ENV, "").lower() in {"1", "true", "yes"}


def _read_snapshots(file: Path) -> dict[str, Any]:
    if not file.exists():
        return {}
    loaded = yamlio.load(file.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{file} is not a snapshot file (expected a mapping of snapshot names)")
    return {str(k): v for k, v in loaded.items()}


def _write_snapshots(file: Path, entries: Mapping[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    header = "# Snapshots of archangel_helm.assertions.match_snapshot; update with `pytest --update-snapshots`.\n"
    # Write then rename, so an interrupted run never leaves half a snapshot file behind.
    partial = file.with_name(file.name + ".tmp")
    partial.write_text(header + yamlio.dump(dict(entries)))
    partial.replace(file)


# ------------------------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    note: str = ""  # shown when the check fails: a diff, a count, the actual type


@dataclass(frozen=True)
class _Failure:
    path: str
    expected: str
    actual: str
    note: str = ""


class _Unusable(Exception):
    """A value a transform cannot handle (not base64): the assertion fails with this message."""


def _run(assertion: str, target: Target, check: Callable[[Document], list[_Failure]]) -> None:
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


# The names users call for the negated forms that have one; the others read "is_kind(negate=True) failed ...".
_NEGATED = {"equal": "not_equal", "match_regex": "not_match_regex"}


def _check_values(
    assertion: str,
    target: Target,
    path: PathLike,
    check: Callable[[Any], _Outcome],
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
        assertion = _NEGATED.get(assertion, f"{assertion}(negate=True)")

    def per_document(obj: Document) -> list[_Failure]:
        resolution = paths.resolve(obj, parsed)
        if resolution.misses:
            return [_miss_failure(resolution, expectation)]
        failures = []
        for match in resolution.matches:
            try:
                value = transform(match.value) if transform else match.value
            except _Unusable as error:
                failures.append(_Failure(_where(match, parsed), expectation, _show(match.value), f"note: {error}"))
                continue
            outcome = check(value)
            if outcome.ok == negate:
                failures.append(_Failure(_where(match, parsed), expectation, _show(value), outcome.note))
        return failures

    _run(assertion, target, per_document)


def _miss_failure(resolution: paths.Resolution, expected: str) -> _Failure:
    reasons = [f"why: {miss}" for miss in resolution.misses] or ["why: it names no value"]
    note = "\n".join(reasons[:5]) + (f"\n... and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    return _Failure(str(resolution.path), expected, "(the path does not resolve)", note)


def _where(match: paths.Match, parsed: ObjectPath) -> str:
    # For a wildcard path, name the concrete item and the path asked for, so both can be found.
    return match.where if parsed.is_single else f"{match.where} (from {parsed})"


def _report(assertion: str, selected: Documents, failed: list[tuple[str, _Failure]]) -> str:
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
        lines += [_indent(line) if many else line for line in _failure_lines(failure)]
    if len(failed) > _MAX_FAILURES:
        lines.append(f"... and {len(failed) - _MAX_FAILURES} more failures")
    return "\n".join(lines)


def _failure_lines(failure: _Failure) -> list[str]:
    lines = [_field("path", failure.path), _field("expected", failure.expected), _field("actual", failure.actual)]
    return lines + ([_indent(failure.note)] if failure.note else [])


def _field(label: str, text: str) -> str:
    if "\n" in text:
        return f"  {label}:\n{_indent(text, 4)}"
    return f"  {label + ':':<9} {text}"


def _compare(
    assertion: str, target: Target, path: PathLike, bound: int | float | str, op: str, *, negate: bool
) -> None:
    __tracebackhide__ = True
    limit = _as_number(bound)
    if limit is None:
        raise ValueError(f"{assertion}: bound {bound!r} is neither a number nor a Kubernetes quantity")

    def check(actual: Any) -> _Outcome:
        value = _as_number(actual)
        if value is None:
            return _Outcome(False, f"note: {_show(actual)} is neither a number nor a Kubernetes quantity")
        ok = value >= limit if op == ">=" else value <= limit
        return _Outcome(ok, f"note: in base units, {_plain(value)} against {_plain(limit)}")

    _check_values(assertion, target, path, check, f"{op} {_show(bound)}", negate=negate)


def _as_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return parse_quantity(value)
        except ValueError:
            return None
    return None


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


# ----------------------------------------------------------------------------------------- value helpers


def _includes(item: Any, content: Any) -> bool:
    """``item`` includes ``content``: mappings key by key (recursively), anything else by equality."""
    if isinstance(content, Mapping):
        return isinstance(item, Mapping) and not _subset_differences(content, item, ())
    return same_value(item, content)


def _subset_differences(content: Mapping[str, Any], actual: Mapping[str, Any], at: paths.Location) -> list[str]:
    differences = []
    for key, wanted in content.items():
        where = paths.format_location((*at, key))
        if key not in actual:
            differences.append(f"{where}: missing (expected {_show(wanted)})")
        elif isinstance(wanted, Mapping) and isinstance(actual[key], Mapping):
            differences += _subset_differences(wanted, actual[key], (*at, key))
        elif not same_value(actual[key], wanted):
            differences.append(f"{where}: expected {_show(wanted)}, found {_show(actual[key])}")
    return differences


def _is_empty(value: Any) -> bool:
    if isinstance(value, list | Mapping | str):
        return len(value) == 0
    return value is None or value is False or (isinstance(value, int | float) and value == 0)


def _decode_base64(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _decode_base64(item) for key, item in value.items()}
    if not isinstance(value, str):
        raise _Unusable(f"decode_base64: the value is {_type_name(value)}, not a base64 string")
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _Unusable(f"decode_base64: {_show(value)} is not base64 of UTF-8 text ({error})") from None


def _type_alias(type_: str | type | None) -> str:
    if type_ is None or type_ is type(None):
        return "null"
    if isinstance(type_, type):
        if type_ not in _PYTHON_TYPES:
            raise ValueError(f"is_type: unsupported type {type_.__name__}; use one of {sorted(_PYTHON_TYPES, key=str)}")
        return _PYTHON_TYPES[type_]
    alias = _TYPE_ALIASES.get(type_.strip().lower())
    if alias is None:
        raise ValueError(f"is_type: unknown type name {type_!r}; known: {', '.join(sorted(set(_TYPE_ALIASES)))}")
    return alias


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return {str: "string", int: "int", float: "float"}.get(type(value), type(value).__name__)


# ------------------------------------------------------------------------------------------- formatting


def _ref(obj: Document, source: str) -> str:
    if "kind" not in obj:
        return "the object"
    name = (obj.get("metadata") or {}).get("name", "")
    return f"{obj['kind']}/{name}" + (f" ({source})" if source else "")


def _show(value: Any) -> str:
    """A value for a failure message: one line when short (JSON, so strings are quoted), YAML when long."""
    if not isinstance(value, Mapping | list | tuple):
        return _clip_text(paths.format_value(value))
    one_line = json.dumps(value, default=str)
    if len(one_line) <= 100:
        return one_line
    return _clip_lines(yamlio.dump(_plain_data(value)).rstrip("\n").splitlines(), _MAX_LINES)


def _plain_data(value: Any) -> Any:
    # yaml's safe dumper refuses tuples and Mapping subclasses; a message must never fail to print.
    if isinstance(value, Mapping):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_data(v) for v in value]
    return value


def _diff(expected: Any, actual: Any) -> str:
    if not (isinstance(expected, Mapping | list | tuple) and isinstance(actual, Mapping | list | tuple)):
        return ""
    lines = difflib.unified_diff(
        yamlio.dump(_plain_data(expected)).splitlines(),
        yamlio.dump(_plain_data(actual)).splitlines(),
        "expected",
        "actual",
        lineterm="",
    )
    return "diff:\n" + _indent(_clip_lines(list(lines), 40))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _clip(items: Sequence[str], limit: int = 15) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _clip_lines(lines: list[str], limit: int) -> str:
    kept = lines[:limit] + ([f"... ({len(lines) - limit} more lines)"] if len(lines) > limit else [])
    return _clip_text("\n".join(kept))


def _clip_text(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + f"... ({len(text) - _MAX_CHARS} more characters)"


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())
