"""The CI definition: every workflow, ct.yaml, the kind config and the values the install workflow adds are
valid YAML, and they do what they promise: ct lint + archangel-helm check + ruff + mypy; pytest over Helm 3
and Helm 4; the end-to-end tests against real servers from Ubuntu's packages; kind with 3 nodes, the tools
image built and loaded, the previous release upgraded, helm test, ct install, the cluster tests, and a dump
of the cluster when anything fails."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import render
from tests.support.project import APP_CHART, CHARTS, PROJECT

GITHUB = PROJECT / ".github"
WORKFLOWS = GITHUB / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.y*ml"))


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load(WORKFLOWS / f"{name}.yaml")
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job["steps"]
    return found


def all_steps(flow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in steps(job)]


def runs(flow: dict[str, Any]) -> str:
    """Every `run:` script of the workflow, joined: what it executes."""
    return "\n".join(step.get("run", "") for step in all_steps(flow))


def uses(flow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in all_steps(flow) if step.get("uses", "").split("@")[0] == action]


def step_index(job: dict[str, Any], pattern: str) -> int:
    for index, step in enumerate(steps(job)):
        if re.search(pattern, step.get("run", "") + " " + step.get("uses", "")):
            return index
    raise AssertionError(f"no step matches {pattern!r}")


# --- every file -------------------------------------------------------------------------------------------


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"lint.yaml", "unit.yaml", "install.yaml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_workflow_is_valid_yaml_with_triggers_and_jobs(path: Path) -> None:
    flow = load(path)
    # PyYAML reads the bare key `on` as the boolean true (YAML 1.1); GitHub reads it as "on".
    triggers = flow.get("on", flow.get(True))
    assert triggers, f"{path.name}: no `on:` triggers"
    assert "pull_request" in triggers
    assert flow["jobs"], f"{path.name}: no jobs"
    assert flow.get("permissions") == {"contents": "read"}, "least privilege for the GITHUB_TOKEN"
    for job_id, job in flow["jobs"].items():
        assert job.get("runs-on"), f"{path.name}: job {job_id} has no runs-on"
        assert job.get("timeout-minutes"), f"{path.name}: job {job_id} has no timeout"
        for step in steps(job):
            assert "name" in step, f"{path.name}: job {job_id}: unnamed step {step}"
            assert ("run" in step) != ("uses" in step), f"{path.name}: {step['name']}: needs run or uses"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version_tag(path: Path) -> None:
    for step in all_steps(load(path)):
        if "uses" in step:
            action, _, ref = step["uses"].partition("@")
            assert re.fullmatch(r"v\d+\.\d+\.\d+", ref), f"{path.name}: {action} is pinned to {ref!r}, not a tag"


@pytest.mark.parametrize("path", [*sorted(GITHUB.rglob("*.yaml")), PROJECT / "ct.yaml"], ids=lambda p: p.name)
def test_every_ci_file_passes_the_projects_yamllint_rules(path: Path) -> None:
    from yamllint import linter  # type: ignore[import-untyped]
    from yamllint.config import YamlLintConfig  # type: ignore[import-untyped]

    config = YamlLintConfig(file=str(GITHUB / "linters" / "yamllint.yaml"))
    errors = [f"{p.line}:{p.column} {p.desc}" for p in linter.run(path.read_text(), config) if p.level == "error"]
    assert errors == []


# --- ct.yaml and the kind cluster -------------------------------------------------------------------------


def test_ct_yaml_settings() -> None:
    data = load(PROJECT / "ct.yaml")
    assert data["chart-dirs"] == ["charts"]
    assert data["target-branch"] == "main"
    assert re.search(r"--timeout \d+[sm]", data["helm-extra-args"])
    assert data["validate-maintainers"] is False
    assert "not GitHub users" in (PROJECT / "ct.yaml").read_text(), "the reason for validate-maintainers: false"
    assert data["check-version-increment"] is True
    assert data["helm-lint-extra-args"] == "--strict"
    for key, path in (("lint-conf", "yamllint.yaml"), ("chart-yaml-schema", "chart_schema.yaml")):
        assert PROJECT / data[key] == GITHUB / "linters" / path
        assert (PROJECT / data[key]).is_file()


def test_chart_schema_covers_every_chart_yaml_field() -> None:
    schema = yaml.safe_load_all((GITHUB / "linters" / "chart_schema.yaml").read_text())
    fields = set(next(iter(schema)))
    assert fields >= {
        "apiVersion",
        "name",
        "version",
        "kubeVersion",
        "description",
        "type",
        "keywords",
        "home",
        "sources",
        "dependencies",
        "maintainers",
        "icon",
        "appVersion",
        "deprecated",
        "annotations",
    }


def test_kind_cluster_has_one_control_plane_and_two_workers() -> None:
    kind = load(GITHUB / "linters" / "kind.yaml")
    assert kind["kind"] == "Cluster"
    assert [n["role"] for n in kind["nodes"]] == ["control-plane", "worker", "worker"]


# --- lint -------------------------------------------------------------------------------------------------


def test_lint_runs_ct_lint_check_ruff_and_mypy() -> None:
    flow = workflow("lint")
    script = runs(flow)
    assert uses(flow, "helm/chart-testing-action")
    assert re.search(r"^ct lint --config ct\.yaml", script, re.MULTILINE)
    for chart in ("charts/archangel", "charts/archangel-monitoring"):
        for environment in ("production", "staging"):
            assert f"archangel-helm check {chart} --env {environment} --example-values" in script
    assert 'archangel-helm check "$chart" -f "$values"' in script  # every charts/*/ci/*-values.yaml
    assert "ruff check python tests bench scripts" in script
    assert "ruff format --check" in script
    assert re.search(r"\bmypy\b", script)
    (checkout,) = [s for s in uses(flow, "actions/checkout") if s.get("with", {}).get("fetch-depth") == 0]
    assert checkout, "ct lint needs the target branch's history"


# --- unit -------------------------------------------------------------------------------------------------


def test_unit_matrix_covers_helm_3_and_helm_4() -> None:
    job = workflow("unit")["jobs"]["pytest"]
    matrix = job["strategy"]["matrix"]["include"]
    versions = {str(entry["helm"]) for entry in matrix}
    assert {entry["major"] for entry in matrix} == {3, 4}
    assert any(re.fullmatch(r"v3\.14\.\d+", v) for v in versions), "the oldest supported Helm 3"
    assert "latest-3" in versions, "the newest Helm 3 release"
    assert "v4.3.1" in versions
    assert job["strategy"]["fail-fast"] is False


def test_unit_runs_make_test_fast_with_the_matrix_helm() -> None:
    job = workflow("unit")["jobs"]["pytest"]
    (setup_helm,) = uses({"jobs": {"pytest": job}}, "azure/setup-helm")
    assert setup_helm["with"]["version"] == "${{ steps.version.outputs.version }}"
    test = steps(job)[step_index(job, r"make test-fast")]
    assert test["env"]["ARCHANGEL_HELM"] == f"${{{{ steps.{setup_helm['id']}.outputs.helm-path }}}}"
    assert 'startswith("v3.")' in runs(workflow("unit")), "latest-3 resolves to a v3 release"


# --- end-to-end -----------------------------------------------------------------------------------------

E2E_PACKAGES = {
    "postgresql",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-pushgateway",
    "wrk",
    "openssl",
    "python3-venv",  # barman-cloud's environment (point-in-time recovery tests)
}


def test_an_e2e_job_runs_tests_e2e_with_one_helm_on_ubuntu_24_04() -> None:
    flow = workflow("unit")
    job = flow["jobs"]["e2e"]
    assert job["runs-on"] == "ubuntu-24.04"
    assert "strategy" not in job, "one Helm: the matrix job covers the others"
    (setup_helm,) = uses({"jobs": {"e2e": job}}, "azure/setup-helm")
    assert re.fullmatch(r"v4\.\d+\.\d+", setup_helm["with"]["version"])
    test = steps(job)[step_index(job, r"pytest (-n auto )?tests/e2e|make test\b")]
    assert test["env"]["ARCHANGEL_HELM"] == f"${{{{ steps.{setup_helm['id']}.outputs.helm-path }}}}"
    assert "ARCHANGEL_CRD_SCHEMAS" in test["env"]


def test_the_e2e_job_installs_the_debian_packages_the_tests_use_before_running_them() -> None:
    job = workflow("unit")["jobs"]["e2e"]
    install = steps(job)[step_index(job, r"apt-get install")]["run"]
    assert "sudo apt-get update" in install
    assert re.search(r"sudo (DEBIAN_FRONTEND=noninteractive )?apt-get install -y", install)
    packages = set(re.findall(r"[a-z][a-z0-9.+-]+", install.split("apt-get install", 1)[1])) - {"y", "qq"}
    assert packages >= E2E_PACKAGES
    order = [
        step_index(job, r"apt-get install"),
        step_index(job, r"make setup"),
        step_index(job, r"command -v"),
        step_index(job, r"pytest (-n auto )?tests/e2e|make test\b"),
    ]
    assert order == sorted(order)


def test_the_e2e_packages_are_the_ones_make_setup_expects() -> None:
    setup = (PROJECT / "scripts" / "setup.sh").read_text()
    match = re.search(r"^SYSTEM_PACKAGES=\(([^)]*)\)", setup, re.MULTILINE)
    assert match, "scripts/setup.sh lists SYSTEM_PACKAGES"
    assert set(match[1].split()) == E2E_PACKAGES


def test_the_e2e_job_fails_when_a_server_is_missing_rather_than_skipping() -> None:
    job = workflow("unit")["jobs"]["e2e"]
    check = steps(job)[step_index(job, r"command -v")]["run"]
    for tool in ("psql", "pg_dump", "promtool", "amtool", "prometheus-pushgateway", "wrk", "openssl"):
        assert tool in check
    assert "pg_ctl" in check


# --- install ----------------------------------------------------------------------------------------------


def test_install_runs_kind_with_the_three_node_config() -> None:
    flow = workflow("install")
    (kind,) = uses(flow, "helm/kind-action")
    assert kind["with"]["config"] == ".github/linters/kind.yaml"
    assert 'grep -cw Ready)" -eq 3' in runs(flow)


def test_install_builds_the_tools_image_the_ci_values_name_and_loads_it_into_kind() -> None:
    flow = workflow("install")
    image = flow["env"]["TOOLS_IMAGE"]
    for values in sorted((APP_CHART / "ci").glob("*-values.yaml")):
        tools = load(values)["tools"]["image"]
        assert f"{tools['registry']}/{tools['repository']}:{tools['tag']}" == image, values.name
        assert tools["pullPolicy"] == "Never", f"{values.name}: the image exists only in kind"
    script = runs(flow)
    assert 'docker build -f images/tools/Dockerfile -t "$TOOLS_IMAGE" .' in script
    assert 'kind load docker-image "$TOOLS_IMAGE"' in script


def test_install_order_crds_then_ct_install_then_upgrade_then_helm_test_then_cluster_tests() -> None:
    job = workflow("install")["jobs"]["kind"]
    order = [
        step_index(job, r"helm/kind-action"),
        step_index(job, r"kind load docker-image"),
        step_index(job, r"prometheus-operator_"),
        step_index(job, r"ct install --config ct\.yaml"),
        step_index(job, r"git worktree add .*origin/\$TARGET_BRANCH"),
        step_index(job, r"helm upgrade \"\$ARCHANGEL_RELEASE\" charts/archangel"),
        step_index(job, r"helm test"),
        step_index(job, r"pytest tests/live"),
    ]
    assert order == sorted(order)
    install_previous = steps(job)[step_index(job, r"git worktree add")]["run"]
    assert 'helm install "$ARCHANGEL_RELEASE" "$previous"' in install_previous


def test_helm_test_runs_for_both_releases_without_logs_of_deleted_pods() -> None:
    """A passing test pod is deleted (hook-succeeded) before `helm test --logs` reads it (helm/helm#9098)."""
    script = runs(workflow("install"))
    commands = re.findall(r"^\s*helm test .*$", script, re.MULTILINE)
    assert any('"$ARCHANGEL_RELEASE"' in c for c in commands)
    assert any("archangel-monitoring -n monitoring" in c for c in commands)
    assert all("--logs" not in c for c in commands)


def test_the_ci_values_except_kinds_own_subnets_from_everywhere_rules() -> None:
    networking = load(GITHUB / "linters" / "kind.yaml")["networking"]
    subnets = [networking["podSubnet"], networking["serviceSubnet"]]
    for values in sorted(v for chart in CHARTS for v in (chart / "ci").glob("*-values.yaml")):
        assert load(values)["networkPolicy"]["clusterCIDRs"] == subnets, values.name


def test_install_runs_the_cluster_tests_against_the_release_and_requires_the_cluster() -> None:
    flow = workflow("install")
    job = flow["jobs"]["kind"]
    tests = steps(job)[step_index(job, r"pytest tests/live")]
    assert "KUBECONFIG=" in tests["run"]
    assert tests["env"]["ARCHANGEL_REQUIRE_LIVE_CLUSTER"] == "1"
    assert {"ARCHANGEL_RELEASE", "ARCHANGEL_NAMESPACE", "ARCHANGEL_PROMETHEUS"} <= set(flow["env"])


def test_install_dumps_the_cluster_only_on_failure() -> None:
    job = workflow("install")["jobs"]["kind"]
    on_failure = [step for step in steps(job) if step.get("if") == "failure()"]
    dump = "\n".join(step.get("run", "") for step in on_failure)
    for what in ("kubectl get events", "kubectl get pods", "describe pods", "logs", "kind export logs"):
        assert what in dump, what
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in on_failure)
    assert all(step.get("if") in (None, "failure()", "always()") for step in steps(job))


