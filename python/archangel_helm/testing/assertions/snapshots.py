"""Snapshot assertions: documents (or values at a path) compared with a stored YAML snapshot per test."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archangel_helm.core import paths, yamlio
from archangel_helm.testing.assertions._format import (
    Document,
    PathLike,
    Target,
    clip_lines,
    document_ref,
    indent,
    plain_data,
)
from archangel_helm.testing.assertions.selection import documents

UPDATE_SNAPSHOTS_ENV = "ARCHANGEL_UPDATE_SNAPSHOTS"


@dataclass
class Snapshot:
    """The snapshot file of one test. Unnamed snapshots are numbered in call order, as helm-unittest does.

    The pytest fixture ``snapshot`` makes one at ``<test dir>/__snapshots__/<module>/<test name>.yaml``; one
    file per test keeps parallel (xdist) workers from writing the same file.
    """

    file: Path
    update: bool | None = None  # None: $ARCHANGEL_UPDATE_SNAPSHOTS decides
    _taken: int = field(default=0, init=False, repr=False)
    used: set[str] = field(default_factory=set, init=False, repr=False)  # names matched: the rest are obsolete

    @classmethod
    def for_test(cls, test_file: str | os.PathLike[str], test_name: str, update: bool | None = None) -> Snapshot:
        safe = re.sub(r'[\\/:*?"<>|\s]+', "_", test_name)
        module = Path(test_file)
        return cls(module.parent / "__snapshots__" / module.stem / f"{safe}.yaml", update)

    def match(self, target: Target, *, name: str | None = None, path: PathLike | None = None) -> None:
        __tracebackhide__ = True
        match_snapshot(target, self, name=name, path=path)

    def next_name(self) -> str:
        self._taken += 1
        return str(self._taken)


def match_snapshot(
    target: Target,
    snapshot: Snapshot | str | os.PathLike[str],
    *,
    name: str | None = None,
    path: PathLike | None = None,
    update: bool | None = None,
    normalize: bool = True,
) -> None:
    """The documents (or the values at ``path`` in each) equal the stored snapshot ``name``.

    The first run writes the snapshot and passes, except under CI ($CI set), where a missing snapshot fails: a
    new snapshot must be reviewed and committed. A difference fails with a diff, or rewrites the snapshot when
    updating: ``update=True``, ``Snapshot(update=True)``, ``pytest --update-snapshots`` or
    ``ARCHANGEL_UPDATE_SNAPSHOTS=1``. ``normalize`` masks the chart version label and checksum annotations,
    as golden manifests do, so a chart version bump does not break every snapshot.
    """
    __tracebackhide__ = True
    store = snapshot if isinstance(snapshot, Snapshot) else Snapshot(Path(snapshot))
    key = name or store.next_name()
    store.used.add(key)
    current = _snapshot_content(target, path, normalize)
    entries = read_snapshots(store.file)
    if key not in entries:
        if _under_ci() and not _should_update(update, store):
            # As syrupy: a snapshot is written by a run someone can review, never taken as a pass under CI.
            raise AssertionError(
                f"match_snapshot failed: snapshot {key!r} is not in {store.file}, and this run is under CI ($CI): "
                "write it outside CI (or with `pytest --update-snapshots`), review it and commit it"
            )
        write_snapshots(store.file, {**entries, key: current})
        return
    stored_text, current_text = yamlio.dump(entries[key]), yamlio.dump(current)
    if stored_text == current_text:
        return
    if _should_update(update, store):
        write_snapshots(store.file, {**entries, key: current})
        return
    diff = difflib.unified_diff(
        stored_text.splitlines(),
        current_text.splitlines(),
        f"{store.file.name} [{key}] (stored)",
        f"{key} (rendered now)",
        lineterm="",
    )
    raise AssertionError(
        f"match_snapshot failed: snapshot {key!r} in {store.file} differs\n{indent(clip_lines(list(diff), 60))}\n"
        f"  update it with `pytest --update-snapshots` or {UPDATE_SNAPSHOTS_ENV}=1"
    )


def _snapshot_content(target: Target, path: PathLike | None, normalize: bool) -> Any:
    selected = documents(target)
    if path is None:
        content: Any = [dict(obj) for obj in selected]
    else:
        content = [m.value for obj in selected for m in _resolved_or_fail("match_snapshot", obj, path)]
    if not normalize:
        return plain_data(content)
    from archangel_helm.testing.golden import (
        normalize as mask_volatile,  # golden renders; import only when a snapshot is taken
    )

    # Masking works on YAML text (as for golden files), so round-trip through it.
    return yamlio.load(mask_volatile(yamlio.dump(content)))


def _resolved_or_fail(assertion: str, obj: Document, path: PathLike) -> tuple[paths.Match, ...]:
    __tracebackhide__ = True
    resolution = paths.resolve(obj, path)
    if resolution.misses:
        raise AssertionError(
            f"{assertion} failed on {document_ref(obj, '')}: "
            f"path {resolution.path} does not resolve: {resolution.misses[0]}"
        )
    return resolution.matches


def _under_ci() -> bool:
    """$CI, as GitHub Actions, GitLab and most CI systems set it (and .ci/run does)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _should_update(update: bool | None, store: Snapshot) -> bool:
    if update is not None:
        return update
    if store.update is not None:
        return store.update
    return os.environ.get(UPDATE_SNAPSHOTS_ENV, "").lower() in {"1", "true", "yes"}


def read_snapshots(file: Path) -> dict[str, Any]:
    if not file.exists():
        return {}
    loaded = yamlio.load(file.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{file} is not a snapshot file (expected a mapping of snapshot names)")
    return {str(k): v for k, v in loaded.items()}


def write_snapshots(file: Path, entries: Mapping[str, Any]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Snapshots of archangel_helm.testing.assertions.match_snapshot; update with `pytest --update-snapshots`.\n"
    )
    # Write then rename, so an interrupted run never leaves half a snapshot file behind.
    partial = file.with_name(file.name + ".tmp")
    partial.write_text(header + yamlio.dump(dict(entries)))
    partial.replace(file)
