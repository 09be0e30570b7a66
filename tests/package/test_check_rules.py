"""Whole-release rules: each passes on the shipped charts and fails, naming the object and the rule, on a
chart broken for the purpose (tests/fixtures/charts/checks, one switch per rule) or a broken copy of the
application chart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from archangel_helm import Chart, render
from archangel_helm.cli import main
from archangel_helm.validate.references import ExternalObjects
from archangel_helm.validate.rules import Release, Waiver, run_checks
from tests.conftest import APP_CHART, FIXTURES, PROJECT, SHIPPED_VALUES, ShippedValues

CHECKS = FIXTURES / "charts" / "checks"


def release_of(chart: Path, values: dict[str, Any] | None = None, external: set[str] | None = None) -> Release:
    manifest = render(chart, set_values=values, kube_version="1.33.0")
    return Release(
        Chart.load(chart),
        manifest,
        lambda: render(chart, set_values=values, kube_version="1.33.0", cache=False).text,
        ExternalObjects(external or set()),
    )


def failures(release: Release, waivers: list[Waiver] | None = None) -> list[str]:
    return [f"{p.rule} {p.kind}/{p.name}: {p.path}: {p.message}" for p in run_checks(release, waivers or []).failures]


def test_the_fixture_is_clean() -> None:
    assert failures(release_of(CHECKS)) == []


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_every_shipped_values_file_passes_every_rule(shipped: ShippedValues) -> None:
    def once(cache: bool = True) -> Any:
        return render(
            shipped.chart,
            [shipped.values_file],
            release=shipped.release,
            namespace=shipped.namespace,
            kube_version=shipped.kube_version,
            api_versions=shipped.api_versions,
            cache=cache,
        )

    release = Release(Chart.load(shipped.chart), once(), lambda: once(cache=False).text)
    assert failures(release) == []


BROKEN: list[tuple[str, str, str]] = [
    ("serviceSelector", "graph/service-selector Service/web", "selects no pods of the release"),
    ("servicePort", "graph/service-port Service/web", "port 'htp' is not a container port of Deployment/web"),
    (
        "pdb",
        "availability/pdb-disruption PodDisruptionBudget/web",
        "allows no voluntary disruption of Deployment/web at its minimum of 2",
    ),
    (
        "policyPort",
        "graph/networkpolicy-port NetworkPolicy/web",
        "allows port 9999, which Deployment/web does not expose",
    ),
    ("volume", "references/exist Deployment/web", "ConfigMap 'missing-config' is neither rendered"),
    ("secret", "references/exist Deployment/web", "Secret 'nowhere-secret' is neither rendered"),
    ("hpaMinMax", "autoscaling/min-max HorizontalPodAutoscaler/web", "minReplicas 9 is above maxReplicas 4"),
    ("hpaReplicas", "autoscaling/no-replicas Deployment/web", "an autoscaler owns this workload's replicas"),
    ("privileged", "pod-security/restricted Deployment/web", "container web is privileged"),
    (
        "resources",
        "containers/resources Deployment/web",
        "container web sets no requests.cpu, requests.memory, limits.memory",
    ),
    ("probes", "containers/probes Deployment/web", "long-running container web has no readinessProbe"),
    ("image", "containers/pinned-image Deployment/web", "image 'registry.example/app:latest' is not pinned"),
    ("name", "names/length Deployment/" + "w" * 70, "70 characters; at most 63 fit"),
    ("defaultDeny", "network/default-deny Deployment/web", "no default-deny NetworkPolicy selects these pods"),
    ("hook", "gitops/hooks Pod/web-smoke", "helm hook test-success has no Argo CD equivalent"),
    (
        "waves",
        "gitops/sync-waves Chart/checks",
        "storage objects (wave up to 5) sync after workloads objects (wave from 1)",
    ),
]


@pytest.mark.parametrize(("switch", "where", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_rule_fails_naming_the_object_and_the_rule(switch: str, where: str, message: str) -> None:
    found = failures(release_of(CHECKS, {f"break.{switch}": True}))
    assert any(f.startswith(where) and message in f for f in found), found


def test_random_values_fail_two_rules(tmp_path: Path) -> None:
    chart = tmp_path / "random"
    shutil.copytree(CHECKS, chart)
    (chart / "templates" / "token.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: token\ndata:\n  token: {{ randAlphaNum 16 | quote }}\n"
    )
    found = failures(release_of(chart))
    assert any(
        f.startswith("gitops/deterministic Chart/checks") and "two renders of the same inputs differ" in f
        for f in found
    )
    assert any(
        f.startswith("gitops/no-live-functions Chart/checks: templates/token.yaml: uses randAlphaNum") for f in found
    )


def test_lookup_is_caught_although_helm_template_renders_it_empty(tmp_path: Path) -> None:
    chart = tmp_path / "lookup"
    shutil.copytree(CHECKS, chart)
    (chart / "templates" / "existing.yaml").write_text(
        '{{- $s := lookup "v1" "Secret" .Release.Namespace "x" }}\n'
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: existing\ndata:\n  found: {{ ternary "yes" "no" (not (empty $s)) | quote }}\n'
    )
    assert any("uses lookup" in f for f in failures(release_of(chart)))


def test_schema_discipline(tmp_path: Path) -> None:
    chart = tmp_path / "schema"
    shutil.copytree(CHECKS, chart)
    values = (chart / "values.yaml").read_text() + "forgotten: 3\n"
    (chart / "values.yaml").write_text(values)
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["forgotten"] = {"type": "integer"}
    (chart / "values.schema.json").write_text(json.dumps(schema))
    (chart / "templates" / "reads.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: reads\ndata:\n  x: {{ .Values.notInTheSchema | default "x" | quote }}\n'
    )
    found = failures(release_of(chart))
    assert "schema/value-used Chart/checks: values.forgotten: no template reads this value" in found
    assert (
        "schema/reference-known Chart/checks: templates: .Values.notInTheSchema: a template reads a value "
        "values.schema.json does not describe" in found
    )


def test_values_not_in_the_schema_are_reported(tmp_path: Path) -> None:
    chart = tmp_path / "undocumented"
    shutil.copytree(CHECKS, chart)
    schema = json.loads((chart / "values.schema.json").read_text())
    del schema["properties"]["replicas"]
    schema["additionalProperties"] = True
    (chart / "values.schema.json").write_text(json.dumps(schema))
    found = failures(release_of(chart))
    assert (
        "schema/value-documented Chart/checks: values.replicas: values.schema.json does not describe this value"
        in found
    )


def test_external_objects_and_waivers() -> None:
    broken = release_of(CHECKS, {"break.secret": True, "break.image": True}, external={"Secret/nowhere-secret"})
    waiver = Waiver("containers/pinned-image", "Deployment/*", "the image is replaced by the release pipeline")
    stale = Waiver("graph", "Service/gone", "left over")
    result = run_checks(broken, [waiver, stale])
    assert result.failures == []
    assert [(p.rule, w.reason) for p, w in result.waived] == [("containers/pinned-image", waiver.reason)]
    assert result.unused_waivers == [stale]


# --- the bar, on copies of the real chart -------------------------------------------------------------------

PRODUCTION = next(s for s in SHIPPED_VALUES if s.id == "values/production.yaml")


def check_copy(tmp_path: Path, edit: tuple[str, str, str]) -> tuple[int, str]:
    chart = tmp_path / "archangel"
    shutil.copytree(APP_CHART, chart)
    file, old, new = edit
    path = chart / "templates" / file
    text = path.read_text()
    assert old in text, f"{old!r} is not in {file}"
    path.write_text(text.replace(old, new, 1))
    args = [
        "check",
        str(chart),
        "-f",
        str(PRODUCTION.values_file),
        "--release",
        PRODUCTION.release,
        "-n",
        PRODUCTION.namespace,
        "--kube-version",
        str(PRODUCTION.kube_version),
    ]
    for api in PRODUCTION.api_versions:
        args += ["-a", api]
    return main(args), ""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            (
                "_workload.tpl",
                '  selector:\n    {{- include "archangel.selectorLabels" . | nindent 4 }}\n  ports:',
                "  selector:\n    app.kubernetes.io/name: nobody\n  ports:",
            ),
            "Service/archangel-core: spec.selector: selects no pods",
        ),
        (
            (
                "_workload.tpl",
                "      targetPort: http\n      protocol: TCP\n      appProtocol: http",
                "      targetPort: htp\n      protocol: TCP\n      appProtocol: http",
            ),
            "Service/archangel-core: spec.ports[0].targetPort: port 'htp' is not a container port",
        ),
        (
            ("_workload.tpl", "  maxUnavailable: {{ $v.pdb.maxUnavailable }}", "  minAvailable: 3"),
            "PodDisruptionBudget/archangel-agents: spec: allows no voluntary disruption of Deployment/archangel-agents",
        ),
        (
            (
                "network/networkpolicies.yaml",
                "        - port: {{ .Values.core.containerPorts.http }}\n          protocol: TCP",
                "        - port: 8081\n          protocol: TCP",
            ),
            "NetworkPolicy/archangel-core: spec.ingress[0].ports[0]: allows port 8081",
        ),
        (
            (
                "_workload.tpl",
                '                name: {{ include "archangel.componentName" . }}\n            {{- with $v.extraEnvFrom }}',
                "                name: some-missing-config\n            {{- with $v.extraEnvFrom }}",
            ),
            "ConfigMap 'some-missing-config' is neither rendered",
        ),
    ],
    ids=["service-selector", "service-port", "pdb", "networkpolicy-port", "volume-reference"],
)
def test_a_broken_copy_of_the_chart_fails_naming_object_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str, str], expected: str
) -> None:
    code, _ = check_copy(tmp_path, edit)
    out = capsys.readouterr().out
    assert code == 1
    assert expected in out
    assert "FAIL" in out


def test_check_outputs_json_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", str(CHECKS), "--kube-version", "1.33.0", "--set", "break.image=true"]
    assert main([*args, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["failures"][0]["rule"] == "containers/pinned-image"
    junit_file = tmp_path / "check.xml"
    assert main([*args, "--format", "junit", "--output-file", str(junit_file)]) == 1
    suite = ElementTree.parse(junit_file).getroot().find("testsuite")
    assert suite is not None
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["containers"]


def test_check_with_a_waivers_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - rule: containers/pinned-image\n    object: Deployment/web\n    reason: demo image\n"
    )
    assert (
        main(["check", str(CHECKS), "--kube-version", "1.33.0", "--set", "break.image=true", "--waivers", str(waivers)])
        == 0
    )
    assert "waived  containers/pinned-image: Deployment/web: demo image" in capsys.readouterr().out


def test_a_malformed_waivers_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - rule: x\n")
    assert main(["check", str(CHECKS), "--kube-version", "1.33.0", "--waivers", str(waivers)]) == 2
    assert "waivers[0] needs non-empty rule, object and reason" in capsys.readouterr().err


def test_project_has_no_stray_waivers() -> None:
    assert not list(PROJECT.glob("charts/*/.archangel-check.yaml"))
