"""Network isolation: a default deny covering every pod of the release, then exactly the paths Archangel uses,
each naming ports that exist on the pods at either end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import name_of
from archangel_helm.core.values_layering import merged_values
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.testing import assertions as a
from archangel_helm.validate.graph import check_network_policies, is_default_deny, pods_without_default_deny
from archangel_helm.validate.operators import selectable_pod_templates
from archangel_helm.validate.selectors import matches
from tests.support.entry_points import entry_point, merged
from tests.support.notes import install_notes
from tests.support.project import PROJECT, SHIPPED_VALUES

RenderEnv = Callable[..., Manifest]


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def allowed(manifest: Manifest, source: str, target: str, port: int) -> bool:
    """Whether the policies let pods of one workload reach another's port (both must allow it)."""
    pods = selectable_pod_templates(manifest)  # the operator's pods too: production's PostgreSQL is a Cluster
    source_labels = next(t.labels for t in pods if t.owner_name == source)
    target_labels = next(t.labels for t in pods if t.owner_name == target)
    policies = manifest.of_kind("NetworkPolicy")

    def permits(direction: str, own: dict[str, str], other: dict[str, str]) -> bool:
        key = "to" if direction == "egress" else "from"
        for policy in policies:
            spec = policy["spec"]
            if not matches(spec["podSelector"], own):
                continue
            for rule in spec.get(direction) or []:
                port_ok = not rule.get("ports") or any(p.get("port") == port for p in rule["ports"])
                peers = rule.get(key)
                peer_ok = not peers or any(
                    "podSelector" in p and "namespaceSelector" not in p and matches(p["podSelector"], other)
                    for p in peers
                )
                if port_ok and peer_ok:
                    return True
        return False

    return permits("egress", source_labels, target_labels) and permits("ingress", target_labels, source_labels)


