"""How traffic reaches core: the load balancer, the Ingress with TLS, rate limits and security headers, and the
Gateway API route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest, RenderError
from archangel_helm.core.manifest import annotations_of
from archangel_helm.testing import assertions as a
from archangel_helm.validate.graph import check_services
from archangel_helm.validate.selectors import selected_pod_templates
from tests.support.entry_points import entry_point, merged
from tests.support.notes import install_notes
from tests.support.project import PROJECT

RenderEnv = Callable[..., Manifest]
HTTPROUTE_API = "gateway.networking.k8s.io/v1/HTTPRoute"
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
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    violation = a.failed_values_schema(caught.value, field, "const")
    assert violation.message.rstrip("'\"").endswith(allowed), violation.message  # Helm 4 quotes '', Helm 3 ""


def test_an_internal_load_balancer_beside_the_ingress_is_allowed(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"loadBalancer": {"enabled": True, "aws": {"scheme": "internal"}}})
    assert public_entry_points(manifest) == ["Ingress/archangel-core"]
    assert manifest.get("Service", "archangel-core-public")["spec"]["type"] == "LoadBalancer"


# --- load balancer ---------------------------------------------------------------------------------------------


def test_the_nlb_entry_point_exposes_core_with_tls(nlb: Manifest) -> None:
    production = nlb
    service = production.get("Service", "archangel-core-public")
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert spec["externalTrafficPolicy"] == "Local"
    assert spec["ports"] == [{"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}]
    annotations = annotations_of(service)
    # TLS ends at the NLB: an internet-facing listener never carries the API in plain text.
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"].startswith("arn:aws:acm:")
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "443"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert (
        annotations["service.beta.kubernetes.io/aws-load-balancer-attributes"]
        == "load_balancing.cross_zone.enabled=true"
    )
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"] == "/healthz/ready"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-port"] == "8080"
    (selected,) = selected_pod_templates(spec["selector"], production.pod_templates(), plain=True)
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
    service = manifest.get("Service", "archangel-core-public")
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 600}}
    assert service["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert not any(k.startswith("service.beta.kubernetes.io/aws") for k in annotations_of(service))
    assert annotations_of(service)["example.com/lb"] == "x"
    # The NetworkPolicy lets exactly those sources reach core's HTTP port.
    policy = manifest.get("NetworkPolicy", "archangel-core")
    assert {"ipBlock": {"cidr": "203.0.113.0/24"}} in policy["spec"]["ingress"][0]["from"]


def test_an_internet_facing_nlb_without_tls_is_refused(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env(
            "production",
            "archangel",
            merged(entry_point("nlb"), {"loadBalancer": {"aws": {"tls": {"certificateArn": ""}}}}),
        )
    assert "  - loadBalancer.aws.tls.certificateArn: the ACM certificate of the internet-facing NLB" in (
        caught.value.helm_message
    )
    internal = render_env(
        "production",
        "archangel",
        merged(entry_point("nlb"), {"loadBalancer": {"aws": {"tls": {"certificateArn": ""}, "scheme": "internal"}}}),
    )
    assert internal.get("Service", "archangel-core-public")["spec"]["ports"][0]["name"] == "http"


def test_no_public_service_unless_enabled(render_env: RenderEnv) -> None:
    assert render_env("staging", "archangel").find("Service", "archangel-core-public") is None


# --- Ingress ---------------------------------------------------------------------------------------------------


def test_production_ingress_has_tls_rate_limits_and_security_headers(production: Manifest) -> None:
    ingress = production.get("Ingress", "archangel-core")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["api.archangel.example.com"], "secretName": "archangel-api-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "api.archangel.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "archangel-core", "port": {"name": "http"}}}
    annotations = annotations_of(ingress)
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "50"
    assert annotations["nginx.ingress.kubernetes.io/limit-connections"] == "20"
    assert annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"] == "5"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert not any("snippet" in key for key in annotations)
    # ingress-nginx's custom-headers are opt-in: without the controller's allow-list they mean 503 everywhere.
    assert "nginx.ingress.kubernetes.io/custom-headers" not in annotations
    assert production.find("ConfigMap", "archangel-security-headers") is None


def test_ingress_nginx_custom_headers_are_opt_in_and_the_notes_give_the_controller_setting(
    render_env: RenderEnv,
) -> None:
    manifest = render_env("production", "archangel", {"ingress.nginx.customHeaders.enabled": True})
    annotations = annotations_of(manifest.get("Ingress", "archangel-core"))
    assert annotations["nginx.ingress.kubernetes.io/custom-headers"] == "archangel/archangel-security-headers"
    assert manifest.get("ConfigMap", "archangel-security-headers")["data"] == HEADERS
    production = ["-f", str(PROJECT / "values" / "production.yaml")]
    production += ["-f", str(PROJECT / "values" / "examples" / "production-site.yaml")]
    line = f'global-allowed-response-headers: "{",".join(sorted(HEADERS))}"'
    assert line in install_notes(*production, "--set", "ingress.nginx.customHeaders.enabled=true")
    assert "global-allowed-response-headers" not in install_notes(*production)


def test_ingress_backend_port_exists_on_the_service(production: Manifest) -> None:
    backend = production.get("Ingress", "archangel-core")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = production.get("Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
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
    assert manifest.get("ConfigMap", "archangel-security-headers")["data"]["Permissions-Policy"] == "camera=()"
    annotations = annotations_of(manifest.get("Ingress", "archangel-core"))
    assert annotations["cert-manager.io/issuer"] == "internal-ca"
    assert "cert-manager.io/cluster-issuer" not in annotations


def test_ingress_with_an_existing_certificate_and_no_controller_annotations(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {"ingress": {"className": "traefik", "nginx": {"enabled": False}, "tls": {"certManager": {"enabled": False}}}},
    )
    ingress = manifest.get("Ingress", "archangel-core")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert not any(k.startswith(("nginx.", "cert-manager.")) for k in annotations_of(ingress))
    assert manifest.find("ConfigMap", "archangel-security-headers") is None


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
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values)
    assert message in caught.value.helm_message


def test_ingress_paths_are_checked_by_the_schema(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env(
            "production",
            "archangel",
            {"ingress.hosts": [{"host": "Bad_Host", "paths": [{"path": "/", "pathType": "Prefix"}]}]},
        )
    assert a.failed_values_schema(caught.value, "ingress/hosts/0/host", "pattern")


# --- Gateway API -------------------------------------------------------------------------------------------------


def test_the_gateway_entry_point_routes_with_headers_and_timeouts(gateway: Manifest) -> None:
    route = gateway.get("HTTPRoute", "archangel-core")["spec"]
    assert route["parentRefs"] == [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}]
    assert route["hostnames"] == ["api.archangel.example.com"]
    (rule,) = route["rules"]
    assert rule["backendRefs"] == [{"name": "archangel-core", "port": 80}]
    assert rule["timeouts"] == {"request": "60s", "backendRequest": "55s"}
    (headers,) = rule["filters"]
    assert headers["type"] == "ResponseHeaderModifier"
    assert {h["name"]: h["value"] for h in headers["responseHeaderModifier"]["set"]} == HEADERS


def test_plain_http_redirects_to_https(gateway: Manifest) -> None:
    redirect = gateway.get("HTTPRoute", "archangel-core-https-redirect")["spec"]
    assert redirect["parentRefs"][0]["sectionName"] == "http"
    assert redirect["rules"] == [
        {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
    ]


def test_httproute_only_where_the_gateway_api_is_served(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if a != HTTPROUTE_API]
    assert render_env("production", "archangel", entry_point("gateway"), api_versions=apis).of_kind("HTTPRoute") == []
    annotations = annotations_of(
        render_env("production", "archangel", entry_point("gateway")).get("HTTPRoute", "archangel-core")
    )
    assert annotations["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"
