"""Chart docs: every value has an @param comment, and the README tables are what the generator makes of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.project import CHARTS, PROJECT

GENERATOR = PROJECT / "node_modules" / ".bin" / "readme-generator"
pytestmark = pytest.mark.skipif(
    not GENERATOR.exists(), reason="readme-generator not installed (make setup runs `npm ci`; needs node and npm)"
)


@pytest.mark.parametrize("chart", CHARTS, ids=lambda c: c.name)
def test_readme_parameter_tables_are_up_to_date(chart: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(chart / "README.md", readme)
    result = subprocess.run(
        [str(GENERATOR), "-v", str(chart / "values.yaml"), "-r", str(readme)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # also fails on a value without @param
    assert readme.read_text() == (chart / "README.md").read_text(), "run `make docs`"


def test_the_generator_refuses_an_undocumented_value(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("## @section S\n## @param documented A value\ndocumented: 1\nundocumented: 2\n")
    readme = tmp_path / "README.md"
    readme.write_text("## Parameters\n\n### S\n")
    result = subprocess.run(
        [str(GENERATOR), "-v", str(values), "-r", str(readme)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "Missing metadata for key: undocumented" in result.stdout + result.stderr