@pytest.mark.parametrize("shipped", [s for s in SHIPPED_VALUES if s.chart.name == "archangel"], ids=lambda s: s.id)
def test_every_pod_of_the_release_is_under_the_default_deny(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    manifest = render_shipped(shipped)
    deny = manifest.get("NetworkPolicy", "archangel-default-deny")
    assert is_default_deny(deny)
    assert [t.ref for t in pods_without_default_deny(manifest)] == []


@pytest.mark.parametrize("shipped", [s for s in SHIPPED_VALUES if s.chart.name == "archangel"], ids=lambda s: s.id)
def test_every_allowed_path_names_ports_that_exist(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    assert [str(p) for p in check_network_policies(render_shipped(shipped))] == []


@pytest.mark.parametrize(
    ("source", "target", "port", "expected"),
    [
        ("archangel-agents", "archangel-core", 8080, True),
        ("archangel-core", "archangel-postgresql", 5432, True),
        ("archangel-agents", "archangel-postgresql", 5432, True),
        ("archangel-core", "archangel-qdrant", 6333, True),
        ("archangel-agents", "archangel-qdrant", 6334, True),
        ("archangel-core", "archangel-agents", 8080, False),
        ("archangel-postgresql", "archangel-qdrant", 6333, False),
        ("archangel-qdrant", "archangel-postgresql", 5432, False),
        ("archangel-agents", "archangel-core", 9090, False),
        ("archangel-core", "archangel-postgresql", 9187, False),
        # PgBouncer: core and agents in, the instances out; nothing else
        ("archangel-core", "archangel-pgbouncer", 5432, True),
        ("archangel-agents", "archangel-pgbouncer", 5432, True),
        ("archangel-pgbouncer", "archangel-postgresql", 5432, True),
        ("archangel-qdrant", "archangel-pgbouncer", 5432, False),
        ("archangel-pgbouncer", "archangel-qdrant", 6333, False),
        ("archangel-postgresql", "archangel-postgresql", 5432, True),  # replication
        # the helm test pod: exactly what it checks
        ("archangel-helm-test", "archangel-core", 8080, True),
        ("archangel-helm-test", "archangel-postgresql", 5432, True),
        ("archangel-helm-test", "archangel-qdrant", 6333, True),
        ("archangel-helm-test", "archangel-qdrant", 6334, False),
        ("archangel-helm-test", "archangel-agents", 8080, False),
        ("archangel-helm-test", "archangel-core", 9090, False),
        ("archangel-helm-test", "archangel-postgresql", 9187, False),
    ],
)
def test_only_the_paths_archangel_uses_are_open(
    production: Manifest, source: str, target: str, port: int, expected: bool
) -> None:
    assert allowed(production, source, target, port) is expected


def test_dns_is_open_to_every_pod(production: Manifest) -> None:
    dns = a.one(production, "NetworkPolicy", "archangel-allow-dns")
    a.length_equal(dns, "spec.egress", 1)
    kube_system = {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    a.equal(dns, "spec.egress[0].to[0].namespaceSelector", kube_system)
    a.equal(dns, "spec.egress[0].to[0].podSelector", {"matchLabels": {"k8s-app": "kube-dns"}})
    policy = production.get("NetworkPolicy", "archangel-allow-dns")["spec"]
    assert {(p["port"], p["protocol"]) for p in policy["egress"][0]["ports"]} == {(53, "UDP"), (53, "TCP")}
    a.equal(a.one(production, "NetworkPolicy", "archangel-default-deny"), "spec.podSelector", policy["podSelector"])


def test_prometheus_may_scrape_every_metrics_port(production: Manifest) -> None:
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    scraped = {}
    for name in ("archangel-core", "archangel-agents", "archangel-postgresql", "archangel-qdrant"):
        rules = production.get("NetworkPolicy", name)["spec"]["ingress"]
        scraped[name] = {p["port"] for r in rules if prometheus in r["from"] for p in r["ports"]}
    assert scraped == {
        "archangel-core": {9090},
        "archangel-agents": {9090},
        "archangel-postgresql": {9187},
        "archangel-qdrant": {6333},
    }


@pytest.mark.parametrize(
    ("entry", "peer"),
    [
        (
            "ingress",
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
            },
        ),
        ("gateway", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}}),
    ],
)
def test_the_ingress_controller_or_the_gateway_reaches_only_core_http(
    render_env: RenderEnv, entry: str, peer: dict[str, Any]
) -> None:
    production = render_env("production", "archangel", None if entry == "ingress" else entry_point(entry))
    core = a.one(production, "NetworkPolicy", "archangel-core")
    rule = production.get("NetworkPolicy", "archangel-core")["spec"]["ingress"][0]
    controllers = [p for p in rule["from"] if "namespaceSelector" in p]
    assert controllers == [peer]
    a.exists(core, "spec.ingress[0].from[*].ipBlock", negate=True)  # no load balancer's sources: not an entry point
    a.equal(core, "spec.ingress[0].ports", [{"port": 8080, "protocol": "TCP"}])
    for name, policy in ((name_of(p), p["spec"]) for p in production.of_kind("NetworkPolicy")):
        if name != "archangel-core":
            peers = [peer for r in policy.get("ingress") or [] for peer in r.get("from") or []]
            assert not any(str(peer) in str(other) for other in peers), name


# --- the Gateway API path: the gateways' namespaces, not the load balancer's 0.0.0.0/0 -------------------------


def admits(manifest: Manifest, target: str, port: int, namespace: str, labels: dict[str, str]) -> bool:
    """Whether the target workload's policies admit a pod of another namespace (ingress side only: the
    gateway's own egress is its chart's business). ipBlocks do not count: they are the load balancer's."""
    target_labels = next(t.labels for t in manifest.pod_templates() if t.owner_name == target)
    for policy in manifest.of_kind("NetworkPolicy"):
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", []) or not matches(spec["podSelector"], target_labels):
            continue
        for rule in spec.get("ingress") or []:
            if rule.get("ports") and not any(p.get("port") == port for p in rule["ports"]):
                continue
            for peer in rule.get("from") or []:
                if "namespaceSelector" not in peer:
                    continue
                namespace_ok = matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
                if namespace_ok and matches(peer.get("podSelector", {}), labels):
                    return True
    return False


