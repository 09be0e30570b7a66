"""`helm test`: each chart ships a test pod (templates/tests/) that checks the release answers. It runs under Pod
Security restricted without a ServiceAccount token, the release's NetworkPolicies let it reach exactly what it
checks, and Argo CD skips it by design. Its script is run here against local stand-ins for the servers."""

from __future__ import annotations

import http.server
import os
import re
import socket
import socketserver
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pytest

from archangel_helm import Chart, Manifest
from archangel_helm.core.manifest import PodTemplate, annotations_of
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.testing import assertions as a
from archangel_helm.validate.argo_hooks import hook_report
from archangel_helm.validate.pod_security import check_pod_security
from archangel_helm.validate.rules import RULES, Release
from tests.charts.test_data_tier import BUILTIN, env_of, template_of
from tests.charts.test_network_policies import allowed
from tests.support.background import serving
from tests.support.project import APP_CHART, SHIPPED_VALUES

RenderEnv = Callable[..., Manifest]
TOOLS = "ghcr.io/archangel-ai/archangel-tools:0.1.0"
HOOKS_RULE = next(rule for rule in RULES if rule.id == "gitops/hooks")
TEST_HOOK = {'metadata.annotations["helm.sh/hook"]': "test"}


def helm_test_pods(manifest: Manifest) -> list[dict[str, Any]]:
    return [o for o in manifest.hooks() if annotations_of(o)["helm.sh/hook"] == "test"]


def helm_test(manifest: Manifest) -> a.Documents:
    """The release's one `helm test` hook: a selection that fails naming what is there if there is none (or two)."""
    return a.select(manifest, where=TEST_HOOK, match_many=False)


def env_var(name: str) -> str:
    """The path to an environment variable's value in the test pod's container (every entry so named)."""
    return f'spec.containers[0].env[?name=="{name}"].value'


def helm_test_template(manifest: Manifest) -> PodTemplate:
    (template,) = [t for t in manifest.pod_templates() if t.owner_kind == "Pod"]
    return template


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_every_shipped_release_has_one_locked_down_helm_test_pod(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    manifest = render_shipped(shipped)
    test = helm_test(manifest)
    a.is_kind(test, "Pod")
    a.match_regex(test, "metadata.name", r"-helm-test\Z")
    a.equal(test, 'metadata.annotations["helm.sh/hook-delete-policy"]', "before-hook-creation,hook-succeeded")
    a.equal(test, 'metadata.labels["archangel.io/helm-test"]', "true")
    a.equal(test, "spec.restartPolicy", "Never")
    a.equal(test, "spec.automountServiceAccountToken", False)
    a.is_type(test, "spec.activeDeadlineSeconds", int)
    a.less_or_equal(test, "spec.activeDeadlineSeconds", 300)
    a.length_equal(test, "spec.containers", 1)
    a.match_regex(test, "spec.containers[0].image", r"^[^/]*/archangel-ai/archangel-tools:")  # from any registry
    a.equal(test, "spec.containers[0].command", ["python", "-c"])
    a.exists(test, "spec.containers[0].resources.requests.cpu")
    a.exists(test, "spec.containers[0].resources.requests.memory")
    a.exists(test, "spec.containers[0].resources.limits.memory")
    assert check_pod_security(helm_test_template(manifest)) == []


@pytest.mark.parametrize(
    ("values", "postgresql"),
    [
        # production: PgBouncer's Service (the operator makes it from the Pooler), where core and agents connect
        ({}, "archangel-pgbouncer"),
        (BUILTIN, "archangel-postgresql"),
    ],
    ids=["cloudnativepg", "builtin"],
)
def test_the_application_test_checks_core_postgresql_and_qdrant_through_their_services(
    render_env: RenderEnv, values: dict[str, Any], postgresql: str
) -> None:
    manifest = render_env("production", "archangel", values)
    test = helm_test(manifest)
    a.length_equal(test, "spec.containers", 1)
    a.match_regex(test, "spec.containers[0].image", rf"^{re.escape(TOOLS)}(@|\Z)")  # pinned by digest or not
    http = a.value_at(manifest.get("Service", "archangel-core"), 'spec.ports[?name=="http"].port')
    a.equal(test, env_var("CORE_URL"), f"http://archangel-core.archangel.svc:{http}/healthz/ready")
    a.equal(test, env_var("PG_HOST"), f"{postgresql}.archangel.svc")
    a.equal(test, env_var("PG_PORT"), "5432")
    core_env = env_of(template_of(manifest, "Deployment", "archangel-core").containers()[0])
    a.equal(test, env_var("PG_HOST"), core_env["DATABASE_HOST"])  # what core uses
    a.equal(test, env_var("PG_PORT"), core_env["DATABASE_PORT"])
    assert allowed(manifest, "archangel-helm-test", postgresql, 5432)
    a.equal(test, env_var("QDRANT_URL"), "https://archangel-qdrant.archangel.svc:6333")
    a.equal(test, env_var("QDRANT_READYZ"), "true")
    # The readiness check verifies Qdrant's certificate; PostgreSQL must offer TLS in both modes.
    a.equal(test, env_var("QDRANT_CA_CERT_FILE"), "/etc/archangel/vectorstore-ca/ca.crt")
    a.equal(test, env_var("PG_TLS"), "true")
    # production is in the mesh: the sidecar starts first and is stopped at the end, so the pod completes
    a.equal(test, env_var("STOP_ISTIO_SIDECAR"), "true")
    a.match_regex(test, 'metadata.annotations["proxy.istio.io/config"]', "holdApplicationUntilProxyStarts")


def test_outside_the_mesh_the_test_leaves_istio_alone(render_env: RenderEnv) -> None:
    test = helm_test(render_env("staging", "archangel"))
    a.exists(test, 'metadata.annotations["proxy.istio.io/config"]', negate=True)
    a.contains(test, "spec.containers[0].env", {"name": "STOP_ISTIO_SIDECAR", "value": "false"})


def test_an_external_data_tier_is_checked_for_connections_only(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "database.mode": "external",
            "database.external": {"host": "pg.example", "port": 6432},
            "database.auth.existingSecret": "pg",
            "vectorStore.external": {"enabled": True, "url": "https://q.example:6333"},
        },
    )
    test = helm_test(manifest)
    a.equal(test, env_var("PG_HOST"), "pg.example")
    a.equal(test, env_var("PG_PORT"), "6432")
    a.equal(test, env_var("QDRANT_URL"), "https://q.example:6333")
    a.equal(test, env_var("QDRANT_READYZ"), "false")


