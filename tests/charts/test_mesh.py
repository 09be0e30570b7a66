"""Istio: timeouts and safe retries, connection pools and the circuit breaker, strict mTLS that still lets
Prometheus scrape, and fault injection kept to a separate, off-by-default object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import PodTemplate
from archangel_helm.testing import assertions as a
from archangel_helm.validate.selectors import matches, selected_pod_templates
from tests.charts.test_data_tier import BUILTIN

RenderEnv = Callable[..., Manifest]
CORE_HOST = "archangel-core.archangel.svc.cluster.local"


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def test_virtual_service_retries_posts_only_when_core_never_saw_them(production: Manifest) -> None:
    service = a.one(production, "VirtualService", "archangel-core")
    a.equal(service, "spec.hosts", [CORE_HOST])
    a.length_equal(service, "spec.http", 2)
    idempotent, default = "spec.http[0]", "spec.http[1]"
    a.equal(service, f"{idempotent}.match", [{"method": {"regex": "^(GET|HEAD|OPTIONS)$"}}])
    a.equal(service, f"{idempotent}.retries.retryOn", "connect-failure,refused-stream,reset,gateway-error")
    a.exists(service, f"{default}.match", negate=True)
    retries = {"attempts": 2, "perTryTimeout": "10s", "retryOn": "connect-failure,refused-stream"}
    a.equal(service, f"{default}.retries", retries)
    a.equal(service, "spec.http[*].timeout", "30s")
    a.equal(service, "spec.http[*].route", [{"destination": {"host": CORE_HOST, "port": {"number": 80}}}])
    a.exists(service, "spec.http[*].fault", negate=True)


@pytest.mark.parametrize("unsafe", ["5xx", "reset", "gateway-error", "retriable-4xx"])
def test_unsafe_retry_conditions_for_posts_are_refused(render_env: RenderEnv, unsafe: str) -> None:
    a.failed_template(
        lambda: render_env(
            "production", "archangel", {"istio.virtualService.retries.retryOn": f"connect-failure,{unsafe}"}
        ),
        message=f'istio.virtualService.retries.retryOn contains "{unsafe}", which can retry a POST',
    )


def test_destination_rule_balances_and_ejects_failing_pods(production: Manifest) -> None:
    rule = a.one(production, "DestinationRule", "archangel-core")
    a.equal(rule, "spec.trafficPolicy.loadBalancer", {"simple": "LEAST_REQUEST"})
    a.equal(rule, "spec.trafficPolicy.connectionPool.tcp", {"maxConnections": 1000, "connectTimeout": "5s"})
    a.equal(rule, "spec.trafficPolicy.connectionPool.http.http2MaxRequests", 1000)
    a.equal(
        rule,
        "spec.trafficPolicy.outlierDetection",
        {
            "consecutive5xxErrors": 5,
            "consecutiveGatewayErrors": 3,
            "interval": "10s",
            "baseEjectionTime": "30s",
            "maxEjectionPercent": 34,
            "minHealthPercent": 50,
        },
    )
    a.equal(rule, "spec.trafficPolicy.tls", {"mode": "ISTIO_MUTUAL"})


# --- mutual TLS: STRICT, except for the ports plain-text clients use ------------------------------------------


def workload_policies(manifest: Manifest, template: PodTemplate) -> list[dict[str, Any]]:
    """The PeerAuthentications whose workload selector selects a pod template (Istio applies only the oldest)."""
    return [
        policy
        for policy in manifest.of_kind("PeerAuthentication")
        if (policy["spec"].get("selector") is not None and matches(policy["spec"]["selector"], template.labels))
    ]


def mtls_mode(manifest: Manifest, template: PodTemplate, port: int) -> str:
    """The mode Istio applies to a container port of a pod template. A mode the release leaves unset falls to
    the namespace's or mesh's policy, which the chart does not know: reported as "UNSET", never as PERMISSIVE."""
    policies = workload_policies(manifest, template)
    assert len(policies) <= 1, f"{template.ref}: selected by {[p['metadata']['name'] for p in policies]}"
    if not policies:
        return "UNSET"
    spec = policies[0]["spec"]
    port_mode = ((spec.get("portLevelMtls") or {}).get(str(port)) or {}).get("mode")
    return str(port_mode or (spec.get("mtls") or {}).get("mode") or "UNSET")


def container_port(template: PodTemplate, target: int | str) -> int:
    """A Service targetPort (number or name) as the container port number it reaches on a pod template."""
    if isinstance(target, int):
        return target
    (number,) = [
        p["containerPort"] for c in template.containers() for p in c.get("ports", []) if p.get("name") == target
    ]
    return int(number)


def scraped_ports(manifest: Manifest) -> list[tuple[str, PodTemplate, int]]:
    """(ServiceMonitor, pod template, container port) for every endpoint of every ServiceMonitor: the Service
    port it names, through the Service's targetPort, on each pod template the Service selects."""
    scraped = []
    templates = list(manifest.pod_templates())
    for monitor in manifest.of_kind("ServiceMonitor"):
        spec = monitor["spec"]
        namespaces = spec.get("namespaceSelector", {}).get("matchNames") or [monitor["metadata"]["namespace"]]
        services = [
            s
            for s in manifest.of_kind("Service")
            if s["metadata"].get("namespace") in namespaces and matches(spec["selector"], s["metadata"]["labels"])
        ]
        assert services, f"ServiceMonitor/{monitor['metadata']['name']} selects no Service"
        for endpoint in spec["endpoints"]:
            for service in services:
                (service_port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
                pods = selected_pod_templates(service["spec"]["selector"], templates, plain=True)
                assert pods, f"Service/{service['metadata']['name']} selects no pods"
                for template in pods:
                    target = service_port.get("targetPort", service_port["port"])
                    scraped.append((monitor["metadata"]["name"], template, container_port(template, target)))
    return scraped


MESH_VARIANTS: dict[str, dict[str, Any]] = {
    "production": {},
    # the exporter variants are the builtin StatefulSet's: production's CloudNativePG instances have no Service
    "builtin": BUILTIN,
    "exporter-on-another-port": {
        **BUILTIN,
        "database.postgresql.metrics.port": 9188,
        "core.containerPorts.metrics": 9100,
    },
    "no-exporter": {**BUILTIN, "database.postgresql.metrics.enabled": False},
    "external-data-tier": {
        "database.mode": "external",
        "database.external": {"host": "pg.example", "port": 5432},
        "database.auth.existingSecret": "pg",
        "vectorStore.external": {"enabled": True, "url": "https://q.example:6333"},
    },
}


@pytest.mark.parametrize("variant", MESH_VARIANTS, ids=str)
def test_every_scraped_port_is_permissive_on_the_pods_it_scrapes(render_env: RenderEnv, variant: str) -> None:
    """A Prometheus without a sidecar scrapes in plain text, which STRICT mTLS refuses."""
    manifest = render_env("production", "archangel", MESH_VARIANTS[variant])
    scraped = scraped_ports(manifest)
    assert {monitor for monitor, _, _ in scraped} == {m["metadata"]["name"] for m in manifest.of_kind("ServiceMonitor")}
    not_permissive = [
        f"{monitor}: {template.ref} port {port} is {mode}"
        for monitor, template, port in scraped
        if (mode := mtls_mode(manifest, template, port)) != "PERMISSIVE"
    ]
    assert not_permissive == []


def test_qdrant_metrics_on_its_rest_port_are_scrapeable(production: Manifest) -> None:
    (qdrant,) = [t for t in production.pod_templates() if t.ref == "StatefulSet/archangel-qdrant"]
    assert mtls_mode(production, qdrant, 6333) == "PERMISSIVE"
    assert mtls_mode(production, qdrant, 6334) == "STRICT"


def test_every_workload_that_accepts_connections_has_exactly_one_strict_policy(production: Manifest) -> None:
    a.equal(a.select(production, kind="PeerAuthentication"), "spec.mtls", {"mode": "STRICT"})
    for template in production.pod_templates():
        selected = [p["metadata"]["name"] for p in workload_policies(production, template)]
        if template.owner_kind in ("Deployment", "StatefulSet"):
            assert selected == [template.owner_name], template.ref
        else:
            assert selected == [], f"{template.ref}: hooks and jobs accept no connections"


@pytest.mark.parametrize(
    ("values", "postgresql"),
    [
        # production: no policy for PostgreSQL, whose CloudNativePG pods run outside the mesh (below)
        ({}, {}),
        (BUILTIN, {"archangel-postgresql": {9187}}),
    ],
    ids=["cloudnativepg", "builtin"],
)
def test_only_plain_text_ports_are_permissive(
    render_env: RenderEnv, values: dict[str, Any], postgresql: dict[str, set[int]]
) -> None:
    manifest = render_env("production", "archangel", values)
    permissive = {
        p["metadata"]["name"]: {int(port) for port in p["spec"].get("portLevelMtls", {})}
        for p in manifest.of_kind("PeerAuthentication")
    }
    assert permissive == {
        "archangel-core": {8080, 9090},  # the load balancer reaches 8080 without a sidecar
        "archangel-agents": {9090},
        **postgresql,
        "archangel-qdrant": {6333},
    }
    # The chart puts pods in the mesh by their label (istio.injection.enabled): the operator's pods (instances
    # and PgBouncer) never get it, so no mesh mTLS there: Prometheus scrapes them in plain text and the clients
    # talk PostgreSQL's own TLS (verify-full) through their sidecars.
    operator_objects = manifest.of_kind("Cluster") + manifest.of_kind("Pooler")
    assert len(operator_objects) == (0 if postgresql else 2)
    assert "sidecar.istio.io/inject" not in str(operator_objects)


DIRECT = {"loadBalancer.enabled": False, "ingress.enabled": False, "gateway.enabled": False}


@pytest.mark.parametrize(
    ("values", "core_http"),
    [
        ({}, "STRICT"),
        ({"loadBalancer.enabled": True}, "PERMISSIVE"),
        ({"loadBalancer.enabled": True, "istio.peerAuthentication.proxiesInMesh": True}, "PERMISSIVE"),
        ({"ingress.enabled": True}, "PERMISSIVE"),
        ({"ingress.enabled": True, "istio.peerAuthentication.proxiesInMesh": True}, "STRICT"),
        ({"gateway.enabled": True}, "PERMISSIVE"),
        ({"gateway.enabled": True, "istio.peerAuthentication.proxiesInMesh": True}, "STRICT"),
    ],
    ids=[
        "mesh-only",
        "load-balancer",
        "load-balancer-proxies-in-mesh",
        "ingress",
        "ingress-in-mesh",
        "gateway",
        "gateway-in-mesh",
    ],
)
def test_core_http_is_permissive_when_traffic_reaches_the_pods_without_a_sidecar(
    render_env: RenderEnv, values: dict[str, Any], core_http: str
) -> None:
    """The NLB (IP targets) and ingress-nginx send plain HTTP straight to core's pods."""
    manifest = render_env("production", "archangel", {**DIRECT, **values})
    templates = {t.owner_name: t for t in manifest.pod_templates()}
    assert mtls_mode(manifest, templates["archangel-core"], 8080) == core_http
    assert mtls_mode(manifest, templates["archangel-agents"], 8080) == "STRICT"


def test_extra_permissive_ports_apply_to_every_workload(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"istio.peerAuthentication.permissivePorts": [15020]})
    a.equal(a.select(manifest, kind="PeerAuthentication"), 'spec.portLevelMtls["15020"]', {"mode": "PERMISSIVE"})


