"""Writing rendered objects to disk and printing plain-text tables."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.manifest import Manifest, name_of


def object_file_name(kind: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"{kind.lower()}-{safe}.yaml"


INDEX_FILE = ".archangel-render"  # the files the last write put in a directory: the only ones it may replace


def write_objects(manifest: Manifest, directory: Path) -> list[Path]:
    """One file per object, named <kind>-<name>.yaml, replacing what the previous write to the directory wrote.

    Other files are never touched: a name that would overwrite one (a values file, a chart's Chart.yaml in the
    directory) is refused before anything is written, with a ConfigurationError naming it."""
    planned = _planned_files(manifest, directory)
    index = directory / INDEX_FILE
    ours = set(index.read_text().split("\n")) - {""} if index.is_file() else set()
    foreign = sorted(p.name for p in planned if p.exists() and p.name not in ours)
    if foreign:
        raise ConfigurationError(
            f"{directory}: would overwrite {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, which "
            "an earlier render did not write; choose an empty directory for the rendered objects"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ours:
        (directory / stale).unlink(missing_ok=True)
    index.write_text("".join(f"{p.name}\n" for p in planned))
    for (obj, source), path in zip(zip(manifest.objects, manifest.sources, strict=True), planned, strict=True):
        header = f"# Source: {source}\n" if source else ""
        path.write_text(header + yamlio.dump(obj))
    return planned


def _planned_files(manifest: Manifest, directory: Path) -> list[Path]:
    taken: set[str] = set()
    planned = []
    for obj in manifest.objects:
        kind, name = str(obj["kind"]), name_of(obj)
        file_name = object_file_name(kind, name)
        if file_name in taken:  # one kind and name twice (e.g. in two namespaces): keep both
            namespace = (obj.get("metadata") or {}).get("namespace", "cluster")
            file_name = object_file_name(kind, f"{namespace}.{name}")
        counter = 2
        while file_name in taken:
            file_name = object_file_name(kind, f"{name}.{counter}")
            counter += 1
        taken.add(file_name)
        planned.append(directory / file_name)
    return planned


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
