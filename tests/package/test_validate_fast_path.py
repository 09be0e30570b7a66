"""The jsonschema-rs accept path must never accept what jsonschema rejects.

SchemaValidator asks jsonschema-rs first and skips jsonschema for objects it accepts. That is only sound if the
two agree, so every built-in object of every shipped render is compared under both, and so are mutations of the
production objects: an unknown key added to every mapping, and every scalar leaf replaced by a value of another
type. Where the two disagree in the safe direction (jsonschema-rs rejects, jsonschema accepts) the validator
merely takes the slow path; the test reports those too, since they cost time."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.validate import kubernetes
from tests.support.project import SHIPPED_VALUES

VERSIONS = [(1, 30), (1, 37)]


def verdicts(obj: dict[str, Any], version: tuple[int, int]) -> tuple[bool, bool] | None:
    api_version, kind = obj["apiVersion"], obj["kind"]
    if not kubernetes.is_builtin(api_version, kind):
        return None
    slow = kubernetes.validator(version, api_version, kind)
    fast = kubernetes.fast_validator(version, api_version, kind)
    if slow is None:
        return None
    assert fast is not None, f"jsonschema-rs cannot compile {api_version} {kind} at {version}"
    return next(slow.iter_errors(obj), None) is None, fast.is_valid(obj)


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_both_validators_accept_every_shipped_object(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    for obj in render_shipped(shipped):
        for version in VERSIONS:
            result = verdicts(obj, version)
            assert result in (None, (True, True)), (obj["kind"], obj["metadata"]["name"], version, result)


def mutations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, Any]]:
    """(path, what, new value) for an unknown key in each mapping and a type change at each scalar."""
    if isinstance(node, dict):
        yield path, "unknown key", {**node, "zzUnknownField": 1}
        for key, value in node.items():
            yield from mutations(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from mutations(value, (*path, index))
    elif isinstance(node, bool):
        yield path, "bool -> string", "true"
    elif isinstance(node, int | float):
        yield path, "number -> string", str(node)
    elif isinstance(node, str):
        yield path, "string -> list", [node]


def replaced(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    if not path:
        return value  # type: ignore[no-any-return]
    copied = copy.deepcopy(obj)
    parent: Any = copied
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return copied


def test_jsonschema_rs_rejects_every_mutation_jsonschema_rejects(
    render_shipped: Callable[..., Manifest],
) -> None:
    production = render_shipped(next(s for s in SHIPPED_VALUES if s.id == "values/production.yaml"))
    unsafe, slow_only, compared = [], 0, 0
    for obj in production:
        if not kubernetes.is_builtin(obj["apiVersion"], obj["kind"]):
            continue
        for path, what, value in mutations(obj):
            if path[:1] in (("apiVersion",), ("kind",)):
                continue  # these pick the schema; changing them tests nothing here
            mutated = replaced(obj, path, value)
            for version in VERSIONS:
                result = verdicts(mutated, version)
                if result is None:
                    continue
                compared += 1
                python_ok, rust_ok = result
                if rust_ok and not python_ok:
                    unsafe.append(f"{obj['kind']}/{obj['metadata']['name']} {'.'.join(map(str, path))}: {what}")
                slow_only += python_ok and not rust_ok
    assert compared > 5000  # the production render has thousands of fields: make sure they were walked
    assert unsafe == []
    # Cost only, never correctness: jsonschema-rs may be stricter (e.g. formats), sending an object down the
    # slow path. It should be rare, or the fast path would not pay.
    assert slow_only <= compared // 100, f"{slow_only} of {compared} mutations took the slow path needlessly"