GATEWAY_POD = {"gateway.envoyproxy.io/owning-gateway-name": "public"}


def test_the_gateway_reaches_core_without_the_load_balancer(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", entry_point("gateway"))
    a.exists(a.one(manifest, "NetworkPolicy", "archangel-core"), "spec.ingress[0].from[*].ipBlock", negate=True)
    assert admits(manifest, "archangel-core", 8080, "gateway-system", GATEWAY_POD)
    assert not admits(manifest, "archangel-core", 8080, "somewhere-else", GATEWAY_POD)
    assert not admits(manifest, "archangel-agents", 8080, "gateway-system", GATEWAY_POD)
    assert not admits(manifest, "archangel-core", 9090, "gateway-system", GATEWAY_POD)


def test_the_gateway_peer_narrows_to_the_proxy_pods_when_their_labels_are_given(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        merged(entry_point("gateway"), {"gateway": {"networkPolicy": {"podLabels": GATEWAY_POD}}}),
    )
    assert admits(manifest, "archangel-core", 8080, "gateway-system", GATEWAY_POD)
    assert not admits(manifest, "archangel-core", 8080, "gateway-system", {"app": "something-else"})


def test_every_parent_namespace_is_admitted_and_a_missing_one_is_the_releases(render_env: RenderEnv) -> None:
    parents = [{"name": "public", "namespace": "gateway-system"}, {"name": "internal"}]
    manifest = render_env(
        "production", "archangel", merged(entry_point("gateway"), {"gateway": {"parentRefs": parents}})
    )
    assert admits(manifest, "archangel-core", 8080, "gateway-system", {})
    assert admits(manifest, "archangel-core", 8080, "archangel", {})


def test_no_gateway_peer_without_the_httproute(render_env: RenderEnv, environments: Any) -> None:
    apis = [api for api in environments["production"].api_versions if not api.startswith("gateway.networking.k8s.io")]
    manifest = render_env("production", "archangel", entry_point("gateway"), api_versions=apis)
    a.contains_document(manifest, "HTTPRoute", name="archangel-core", negate=True)
    assert not admits(manifest, "archangel-core", 8080, "gateway-system", {})
    off = render_env("production", "archangel")
    assert not admits(off, "archangel-core", 8080, "gateway-system", {})


# --- 0.0.0.0/0 never also admits the cluster's own pods ----------------------------------------------------------

WHOLE_SPACE = {"0.0.0.0/0", "::/0"}


def ip_blocks(manifest: Manifest) -> list[tuple[str, dict[str, Any]]]:
    """(policy name, ipBlock) for every ipBlock peer of every rendered NetworkPolicy."""
    return [
        (name_of(policy), peer["ipBlock"])
        for policy in manifest.of_kind("NetworkPolicy")
        for direction, key in (("ingress", "from"), ("egress", "to"))
        for rule in policy["spec"].get(direction) or []
        for peer in rule.get(key) or []
        if "ipBlock" in peer
    ]


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_no_shipped_policy_admits_everywhere_without_excepting_the_cluster(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    """Calico-like CNIs match ipBlocks against pod addresses: 0.0.0.0/0 must except the pod and Service ranges."""
    values = merged_values(shipped.chart, [shipped.values_file, *shipped.site_values])
    cluster = (values.get("networkPolicy") or {}).get("clusterCIDRs") or []
    problems = []
    for name, block in ip_blocks(render_shipped(shipped)):
        if block["cidr"] not in WHOLE_SPACE:
            continue
        family = [c for c in cluster if (":" in c) == (block["cidr"] == "::/0")]
        missing = sorted(set(family) - set(block.get("except") or []))
        if not family or missing:
            problems.append(f"{name}: {block['cidr']} excepts {block.get('except')}, not the cluster's {family}")
    assert problems == []


def test_the_load_balancer_rule_excepts_the_cluster(render_env: RenderEnv) -> None:
    rule = render_env("production", "archangel", entry_point("nlb")).get("NetworkPolicy", "archangel-core")["spec"][
        "ingress"
    ][0]
    blocks = [peer["ipBlock"] for peer in rule["from"] if "ipBlock" in peer]
    assert blocks == [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/16", "172.20.0.0/16"]}]


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_jobs_reach_only_the_api_servers_endpoints(render_env: RenderEnv, environment: str) -> None:
    policy = a.one(render_env(environment, "archangel"), "NetworkPolicy", "archangel-kube-api-clients")
    a.length_equal(policy, "spec.egress", 1)
    a.equal(policy, "spec.egress[0].to", [{"ipBlock": {"cidr": "10.1.0.0/24"}}])


def test_each_address_family_excepts_its_own_cluster_ranges(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        merged(
            entry_point("nlb"),
            {
                "networkPolicy": {"clusterCIDRs": ["10.0.0.0/16", "fd00:10::/56", "172.20.0.0/16"]},
                "loadBalancer": {"loadBalancerSourceRanges": ["0.0.0.0/0", "::/0", "203.0.113.0/24"]},
            },
        ),
    )
    rule = manifest.get("NetworkPolicy", "archangel-core")["spec"]["ingress"][0]
    assert [peer["ipBlock"] for peer in rule["from"] if "ipBlock" in peer] == [
        {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/16", "172.20.0.0/16"]},
        {"cidr": "::/0", "except": ["fd00:10::/56"]},
        {"cidr": "203.0.113.0/24"},  # a narrower range is taken as given
    ]


def test_without_cluster_ranges_the_install_notes_warn() -> None:
    production = ["-f", str(PROJECT / "values" / "production.yaml")]
    production += ["-f", str(PROJECT / "values" / "examples" / "production-site.yaml")]
    warning = "WARNING: a NetworkPolicy admits 0.0.0.0/0"
    assert warning in install_notes(*production, "--set-json", "networkPolicy.clusterCIDRs=[]")
    assert warning not in install_notes(*production)


def test_only_kube_api_clients_reach_the_api_server(production: Manifest) -> None:
    api_clients = a.one(production, "NetworkPolicy", "archangel-kube-api-clients")
    a.equal(api_clients, 'spec.podSelector.matchLabels["archangel.io/kube-api-client"]', "true")
    policy = production.get("NetworkPolicy", "archangel-kube-api-clients")["spec"]
    clients = {t.ref for t in production.pod_templates() if matches(policy["podSelector"], t.labels)}
    assert clients == {"Job/archangel-secrets-hook", "CronJob/archangel-volume-snapshots"}
    assert {p["port"] for p in policy["egress"][0]["ports"]} == {443, 6443}


def test_sidecars_reach_istiod_in_production(production: Manifest) -> None:
    istiod = a.one(production, "NetworkPolicy", "archangel-allow-istiod")
    a.length_equal(istiod, "spec.egress", 1)
    a.equal(istiod, "spec.egress[0].ports", [{"port": 15012, "protocol": "TCP"}])


def test_external_data_tier_opens_its_ports_not_pods(render_env: RenderEnv) -> None:
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
    a.contains_document(manifest, "NetworkPolicy", name="archangel-postgresql", negate=True)
    a.contains(
        a.one(manifest, "NetworkPolicy", "archangel-core"),
        "spec.egress",
        {"ports": [{"port": 6432, "protocol": "TCP"}]},
    )
    assert check_network_policies(manifest) == []


def test_user_policies_are_added(render_env: RenderEnv) -> None:
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "agents"}},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
    }
    manifest = render_env(
        "production", "archangel", {"networkPolicy.extraPolicies": [{"name": "agents-https", "spec": spec}]}
    )
    a.equal(a.one(manifest, "NetworkPolicy", "archangel-agents-https"), "spec", spec)


def test_policies_can_be_turned_off(render_env: RenderEnv) -> None:
    a.has_documents(render_env("production", "archangel", {"networkPolicy.enabled": False}), 0, kind="NetworkPolicy")
