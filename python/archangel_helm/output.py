"""Writing rendered objects to disk and printing plain-text tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from . import yamlio
from .manifest import Manifest, name_of


def object_file_name(kind: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"{kind.lower()}-{safe}.yaml"


def write_objects(manifest: Manifest, directory: Path) -> list[Path]:
    """One file per object, named <kind>-<name>.yaml; previous *.yaml output in the directory is replaced."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    written = []
    for obj, source in zip(manifest.objects, manifest.sources, strict=True):
        path = directory / object_file_name(str(obj["kind"]), name_of(obj))
        if path.exists():  # two objects of one kind and name (e.g. in different namespaces): keep both
            namespace = (obj.get("metadata") or {}).get("namespace", "cluster")
            path = directory / object_file_name(str(obj["kind"]), f"{namespace}.{name_of(obj)}")
        header = f"# Source: {source}\n" if source else ""
        path.write_text(header + yamlio.dump(obj))
        written.append(path)
    return written


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