def test_the_upgrade_release_backs_up_to_the_in_cluster_s3() -> None:
    """The overlay the upgrade-test release adds renders with the chart (schema and templates) and points the
    backups at the S3 Service of .github/kind/s3.yaml, through the NetworkPolicy, with the workflow's Secret."""
    overlay = GITHUB / "kind" / "backup-values.yaml"
    manifest = render(APP_CHART, [APP_CHART / "ci" / "production-like-values.yaml", overlay], kube_version="1.33.1")
    pod = manifest.get("CronJob", "archangel-backup-database")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    s3 = {doc["kind"]: doc for doc in yaml.safe_load_all((GITHUB / "kind" / "s3.yaml").read_text())}
    service, port = s3["Service"]["metadata"]["name"], s3["Service"]["spec"]["ports"][0]["port"]
    assert env["ARCHANGEL_BACKUP_ENDPOINT_URL"] == f"http://{service}.s3.svc:{port}"
    container_port = s3["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    egress = manifest.get("NetworkPolicy", "archangel-backup-jobs")["spec"]["egress"][-1]
    assert egress["ports"] == [{"port": container_port, "protocol": "TCP"}]
    pod_subnet = load(GITHUB / "linters" / "kind.yaml")["networking"]["podSubnet"]
    assert egress["to"] == [{"ipBlock": {"cidr": pod_subnet}}]
    script = runs(workflow("install"))
    assert "kubectl create namespace s3" in script
    assert f"create_bucket(Bucket='{load(overlay)['backup']['s3']['bucket']}')" in script
    assert f"create secret generic {load(overlay)['backup']['s3']['existingSecret']}" in script


def test_ci_run_requires_the_local_cluster_but_not_the_kind_only_live_layer() -> None:
    """.ci/run has no container engine: requiring the live layer there would fail every run (stop 18 did)."""
    from tests.support.live_cluster import REQUIRE_CLUSTER_ENV as live_variable
    from tests.support.local_cluster import REQUIRE_ENV as local_variable

    ci_run = (PROJECT / ".ci" / "run").read_text()
    assert f"export {local_variable}=1" in ci_run
    assert live_variable != local_variable
    assert live_variable not in ci_run
