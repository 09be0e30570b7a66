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
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.validate import CrdSchemas
from archangel_helm.validate.references import ExternalObjects
from archangel_helm.validate.rules import Release, Waiver, run_checks
from tests.support.project import APP_CHART, FIXTURES, PROJECT, SHIPPED_VALUES

CHECKS = FIXTURES / "charts" / "checks"
# The fixture renders its CRD-backed objects (monitors, mesh, routes) only for a cluster that serves them.
API_VERSIONS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor",
    "security.istio.io/v1/PeerAuthentication",
    "networking.istio.io/v1/VirtualService",
    "gateway.networking.k8s.io/v1/HTTPRoute",
)


def release_of(
    chart: Path,
    values: dict[str, Any] | None = None,
    external: set[str] | None = None,
    api_versions: tuple[str, ...] = API_VERSIONS,
) -> Release:
    def once(cache: bool = True) -> Any:
        return render(chart, set_values=values, kube_version="1.33.0", api_versions=api_versions, cache=cache)

    return Release(Chart.load(chart), once(), lambda: once(cache=False).text, ExternalObjects(external or set()))


def failures(release: Release, waivers: list[Waiver] | None = None) -> list[str]:
    return [f"{p.rule} {p.kind}/{p.name}: {p.path}: {p.message}" for p in run_checks(release, waivers or []).failures]


def test_the_fixture_is_clean() -> None:
    release = release_of(CHECKS)
    assert {"ServiceMonitor", "PodMonitor", "PeerAuthentication", "VirtualService", "HTTPRoute", "Ingress"} <= set(
        release.manifest.kinds()
    )
    assert failures(release) == []


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_every_shipped_values_file_passes_every_rule(shipped: ShippedValues) -> None:
    def once(cache: bool = True) -> Any:
        return shipped.render(cache=cache)

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
    # graph: what selects, targets or names what
    ("pdbSelector", "graph/pdb-selector PodDisruptionBudget/web: spec.selector", "selects no pods of the release"),
    (
        "policySelector",
        "graph/networkpolicy-selector NetworkPolicy/web: spec.podSelector",
        "selects no pods of the release",
    ),
    (
        "policyPeer",
        "graph/networkpolicy-peer NetworkPolicy/web: spec.ingress[0].from[0]",
        "names pods that no workload of the release runs",
    ),
    (
        "monitorSelector",
        "graph/servicemonitor-selector ServiceMonitor/web: spec.selector",
        "selects no Service of the release",
    ),
    (
        "monitorPort",
        "graph/servicemonitor-port ServiceMonitor/web: spec.endpoints[0].port",
        "port 'metricz' is not a port name of Service/web",
    ),
    (
        "monitorTargetPort",
        "graph/servicemonitor-port ServiceMonitor/web: spec.endpoints[1].targetPort",
        "port 9999 is not a container port of Deployment/web, selected by Service/web",
    ),
    ("podMonitorSelector", "graph/podmonitor-selector PodMonitor/web: spec.selector", "selects no pods of the release"),
    (
        "podMonitorPort",
        "graph/podmonitor-port PodMonitor/web: spec.podMetricsEndpoints[0].port",
        "port 'metricz' is not a container port of Deployment/web",
    ),
    (
        "scaleTarget",
        "graph/scale-target HorizontalPodAutoscaler/web: spec.scaleTargetRef",
        "targets Deployment/webb, which the release does not render",
    ),
    (
        "peerAuthSelector",
        "graph/peerauthentication-selector PeerAuthentication/web: spec.selector",
        "selects no pods of the release",
    ),
    (  # the pods it would select live in the release's namespace, not the policy's
        "peerAuthNamespace",
        "graph/peerauthentication-selector PeerAuthentication/web: spec.selector",
        "selects no pods of the release",
    ),
    (
        "ingressService",
        "graph/ingress-backend Ingress/web: spec.rules[0].http.paths[0].backend.service",
        "Service 'webb' is not rendered by the release",
    ),
    (
        "ingressPort",
        "graph/ingress-backend Ingress/web: spec.rules[0].http.paths[1].backend.service",
        "port 8080 is not a port of Service/web",
    ),
    (
        "routeService",
        "graph/httproute-backend HTTPRoute/web: spec.rules[0].backendRefs[0]",
        "Service 'webb' is not rendered by the release",
    ),
    (
        "routePort",
        "graph/httproute-backend HTTPRoute/web: spec.rules[0].backendRefs[0]",
        "port 8080 is not a port of Service/web",
    ),
    (
        "virtualServicePort",
        "graph/virtualservice-destination VirtualService/web: spec.http[1].route[0].destination.port.number",
        "web.archangel.svc.cluster.local: port 8080 is not a port of Service/web",
    ),
    (
        "probePort",
        "graph/probe-port Deployment/web: spec.template.spec.containers[0].readinessProbe.httpGet.port",
        "port 'htp' is not a port name of container web",
    ),
    # references
    (
        "claim",
        "references/exist Deployment/web: spec.template.spec.volumes[1]",
        "PersistentVolumeClaim 'missing-claim' is neither rendered",
    ),
    (
        "serviceAccount",
        "references/exist Deployment/web: spec.template.spec.serviceAccountName",
        "ServiceAccount 'missing-sa' is neither rendered",
    ),
    (
        "priorityClass",
        "references/exist Deployment/web: spec.template.spec.priorityClassName",
        "PriorityClass 'missing-priority' is neither rendered",
    ),
    (
        "pullSecret",
        "references/exist Deployment/web: spec.template.spec.imagePullSecrets[0]",
        "Secret 'missing-pull-secret' is neither rendered",
    ),
    ("cronJobName", "names/length CronJob/" + "r" * 53, "53 characters; at most 52 fit"),
    # pod security, baseline controls
    (
        "appArmor",
        "pod-security/restricted Deployment/web: spec.template.spec.securityContext.appArmorProfile.type",
        "AppArmor profile Unconfined is not allowed",
    ),
    (
        "appArmorAnnotation",
        'pod-security/restricted Deployment/web: spec.template.metadata.annotations["container.apparmor.security.'
        'beta.kubernetes.io/web"]',
        "AppArmor profile unconfined for container web is not allowed",
    ),
    (
        "seLinuxType",
        "pod-security/restricted Deployment/web: spec.template.spec.containers[0].securityContext.seLinuxOptions.type",
        "container web: SELinux type spc_t is not allowed",
    ),
    (
        "seLinuxUser",
        "pod-security/restricted Deployment/web: spec.template.spec.securityContext.seLinuxOptions.user",
        "SELinux user must not be set",
    ),
    (
        "hostProcess",
        "pod-security/restricted Deployment/web: "
        "spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess",
        "container web must not be a Windows HostProcess",
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
        *(item for site in PRODUCTION.site_values for item in ("-f", str(site))),
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
        (
            (
                "backup/_backup.tpl",
                "  secret:\n    secretName: {{ $keys.name }}\n    defaultMode: 0440",
                "  secret:\n    secretName: no-such-secret\n    defaultMode: 0440",
            ),
            "CronJob/archangel-backup-database: spec.jobTemplate.spec.template.spec.volumes[3]: Secret 'no-such-secret' "
            "is neither rendered",
        ),
    ],
    ids=["service-selector", "service-port", "pdb", "networkpolicy-port", "envfrom-reference", "volume-reference"],
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


