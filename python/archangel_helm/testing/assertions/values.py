"""Assertions on the values at a path: equality, presence, emptiness, containment, length, type, bounds
(numbers and Kubernetes quantities) and regular expressions. Each takes ``negate`` for its opposite.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from archangel_helm.core import paths
from archangel_helm.core.paths import same_value
from archangel_helm.core.quantity import parse_quantity
from archangel_helm.testing.assertions._engine import (
    CheckOutcome,
    Failure,
    Unusable,
    check_values,
    match_location,
    miss_failure,
    run,
)
from archangel_helm.testing.assertions._format import Document, PathLike, Target, diff, indent, plural, show, type_name


def equal(target: Target, path: PathLike, expected: Any, *, decode_base64: bool = False, negate: bool = False) -> None:
    """The value at ``path`` equals ``expected`` (types matter: 3 is not "3", 1 is not true).

    ``decode_base64`` decodes the value first (a Secret's ``data.key``, or the whole ``data`` mapping).
    """
    __tracebackhide__ = True

    def check(actual: Any) -> CheckOutcome:
        return CheckOutcome(same_value(actual, expected), diff(expected, actual))

    transform = _decode_base64 if decode_base64 else None
    check_values("equal", target, path, check, show(expected), negate=negate, transform=transform)


def exists(target: Target, path: PathLike, *, negate: bool = False) -> None:
    """The path resolves in every document (a key set to null exists); with a wildcard, in every branch.

    With ``negate``, the path names nothing in any document; with a wildcard, in no branch.
    """
    __tracebackhide__ = True
    parsed = paths.parse(path)

    def present(obj: Document) -> list[Failure]:
        resolution = paths.resolve(obj, parsed)
        if resolution.misses or not resolution.matches:
            return [miss_failure(resolution, "the path to resolve")]
        return []

    def absent(obj: Document) -> list[Failure]:
        return [
            Failure(match_location(m, parsed), "no value (the path not to resolve)", show(m.value))
            for m in paths.resolve(obj, parsed).matches
        ]

    run("exists(negate=True)" if negate else "exists", target, absent if negate else present)


def is_null_or_empty(target: Target, path: PathLike, *, negate: bool = False) -> None:
    """The value is null, "", 0, false, [] or {} (helm-unittest's zero values); the path must resolve."""
    __tracebackhide__ = True
    check_values("is_null_or_empty", target, path, lambda v: CheckOutcome(_is_empty(v)), "null or empty", negate=negate)


def is_subset(target: Target, path: PathLike, content: Mapping[str, Any], *, negate: bool = False) -> None:
    """The mapping at ``path`` includes ``content``: every key, with equal values; nested mappings recursively."""
    __tracebackhide__ = True

    def check(actual: Any) -> CheckOutcome:
        if not isinstance(actual, Mapping):
            return CheckOutcome(False, f"note: the value is {type_name(actual)}, not a map")
        differences = _subset_differences(content, actual, ())
        return CheckOutcome(not differences, "differences:\n" + indent("\n".join(differences)) if differences else "")

    check_values("is_subset", target, path, check, f"a map including {show(content)}", negate=negate)


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

    def check(actual: Any) -> CheckOutcome:
        if not isinstance(actual, list):
            return CheckOutcome(False, f"note: the value is {type_name(actual)}, not a list")
        found = sum(1 for item in actual if (_includes(item, content) if partial else same_value(item, content)))
        ok = found > 0 if count is None else found == count
        return CheckOutcome(ok, f"note: found {plural(found, 'matching item')}")

    how = "an item including" if partial else "the item"
    times = "" if count is None else f" exactly {plural(count, 'time')}"
    check_values("contains", target, path, check, f"a list with {how} {show(content)}{times}", negate=negate)


def length_equal(target: Target, path: PathLike, length: int, *, negate: bool = False) -> None:
    """The list, map or string at ``path`` has ``length`` items (characters)."""
    __tracebackhide__ = True

    def check(actual: Any) -> CheckOutcome:
        if not isinstance(actual, list | Mapping | str):
            return CheckOutcome(False, f"note: the value is {type_name(actual)}, which has no length")
        return CheckOutcome(len(actual) == length, f"note: its length is {len(actual)}")

    check_values("length_equal", target, path, check, f"length {length}", negate=negate)


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

    def check(actual: Any) -> CheckOutcome:
        name = type_name(actual)
        return CheckOutcome(name == wanted or (wanted == "number" and name in {"int", "float"}), f"note: it is {name}")

    check_values("is_type", target, path, check, f"type {wanted}", negate=negate)


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

    def check(actual: Any) -> CheckOutcome:
        if not isinstance(actual, str):
            return CheckOutcome(False, f"note: the value is {type_name(actual)}, not a string")
        return CheckOutcome(regex.search(actual) is not None)

    transform = _decode_base64 if decode_base64 else None
    check_values(
        "match_regex", target, path, check, f"a string matching /{regex.pattern}/", negate=negate, transform=transform
    )


def _compare(
    assertion: str, target: Target, path: PathLike, bound: int | float | str, op: str, *, negate: bool
) -> None:
    __tracebackhide__ = True
    limit = _as_number(bound)
    if limit is None:
        raise ValueError(f"{assertion}: bound {bound!r} is neither a number nor a Kubernetes quantity")

    def check(actual: Any) -> CheckOutcome:
        value = _as_number(actual)
        if value is None:
            return CheckOutcome(False, f"note: {show(actual)} is neither a number nor a Kubernetes quantity")
        ok = value >= limit if op == ">=" else value <= limit
        return CheckOutcome(ok, f"note: in base units, {_plain(value)} against {_plain(limit)}")

    check_values(assertion, target, path, check, f"{op} {show(bound)}", negate=negate)


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
            differences.append(f"{where}: missing (expected {show(wanted)})")
        elif isinstance(wanted, Mapping) and isinstance(actual[key], Mapping):
            differences += _subset_differences(wanted, actual[key], (*at, key))
        elif not same_value(actual[key], wanted):
            differences.append(f"{where}: expected {show(wanted)}, found {show(actual[key])}")
    return differences


def _is_empty(value: Any) -> bool:
    if isinstance(value, list | Mapping | str):
        return len(value) == 0
    return value is None or value is False or (isinstance(value, int | float) and value == 0)


def _decode_base64(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _decode_base64(item) for key, item in value.items()}
    if not isinstance(value, str):
        raise Unusable(f"decode_base64: the value is {type_name(value)}, not a base64 string")
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise Unusable(f"decode_base64: {show(value)} is not base64 of UTF-8 text ({error})") from None


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
