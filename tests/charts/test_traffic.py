"""How traffic reaches core: the load balancer, the Ingress with TLS, rate limits and security headers, and the
Gateway API route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import annotations_of
from archangel_helm.testing import assertions as a
from archangel_helm.validate.graph import check_services
from archangel_helm.validate.selectors import selected_pod_templates
from tests.support.entry_points import entry_point, merged
from tests.support.notes import install_notes
from tests.support.project import PROJECT

RenderEnv = Callable[..., Manifest]
HTTPROUTE_API = "gateway.networking.k8s.io/v1/HTTPRoute"
AWS_LB = "service.beta.kubernetes.io/aws-load-balancer"
HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


@pytest.fixture(scope="module")
def nlb(render_env: RenderEnv) -> Manifest:
    """Production with values/examples/entry-nlb.yaml: an internet-facing NLB instead of the Ingress."""
    return render_env("production", "archangel", entry_point("nlb"))


@pytest.fixture(scope="module")
def gateway(render_env: RenderEnv) -> Manifest:
    """Production with values/examples/entry-gateway.yaml: a Gateway API route instead of the Ingress."""
    return render_env("production", "archangel", entry_point("gateway"))


# --- one public entry point ------------------------------------------------------------------------------------


def public_entry_points(manifest: Manifest) -> list[str]:
    found = [f"Ingress/{i['metadata']['name']}" for i in manifest.of_kind("Ingress")]
    found += [
        f"HTTPRoute/{r['metadata']['name']}"
        for r in manifest.of_kind("HTTPRoute")
        if "redirect" not in r["metadata"]["name"]
    ]
    for service in manifest.of_kind("Service"):
        internal = annotations_of(service).get("service.beta.kubernetes.io/aws-load-balancer-scheme") == "internal"
        if service["spec"].get("type") == "LoadBalancer" and not internal:
            found.append(f"Service/{service['metadata']['name']}")
    return found


@pytest.mark.parametrize("entry", ["ingress", "nlb", "gateway"])
def test_production_has_one_public_entry_point_whichever_it_is(render_env: RenderEnv, entry: str) -> None:
    manifest = render_env("production", "archangel", None if entry == "ingress" else entry_point(entry))
    expected = {
        "ingress": "Ingress/archangel-core",
        "nlb": "Service/archangel-core-public",
        "gateway": "HTTPRoute/archangel-core",
    }
    assert public_entry_points(manifest) == [expected[entry]]


@pytest.mark.parametrize(
    ("values", "field", "allowed"),
    [
        (merged(entry_point("gateway"), {"ingress": {"enabled": True}}), "/gateway/enabled", "false"),
        (merged(entry_point("nlb"), {"ingress": {"enabled": True}}), "/loadBalancer/aws/scheme", "internal"),
        (merged(entry_point("nlb"), entry_point("gateway")), "/loadBalancer/aws/scheme", "internal"),
        (
            merged(entry_point("nlb"), {"ingress": {"enabled": True}, "loadBalancer": {"aws": {"enabled": False}}}),
            "/loadBalancer/aws/enabled",
            "true",
        ),
    ],
)
def test_a_second_public_entry_point_is_refused_by_the_schema(
    render_env: RenderEnv, values: dict[str, Any], field: str, allowed: str
) -> None:
    violation = a.failed_values_schema(lambda: render_env("production", "archangel", values), field, "const")
    assert violation.message.rstrip("'\"").endswith(allowed), violation.message  # Helm 4 quotes '', Helm 3 ""


def test_an_internal_load_balancer_beside_the_ingress_is_allowed(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"loadBalancer": {"enabled": True, "aws": {"scheme": "internal"}}})
    assert public_entry_points(manifest) == ["Ingress/archangel-core"]
    a.equal(a.one(manifest, "Service", "archangel-core-public"), "spec.type", "LoadBalancer")


# --- load balancer ---------------------------------------------------------------------------------------------


def test_the_nlb_entry_point_exposes_core_with_tls(nlb: Manifest) -> None:
    service = a.one(nlb, "Service", "archangel-core-public")
    a.equal(service, "spec.type", "LoadBalancer")
    a.equal(service, "spec.loadBalancerClass", "service.k8s.aws/nlb")
    a.equal(service, "spec.externalTrafficPolicy", "Local")
    a.equal(service, "spec.ports", [{"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}])
    # TLS ends at the NLB: an internet-facing listener never carries the API in plain text.
    a.is_subset(
        service,
        "metadata.annotations",
        {
            f"{AWS_LB}-scheme": "internet-facing",
            f"{AWS_LB}-ssl-ports": "443",
            f"{AWS_LB}-nlb-target-type": "ip",
            f"{AWS_LB}-attributes": "load_balancing.cross_zone.enabled=true",
            f"{AWS_LB}-healthcheck-path": "/healthz/ready",
            f"{AWS_LB}-healthcheck-port": "8080",
        },
    )
    a.match_regex(service, f'metadata.annotations["{AWS_LB}-ssl-cert"]', r"^arn:aws:acm:")
    selector = nlb.get("Service", "archangel-core-public")["spec"]["selector"]
    (selected,) = selected_pod_templates(selector, nlb.pod_templates(), plain=True)
    assert selected.ref == "Deployment/archangel-core"


def test_session_affinity_and_source_ranges(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        merged(
            entry_point("nlb"),
            {
                "loadBalancer": {
                    "sessionAffinity": {"enabled": True, "timeoutSeconds": 600},
                    "loadBalancerSourceRanges": ["203.0.113.0/24"],
                    "aws": {"enabled": False},
                    "annotations": {"example.com/lb": "x"},
                }
            },
        ),
    )
    service = a.one(manifest, "Service", "archangel-core-public")
    a.equal(service, "spec.sessionAffinity", "ClientIP")
    a.equal(service, "spec.sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 600}})
    a.equal(service, "spec.loadBalancerSourceRanges", ["203.0.113.0/24"])
    annotations = annotations_of(manifest.get("Service", "archangel-core-public"))
    assert not any(k.startswith("service.beta.kubernetes.io/aws") for k in annotations)
    a.equal(service, 'metadata.annotations["example.com/lb"]', "x")
    # The NetworkPolicy lets exactly those sources reach core's HTTP port.
    policy = a.one(manifest, "NetworkPolicy", "archangel-core")
    a.contains(policy, "spec.ingress[0].from", {"ipBlock": {"cidr": "203.0.113.0/24"}})


def test_an_internet_facing_nlb_without_tls_is_refused(render_env: RenderEnv) -> None:
    a.failed_template(
        lambda: render_env(
            "production",
            "archangel",
            merged(entry_point("nlb"), {"loadBalancer": {"aws": {"tls": {"certificateArn": ""}}}}),
        ),
        message="  - loadBalancer.aws.tls.certificateArn: the ACM certificate of the internet-facing NLB",
    )
    internal = render_env(
        "production",
        "archangel",
        merged(entry_point("nlb"), {"loadBalancer": {"aws": {"tls": {"certificateArn": ""}, "scheme": "internal"}}}),
    )
    a.equal(a.one(internal, "Service", "archangel-core-public"), "spec.ports[0].name", "http")


def test_no_public_service_unless_enabled(render_env: RenderEnv) -> None:
    a.contains_document(render_env("staging", "archangel"), "Service", name="archangel-core-public", negate=True)


# --- Ingress ---------------------------------------------------------------------------------------------------


def test_production_ingress_has_tls_rate_limits_and_security_headers(production: Manifest) -> None:
    ingress = a.one(production, "Ingress", "archangel-core")
    a.equal(ingress, "spec.ingressClassName", "nginx")
    a.equal(ingress, "spec.tls", [{"hosts": ["api.archangel.example.com"], "secretName": "archangel-api-tls"}])
    a.length_equal(ingress, "spec.rules", 1)
    a.equal(ingress, "spec.rules[0].host", "api.archangel.example.com")
    backend = {"service": {"name": "archangel-core", "port": {"name": "http"}}}
    a.equal(ingress, "spec.rules[0].http.paths[0].backend", backend)
    a.is_subset(
        ingress,
        "metadata.annotations",
        {
            "cert-manager.io/cluster-issuer": "letsencrypt-prod",
            "nginx.ingress.kubernetes.io/limit-rps": "50",
            "nginx.ingress.kubernetes.io/limit-connections": "20",
            "nginx.ingress.kubernetes.io/limit-burst-multiplier": "5",
            "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
        },
    )
    assert not any("snippet" in key for key in annotations_of(production.get("Ingress", "archangel-core")))
    # ingress-nginx's custom-headers are opt-in: without the controller's allow-list they mean 503 everywhere.
    a.exists(ingress, 'metadata.annotations["nginx.ingress.kubernetes.io/custom-headers"]', negate=True)
    a.contains_document(production, "ConfigMap", name="archangel-security-headers", negate=True)


def test_ingress_nginx_custom_headers_are_opt_in_and_the_notes_give_the_controller_setting(
    render_env: RenderEnv,
) -> None:
    manifest = render_env("production", "archangel", {"ingress.nginx.customHeaders.enabled": True})
    a.equal(
        a.one(manifest, "Ingress", "archangel-core"),
        'metadata.annotations["nginx.ingress.kubernetes.io/custom-headers"]',
        "archangel/archangel-security-headers",
    )
    a.equal(a.one(manifest, "ConfigMap", "archangel-security-headers"), "data", HEADERS)
    production = ["-f", str(PROJECT / "values" / "production.yaml")]
    production += ["-f", str(PROJECT / "values" / "examples" / "production-site.yaml")]
    line = f'global-allowed-response-headers: "{",".join(sorted(HEADERS))}"'
    assert line in install_notes(*production, "--set", "ingress.nginx.customHeaders.enabled=true")
    assert "global-allowed-response-headers" not in install_notes(*production)


def test_ingress_backend_port_exists_on_the_service(production: Manifest) -> None:
    ingress = production.get("Ingress", "archangel-core")
    backend = a.value_at(ingress, "spec.rules[0].http.paths[0].backend.service")
    a.contains(a.one(production, "Service", backend["name"]), "spec.ports", {"name": backend["port"]["name"]}, any=True)
    assert check_services(production) == []


def test_extra_security_headers_and_an_issuer(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "securityHeaders.extra": {"Permissions-Policy": "camera=()"},
            "ingress.nginx.customHeaders.enabled": True,
            "ingress.tls.certManager": {"issuer": "internal-ca", "clusterIssuer": ""},
        },
    )
    a.equal(a.one(manifest, "ConfigMap", "archangel-security-headers"), 'data["Permissions-Policy"]', "camera=()")
    ingress = a.one(manifest, "Ingress", "archangel-core")
    a.equal(ingress, 'metadata.annotations["cert-manager.io/issuer"]', "internal-ca")
    a.exists(ingress, 'metadata.annotations["cert-manager.io/cluster-issuer"]', negate=True)


def test_ingress_with_an_existing_certificate_and_no_controller_annotations(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {"ingress": {"className": "traefik", "nginx": {"enabled": False}, "tls": {"certManager": {"enabled": False}}}},
    )
    a.equal(a.one(manifest, "Ingress", "archangel-core"), "spec.ingressClassName", "traefik")
    annotations = annotations_of(manifest.get("Ingress", "archangel-core"))
    assert not any(k.startswith(("nginx.", "cert-manager.")) for k in annotations)
    a.contains_document(manifest, "ConfigMap", name="archangel-security-headers", negate=True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"ingress.tls.hosts": ["other.example.com"]},
            'ingress.tls.hosts: "other.example.com" is not one of the rule hosts [api.archangel.example.com]',
        ),
        ({"ingress.hosts": []}, "  - ingress.hosts: the public hostname(s) the Ingress routes"),
        (
            merged(entry_point("gateway"), {"gateway": {"parentRefs": []}}),
            "gateway.enabled is true but gateway.parentRefs is empty",
        ),
    ],
)
def test_routes_that_point_at_nothing_are_refused(render_env: RenderEnv, values: dict[str, Any], message: str) -> None:
    a.failed_template(lambda: render_env("production", "archangel", values), message=message)


def test_ingress_paths_are_checked_by_the_schema(render_env: RenderEnv) -> None:
    hosts = [{"host": "Bad_Host", "paths": [{"path": "/", "pathType": "Prefix"}]}]
    a.failed_values_schema(
        lambda: render_env("production", "archangel", {"ingress.hosts": hosts}), "ingress/hosts/0/host", "pattern"
    )


# --- Gateway API -------------------------------------------------------------------------------------------------


def test_the_gateway_entry_point_routes_with_headers_and_timeouts(gateway: Manifest) -> None:
    route = a.one(gateway, "HTTPRoute", "archangel-core")
    a.equal(route, "spec.parentRefs", [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}])
    a.equal(route, "spec.hostnames", ["api.archangel.example.com"])
    a.length_equal(route, "spec.rules", 1)
    a.equal(route, "spec.rules[0].backendRefs", [{"name": "archangel-core", "port": 80}])
    a.equal(route, "spec.rules[0].timeouts", {"request": "60s", "backendRequest": "55s"})
    a.length_equal(route, "spec.rules[0].filters", 1)
    a.equal(route, "spec.rules[0].filters[0].type", "ResponseHeaderModifier")
    headers = a.value_at(
        gateway.get("HTTPRoute", "archangel-core"), "spec.rules[0].filters[0].responseHeaderModifier.set"
    )
    assert {h["name"]: h["value"] for h in headers} == HEADERS


def test_plain_http_redirects_to_https(gateway: Manifest) -> None:
    redirect = a.one(gateway, "HTTPRoute", "archangel-core-https-redirect")
    a.equal(redirect, "spec.parentRefs[0].sectionName", "http")
    a.equal(
        redirect,
        "spec.rules",
        [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
    )


def test_httproute_only_where_the_gateway_api_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [api for api in environments["production"].api_versions if api != HTTPROUTE_API]
    a.has_documents(
        render_env("production", "archangel", entry_point("gateway"), api_versions=apis), 0, kind="HTTPRoute"
    )
    a.equal(
        a.one(render_env("production", "archangel", entry_point("gateway")), "HTTPRoute", "archangel-core"),
        'metadata.annotations["argocd.argoproj.io/sync-options"]',
        "SkipDryRunOnMissingResource=true",
    )
