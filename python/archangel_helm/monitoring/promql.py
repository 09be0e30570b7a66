"""Metric names a PromQL expression reads, without a full parser.

Enough to check that dashboards and rules only use series something produces: strings, label matchers,
ranges, offsets and grouping clauses are removed, then every remaining identifier that is not a function call
or a keyword is a metric name. Grafana's $variables are ignored.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-zA-Z$_{}]+")
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER_WORDS = {"inf", "nan"}
KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "atan2"}
)


def metric_names(expression: str) -> set[str]:
    """The metric names an expression selects, e.g. {'up'} for 'sum by (job) (up{job="x"} == 0)'."""
    text = _STRING.sub(" ", expression)
    text = _VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _CLAUSE.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in KEYWORDS or name.lower() in _NUMBER_WORDS:
            continue
        names.add(name)
    return names


def grafana_query_metric_names(query: str) -> set[str]:
    """Metric names of a Grafana Prometheus query: PromQL, or a templating query such as label_values(expr, label)."""
    stripped = query.strip()
    for function in ("label_values", "query_result"):
        if stripped.startswith(f"{function}(") and stripped.endswith(")"):
            inner = stripped[len(function) + 1 : -1]
            if function == "label_values":
                # label_values(expr, label) or label_values(label): the last argument is a label name.
                expr, _, _label = inner.rpartition(",")
                return metric_names(expr) if expr else set()
            return metric_names(inner)
    if stripped.startswith(("label_names(", "metrics(")):
        return set()
    return metric_names(stripped)
