"""CRD manifests that ship inside Go modules, read from Go's module cache: cert-manager's (the data tier's
certificates), which ../shared/crds does not hold. The module proxy serves a module's files with checksums Go
verifies against its checksum database, and a pinned version never changes, so these are as fixed as the
commit-pinned downloads of `crds fetch`.

`python -m archangel_helm.crds.gomod` downloads them (scripts/setup.sh runs it); validation and the local
cluster then find them in the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GoModuleCrds:
    module: str
    version: str
    directory: str  # inside the module
    kinds: tuple[str, ...]  # what the charts emit

    @property
    def pinned(self) -> str:
        return f"{self.module}@{self.version}"


SOURCES: tuple[GoModuleCrds, ...] = (
    GoModuleCrds("github.com/cert-manager/cert-manager", "v1.19.1", "deploy/crds", ("Certificate", "Issuer")),
)


def module_cache() -> Path:
    """Go's module cache: $GOMODCACHE, else $GOPATH/pkg/mod (first entry), else ~/go/pkg/mod."""
    if os.environ.get("GOMODCACHE"):
        return Path(os.environ["GOMODCACHE"])
    gopath = os.environ.get("GOPATH", "").split(os.pathsep)[0]
    return Path(gopath or Path.home() / "go") / "pkg" / "mod"


def _escaped(module: str) -> str:
    # The module cache writes upper-case letters as '!' + lower case.
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in module)


def cached_directory(source: GoModuleCrds) -> Path:
    return module_cache() / f"{_escaped(source.module)}@{source.version}" / source.directory


def directories() -> list[Path]:
    """The CRD directories already in the module cache (none when Go never downloaded them)."""
    return [d for d in map(cached_directory, SOURCES) if d.is_dir()]


def download() -> list[Path]:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("go is not on PATH: the cert-manager CRDs come from the Go module proxy")
    for source in SOURCES:
        result = subprocess.run(
            [go, "mod", "download", "-x", source.pinned], capture_output=True, text=True, check=False, timeout=600
        )
        if result.returncode != 0:
            raise RuntimeError(f"go mod download {source.pinned} failed: {result.stderr.strip()[-2000:]}")
    missing = [str(cached_directory(s)) for s in SOURCES if not cached_directory(s).is_dir()]
    if missing:
        raise RuntimeError(f"downloaded, but not found in the module cache: {', '.join(missing)}")
    return directories()


def main() -> int:
    try:
        found = download()
    except RuntimeError as error:
        print(f"crds.gomod: {error}", file=sys.stderr)
        return 1
    print("crds.gomod: " + ", ".join(map(str, found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
