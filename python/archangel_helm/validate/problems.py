"""A problem found in a rendered release, and how it is printed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: `kind/name: path: message`, from the named rule."""

    kind: str
    name: str
    path: str
    message: str
    rule: str = "schema"

    def __str__(self) -> str:
        location = f"{self.kind}/{self.name}"
        return f"{location}: {self.path}: {self.message}" if self.path else f"{location}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "path": self.path, "message": self.message, "rule": self.rule}


def format_path(parts: Iterable[Any]) -> str:
    """['spec', 'containers', 0, 'a.b/c'] -> 'spec.containers[0]["a.b/c"]'."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


def problems_from_schema_errors(
    errors: Iterable[jsonschema.ValidationError], kind: str, name: str, rule: str, schema_name: str
) -> list[Problem]:
    """Turn jsonschema errors into problems whose path names the offending field itself."""
    found: list[Problem] = []
    for error in errors:
        for path, message in _explain(error, schema_name):
            found.append(Problem(kind, name, format_path(path), message, rule))
    return sorted(set(found))


def _explain(error: jsonschema.ValidationError, schema_name: str) -> list[tuple[Sequence[Any], str]]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema or {}).get("properties", {})) if isinstance(error.schema, dict) else set()
        extras = sorted(key for key in error.instance if key not in known)
        where = f" (not in the {schema_name} schema)" if schema_name else ""
        return [([*path, key], f"unknown field{where}") for key in extras]
    if error.validator == "required" and isinstance(error.validator_value, list) and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        return [([*path, key], "required field is missing") for key in missing]
    if error.validator == "type":
        wanted = error.validator_value
        wanted_text = " or ".join(w for w in wanted if w != "null") if isinstance(wanted, list) else str(wanted)
        shown = "" if error.instance is None else f" {_short(error.instance)}"
        return [(path, f"got {_json_type(error.instance)}{shown}, want {wanted_text}")]
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return _explain(best, schema_name)
    return [(path, error.message)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
