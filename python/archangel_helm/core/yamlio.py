"""YAML loading shared by the package: fast C loader when present, and bare `=` read as a string."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that reads a bare `=` (YAML's `value` tag, used by AlertmanagerConfig matchType) as '='.

    A subclass, so PyYAML's global SafeLoader is left alone.
    """


def _value_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


Loader.add_constructor("tag:yaml.org,2002:value", _value_as_string)


def load(text: str) -> Any:
    return yaml.load(text, Loader=Loader)


def load_all(text: str) -> Iterator[Any]:
    return yaml.load_all(text, Loader=Loader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(data: Any) -> str:
    """Block-style YAML with multi-line strings as literal blocks (readable golden files and CLI output)."""
    return str(yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120))
