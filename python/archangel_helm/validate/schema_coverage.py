"""Schema discipline: every value in values.yaml is read by some template and described by the schema, and
every value a template reads is described by the schema.

Templates are read, not run. `.Values.a.b`, `$.Values.a`, `.root.Values.a` are followed, and so are variables
bound to them (`$v := .Values.core`, then `$v.replicas`), `index X "key"` and, for a computed key
(`index .root.Values .component`), a wildcard segment. A reference to a map (`toYaml $v.resources`) covers
everything below it. Go-template data flow is wider than this, so a finding is a place to look; a false one
is waived with its reason like any other rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archangel_helm.core import yamlio
from archangel_helm.core.chart import Chart
from archangel_helm.validate.problems import Problem

Path_ = tuple[str, ...]
WILDCARD = "*"
_VALUES = re.compile(r"(?:\$|\$[A-Za-z_]\w*|\.root|\$root)?\.Values((?:\.[A-Za-z_]\w*)*)")
_ASSIGN = re.compile(r"(\$[A-Za-z_]\w*)\s*:?=\s*(.+?)(?:\s*-?\}\}|$)")
_INDEX = re.compile(r"index\s+(\(?[^\s()]+\)?)\s+((?:\"[^\"]*\"|[^\s()}]+)(?:\s+(?:\"[^\"]*\"|[^\s()}]+))*)")
_VARIABLE_PATH = re.compile(r"(\$[A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)")


def _leaves(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*prefix, str(key)))
    else:
        yield prefix


def _split(dotted: str) -> Path_:
    return tuple(p for p in dotted.split(".") if p)


def _resolve(expression: str, variables: dict[str, Path_]) -> Path_ | None:
    """The values path an expression denotes, or None when it is not about .Values."""
    expression = expression.strip().strip("()")
    match = _VALUES.fullmatch(expression.split()[0]) if expression else None
    if match and ".Values" in expression.split()[0]:
        return _split(match[1])
    index = _INDEX.match(expression)
    if index:
        base = _resolve(index[1], variables)
        if base is None:
            return None
        for key in re.findall(r"\"[^\"]*\"|[^\s]+", index[2]):
            base = (*base, key.strip('"') if key.startswith('"') else WILDCARD)
        return base
    variable = _VARIABLE_PATH.fullmatch(expression.split()[0]) if expression else None
    if variable and variable[1] in variables:
        return variables[variable[1]] + _split(variable[2])
    if expression in variables:
        return variables[expression]
    return None


def template_references(chart: Chart) -> set[Path_]:
    """Every values path the chart's templates read (possibly with wildcard segments)."""
    references: set[Path_] = set()
    for file in sorted((chart.path / "templates").rglob("*")):
        if not file.is_file():
            continue
        variables: dict[str, Path_] = {}
        for raw_action in re.findall(r"\{\{-?(.*?)-?\}\}", file.read_text(), flags=re.DOTALL):
            action = raw_action.strip()
            if action.startswith("/*"):
                continue
            assignment = _ASSIGN.match(action) or _ASSIGN.search(action)
            if assignment:
                bound = _resolve(assignment[2], variables)
                if bound is not None:
                    variables[assignment[1]] = bound
                    references.add(bound)
            for match in _VALUES.finditer(action):
                references.add(_split(match[1]))
            for match in _INDEX.finditer(action):
                resolved = _resolve(match[0], variables)
                if resolved is not None:
                    references.add(resolved)
            for match in _VARIABLE_PATH.finditer(action):
                if match[1] in variables:
                    references.add(variables[match[1]] + _split(match[2]))
    return {r for r in references if r}


