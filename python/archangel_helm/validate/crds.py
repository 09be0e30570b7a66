"""Schemas of custom resources, read from CRD manifests or extracted schema files, checked strictly.

Upstream CRD schemas leave unknown fields to the API server's pruning; to catch a misspelt field before it is
silently dropped in the cluster, every object schema is closed (`additionalProperties: false`) except where
the CRD says `x-kubernetes-preserve-unknown-fields`. OpenAPI's `nullable` becomes a JSON-schema `null` type,
int-or-string is honoured, Go-only regex syntax is rewritten, and list-map keys must be unique as the API
server requires.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import validators

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError

CRD_DIR_ENV = "ARCHANGEL_CRD_SCHEMAS"


@dataclass
class CrdSchemas:
    """(apiVersion, kind) -> openAPIV3Schema, from any number of directories."""

    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    origins: dict[tuple[str, str], str] = field(default_factory=dict)
    _validators: dict[tuple[str, str], jsonschema.protocols.Validator] = field(default_factory=dict)

    @classmethod
    def from_directories(cls, *directories: str | Path) -> CrdSchemas:
        store = cls()
        for directory in directories:
            store.load_directory(Path(directory))
        return store

    def load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            raise ConfigurationError(f"CRD schema directory {directory} does not exist")
        for file in sorted(directory.rglob("*")):
            if file.suffix == ".json":
                self._load_extracted(file, directory)
            elif file.suffix in (".yaml", ".yml"):
                self._load_manifests(file)

    def add(self, api_version: str, kind: str, schema: dict[str, Any], origin: str) -> None:
        self.schemas[(api_version, kind)] = schema
        self.origins[(api_version, kind)] = origin
        self._validators.pop((api_version, kind), None)

    def _load_extracted(self, file: Path, root: Path) -> None:
        # Layout <group>/<version>/<Kind>.json, as ../shared/crd-schemas and `archangel-helm crds fetch` write.
        parts = file.relative_to(root).parts
        if len(parts) < 3:
            return
        group, version, name = parts[-3], parts[-2], parts[-1]
        schema = json.loads(file.read_text())
        if not isinstance(schema, dict) or "properties" not in schema:
            raise ConfigurationError(f"{file}: not an openAPIV3Schema (no properties)")
        self.add(f"{group}/{version}", name.removesuffix(".json"), schema, str(file))

    def _load_manifests(self, file: Path) -> None:
        for document in yamlio.load_all(file.read_text()):
            for crd in _crd_documents(document):
                spec = crd.get("spec") or {}
                group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
                for version in spec.get("versions") or []:
                    schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
                    if not version.get("served", True) or schema is None:
                        continue
                    self.add(f"{group}/{version['name']}", str(kind), schema, f"{file} ({crd['metadata']['name']})")

    def knows(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.schemas

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        key = (api_version, kind)
        if key not in self.schemas:
            return None
        if key not in self._validators:
            strict = strict_schema(self.schemas[key])
            self._validators[key] = _CrdValidator(strict, format_checker=None)
        return self._validators[key]

    def __len__(self) -> int:
        return len(self.schemas)


def _crd_documents(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        return
    if document.get("kind") == "CustomResourceDefinition":
        yield document
    elif document.get("kind", "").endswith("List"):  # `kubectl get crd -o yaml`
        for item in document.get("items") or []:
            yield from _crd_documents(item)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI v3 CRD schema, closed against unknown fields and made JSON-schema exact."""
    result = copy.deepcopy(schema)
    # Every custom resource has these at its root, whether or not the CRD lists them (Istio's do not list
    # metadata); metadata itself is checked against ObjectMeta separately.
    root_properties = result.setdefault("properties", {})
    root_properties.setdefault("apiVersion", {"type": "string"})
    root_properties.setdefault("kind", {"type": "string"})
    root_properties.setdefault("metadata", {"type": "object"})
    _close(result)
    return result


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("nullable") is True and "type" in node:
        node["type"] = [node["type"], "null"] if isinstance(node["type"], str) else [*node["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node and "type" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if isinstance(node.get("pattern"), str):
        node["pattern"] = go_regex_to_python(node["pattern"])
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("type") in ("object", ["object", "null"]) and "properties" in node and not preserve:
        node.setdefault("additionalProperties", False)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for child in value.values():
                _close(child)
        elif key in ("items", "additionalProperties", "not") or key in ("anyOf", "allOf", "oneOf"):
            _close(value)


def go_regex_to_python(pattern: str) -> str:
    """Go applies a mid-pattern `(?i)` to the rest of its group; Python only allows it at the start."""
    while True:
        index = pattern.find("(?i)", 1)
        if index < 0:
            return pattern
        end = _group_end(pattern, index + 4)
        pattern = pattern[:index] + "(?i:" + pattern[index + 4 : end] + ")" + pattern[end:]


def _group_end(pattern: str, start: int) -> int:
    depth, position, in_class = 0, start, False
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            position += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return position
            depth -= 1
        position += 1
    return len(pattern)


def _list_type(
    validator: Any, list_type: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                yield jsonschema.ValidationError(f"duplicate entry {item!r} in a list of type set")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: set[str] = set()
        for item in instance:
            if not isinstance(item, dict):
                continue
            identity = json.dumps([item.get(k) for k in keys])
            if identity in seen_keys:
                yield jsonschema.ValidationError(
                    f"duplicate entry with keys {dict(zip(keys, json.loads(identity), strict=True))}"
                )
            seen_keys.add(identity)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if isinstance(instance, str) and not re.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# OpenAPI v3 CRD schemas follow draft 4 semantics (boolean exclusiveMinimum and friends).
_CrdValidator = validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft4Validator, {"x-kubernetes-list-type": _list_type, "pattern": _pattern}
)
