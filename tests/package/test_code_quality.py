"""The package and its tests are typed (mypy --strict) and ruff-clean; the checks run as part of the test suite so CI enforces them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.project import PROJECT


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(command[0])
    if executable is None:
        pytest.fail(f"{command[0]} is not installed (make setup installs it from requirements/lock.txt)")
    return subprocess.run([executable, *command[1:]], cwd=PROJECT, capture_output=True, text=True, check=False)


def test_ruff_check() -> None:
    result = _run("ruff", "check", "python", "tests", "bench", "scripts")
    assert result.returncode == 0, result.stdout


def test_ruff_format() -> None:
    result = _run("ruff", "format", "--check", "python", "tests", "bench", "scripts")
    assert result.returncode == 0, result.stdout


def test_mypy_strict() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout


def test_mypy_strict_on_the_tests_too() -> None:
    """The tests read like the library's best example: typed as strictly (pyproject's [tool.mypy])."""
    result = _run("mypy", "tests")
    assert result.returncode == 0, result.stdout