def test_a_chart_without_a_values_schema_is_reported(tmp_path: Path) -> None:
    chart = tmp_path / "schemaless"
    shutil.copytree(CHECKS, chart)
    (chart / "values.schema.json").unlink()
    found = failures(release_of(chart))
    assert [f for f in found if f.startswith("schema/")] == [
        "schema/missing-values-schema Chart/checks: values.schema.json: the chart has no values.schema.json: Helm "
        "checks no value's type, and whether every value is described cannot be checked"
    ]


# --- the report: Helm hooks and how Argo CD runs them ---------------------------------------------------------------


def test_check_text_lists_the_hooks_and_how_argo_cd_runs_them(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(CHECKS), "--kube-version", "1.33.0", "--set", "break.hook=true"])
    out = capsys.readouterr().out
    assert "  hooks (1; how Argo CD runs each)\n" in out
    assert "        Pod/web-smoke: helm test-success (weight 0, delete never) -> Argo CD skipped by Argo CD\n" in out
    assert main(["check", str(CHECKS), "--kube-version", "1.33.0"]) == 0
    assert "  hooks: none\n" in capsys.readouterr().out


def test_check_json_lists_the_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(CHECKS), "--kube-version", "1.33.0", "--set", "break.hook=true", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["hooks"] == [
        {
            "kind": "Pod",
            "name": "web-smoke",
            "helm_events": ["test-success"],
            "weight": 0,
            "delete_policy": [],
            "argo_phases": [],
            "ignored": False,
        }
    ]


def test_check_junit_is_unchanged_by_the_hooks(tmp_path: Path) -> None:
    junit_file = tmp_path / "check.xml"
    args = ["check", str(CHECKS), "--kube-version", "1.33.0", "--set", "break.hook=true", "--format", "junit"]
    main([*args, "--output-file", str(junit_file)])
    text = junit_file.read_text()
    assert "-> Argo CD" not in text
    assert [c.get("name") for c in ElementTree.fromstring(text).iter("testcase")][-1] == "schema"


