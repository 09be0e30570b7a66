"""Which snapshot files and names a pytest session used, and so which are obsolete: the `snapshot` fixture's
bookkeeping for `pytest --snapshot-report` and `--prune-snapshots`.

A snapshot is obsolete when the test it belongs to ran to a pass without matching it (a name no longer
used), or when its file belongs to no test of a module that was run whole (a test renamed or removed). A
module with deselected tests (-k, -m, a node id) has no file judged obsolete: its other tests did not run.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from archangel_helm.testing.assertions.snapshots import Snapshot, read_snapshots, write_snapshots


@dataclass(frozen=True)
class Obsolete:
    file: Path
    names: tuple[str, ...] = ()  # empty: the whole file

    def __str__(self) -> str:
        return f"{self.file}" + (f" [{', '.join(self.names)}]" if self.names else " (no test uses the file)")


@dataclass
class SnapshotLedger:
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  # test node id -> its snapshot file
    passed: set[str] = field(default_factory=set)  # node ids that passed
    files_of_module: dict[Path, set[str]] = field(default_factory=lambda: defaultdict(set))  # module -> file names
    partial_modules: set[Path] = field(default_factory=set)

    def collected(self, module: Path, test_name: str) -> None:
        self.files_of_module[module].add(Snapshot.for_test(module, test_name).file.name)

    def obsolete(self) -> list[Obsolete]:
        found: list[Obsolete] = []
        for node, snapshot in sorted(self.snapshots.items()):
            if node in self.passed and snapshot.file.exists():
                unused = sorted(set(read_snapshots(snapshot.file)) - snapshot.used)
                if unused:
                    found.append(Obsolete(snapshot.file, tuple(unused)))
        for module, names in sorted(self.files_of_module.items()):
            directory = module.parent / "__snapshots__" / module.stem
            if module in self.partial_modules or not directory.is_dir():
                continue
            found += [Obsolete(f) for f in sorted(directory.glob("*.yaml")) if f.name not in names]
        return found


def prune(obsolete: list[Obsolete]) -> None:
    """Delete obsolete files; rewrite a file without its obsolete names (deleted when none is left)."""
    for item in obsolete:
        if not item.names:
            item.file.unlink(missing_ok=True)
            continue
        kept = {k: v for k, v in read_snapshots(item.file).items() if k not in item.names}
        if kept:
            write_snapshots(item.file, kept)
        else:
            item.file.unlink()