class ReferenceIndex:
    """Whether a values leaf is read by the templates: some reference (`.Values` path, `*` for a range or an
    index) is a prefix of the leaf, or the leaf is a prefix of a reference. Lookups instead of a scan of every
    reference per leaf (a chart has hundreds of each)."""

    def __init__(self, references: set[Path_]) -> None:
        # leaf is a prefix of a reference: literal prefixes of every reference (a leaf holds no wildcard).
        self.prefixes = {r[:k] for r in references for k in range(1, len(r) + 1)}
        # a reference (wildcards allowed) is a prefix of the leaf: references grouped by where their wildcards are.
        self.by_shape: dict[tuple[int, tuple[int, ...]], set[Path_]] = {}
        for r in references:
            wildcards = tuple(i for i, part in enumerate(r) if part == WILDCARD)
            self.by_shape.setdefault((len(r), wildcards), set()).add(r)

    def covers(self, leaf: Path_) -> bool:
        if leaf in self.prefixes:
            return True
        for (length, wildcards), group in self.by_shape.items():
            if length <= len(leaf):
                projected = tuple(WILDCARD if i in wildcards else part for i, part in enumerate(leaf[:length]))
                if projected in group:
                    return True
        return False


def _schema_node(schema: dict[str, Any], root: dict[str, Any], path: Path_) -> list[dict[str, Any]]:
    """The schema nodes describing a values path (several where a wildcard spans properties)."""
    nodes = [schema]
    for segment in path:
        following: list[dict[str, Any]] = []
        for candidate in nodes:
            node = _deref(candidate, root)
            if "items" in node and not node.get("properties"):  # `range` over a list binds its items
                node = _deref(node["items"], root)
            properties = node.get("properties") or {}
            if segment == WILDCARD:
                following += list(properties.values())
            elif segment in properties:
                following.append(properties[segment])
            else:
                for pattern, child in (node.get("patternProperties") or {}).items():
                    if re.search(pattern, segment):
                        following.append(child)
                extra = node.get("additionalProperties")
                if isinstance(extra, dict):
                    following.append(extra)
                elif extra is None and node.get("type") == "object" and not properties:
                    following.append({})  # a free-form map: anything below is described
        nodes = [_deref(n, root) for n in following]
        if not nodes:
            return []
    return nodes


def _deref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    for combinator in ("allOf",):
        for part in node.get(combinator) or []:
            resolved = _deref(part, root)
            node = {**node, "properties": {**(node.get("properties") or {}), **(resolved.get("properties") or {})}}
    return node


def check_values_usage(chart: Chart) -> list[Problem]:
    values = yamlio.load((chart.path / "values.yaml").read_text()) or {}
    schema_file = chart.path / "values.schema.json"
    schema = yamlio.load(schema_file.read_text()) if schema_file.is_file() else None
    references = template_references(chart)
    index = ReferenceIndex(references)
    problems = []
    if schema is None:
        problems.append(
            Problem(
                "Chart",
                chart.name,
                "values.schema.json",
                "the chart has no values.schema.json: Helm checks no value's type, and whether every value is "
                "described cannot be checked",
                "schema/missing-values-schema",
            )
        )
    for leaf in _leaves(values):
        dotted = ".".join(leaf)
        if leaf and leaf[0] == "global":
            continue  # read by subcharts and shared helpers by convention
        if not index.covers(leaf):
            problems.append(
                Problem("Chart", chart.name, f"values.{dotted}", "no template reads this value", "schema/value-used")
            )
        if schema is not None and not _schema_node(schema, schema, leaf):
            problems.append(
                Problem(
                    "Chart",
                    chart.name,
                    f"values.{dotted}",
                    "values.schema.json does not describe this value",
                    "schema/value-documented",
                )
            )
    if schema is not None:
        for reference in sorted(references):
            if reference[0] == "global" or reference == (WILDCARD,):
                continue
            if not _schema_node(schema, schema, reference):
                problems.append(
                    Problem(
                        "Chart",
                        chart.name,
                        f"templates: .Values.{'.'.join(reference)}",
                        "a template reads a value values.schema.json does not describe",
                        "schema/reference-known",
                    )
                )
    return problems


def values_file_leaves(path: Path) -> list[str]:
    return [".".join(leaf) for leaf in _leaves(yamlio.load(path.read_text()) or {})]
