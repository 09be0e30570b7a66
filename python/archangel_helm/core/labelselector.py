"""Kubernetes label selectors, the one implementation: a LabelSelector (matchLabels, matchExpressions) or a
Service's bare map, and the string form of kubectl and the API's labelSelector parameter parsed into one.
No import beyond the standard library: the in-cluster jobs use it too."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str], *, plain: bool = False) -> bool:
    """Whether labels satisfy a selector.

    plain=True reads the selector as a Service's (a bare label map); otherwise as a LabelSelector
    (matchLabels + matchExpressions). An empty LabelSelector selects everything; an empty Service selector
    selects nothing (Kubernetes then manages no endpoints).
    """
    if plain:
        return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


_SET_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY_TERM = re.compile(r"^(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)$")
_EXISTS_TERM = re.compile(r"^(?P<not>!)?\s*(?P<key>[^\s!=(),]+)$")


def parse_selector(text: str) -> dict[str, Any]:
    """A label selector as kubectl and the API's labelSelector parameter write it (a=b, a==b, a!=b,
    a in (x,y), a notin (x), a, !a; comma-separated, all must hold), as a LabelSelector for matches().
    Raises ValueError naming the term it cannot read."""
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for term in _terms(text):
        if found := _SET_TERM.match(term):
            values = [v.strip() for v in found["values"].split(",") if v.strip()]
            operator = "In" if found["op"] == "in" else "NotIn"
            expressions.append({"key": found["key"], "operator": operator, "values": values})
        elif found := _EQUALITY_TERM.match(term):
            if found["op"] == "!=":
                expressions.append({"key": found["key"], "operator": "NotIn", "values": [found["value"]]})
            elif found["key"] in match_labels:  # a=x,a=y: both must hold (nothing matches when x != y)
                expressions.append({"key": found["key"], "operator": "In", "values": [found["value"]]})
            else:
                match_labels[found["key"]] = found["value"]
        elif found := _EXISTS_TERM.match(term):
            operator = "DoesNotExist" if found["not"] else "Exists"
            expressions.append({"key": found["key"], "operator": operator})
        else:
            raise ValueError(
                f"label selector {text!r}: cannot read {term!r} (key=value, key!=value, key in (a,b), key)"
            )
    return {"matchLabels": match_labels, "matchExpressions": expressions}


def _terms(text: str) -> list[str]:
    """Split on the commas between terms, not those inside a set's parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return [t for t in terms if t]
