"""Strict OpenAPI schemas of built-in Kubernetes kinds, read offline from the kubernetes-validate package."""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from typing import Any

import jsonschema
from referencing import Registry, Resource

from ..chart import KubeVersion, format_kube_version
from ..errors import ConfigurationError

_GROUP_PREFIX = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


def _schema_root() -> Any:
    return importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"


@functools.cache
def shipped_versions() -> tuple[KubeVersion, ...]:
    """The Kubernetes minors that kubernetes-validate ships strict schemas for, oldest first."""
    found = []
    for entry in _schema_root().iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if match:
            found.append((int(match[1]), int(match[2])))
    return tuple(sorted(found))


def _schema_dir(version: KubeVersion) -> Any:
    if version not in shipped_versions():
        available = ", ".join(format_kube_version(v) for v in shipped_versions())
        raise ConfigurationError(
            f"no Kubernetes {format_kube_version(version)} schemas are installed "
            f"(kubernetes-validate ships {available})"
        )
    return _schema_root() / f"v{version[0]}.{version[1]}.0-local-strict"


@functools.cache
def _registry(version: KubeVersion) -> Registry[Any]:
    definitions = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _definitions(version: KubeVersion) -> dict[str, Any]:
    registry = _registry(version)
    contents = registry.contents("https://kubernetes.io/api/_definitions.json")
    return dict(contents["$defs"])


def is_builtin(api_version: str, kind: str) -> bool:
    """True when any shipped Kubernetes version has a schema for this apiVersion/kind."""
    return any(_load_schema(version, api_version, kind) is not None for version in shipped_versions())


@functools.cache
def _load_schema(version: KubeVersion, api_version: str, kind: str) -> dict[str, Any] | None:
    api_part = _GROUP_PREFIX.sub(r"\1-", api_version)  # rbac.authorization.k8s.io/v1 -> rbac-v1
    file = _schema_dir(version) / f"{kind.lower()}-{api_part}.json"
    if not file.is_file():
        return None
    schema: dict[str, Any] = json.loads(file.read_text())
    group, _, served_version = api_version.rpartition("/")
    declared = schema.get("x-kubernetes-group-version-kind") or []
    # The file name keeps only the first label of the group: make sure the group really is this one.
    if not any(
        g.get("group") == group and g.get("version") == served_version and g.get("kind") == kind for g in declared
    ):
        return None
    return schema


@functools.cache
def validator(version: KubeVersion, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """A strict validator for the kind at that Kubernetes version, or None when that version does not serve it."""
    schema = _load_schema(version, api_version, kind)
    if schema is None:
        return None
    registry = Resource.from_contents(schema) @ _registry(version)
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def object_meta_validator(version: KubeVersion) -> jsonschema.Draft202012Validator:
    """ObjectMeta, strict: CRD schemas leave metadata open, so custom resources are checked with this."""
    schema = {
        "$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))