# --- check --env: render as the environment deploys the chart ------------------------------------------------------


@pytest.fixture
def render_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every render `check` makes (the real render still runs): ReleaseInputs.render
    calls the render core's render, which is recorded."""
    import archangel_helm.core.render

    calls: list[dict[str, Any]] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append({**kwargs, "values_files": [str(f) for f in args[1]]})
        return render(*args, **kwargs)

    monkeypatch.setattr(archangel_helm.core.render, "render", recording)
    return calls


STAGING = next(s for s in SHIPPED_VALUES if s.id == "values/staging.yaml")
STAGING_SITE = [item for file in STAGING.site_values for item in ("-f", str(file))]


def test_check_env_renders_as_the_environment_deploys_the_chart(
    capsys: pytest.CaptureFixture[str], render_calls: list[dict[str, Any]], crd_schemas: CrdSchemas
) -> None:
    args = ["check", str(APP_CHART), "-f", str(STAGING.values_file), *STAGING_SITE, "--env", "staging"]
    assert main([*args, "--project", str(PROJECT), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    report = json.loads(captured.out)
    assert report["subject"].endswith(" as in staging")
    hooks = [(h["kind"], h["name"], h["argo_phases"]) for h in report["hooks"]]
    # in the order Argo CD runs them: every PreSync hook before the PostSync backup check
    assert hooks.index(("Job", "archangel-secrets-hook", ["PreSync"])) < hooks.index(
        ("Job", "archangel-backup-check", ["PostSync"])
    )
    first = render_calls[0]
    assert (first["release"], first["namespace"], first["kube_version"]) == (
        STAGING.release,
        STAGING.namespace,
        STAGING.kube_version,
    )
    assert "monitoring.coreos.com/v1/ServiceMonitor" in first["api_versions"]
    assert all(call == {**first, "cache": False} for call in render_calls[1:])  # the determinism re-render


def test_check_env_without_values_files_uses_the_environments(
    capsys: pytest.CaptureFixture[str], render_calls: list[dict[str, Any]], crd_schemas: CrdSchemas
) -> None:
    common = ["check", str(APP_CHART), "--env", "staging", "--project", str(PROJECT), "--format", "json"]
    assert main([*common, "--example-values"]) == 0
    files = [str(STAGING.values_file), *map(str, STAGING.site_values)]
    assert json.loads(capsys.readouterr().out)["subject"] == f"archangel ({', '.join(files)}) as in staging"
    assert render_calls[0]["values_files"] == files


def test_check_env_without_site_values_names_each_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(APP_CHART), "--env", "staging", "--project", str(PROJECT)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # a failed render is an error message, on stderr
    assert "this release needs values only your site knows" in captured.err
    for value in ("ingress.hosts", "networkPolicy.kubeAPIServer.cidrs", "backup.s3.bucket"):
        assert f"  - {value}: " in captured.err


def test_check_explicit_flags_win_over_the_environment(render_calls: list[dict[str, Any]]) -> None:
    args = ["check", str(APP_CHART), "-f", str(STAGING.values_file), *STAGING_SITE, "--env", "staging"]
    main(
        [
            *args,
            "--project",
            str(PROJECT),
            "--release",
            "other",
            "-n",
            "elsewhere",
            "--kube-version",
            "1.31.0",
            "-a",
            "policy/v1",
        ]
    )
    first = render_calls[0]
    assert (first["release"], first["namespace"], first["kube_version"], list(first["api_versions"])) == (
        "other",
        "elsewhere",
        "1.31.0",
        ["policy/v1"],
    )


def test_check_without_env_or_api_versions_warns(
    capsys: pytest.CaptureFixture[str], render_calls: list[dict[str, Any]]
) -> None:
    main(["check", str(CHECKS), "--kube-version", "1.33.0"])
    (line,) = capsys.readouterr().err.splitlines()
    assert "objects gated on cluster APIs" in line
    assert "--env" in line
    assert (render_calls[0]["release"], render_calls[0]["namespace"]) == ("archangel", "archangel")
    main(["check", str(CHECKS), "--kube-version", "1.33.0", *(f"-a{a}" for a in API_VERSIONS)])
    assert capsys.readouterr().err == ""


def test_check_env_with_an_unknown_environment_or_chart_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(CHECKS), "--env", "nowhere", "--project", str(PROJECT)]) == 2
    assert "unknown environment 'nowhere'" in capsys.readouterr().err
    assert main(["check", str(CHECKS), "--env", "staging", "--project", str(PROJECT)]) == 2
    assert "environment 'staging' does not deploy chart 'checks'" in capsys.readouterr().err
