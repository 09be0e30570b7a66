"""typings/: stubs for the untyped library calls mypy must still check (pyhelm3: install, upgrade, the revision and
hooks deploy and verify read). They must match the library as installed, and mypy must use them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.project import PROJECT

TYPINGS = PROJECT / "typings"


def test_the_stubs_match_pyhelm3_as_installed() -> None:
    """mypy's stubtest compares every stubbed function with pyhelm3's runtime signature (a parameter renamed or
    dropped upstream fails here); the allowlist names the two differences that are not about our calls."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "pyhelm3",
            "--ignore-missing-stub",
            "--allowlist",
            str(TYPINGS / "stubtest-allowlist.txt"),
        ],
        env={"MYPYPATH": str(TYPINGS), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_checks_our_pyhelm3_calls(tmp_path: Path) -> None:
    """With pyhelm3 untyped (ignore_missing_imports), a wrong call was Any and passed; with the stubs it fails."""
    wrong = tmp_path / "wrong_call.py"
    wrong.write_text(
        "from pyhelm3 import Client\n\n\n"
        "async def revision_number(client: Client) -> str:\n"
        "    revision = await client.get_current_revision(3, namespace='archangel')\n"
        "    return revision.revision\n"
    )
    mypy = shutil.which("mypy")
    assert mypy, "mypy is not installed (make setup)"
    done = subprocess.run(
        [mypy, "--config-file", str(PROJECT / "pyproject.toml"), str(wrong)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout
    assert 'Argument 1 to "get_current_revision" of "Client" has incompatible type "int"' in done.stdout
    assert 'Incompatible return value type (got "int", expected "str")' in done.stdout
