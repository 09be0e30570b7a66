"""match_snapshot: the first run writes (outside CI; under CI a missing snapshot fails), a match passes, a change
fails with a diff, an update rewrites; and the pytest side (`chart_snapshot` fixture, --update-snapshots,
--snapshot-report, --prune-snapshots). Snapshots here live in tmp_path, never in the tree."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from archangel_helm import Manifest, render
from archangel_helm.core import yamlio
from archangel_helm.testing import assertions as a
from tests.support.project import FIXTURES

CHART = FIXTURES / "charts" / "assertions"


@pytest.fixture(scope="module")
def good() -> Manifest:
    return render(CHART)


@pytest.fixture(scope="module")
def broken() -> Manifest:
    return render(CHART, set_values={"broken": True})


@pytest.fixture(autouse=True)
def no_update_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither an update nor CI from the environment (.ci/run sets CI): each test says what it runs under."""
    monkeypatch.delenv(a.UPDATE_SNAPSHOTS_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)


def test_under_ci_a_missing_snapshot_fails_and_an_existing_one_still_matches(
    good: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "s.yaml"
    a.match_snapshot(web(good), file, name="web")  # written outside CI
    monkeypatch.setenv("CI", "true")
    a.match_snapshot(web(good), file, name="web")  # still matches
    with pytest.raises(AssertionError, match=r"snapshot 'new' is not in .*s\.yaml, and this run is under CI"):
        a.match_snapshot(web(good), file, name="new")
    assert "new" not in yamlio.load(file.read_text())
    a.match_snapshot(web(good), file, name="new", update=True)  # an explicit update writes it, CI or not
    assert "new" in yamlio.load(file.read_text())
    monkeypatch.setenv("CI", "false")
    a.match_snapshot(web(good), file, name="newer")


def web(manifest: Manifest) -> a.Documents:
    return a.select(manifest, kind="Deployment", name="archangel-web")


def test_the_first_run_writes_the_snapshot_and_a_match_passes(tmp_path: Path, good: Manifest) -> None:
    file = tmp_path / "__snapshots__" / "deployment.yaml"
    a.match_snapshot(web(good), a.Snapshot(file))
    stored = yamlio.load(file.read_text())
    assert list(stored) == ["1"]
    assert stored["1"][0]["metadata"]["name"] == "archangel-web"
    # Volatile lines are masked as in golden manifests, so a chart version bump does not break snapshots.
    assert stored["1"][0]["metadata"]["labels"]["helm.sh/chart"] == "<chart>"
    assert stored["1"][0]["metadata"]["annotations"]["checksum/config"] == "<checksum>"
    a.match_snapshot(web(good), a.Snapshot(file))


def test_a_change_fails_with_a_diff_and_leaves_the_snapshot_alone(
    tmp_path: Path, good: Manifest, broken: Manifest
) -> None:
    file = tmp_path / "web.yaml"
    a.match_snapshot(web(good), file, name="web")
    before = file.read_text()
    with pytest.raises(AssertionError) as raised:
        a.match_snapshot(web(broken), file, name="web")
    message = str(raised.value)
    assert message.startswith(f"match_snapshot failed: snapshot 'web' in {file} differs\n")
    assert "  --- web.yaml [web] (stored)\n  +++ web (rendered now)\n" in message
    assert "  -    replicas: 2\n  +    replicas: '2'\n" in message
    assert "  +          imagePullPolice: Always\n" in message
    assert "pytest --update-snapshots` or ARCHANGEL_UPDATE_SNAPSHOTS=1" in message
    assert file.read_text() == before


def test_update_rewrites_by_argument_by_snapshot_and_by_environment(
    tmp_path: Path, good: Manifest, broken: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "web.yaml"
    a.match_snapshot(web(good), file, name="web")
    a.match_snapshot(web(broken), file, name="web", update=True)
    a.match_snapshot(web(broken), file, name="web")  # the new content is what is stored now
    a.Snapshot(file, update=True).match(web(good), name="web")
    a.match_snapshot(web(good), file, name="web")
    monkeypatch.setenv(a.UPDATE_SNAPSHOTS_ENV, "1")
    a.match_snapshot(web(broken), file, name="web")
    with pytest.raises(AssertionError, match="differs"):  # an explicit update=False wins over the environment
        a.match_snapshot(web(good), a.Snapshot(file, update=False), name="web")
    monkeypatch.delenv(a.UPDATE_SNAPSHOTS_ENV)
    a.match_snapshot(web(broken), file, name="web")


def test_unnamed_snapshots_are_numbered_in_call_order_and_others_are_kept(tmp_path: Path, good: Manifest) -> None:
    snapshot = a.Snapshot(tmp_path / "s.yaml")
    snapshot.match(a.select(good, kind="Service"))
    snapshot.match(a.select(good, kind="ConfigMap"))
    snapshot.match(good, name="names", path="metadata.name")
    stored = yamlio.load((tmp_path / "s.yaml").read_text())
    assert list(stored) == ["1", "2", "names"]
    assert stored["names"] == ["archangel-web"] * 4
    assert stored["2"][0]["kind"] == "ConfigMap"


def test_a_path_snapshot_fails_on_a_path_that_does_not_resolve(tmp_path: Path, broken: Manifest) -> None:
    with pytest.raises(AssertionError, match=r"match_snapshot failed on Deployment/archangel-web: path .*env does not"):
        a.match_snapshot(web(broken), tmp_path / "s.yaml", path="spec.template.spec.containers[*].env")


def test_normalize_false_keeps_checksums(tmp_path: Path) -> None:
    def config(checksum: str) -> dict[str, Any]:
        return {"kind": "Deployment", "metadata": {"name": "x", "annotations": {"checksum/config": checksum}}}

    a.match_snapshot(config("aaa"), tmp_path / "masked.yaml")
    a.match_snapshot(config("bbb"), tmp_path / "masked.yaml")  # only a checksum moved: masked, passes
    a.match_snapshot(config("aaa"), tmp_path / "exact.yaml", normalize=False)
    with pytest.raises(AssertionError, match=r"-      checksum/config: aaa\n  \+      checksum/config: bbb"):
        a.match_snapshot(config("bbb"), tmp_path / "exact.yaml", normalize=False)


def test_for_test_puts_one_file_per_test_beside_the_module() -> None:
    snapshot = a.Snapshot.for_test("/repo/tests/charts/test_core.py", "test_image[production values/x.yaml]")
    assert snapshot.file == Path("/repo/tests/charts/__snapshots__/test_core/test_image[production_values_x.yaml].yaml")


def test_the_pytest_fixture_and_update_snapshots_option(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_snap.py").write_text(
        textwrap.dedent(
            """
            import os

            def test_values(chart_snapshot):
                chart_snapshot.match({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"v": os.environ["SNAP"]}})
            """
        )
    )

    def pytest_run(value: str, *options: str) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {a.UPDATE_SNAPSHOTS_ENV, "CI"} and not k.startswith("PYTEST_")
        }
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini", *options]
        return subprocess.run(
            command, cwd=tmp_path, env={**env, "SNAP": value}, capture_output=True, text=True, check=False
        )

    stored = tmp_path / "__snapshots__" / "test_snap" / "test_values.yaml"
    assert pytest_run("one").returncode == 0
    assert "v: one" in stored.read_text()
    changed = pytest_run("two")
    assert changed.returncode == 1, changed.stdout
    assert "match_snapshot failed: snapshot '1'" in changed.stdout
    assert "-    v: one\n" in changed.stdout
    updated = pytest_run("two", "--update-snapshots")
    assert updated.returncode == 0, updated.stdout
    assert "v: two" in stored.read_text()
    assert pytest_run("two").returncode == 0


def test_obsolete_snapshots_are_listed_and_pruned_only_for_modules_run_whole(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_snap.py").write_text(
        textwrap.dedent(
            """
            import os

            def test_kept(chart_snapshot):
                chart_snapshot.match({"kind": "ConfigMap", "metadata": {"name": "x"}}, name="used")
                if os.environ.get("BOTH"):
                    chart_snapshot.match({"kind": "ConfigMap", "metadata": {"name": "y"}}, name="dropped")

            def test_other(chart_snapshot):
                chart_snapshot.match({"kind": "ConfigMap", "metadata": {"name": "z"}})
            """
        )
    )
    directory = tmp_path / "__snapshots__" / "test_snap"

    def pytest_run(*options: str, both: bool = False) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {a.UPDATE_SNAPSHOTS_ENV, "CI", "BOTH"}}
        env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")} | ({"BOTH": "1"} if both else {})
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini", *options]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    assert pytest_run(both=True).returncode == 0
    (directory / "test_removed.yaml").write_text("'1': {}\n")  # a test that no longer exists
    partial = pytest_run("-k", "kept", "--snapshot-report")
    assert "test_removed.yaml" not in partial.stdout  # test_other did not run: no file of the module is judged
    assert "test_kept.yaml [dropped]" in partial.stdout
    report = pytest_run("--snapshot-report")
    assert "obsolete: " + str(directory / "test_kept.yaml") + " [dropped]" in report.stdout
    assert "obsolete: " + str(directory / "test_removed.yaml") + " (no test uses the file)" in report.stdout
    assert "2 obsolete snapshot file(s) or name set(s)" in report.stdout
    assert (directory / "test_removed.yaml").exists()  # listing changes nothing
    pruned = pytest_run("--prune-snapshots")
    assert pruned.returncode == 0, pruned.stdout
    assert not (directory / "test_removed.yaml").exists()
    assert set(yamlio.load((directory / "test_kept.yaml").read_text())) == {"used"}
    assert (directory / "test_other.yaml").exists()
    assert "0 obsolete" in pytest_run("--snapshot-report").stdout


def test_suite_level_defaults_set_once_for_a_module_and_a_class(tmp_path: Path) -> None:
    """helm-unittest's suite: chart, values, release and templates once; each test overrides what it needs."""
    chart = FIXTURES / "charts" / "docs-example"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "values.yaml").write_text("core:\n  replicas: 4\n")
    (tmp_path / "test_suite.py").write_text(
        textwrap.dedent(
            f"""
            import pytest

            pytestmark = pytest.mark.chart({str(chart)!r}, values=[{str(tmp_path / "values.yaml")!r}], release="web")

            def test_module_defaults(chart_render):
                manifest = chart_render()
                assert manifest.get("Deployment", "archangel-core")["spec"]["replicas"] == 4

            def test_an_override(chart_render):
                manifest = chart_render(set_values={{"core.replicas": 7}})
                assert manifest.get("Deployment", "archangel-core")["spec"]["replicas"] == 7

            @pytest.mark.chart(show_only=["templates/core/service.yaml"], app_version="9.0.0")
            class TestTheService:
                def test_only_the_service(self, chart_render):
                    manifest = chart_render()
                    (service,) = manifest
                    assert service["metadata"]["labels"]["app.kubernetes.io/version"] == "9.0.0"
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
