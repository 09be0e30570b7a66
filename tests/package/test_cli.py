"""The archangel-helm command: render, validate, plan, crds, cache."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archangel_helm.cli import main
from archangel_helm.core.manifest import Manifest
from archangel_helm.crds import gomod
from tests.support.project import FIXTURES, PROJECT, SHARED_CRD_SCHEMAS

WORKLOADS = FIXTURES / "charts" / "workloads"
NEEDS_SHARED = pytest.mark.skipif(
    not SHARED_CRD_SCHEMAS.is_dir(), reason=f"upstream CRD schemas not present at {SHARED_CRD_SCHEMAS}"
)


def test_render_writes_one_file_per_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(WORKLOADS), "-o", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("*.yaml"))
    assert names == [
        "cronjob-nightly.yaml",
        "daemonset-agent.yaml",
        "deployment-web.yaml",
        "job-migrate.yaml",
        "pod-probe.yaml",
        "service-web.yaml",
        "statefulset-db.yaml",
    ]
    assert (
        (tmp_path / "out" / "service-web.yaml").read_text().startswith("# Source: workloads/templates/workloads.yaml\n")
    )
    assert "wrote 7 objects" in capsys.readouterr().out


def test_render_into_a_directory_replaces_only_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "my-values.yaml").write_text("replicas: 2\n")
    (out / "notes.yaml").write_text("keep: me\n")
    assert main(["render", str(WORKLOADS), "-f", str(out / "my-values.yaml"), "-o", str(out)]) == 0
    (out / ".archangel-render").write_text((out / ".archangel-render").read_text() + "configmap-gone.yaml\n")
    (out / "configmap-gone.yaml").write_text("kind: ConfigMap\n")  # an object an earlier render wrote
    assert main(["render", str(WORKLOADS), "-o", str(out)]) == 0
    assert (out / "my-values.yaml").read_text() == "replicas: 2\n"
    assert (out / "notes.yaml").read_text() == "keep: me\n"
    assert not (out / "configmap-gone.yaml").exists()
    assert len(list(out.glob("*.yaml"))) == 7 + 2


def test_render_refuses_to_overwrite_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "deployment-web.yaml").write_text("mine\n")
    assert main(["render", str(WORKLOADS), "-o", str(out)]) == 2
    assert "would overwrite deployment-web.yaml, which an earlier render did not write" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["deployment-web.yaml"]
    assert (out / "deployment-web.yaml").read_text() == "mine\n"


def test_render_without_output_prints_helms_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(WORKLOADS), "--set", "replicas=4"]) == 0
    assert "replicas: 4" in capsys.readouterr().out


SET_CASES = [
    ["--set", "image.tag=1.10"],  # helm keeps 1.10 a string; JSON parsing made it the number 1.1
    ["--set", "replicas=4,image.tag=v2", "--set-string", "image.tag=007"],
    ["--set-json", 'extraLabels={"team": "data", "tier": "1"}'],
    ["--set", "image.tag=1", "--set", "image.tag=2"],  # the last one wins, as in Helm
]


@pytest.mark.parametrize("flags", SET_CASES, ids=["dotted-decimal", "string", "json", "repeated"])
def test_the_set_flags_render_exactly_as_helm_template_does(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Helm parses them: the same flags given to `helm template` give the same objects."""
    from archangel_helm.core.helm import find_helm

    assert main(["render", str(WORKLOADS), *flags]) == 0
    ours = Manifest.parse(capsys.readouterr().out)
    helm = find_helm()
    theirs = helm.run(
        ["template", "archangel", str(WORKLOADS), "--namespace", "archangel", "--kube-version", "1.33.0", *flags]
    )
    assert theirs.returncode == 0, theirs.stderr
    assert list(ours) == list(Manifest.parse(theirs.stdout))
    if flags == SET_CASES[0]:
        assert ours.get("Deployment", "web")["metadata"]["annotations"]["fixture/image-tag"] == '"1.10"'


def test_set_file_reads_the_file_and_a_missing_one_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tag = tmp_path / "tag.txt"
    tag.write_text("from-a-file")
    assert main(["render", str(WORKLOADS), "--set-file", f"image.tag={tag}"]) == 0
    rendered = Manifest.parse(capsys.readouterr().out).get("Deployment", "web")
    assert rendered["metadata"]["annotations"]["fixture/image-tag"] == '"from-a-file"'
    assert main(["render", str(WORKLOADS), "--set-file", f"image.tag={tmp_path / 'absent'}"]) == 2
    assert (
        f"--set-file 'image.tag={tmp_path / 'absent'}': {tmp_path / 'absent'} is not a file" in capsys.readouterr().err
    )
    assert main(["render", str(WORKLOADS), "--set", "image.tag"]) == 2
    assert "--set 'image.tag': expected PATH=VALUE" in capsys.readouterr().err


def test_validate_is_clean_on_a_good_chart(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "7 objects, 0 problem(s) (Kubernetes 1.30 and 1.37" in captured.err


def test_validate_exits_1_naming_an_unknown_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS), "--set", "unknownField=true"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert (
        "Deployment/web: spec.template.spec.containers[0].imagePullPolice: unknown field (Kubernetes 1.30, 1.37)" in out
    )
    assert (
        "CronJob/nightly: spec.jobTemplate.spec.template.spec.containers[0].imagePullPolice: unknown field (Kubernetes 1.30, 1.37)"
        in out
    )


def test_validate_exits_1_naming_a_wrong_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS), "--set", "stringReplicas=true"]) == 1
    assert (
        capsys.readouterr().out
        == "Deployment/web: spec.replicas: got string '2', want integer (Kubernetes 1.30, 1.37)\n"
    )


