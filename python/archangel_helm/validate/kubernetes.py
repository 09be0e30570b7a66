"""Strict OpenAPI schemas of built-in Kubernetes kinds, read offline from the kubernetes-validate package."""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from typing import Any

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource

from archangel_helm.core.chart import KubeVersion, format_kube_version
from archangel_helm.core.errors import ConfigurationError

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


DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"


@functools.cache
def _definitions_document(version: KubeVersion) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((_schema_dir(version) / "_definitions.json").read_text())
    return document


@functools.cache
def _registry(version: KubeVersion) -> Registry[Any]:
    return Resource.from_contents(_definitions_document(version)) @ Registry()


@functools.cache
def _fast_registry(version: KubeVersion) -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(DEFINITIONS_URI, _definitions_document(version))])


@functools.cache
def _definitions(version: KubeVersion) -> dict[str, Any]:
    registry = _registry(version)
    contents = registry.contents(DEFINITIONS_URI)
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
def fast_validator(version: KubeVersion, api_version: str, kind: str) -> jsonschema_rs.Validator | None:
    """The same schema compiled by jsonschema-rs, for the accept path: it answers "valid?" some 300 times faster
    than jsonschema. Objects it rejects go through `validator`, which explains each failure, so where the two
    disagree that way it costs time, not correctness. The other way (jsonschema-rs accepting what jsonschema
    rejects) would hide a problem: tests/package/test_validate.py compares the verdicts on every shipped render
    and on mutated objects. None when the kind is not served or jsonschema-rs cannot compile the schema.
    """
    schema = _load_schema(version, api_version, kind)
    if schema is None:
        return None
    try:
        return jsonschema_rs.validator_for(schema, registry=_fast_registry(version))
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError):
        return None


@functools.cache
def object_meta_validator(version: KubeVersion) -> jsonschema.Draft202012Validator:
    """ObjectMeta, strict: CRD schemas leave metadata open, so custom resources are checked with this."""
    schema = {
        "$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))