def test_no_fault_injection_in_production(production: Manifest) -> None:
    a.contains_document(production, "VirtualService", name="archangel-core-chaos", negate=True)


def test_chaos_virtual_service_is_separate_and_replaces_the_main_one(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "istio.virtualService.enabled": False,
            "istio.chaos": {
                "enabled": True,
                "delay": {"percentage": 10, "fixedDelay": "3s"},
                "abort": {"percentage": 5, "httpStatus": 503},
            },
        },
    )
    a.contains_document(manifest, "VirtualService", name="archangel-core", negate=True)
    chaos = a.one(manifest, "VirtualService", "archangel-core-chaos")
    a.length_equal(chaos, "spec.http", 1)
    fault = {
        "delay": {"percentage": {"value": 10}, "fixedDelay": "3s"},
        "abort": {"percentage": {"value": 5}, "httpStatus": 503},
    }
    a.equal(chaos, "spec.http[0].fault", fault)


def test_chaos_next_to_the_main_virtual_service_is_refused(render_env: RenderEnv) -> None:
    a.failed_template(
        lambda: render_env("production", "archangel", {"istio.chaos.enabled": True}),
        message="istio.chaos.enabled and istio.virtualService.enabled are both true",
    )


def test_istio_objects_render_only_where_istio_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [api for api in environments["production"].api_versions if "istio.io" not in api]
    manifest = render_env("production", "archangel", api_versions=apis)
    a.match_regex(manifest, "apiVersion", r"istio\.io", negate=True)