@pytest.mark.parametrize(
    ("target", "port", "expected"),
    [
        ("archangel-monitoring-pushgateway", 9091, True),
        ("archangel-monitoring-prometheus", 9090, True),
        ("archangel-monitoring-alertmanager", 9093, True),
        ("archangel-monitoring-alertmanager", 9094, False),
        ("archangel-monitoring-grafana", 3000, False),
        ("archangel-monitoring-kube-state-metrics", 8080, False),
    ],
)
def test_the_monitoring_test_reaches_exactly_the_servers_it_checks(
    render_shipped: Callable[..., Manifest], target: str, port: int, expected: bool
) -> None:
    standalone = next(s for s in SHIPPED_VALUES if s.id.endswith("ci/standalone-values.yaml"))
    manifest = render_shipped(standalone)
    assert allowed(manifest, "archangel-monitoring-helm-test", target, port) is expected


def test_the_monitoring_test_probes_each_server_the_release_runs(render_env: RenderEnv) -> None:
    def probes(manifest: Manifest) -> list[str]:
        """The URLs the test's script checks: its arguments after the script."""
        (test,) = helm_test(manifest)
        return list(a.value_at(test, "spec.containers[0].args")[1:])

    assert probes(render_env("production", "archangel-monitoring")) == [
        "http://archangel-monitoring-pushgateway.monitoring.svc:9091/-/ready"
    ]
    standalone = render_env("production", "archangel-monitoring", {"mode": "standalone"})
    assert probes(standalone) == [
        "http://archangel-monitoring-pushgateway.monitoring.svc:9091/-/ready",
        "http://archangel-monitoring-prometheus.monitoring.svc:9090/-/ready",
        "http://archangel-monitoring-alertmanager.monitoring.svc:9093/-/ready",
    ]
    nothing = render_env(
        "production", "archangel-monitoring", {"pushgateway.enabled": False, "healthcheck.enabled": False}
    )
    a.has_documents(a.select(nothing, where=TEST_HOOK, allow_empty=True), 0)
    a.contains_document(nothing, "NetworkPolicy", name="archangel-monitoring-helm-test", negate=True)


# --- how Argo CD and `archangel-helm check` see it ------------------------------------------------------------


