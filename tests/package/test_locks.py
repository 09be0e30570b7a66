"""The pinned locks agree with each other and with pyproject.toml, so the tools image runs the versions the
tests ran, and holds nothing but what the package needs at run time."""

from __future__ import annotations

import re
import tomllib

from tests.support.project import PROJECT

REQUIREMENTS = PROJECT / "requirements"
TEST_ONLY = {"pytest", "pytest-xdist", "moto", "mypy", "ruff", "flask", "hypothesis", "kmock", "yamllint"}


def pins(lock: str) -> dict[str, str]:
    text = (REQUIREMENTS / lock).read_text()
    return {m[1].lower(): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", text, re.M)}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_runtime_lock_pins_the_same_versions_as_the_full_lock() -> None:
    full, runtime = pins("lock.txt"), pins("runtime-lock.txt")
    assert runtime, "empty runtime lock"
    assert {name: version for name, version in runtime.items() if full.get(name) != version} == {}


def test_the_runtime_lock_is_exactly_the_package_dependencies_and_holds_no_test_tools() -> None:
    declared = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {normalized(re.split(r"[<>=!~ ;\[]", d)[0]) for d in declared}
    listed = {
        normalized(line.strip())
        for line in (REQUIREMENTS / "runtime.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == names
    runtime = {normalized(n) for n in pins("runtime-lock.txt")}
    assert names <= runtime
    assert runtime & TEST_ONLY == set()


def test_every_pin_carries_a_hash() -> None:
    for lock in ("lock.txt", "runtime-lock.txt", "checkov-lock.txt", "barman-lock.txt"):
        text = (REQUIREMENTS / lock).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)
        pinned = [b for b in blocks if re.match(r"[A-Za-z0-9_.\-]+==", b)]
        assert pinned, lock
        assert all("--hash=sha256:" in b for b in pinned), lock


def test_the_tools_image_installs_the_runtime_lock() -> None:
    dockerfile = (PROJECT / "images" / "tools" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/runtime-lock.txt" in dockerfile
    assert "-r requirements/lock.txt" not in dockerfile