def test_mutual_tls_without_injection_is_refused(render_env: RenderEnv) -> None:
    """PeerAuthentication and ISTIO_MUTUAL do nothing on pods without sidecars: the chart refuses them then."""
    a.failed_template(
        lambda: render_env("production", "archangel", {"istio.injection.enabled": False}),
        pattern=r"istio\.peerAuthentication\.enabled renders mutual TLS",
    )
    a.failed_template(
        lambda: render_env(
            "production",
            "archangel",
            {"istio": {"injection": {"enabled": False}, "peerAuthentication": {"enabled": False}}},
        ),
        pattern=r"istio\.destinationRule\.enabled renders mutual TLS",
    )
    by_namespace = render_env(
        "production", "archangel", {"istio": {"injection": {"enabled": False, "managedByNamespace": True}}}
    )
    assert all("sidecar.istio.io/inject" not in t.labels for t in by_namespace.pod_templates())


def test_the_chart_puts_every_pod_in_the_mesh(render_env: RenderEnv) -> None:
    """Jobs too: a PostgreSQL in STRICT mutual TLS refuses a plain-text backup job."""
    manifest = render_env("production", "archangel", {"restore": {"enabled": True, "requestId": "inc-1"}})
    templates = list(manifest.pod_templates())
    assert {t.owner_kind for t in templates} >= {"Deployment", "StatefulSet", "CronJob", "Job", "Pod"}
    assert [t.ref for t in templates if t.labels.get("sidecar.istio.io/inject") != "true"] == []
    assert "sidecar.istio.io/inject" not in str(render_env("staging", "archangel").objects)