def test_argo_cd_skips_the_helm_test_by_design_and_check_does_not_flag_it(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel")
    (report,) = [h for h in hook_report(manifest) if h.name == "archangel-helm-test"]
    assert report.helm_test_only
    assert report.argo_phases == ()
    assert str(report).endswith("-> Argo CD skipped by design (helm test only)")
    assert HOOKS_RULE.check(Release(Chart.load(APP_CHART), manifest, lambda: manifest.text)) == []


def test_other_hooks_argo_cd_never_runs_are_still_flagged(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel")
    text = manifest.text + (
        "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rollback-note\n  annotations:\n"
        "    helm.sh/hook: pre-rollback\n"
    )
    flagged = HOOKS_RULE.check(Release(Chart.load(APP_CHART), Manifest.parse(text), lambda: text))
    assert [(p.kind, p.name, p.rule) for p in flagged] == [("ConfigMap", "rollback-note", "gitops/hooks")]
    (report,) = [h for h in hook_report(Manifest.parse(text)) if h.name == "rollback-note"]
    assert not report.helm_test_only


# --- the scripts, against local stand-ins -----------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        status = self.statuses.get(self.path, 404)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok" if status == 200 else b"no")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def http_server(statuses: dict[str, int]) -> Iterator[int]:
    handler = type("Handler", (_Handler,), {"statuses": statuses})
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as port:
        yield port


@contextmanager
def postgres_standin(answer: bytes) -> Iterator[int]:
    """Answers an SSLRequest (8 bytes) with one byte, as PostgreSQL does ("N": no TLS here)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(8)
            self.request.sendall(answer)

    with serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)) as port:
        yield port


def run_script(
    container: dict[str, Any], env: dict[str, str], args: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = container["args"][0]
    return subprocess.run(
        [sys.executable, "-c", script, *(args or [])],
        env={**os.environ, "RETRY_SECONDS": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def app_container(render_env: RenderEnv) -> dict[str, Any]:
    container: dict[str, Any] = helm_test_pods(render_env("staging", "archangel"))[0]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize(
    ("core_status", "pg_answer", "qdrant_status", "failed"),
    [
        (200, b"N", 200, None),
        (200, b"S", 200, None),
        (503, b"N", 200, "core"),
        (200, b"E", 200, "postgresql"),
        (200, b"N", 503, "qdrant"),
    ],
    ids=["healthy", "postgres-with-tls", "core-not-ready", "not-postgres", "qdrant-not-ready"],
)
def test_the_application_test_script(
    app_container: dict[str, Any], core_status: int, pg_answer: bytes, qdrant_status: int, failed: str | None
) -> None:
    with (
        http_server({"/healthz/ready": core_status}) as core,
        postgres_standin(pg_answer) as pg,
        http_server({"/readyz": qdrant_status}) as qdrant,
    ):
        result = run_script(
            app_container,
            {
                "CORE_URL": f"http://127.0.0.1:{core}/healthz/ready",
                "PG_HOST": "127.0.0.1",
                "PG_PORT": str(pg),
                "QDRANT_URL": f"http://127.0.0.1:{qdrant}",
                "QDRANT_READYZ": "true",
                "STOP_ISTIO_SIDECAR": "false",
            },
        )
    if failed is None:
        assert result.returncode == 0, result.stdout + result.stderr
        assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
            "ok   core",
            "ok   postgresql",
            "ok   qdrant",
        ]
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"helm test failed: {failed}" in result.stderr
        assert f"fail {failed} (attempt 3/3)" in result.stdout


def test_the_application_test_script_fails_on_a_closed_port(app_container: dict[str, Any]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    result = run_script(
        app_container,
        {
            "CORE_URL": f"http://127.0.0.1:{closed}/healthz/ready",
            "PG_HOST": "127.0.0.1",
            "PG_PORT": str(closed),
            "QDRANT_URL": f"http://127.0.0.1:{closed}",
            "QDRANT_READYZ": "false",
            "STOP_ISTIO_SIDECAR": "true",  # no sidecar here: the stop request fails quietly
        },
    )
    assert result.returncode == 1
    assert "helm test failed: core, postgresql, qdrant" in result.stderr


@pytest.mark.parametrize(("status", "passes"), [(200, True), (503, False)])
def test_the_monitoring_test_script(render_env: RenderEnv, status: int, passes: bool) -> None:
    standalone = render_env("production", "archangel-monitoring", {"mode": "standalone"})
    (container,) = helm_test_pods(standalone)[0]["spec"]["containers"]
    with http_server({"/-/ready": 200}) as ready, http_server({"/-/ready": status}) as other:
        urls = [f"http://127.0.0.1:{ready}/-/ready", f"http://127.0.0.1:{other}/-/ready"]
        result = run_script(container, {}, urls)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr
    if not passes:
        assert f"helm test failed: {urls[1]}" in result.stderr
