"""Create the release's generated Secret if it is absent, and add only the keys it lacks.

    python -m archangel_helm.hooks.secrets --spec /etc/archangel/secrets/spec.json [--namespace NS]

Runs as a pre-install/pre-upgrade hook (Argo CD: PreSync), so it runs on every install, upgrade and sync.
An existing key is never changed, so passwords and encryption keys stay what they were on the first run.
Two runs racing each other both succeed: a create that finds the Secret already there (409) re-reads it and
fills the gaps, and a patch carries the resourceVersion it read, so a concurrent write makes it retry
instead of overwriting.

The spec names the Secret, its labels and annotations, and each key's length and alphabet; this module
knows nothing of any chart. Exit codes: 0 done (or nothing to do), 1 the API refused, 2 a bad spec or usage.
Key values are never printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import secrets
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archangel_helm.core.logsetup import logger
from archangel_helm.hooks.certificates import (
    CertificateSpecError,
    CertificatesSpec,
    ensure_certificates,
    parse_certificates,
)
from archangel_helm.hooks.kube import core_v1_api, current_namespace
from archangel_helm.hooks.secretstore import HookError, SecretIdentity, converge_secret


def _log() -> logging.Logger:
    return logger("archangel.secrets-hook")


ALPHABETS: dict[str, str] = {
    "alphanumeric": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "hex": "0123456789abcdef",
}
MIN_LENGTH, MAX_LENGTH = 16, 4096


_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")  # what the API server accepts as a data key


class SpecError(ValueError):
    """The spec file is malformed; the message names the field."""


@dataclass(frozen=True)
class KeySpec:
    """A key to generate (length characters of alphabet), or with `value`, a fixed one (a user name that an
    operator reads beside the password, as CloudNativePG's bootstrap does): written once like the others."""

    name: str
    length: int = 0
    alphabet: str = ""
    value: str | None = None


@dataclass(frozen=True)
class SecretSpec:
    name: str
    keys: tuple[KeySpec, ...]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    certificates: CertificatesSpec | None = None


def parse_spec(document: Any, source: str = "spec") -> SecretSpec:
    if not isinstance(document, dict):
        raise SpecError(f"{source}: expected a JSON object with 'secret' and 'keys'")
    unknown = set(document) - {"secret", "keys", "certificates"}
    if unknown:
        raise SpecError(f"{source}: unknown fields {sorted(unknown)}; allowed: secret, keys, certificates")
    secret = document.get("secret")
    if not isinstance(secret, dict) or not isinstance(secret.get("name"), str) or not secret["name"]:
        raise SpecError(f"{source}: secret.name must be a non-empty string")
    labels = _string_map(secret.get("labels", {}), f"{source}: secret.labels")
    annotations = _string_map(secret.get("annotations", {}), f"{source}: secret.annotations")
    certificates = None
    if "certificates" in document:
        try:
            certificates = parse_certificates(document["certificates"], f"{source}: certificates")
        except CertificateSpecError as error:
            raise SpecError(str(error)) from error
    raw_keys = document.get("keys")
    # Every key may come from an existingSecret while the hook still makes the data tier's certificates.
    if not isinstance(raw_keys, list) or not (raw_keys or certificates):
        raise SpecError(f"{source}: keys must be a non-empty list (or empty beside certificates)")
    keys: list[KeySpec] = []
    for index, raw in enumerate(raw_keys):
        where = f"{source}: keys[{index}]"
        if not isinstance(raw, dict):
            raise SpecError(f"{where}: expected an object with name, length, alphabet (or name, value)")
        name = raw.get("name")
        if not isinstance(name, str) or not _SECRET_KEY.fullmatch(name):
            raise SpecError(
                f"{where}.name: {name!r} is not a valid Secret key (ASCII letters, digits, '-', '_', '.'; 1-253)"
            )
        if any(k.name == name for k in keys):
            raise SpecError(f"{where}.name: {name!r} is listed twice")
        keys.append(_fixed_key(raw, name, where) if "value" in raw else _generated_key(raw, name, where))
    return SecretSpec(secret["name"], tuple(keys), labels, annotations, certificates)


def _generated_key(raw: dict[str, Any], name: str, where: str) -> KeySpec:
    if unknown := set(raw) - {"name", "length", "alphabet"}:
        raise SpecError(f"{where}: unknown fields {sorted(unknown)}; a generated key has name, length, alphabet")
    length, alphabet = raw.get("length"), raw.get("alphabet")
    if not isinstance(length, int) or isinstance(length, bool) or not MIN_LENGTH <= length <= MAX_LENGTH:
        raise SpecError(f"{where}.length: {length!r} must be an integer from {MIN_LENGTH} to {MAX_LENGTH}")
    if alphabet not in ALPHABETS:
        raise SpecError(f"{where}.alphabet: {alphabet!r} must be one of {sorted(ALPHABETS)}")
    return KeySpec(name, length, alphabet)


def _fixed_key(raw: dict[str, Any], name: str, where: str) -> KeySpec:
    if unknown := set(raw) - {"name", "value"}:
        raise SpecError(f"{where}: unknown fields {sorted(unknown)}; a fixed key has name and value only")
    value = raw["value"]
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}.value: {value!r} must be a non-empty string")
    return KeySpec(name, value=value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SpecError(f"{where} must map strings to strings")
    return dict(value)


def load_spec(path: Path) -> SecretSpec:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec: {error}") from error
    except ValueError as error:
        raise SpecError(f"{path}: not valid JSON: {error}") from error
    return parse_spec(document, str(path))


def generate_value(key: KeySpec) -> str:
    if key.value is not None:
        return key.value
    alphabet = ALPHABETS[key.alphabet]
    return "".join(secrets.choice(alphabet) for _ in range(key.length))


@dataclass(frozen=True)
class SecretOutcome:
    created: bool
    added: tuple[str, ...]
    kept: tuple[str, ...]

    def summary(self, name: str, namespace: str) -> str:
        if self.created:
            return f"created secret {namespace}/{name} with keys: {', '.join(self.added)}"
        if self.added:
            return (
                f"added keys {', '.join(self.added)} to secret {namespace}/{name}; "
                f"kept existing keys unchanged: {', '.join(self.kept) or 'none'}"
            )
        return f"secret {namespace}/{name} already has every key ({', '.join(self.kept)}); nothing changed"


def ensure_secret(
    api: Any, namespace: str, spec: SecretSpec, generate: Callable[[KeySpec], str] = generate_value
) -> SecretOutcome:
    """Make the Secret hold every key of the spec without touching any key it already has."""

    def missing_keys(existing: Mapping[str, str] | None) -> dict[str, str]:
        return {key.name: generate(key) for key in spec.keys if existing is None or key.name not in existing}

    result = converge_secret(
        api, namespace, SecretIdentity(spec.name, "Opaque", spec.labels, spec.annotations), missing_keys
    )
    return SecretOutcome(result.created, tuple(result.written), () if result.created else result.kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archangel_helm.hooks.secrets", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="JSON spec: the Secret and the keys to generate")
    parser.add_argument("--namespace", help="default: $POD_NAMESPACE, else the service account's namespace")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
    except SpecError as error:
        _log().error(f"secrets hook: bad spec, nothing was written: {error}")
        return 2
    namespace = current_namespace(args.namespace)
    if not namespace:
        _log().error("secrets hook: no namespace: pass --namespace or set POD_NAMESPACE")
        return 2
    api = core_v1_api()
    try:
        if spec.keys:
            _log().info(f"secrets hook: {ensure_secret(api, namespace, spec).summary(spec.name, namespace)}")
        if spec.certificates:
            for line in ensure_certificates(
                api, namespace, spec.certificates, labels=spec.labels, annotations=spec.annotations
            ):
                if line.startswith("WARNING: "):
                    _log().warning(f"secrets hook: {line.removeprefix('WARNING: ')}")
                else:
                    _log().info(f"secrets hook: {line}")
    except (HookError, CertificateSpecError) as error:
        _log().error(f"secrets hook: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
