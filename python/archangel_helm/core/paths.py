"""Paths into rendered objects: ``spec.template.spec.containers[0].image``, ``metadata.labels["a.b/c"]``.

The syntax is the subset of JSONPath that helm-unittest users write, plus what they keep asking for:

    key.key             keys separated by dots (``\\.`` escapes a dot inside a key)
    [0] [-1]            list indexes, negative from the end
    ["a.b/c"] ['x']     bracketed keys, for keys with dots, slashes or spaces
    [*]  .*             every item of a list, or every value of a mapping
    [?name=="core"]     the list items whose field equals a value (also ``[?(@.name == 'core')]`` and ``!=``)

A leading ``$`` or ``$.`` is accepted and ignored. The empty path is the object itself.

Resolution never raises on a missing key: it reports a `Miss` naming the segment that failed and what was
there instead, so an assertion can say *why* a path does not resolve, not only that it does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from archangel_helm.core.errors import ArchangelHelmError

Location = tuple[str | int, ...]  # concrete keys and indexes from the object root

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_FILTER = re.compile(r"^\??\(?\s*(?:@\.)?(?P<field>[^=!\s()]+)\s*(?P<op>==|!=)\s*(?P<value>.+?)\s*\)?$")
_MAX_LISTED = 12  # keys or values named in a miss: enough to spot a typo, short enough to read


class PathSyntaxError(ArchangelHelmError, ValueError):
    """A path that cannot be parsed; the message shows where."""


class PathNotFoundError(ArchangelHelmError, LookupError):
    """`value_at` was asked for a path that does not resolve to exactly one value."""


@dataclass(frozen=True)
class Key:
    name: str

    def __str__(self) -> str:
        return f".{self.name}" if _PLAIN_KEY.match(self.name) else f'["{_escape(self.name)}"]'


@dataclass(frozen=True)
class Index:
    index: int

    def __str__(self) -> str:
        return f"[{self.index}]"


@dataclass(frozen=True)
class Wildcard:
    def __str__(self) -> str:
        return "[*]"


@dataclass(frozen=True)
class Filter:
    field: tuple[str, ...]  # keys from each item to the compared value
    equal: bool  # == (True) or != (False)
    value: Any

    def __str__(self) -> str:
        return f"[?{'.'.join(self.field)}{'==' if self.equal else '!='}{format_value(self.value)}]"

    def accepts(self, item: Any) -> bool:
        found, value = _plain_lookup(item, self.field)
        if not found:
            return not self.equal  # an item without the field differs from any value
        return same_value(value, self.value) == self.equal


def same_value(actual: Any, expected: Any) -> bool:
    """Equality as YAML means it, the one rule of the assertions and the path filters: a bool is not a number
    (Python's True == 1 is not YAML's), a tuple may stand for a list."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        return actual.keys() == expected.keys() and all(same_value(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list | tuple) and isinstance(expected, list | tuple):
        return len(actual) == len(expected) and all(same_value(a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(actual, list | tuple | Mapping) or isinstance(expected, list | tuple | Mapping):
        return False
    return bool(actual == expected)


Segment = Key | Index | Wildcard | Filter


@dataclass(frozen=True)
class ObjectPath:
    """A parsed path; `str()` gives its canonical spelling."""

    text: str
    segments: tuple[Segment, ...]

    def __str__(self) -> str:
        return self.text or "(the object itself)"

    @property
    def is_single(self) -> bool:
        """True when the path can only ever name one value (no wildcard or filter)."""
        return all(isinstance(s, Key | Index) for s in self.segments)


@dataclass(frozen=True)
class Match:
    location: Location
    value: Any

    @property
    def where(self) -> str:
        return format_location(self.location)


@dataclass(frozen=True)
class Miss:
    """Where resolution stopped: the concrete location reached, the segment that failed there, and why."""

    location: Location
    segment: Segment
    reason: str

    def __str__(self) -> str:
        segment = str(self.segment).lstrip(".")
        return f"segment {segment!r} failed at {format_location(self.location)}: {self.reason}"


@dataclass(frozen=True)
class Resolution:
    path: ObjectPath
    matches: tuple[Match, ...]
    misses: tuple[Miss, ...]

    @property
    def values(self) -> list[Any]:
        return [m.value for m in self.matches]


def parse(path: str | ObjectPath) -> ObjectPath:
    """Parse (cached: tests repeat the same paths thousands of times)."""
    if isinstance(path, ObjectPath):
        return path
    return _parse(path)


@lru_cache(maxsize=4096)
def _parse(text: str) -> ObjectPath:
    stripped = text.strip()
    if stripped.startswith("$"):
        stripped = stripped[1:].removeprefix(".")
    segments = tuple(_Scanner(stripped, text).segments())
    return ObjectPath("".join(str(s) for s in segments).removeprefix("."), segments)


def resolve(document: Any, path: str | ObjectPath) -> Resolution:
    """Every value the path names in the document, and every branch that stopped short."""
    parsed = parse(path)
    frontier: list[Match] = [Match((), document)]
    misses: list[Miss] = []
    for segment in parsed.segments:
        following: list[Match] = []
        for match in frontier:
            found, miss = _step(match, segment)
            following.extend(found)
            if miss is not None:
                misses.append(miss)
        frontier = following
    return Resolution(parsed, tuple(frontier), tuple(misses))


def value_at(document: Any, path: str | ObjectPath) -> Any:
    """The one value a path names; PathNotFoundError says which segment failed and what was there."""
    resolution = resolve(document, path)
    if resolution.misses:
        raise PathNotFoundError(f"path {resolution.path} does not resolve: {resolution.misses[0]}")
    if len(resolution.matches) != 1:
        raise PathNotFoundError(f"path {resolution.path} names {len(resolution.matches)} values, expected exactly 1")
    return resolution.matches[0].value


def format_location(location: Sequence[str | int]) -> str:
    """('spec', 'containers', 0, 'a.b/c') -> 'spec.containers[0]["a.b/c"]'; () -> '(the object itself)'."""
    text = "".join(str(Index(part) if isinstance(part, int) else Key(part)) for part in location)
    return text.removeprefix(".") or "(the object itself)"


def format_value(value: Any) -> str:
    """One-line, type-revealing spelling: strings quoted, so "3" and 3 never look alike."""
    if isinstance(value, str):
        return '"' + _escape(value) + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _step(match: Match, segment: Segment) -> tuple[list[Match], Miss | None]:
    node, location = match.value, match.location
    if isinstance(segment, Key):
        if not isinstance(node, Mapping):
            return [], Miss(location, segment, f"{_describe(node)}, not a mapping")
        if segment.name not in node:
            return [], Miss(location, segment, f"no key {segment.name!r}; keys there: {_list_keys(node)}")
        return [Match((*location, segment.name), node[segment.name])], None
    if isinstance(segment, Index):
        return _step_index(match, segment)
    if not isinstance(node, Mapping | list):
        return [], Miss(location, segment, f"{_describe(node)}, not a list or mapping")
    children = list(_children(node))
    if isinstance(segment, Wildcard):
        if not children:
            return [], Miss(location, segment, f"{_describe(node)}: nothing to iterate")
        return [Match((*location, k), v) for k, v in children], None
    selected = [Match((*location, k), v) for k, v in children if segment.accepts(v)]
    if not selected:
        seen = sorted({format_value(_plain_lookup(v, segment.field)[1]) for _, v in children})
        field = ".".join(segment.field)
        return [], Miss(location, segment, f"no item matches; {field} values there: {_clip(seen)}")
    return selected, None


def _step_index(match: Match, segment: Index) -> tuple[list[Match], Miss | None]:
    node, location = match.value, match.location
    if not isinstance(node, list):
        return [], Miss(location, segment, f"{_describe(node)}, not a list")
    if not -len(node) <= segment.index < len(node):
        valid = f"valid: 0..{len(node) - 1} or -{len(node)}..-1" if node else "the list is empty"
        return [], Miss(location, segment, f"index {segment.index} out of range ({len(node)} items; {valid})")
    # Report the positive index: "containers[1]" is what a reader finds in the rendered YAML.
    return [Match((*location, segment.index % len(node)), node[segment.index])], None


def _children(node: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(node, Mapping):
        yield from ((str(k), v) for k, v in node.items())
    elif isinstance(node, list):
        yield from enumerate(node)


def _plain_lookup(node: Any, keys: tuple[str, ...]) -> tuple[bool, Any]:
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _describe(node: Any) -> str:
    if isinstance(node, Mapping):
        return f"a mapping with {len(node)} keys"
    if isinstance(node, list):
        return f"a list of {len(node)} items"
    return f"{type(node).__name__} {_clip([format_value(node)])}"


def _list_keys(node: Mapping[Any, Any]) -> str:
    return _clip([str(k) for k in node]) if node else "none (empty mapping)"


def _clip(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f", ... ({len(items) - _MAX_LISTED} more)"
    return shown[:400]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class _Scanner:
    """A hand-written scanner: keys may contain brackets and dots inside quotes, which regexes get wrong."""

    def __init__(self, text: str, original: str) -> None:
        self.text = text
        self.original = original
        self.pos = 0

    def fail(self, why: str) -> PathSyntaxError:
        return PathSyntaxError(f"bad path {self.original!r}: {why} at character {self.pos}")

    def segments(self) -> Iterator[Segment]:
        first = True
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "[":
                yield self._bracket()
            elif char == "." and not first:
                self.pos += 1
                yield self._dotted()
            elif first:
                yield self._dotted()
            else:
                raise self.fail(f"expected '.' or '[', found {char!r}")
            first = False

    def _dotted(self) -> Segment:
        key = []
        while self.pos < len(self.text) and self.text[self.pos] not in ".[":
            if self.text[self.pos] == "]":
                raise self.fail("']' without '['")
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            key.append(self.text[self.pos])
            self.pos += 1
        name = "".join(key)
        if not name:
            raise self.fail("empty key")
        return Wildcard() if name == "*" else Key(name)

    def _bracket(self) -> Segment:
        self.pos += 1  # past "["
        if self.pos < len(self.text) and self.text[self.pos] in "'\"":
            name = self._quoted()
            self._expect("]")
            return Key(name)
        end = self.text.find("]", self.pos)
        if end < 0:
            raise self.fail("unclosed '['")
        inner, self.pos = self.text[self.pos : end].strip(), end + 1
        if inner == "*":
            return Wildcard()
        if inner.startswith("?"):
            return self._filter(inner)
        try:
            return Index(int(inner))
        except ValueError:
            raise self.fail(f"[{inner}] is neither an index, '*', a quoted key nor a ?filter") from None

    def _quoted(self) -> str:
        quote, chars = self.text[self.pos], []
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != quote:
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail(f"unclosed {quote}")
        self.pos += 1
        return "".join(chars)

    def _expect(self, char: str) -> None:
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def _filter(self, inner: str) -> Filter:
        match = _FILTER.match(inner)
        if not match:
            raise self.fail(f'[{inner}] is not a filter like [?name=="core"]')
        raw = match["value"]
        # Quoted values are strings; anything else reads as YAML would (numbers, true/false, null).
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value: Any = raw[1:-1]
        else:
            value = yaml.safe_load(raw)
        return Filter(tuple(match["field"].split(".")), match["op"] == "==", value)
