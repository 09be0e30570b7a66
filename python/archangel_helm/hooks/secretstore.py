"""Create or patch one Secret without ever overwriting a concurrent writer's change: the write primitive of the
secrets hook (generated keys and certificates alike)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_ATTEMPTS = 5


class HookError(RuntimeError):
    """The Kubernetes API refused or kept conflicting; the message says what to check."""


def _encoded(values: Mapping[str, str]) -> dict[str, str]:
    return {name: base64.b64encode(value.encode()).decode() for name, value in values.items()}


@dataclass(frozen=True)
class SecretIdentity:
    name: str
    type: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Converged:
    created: bool
    written: dict[str, str]  # the keys this run wrote (decoded)
    kept: tuple[str, ...]  # the keys the Secret had before


def converge_secret(
    api: Any,
    namespace: str,
    identity: SecretIdentity,
    changes: Callable[[Mapping[str, str] | None], dict[str, str]],
) -> Converged:
    """Create the Secret, or patch the keys `changes` asks for; `changes` sees the current keys (decoded; None
    when the Secret is absent) and returns only what must be written. A write carries the resourceVersion it
    read, so two hooks racing never overwrite each other: the loser reads again and asks `changes` again."""
    from kubernetes.client.exceptions import ApiException

    for _attempt in range(MAX_ATTEMPTS):
        try:
            existing = api.read_namespaced_secret(identity.name, namespace)
        except ApiException as error:
            if error.status != 404:
                raise _explain(error, "read", identity.name, namespace) from error
            values = changes(None)
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": identity.type,
                "metadata": {
                    "name": identity.name,
                    "namespace": namespace,
                    "labels": dict(identity.labels),
                    "annotations": dict(identity.annotations),
                },
                "data": _encoded(values),
            }
            try:
                api.create_namespaced_secret(namespace, body)
            except ApiException as create_error:
                if create_error.status == 409:  # another run created it first: read it and fill the gaps
                    continue
                raise _explain(create_error, "create", identity.name, namespace) from create_error
            return Converged(True, values, ())
        data = {
            name: base64.b64decode(value).decode("utf-8", "replace") for name, value in (existing.data or {}).items()
        }
        kept = tuple(sorted(data))
        values = changes(data)
        if not values:
            return Converged(False, {}, kept)
        patch: dict[str, Any] = {"data": _encoded(values)}
        version = getattr(existing.metadata, "resource_version", None)
        if version:
            patch["metadata"] = {"resourceVersion": version}  # a concurrent write makes this fail with 409
        try:
            api.patch_namespaced_secret(identity.name, namespace, patch)
        except ApiException as error:
            if error.status == 409:
                continue
            raise _explain(error, "patch", identity.name, namespace) from error
        return Converged(False, values, kept)
    raise HookError(
        f"secret {namespace}/{identity.name} kept changing under this hook ({MAX_ATTEMPTS} conflicting "
        "writes); another process is writing it: find it and run the hook again"
    )


def _explain(error: Any, verb: str, name: str, namespace: str) -> HookError:
    reason = _api_message(error)
    if error.status == 403:
        return HookError(
            f"forbidden to {verb} secret {namespace}/{name}: {reason}. The hook's Role must allow 'create' on "
            f"secrets and 'get', 'patch' on the secret named {name}"
        )
    if error.status == 422:
        return HookError(f"the API rejected the {verb} of secret {namespace}/{name} (is it immutable?): {reason}")
    return HookError(f"could not {verb} secret {namespace}/{name}: HTTP {error.status}: {reason}")


def _api_message(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)
