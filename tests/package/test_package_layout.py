"""The package is grouped by job: a newcomer finds each thing by its package's name (README, "The package, by
job"), and no flat module creeps back to the top level."""

from __future__ import annotations

import ast
import re

from tests.support.project import PROJECT

PACKAGE = PROJECT / "python" / "archangel_helm"
TOP_LEVEL_MODULES = {"__init__.py", "cli.py"}  # the public names (lazily) and the command; everything else by job


def _subpackages() -> set[str]:
    return {p.parent.name for p in PACKAGE.glob("*/__init__.py")}


def test_the_top_level_holds_only_the_public_names_and_the_command() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in TOP_LEVEL_MODULES)
    assert not flat, f"modules at the package's top level: {flat}; put each in the package of its job"


def test_every_package_says_what_it_holds_and_the_readme_lists_it() -> None:
    readme = (PROJECT / "README.md").read_text()
    table = readme.split("### The package, by job", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`(?:archangel_helm)?\.(\w+)`", table))
    missing = sorted(_subpackages() - listed - {"data"})
    assert not missing, f"README's package table does not list {missing}"
    for package in _subpackages():
        docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert docstring, f"archangel_helm.{package} has no docstring saying what it holds"


def test_no_two_classes_share_a_name_across_modules() -> None:
    """Four `CheckResult` classes meant four things; a name now means one thing in the package."""
    owners: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                owners.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert not shared, f"classes of the same name in several modules: {shared}"


def test_test_helpers_live_in_tests_support_not_in_conftest_modules() -> None:
    """conftest modules hold fixtures and hooks; what tests import lives in tests/support."""
    for conftest in (PROJECT / "tests").rglob("conftest.py"):
        tree = ast.parse(conftest.read_text())
        helpers = [
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef)
            or (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith(("pytest_", "_"))
                and not any("fixture" in ast.unparse(d) for d in node.decorator_list)
            )
        ]
        assert not helpers, f"{conftest.relative_to(PROJECT)} defines helpers {helpers}: move them to tests/support"
    for test_file in (PROJECT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(test_file.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("conftest"):
                raise AssertionError(f"{test_file.relative_to(PROJECT)} imports from {node.module}")