def test_validate_reports_a_kind_without_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS), "--set", "customResource=true", "--crd-dir", str(tmp_path)]) == 1
    assert "Widget/mystery: apiVersion: no schema for example.com/v1 Widget" in capsys.readouterr().out


def test_validate_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS), "--set", "stringReplicas=true", "--json"]) == 1
    (problem,) = json.loads(capsys.readouterr().out)
    assert problem == {
        "kind": "Deployment",
        "name": "web",
        "path": "spec.replicas",
        "message": "got string '2', want integer (Kubernetes 1.30, 1.37)",
        "rule": "schema/kubernetes",
    }


def test_validate_reports_a_failing_render_as_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WORKLOADS), "--set", "failMe=true"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is for the report; a render failure is an error, on stderr
    assert "failMe: the fixture chart was asked to fail" in captured.err


def test_bad_usage_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(PROJECT / "nope")]) == 2
    assert "not a chart directory" in capsys.readouterr().err


@NEEDS_SHARED
def test_plan_renders_validates_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan",
            "production",
            "--example-values",
            "--project",
            str(PROJECT),
            "-o",
            str(tmp_path),
            *(f"--crd-dir={d}" for d in [SHARED_CRD_SCHEMAS, *gomod.directories()]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Validation: clean" in out
    assert "minimum scale: archangel-agents=3, archangel-core=3," in out
    assert "maximum scale: archangel-agents=20, archangel-core=3," in out
    assert "3-20 (HPA)" in out
    assert (tmp_path / "production" / "archangel" / "deployment-archangel-core.yaml").is_file()
    plan_data = json.loads((tmp_path / "production" / "plan.json").read_text())
    assert plan_data["environment"] == "production"
    assert plan_data["problems"] == []


def test_plan_without_site_values_names_every_missing_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "production", "--project", str(PROJECT), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "this release needs values only your site knows" in err
    for value in ("ingress.hosts", "backup.serviceAccount.annotations", "core.image.digest"):
        assert f"  - {value}: " in err
    assert not (tmp_path / "production").exists()


def test_plan_of_an_unknown_environment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "prod", "--project", str(PROJECT)]) == 2
    assert "unknown environment 'prod'" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    executable = shutil.which("archangel-helm")
    assert executable, "archangel-helm is not on PATH (make setup installs it into .venv/bin)"
    result = subprocess.run([executable, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("render", "validate", "plan", "crds"):
        assert command in result.stdout


def test_plugin_commands_are_listed_with_their_modules_own_help() -> None:
    from archangel_helm.cli import PLUGINS, build_parser

    parser = build_parser()  # no command named: every plug-in module is imported and registers itself
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {action.dest: action.help for action in subparsers._choices_actions}
    for plugin in PLUGINS:
        for name, summary in plugin.commands.items():
            assert registered[name] == summary, f"{plugin.module}: help of {name!r} differs from cli.PLUGINS"


def test_a_core_command_does_not_import_the_plugins() -> None:
    code = (
        "import sys\nfrom archangel_helm.cli import build_parser\nbuild_parser('validate')\n"
        "print(sorted(m for m in ('aiohttp', 'boto3', 'kubernetes', 'yamllint') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_plan_without_crd_schemas_fails_unless_told_to_list_them_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-crds"
    empty.mkdir()
    monkeypatch.setenv("ARCHANGEL_CRD_SCHEMAS", str(empty))
    common = ["plan", "production", "--example-values", "--project", str(PROJECT), "-o", str(tmp_path / "out")]
    assert main(common) == 1
    strict = capsys.readouterr().out
    assert "no schema for monitoring.coreos.com/v1 ServiceMonitor" in strict
    assert main([*common, "--missing-crd-schemas", "warn"]) == 0
    listed = capsys.readouterr().out
    assert "Validation: built-in objects clean; custom resources not validated (below)" in listed
    assert (
        "custom resources NOT validated, no CRD schema loaded for AlertmanagerConfig, Cluster, DestinationRule"
        in listed
    )
    plan_data = json.loads((tmp_path / "out" / "production" / "plan.json").read_text())
    assert plan_data["problems"] == []
    assert {p["kind"] for p in plan_data["unvalidated"]} >= {"ServiceMonitor", "VerticalPodAutoscaler"}


def test_golden_with_a_chart_that_does_not_exist_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["golden", "--project", str(PROJECT), "--chart", "archangle"]) == 2
    assert (
        "error: --chart archangle: no such chart; the charts: archangel, archangel-monitoring"
        in capsys.readouterr().err
    )


def test_check_with_a_waivers_file_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "waivers.yaml"
    assert main(["check", str(WORKLOADS), "--waivers", str(missing)]) == 2
    assert f"error: --waivers {missing}: cannot read it: No such file or directory" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("waivers: [unclosed\n")
    assert main(["check", str(WORKLOADS), "--waivers", str(broken)]) == 2
    assert f"error: --waivers {broken}: not YAML" in capsys.readouterr().err


def test_the_plugin_renders_an_environment_without_this_repositorys_conftest(tmp_path: Path) -> None:
    """render_env and environments are the plugin's: a project's tests get them without a conftest."""
    test = tmp_path / "test_env.py"
    test.write_text(
        "def test_staging(render_env, environments):\n"
        "    assert set(environments) == {'production', 'staging'}\n"
        "    manifest = render_env('staging', 'archangel')\n"
        "    assert manifest.get('Deployment', 'archangel-core')['metadata']['namespace'] == 'archangel-staging'\n"
    )
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", "--rootdir", str(PROJECT),
        "--environments-example-values", str(test),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
