"""Read helm's values.schema.json refusals into (chart, JSON pointer, keyword, message), the same on every helm.

Helm < 3.18 validates with gojsonschema and writes ``- core.replicas: Must be greater than or equal to 1``;
Helm 3.18+ and Helm 4 use santhosh-tekuri/jsonschema and write ``- at '/core/replicas': minimum: got 0, want 1``,
nesting the causes of ``oneOf``/``allOf`` below. A test that greps either wording breaks on the other helm, so
tests ask for the field and the JSON Schema keyword instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = "values don't meet the specifications of the schema(s)"

# Both wordings of each keyword, first match wins (minLength before minimum: "String length must be greater...").
_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (keyword, re.compile(pattern, re.IGNORECASE))
    for keyword, pattern in (
        ("additionalProperties", r"^additional propert(y|ies) .*not allowed$"),
        ("required", r"^missing propert|is required$"),
        ("type", r"^got \w+, want \w+|^invalid type\."),
        ("minLength", r"^minLength:|^string length must be greater than or equal to"),
        ("maxLength", r"^maxLength:|^string length must be less than or equal to"),
        ("minItems", r"^minItems:|^array must have at least"),
        ("maxItems", r"^maxItems:|^array must have at most"),
        ("uniqueItems", r"^items at .* are equal|^array items\[.*must be unique"),
        ("minProperties", r"^minProperties:|^must have at least \d+ propert"),
        ("maxProperties", r"^maxProperties:|^must have at most \d+ propert"),
        ("exclusiveMinimum", r"^exclusiveMinimum:|^must be greater than (?!or equal)"),
        ("exclusiveMaximum", r"^exclusiveMaximum:|^must be less than (?!or equal)"),
        ("minimum", r"^minimum:|^must be greater than or equal to"),
        ("maximum", r"^maximum:|^must be less than or equal to"),
        ("multipleOf", r"^multipleOf:|^must be a multiple of"),
        ("pattern", r"does not match pattern"),
        ("format", r"is not valid '|^does not match format"),
        ("enum", r"^value must be one of|must be one of the following"),
        ("const", r"^value must be |does not match: "),
        ("oneOf", r"'oneOf' failed|\(oneOf\)$"),
        ("anyOf", r"'anyOf' failed|\(anyOf\)$"),
        ("allOf", r"'allOf' failed|\(allOf\)$"),
        ("not", r"'not' failed|^must not validate"),
        ("propertyNames", r"^invalid propertyName"),
    )
)
_MODERN = re.compile(r"^(?P<indent>\s*)- at '(?P<pointer>[^']*)': (?P<message>.*)$")
_LEGACY = re.compile(r"^(?P<indent>\s*)- (?P<path>\(root\)|\S+): (?P<message>.*)$")
_CHART = re.compile(r"^(?P<chart>[^\s:-][^\s:]*):$")


@dataclass(frozen=True)
class ValuesViolation:
    """One refusal: which chart, which value (a JSON pointer, "" for the root) and why."""

    chart: str
    pointer: str
    message: str  # helm's own words for this value
    keyword: str | None  # the JSON Schema keyword that failed, when the wording is recognised
    depth: int = 0  # Helm 3.18+/4 nest the causes of oneOf/anyOf/allOf one level deeper

    def names(self, field: str) -> bool:
        """The violation is about ``field`` (``core/replicas`` or ``/core/replicas``; "" is the root)."""
        return self.pointer == "/" + field.strip("/") if field.strip("/") else self.pointer == ""


def values_violations(helm_message: str) -> tuple[ValuesViolation, ...]:
    """Every values-schema violation in a helm error; empty when the error is something else."""
    if HEADER not in helm_message:
        return ()
    chart = ""
    found = []
    for line in helm_message.splitlines():
        if header := _CHART.match(line):
            chart = header["chart"]
            continue
        violation = _parse_line(chart, line)
        if violation is not None and violation.message != "validation failed":  # a grouping line, not a cause
            found.append(violation)
    return tuple(found)


def _parse_line(chart: str, line: str) -> ValuesViolation | None:
    if modern := _MODERN.match(line):
        return _violation(chart, modern["pointer"], modern["message"], len(modern["indent"]) // 2)
    if legacy := _LEGACY.match(line):
        # gojsonschema joins the path with dots, so a key that holds a dot cannot be told apart here.
        path = legacy["path"]
        pointer = "" if path == "(root)" else "/" + "/".join(_escape(part) for part in path.split("."))
        message = legacy["message"]
        if message.startswith(path + " "):  # "core.image.pullPolicy must be one of ..." repeats the path
            message = message[len(path) + 1 :]
        return _violation(chart, pointer, message, len(legacy["indent"]) // 2)
    return None


def _violation(chart: str, pointer: str, message: str, depth: int) -> ValuesViolation:
    keyword = next((name for name, pattern in _KEYWORDS if pattern.search(message)), None)
    return ValuesViolation(chart=chart, pointer=pointer, message=message, keyword=keyword, depth=depth)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")
