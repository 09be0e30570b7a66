"""The target types of the assertions and how their messages show values: clipped, diffed, with each
document named by kind, name and template.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from archangel_helm.core import paths, yamlio
from archangel_helm.core.manifest import Manifest
from archangel_helm.core.paths import ObjectPath

Document = Mapping[str, Any]


Target = Manifest | Document | Iterable[Document]  # a Documents selection is an Iterable[Document]


PathLike = str | ObjectPath


_MAX_LINES = 25  # lines of one value or diff shown


_MAX_CHARS = 2000


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "list"
    return {str: "string", int: "int", float: "float"}.get(type(value), type(value).__name__)


def document_ref(obj: Document, source: str) -> str:
    if "kind" not in obj:
        return "the object"
    name = (obj.get("metadata") or {}).get("name", "")
    return f"{obj['kind']}/{name}" + (f" ({source})" if source else "")


def show(value: Any) -> str:
    """A value for a failure message: one line when short (JSON, so strings are quoted), YAML when long."""
    if not isinstance(value, Mapping | list | tuple):
        return clip_text(paths.format_value(value))
    one_line = json.dumps(value, default=str)
    if len(one_line) <= 100:
        return one_line
    return clip_lines(yamlio.dump(plain_data(value)).rstrip("\n").splitlines(), _MAX_LINES)


def plain_data(value: Any) -> Any:
    # yaml's safe dumper refuses tuples and Mapping subclasses; a message must never fail to print.
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value


def diff(expected: Any, actual: Any) -> str:
    if not (isinstance(expected, Mapping | list | tuple) and isinstance(actual, Mapping | list | tuple)):
        return ""
    lines = difflib.unified_diff(
        yamlio.dump(plain_data(expected)).splitlines(),
        yamlio.dump(plain_data(actual)).splitlines(),
        "expected",
        "actual",
        lineterm="",
    )
    return "diff:\n" + indent(clip_lines(list(lines), 40))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def clip(items: Sequence[str], limit: int = 15) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def clip_lines(lines: list[str], limit: int) -> str:
    kept = lines[:limit] + ([f"... ({len(lines) - limit} more lines)"] if len(lines) > limit else [])
    return clip_text("\n".join(kept))


def clip_text(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + f"... ({len(text) - _MAX_CHARS} more characters)"


def indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())
