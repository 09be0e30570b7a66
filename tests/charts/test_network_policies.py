"""Network isolation: a default deny covering every pod of the release, then exactly the paths Archangel uses,
each naming ports that exist on the pods at either end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from archangel_helm import Manifest
from archangel_helm.validate.graph import check_network_policies, is_default_deny, pods_without_default_deny
from archangel_helm.validate.selectors import matches
from tests.conftest import SHIPPED_VALUES, ShippedValues

RenderEnv = Callable[..., Manifest]


@pytest.fixture(scope="module")
def production(render_env: RenderEnv) -> Manifest:
    return render_env("production", "archangel")


def allowed(manifest: Manifest, source: str, target: str, port: int) -> bool:
    """Whether the policies let pods of one workload reach another's port (both must allow it)."""
    source_labels = next(t.labels for t in manifest.pod_templates() if t.owner_name == source)
    target_labels = next(t.labels for t in manifest.pod_templates() if t.owner_name == target)
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
    ],
)
def test_only_the_paths_archangel_uses_are_open(
    production: Manifest, source: str, target: str, port: int, expected: bool
) -> None:
    assert allowed(production, source, target, port) is expected


def test_dns_is_open_to_every_pod(production: Manifest) -> None:
    policy = production.get("NetworkPolicy", "archangel-allow-dns")["spec"]
    (rule,) = policy["egress"]
    assert rule["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    assert rule["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert production.get("NetworkPolicy", "archangel-default-deny")["spec"]["podSelector"] == policy["podSelector"]


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


def test_ingress_controllers_reach_only_core_http(production: Manifest) -> None:
    rule = production.get("NetworkPolicy", "archangel-core")["spec"]["ingress"][0]
    controllers = [p for p in rule["from"] if "namespaceSelector" in p]
    assert controllers == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        }
    ]
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_only_kube_api_clients_reach_the_api_server(production: Manifest) -> None:
    policy = production.get("NetworkPolicy", "archangel-kube-api-clients")["spec"]
    assert policy["podSelector"]["matchLabels"]["archangel.io/kube-api-client"] == "true"
    clients = {t.ref for t in production.pod_templates() if matches(policy["podSelector"], t.labels)}
    assert clients == {"Job/archangel-secrets-hook", "CronJob/archangel-volume-snapshots"}
    assert {p["port"] for p in policy["egress"][0]["ports"]} == {443, 6443}


def test_sidecars_reach_istiod_in_production(production: Manifest) -> None:
    (rule,) = production.get("NetworkPolicy", "archangel-allow-istiod")["spec"]["egress"]
    assert rule["ports"] == [{"port": 15012, "protocol": "TCP"}]


def test_external_data_tier_opens_its_ports_not_pods(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "database.external": {"enabled": True, "host": "pg.example", "port": 6432},
            "database.auth.existingSecret": "pg",
            "vectorStore.external": {"enabled": True, "url": "https://q.example:6333"},
        },
    )
    assert manifest.find("NetworkPolicy", "archangel-postgresql") is None
    egress = manifest.get("NetworkPolicy", "archangel-core")["spec"]["egress"]
    assert {"ports": [{"port": 6432, "protocol": "TCP"}]} in egress
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
    assert manifest.get("NetworkPolicy", "archangel-agents-https")["spec"] == spec


def test_policies_can_be_turned_off(render_env: RenderEnv) -> None:
    assert render_env("production", "archangel", {"networkPolicy.enabled": False}).of_kind("NetworkPolicy") == []
