"""Preflight's render-based checks: every class a release claims exists, or an earlier release of the deploy order
creates it (a claim on a class created later stays Pending, and Helm's --wait with it); a workload with one
pod per node has enough nodes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from archangel_helm.operate.checks import Status, StepCheck
from archangel_helm.operate.cluster import ClusterInfo
from archangel_helm.operate.preflight import (
    _cloudnativepg,
    _features,
    _ingress_custom_headers,
    _render_releases,
    _spread,
    _storage_classes,
)
from archangel_helm.plan.environments import Environment, load_environment
from tests.support.project import PROJECT

PRODUCTION = load_environment(PROJECT, "production").with_example_values()


def cluster(*classes: str, default: str | None = "gp3") -> ClusterInfo:
    apis = {*PRODUCTION.api_versions, *(a.rsplit("/", 1)[0] for a in PRODUCTION.api_versions)}
    storage = dict.fromkeys(classes, False) | ({default: True} if default else {})
    return ClusterInfo((1, 33), "v1.33.4", api_versions=apis, storage_classes=storage)


def storage(environment: Environment, info: ClusterInfo) -> list[StepCheck]:
    manifests = _render_releases(environment, info)
    assert isinstance(manifests, dict), manifests
    return _storage_classes(environment, info, manifests)


def rows(environment_order: tuple[str, ...], info: ClusterInfo) -> dict[str, tuple[Status, str]]:
    releases = tuple(PRODUCTION.release(name) for name in environment_order)
    return {r.name: (r.status, r.detail) for r in storage(replace(PRODUCTION, releases=releases), info)}


def test_the_shipped_order_creates_every_class_before_it_is_claimed() -> None:
    found = rows(("archangel", "archangel-monitoring"), cluster())
    assert found["archangel-monitoring: StorageClass standard-ssd"][0] is Status.PASS
    assert found["archangel-monitoring: StorageClass standard-ssd"][1].startswith("created by archangel first")
    assert found["archangel: StorageClass fast-ssd"] == (
        Status.PASS,
        "created by archangel; claimed by Cluster/archangel-postgresql",  # the operator claims it for each instance
    )
    assert all(status is Status.PASS for status, _ in found.values()), found


def test_monitoring_before_the_release_that_creates_its_class_fails_naming_the_fix() -> None:
    status, detail = rows(("archangel-monitoring", "archangel"), cluster())[
        "archangel-monitoring: StorageClass standard-ssd"
    ]
    assert status is Status.FAIL
    assert detail.startswith("archangel creates it after archangel-monitoring: reorder the releases")


def test_a_class_no_release_creates_must_exist_in_the_cluster() -> None:
    monitoring_only = (PRODUCTION.release("archangel-monitoring"),)
    missing = storage(replace(PRODUCTION, releases=monitoring_only), cluster())
    assert [(r.status, r.detail.split(";")[0]) for r in missing] == [
        (Status.FAIL, "the cluster has no such class and no release creates it")
    ]
    present = storage(replace(PRODUCTION, releases=monitoring_only), cluster("standard-ssd"))
    assert [r.status for r in present] == [Status.PASS]


def test_hard_anti_affinity_needs_a_schedulable_node_per_pod() -> None:
    """Production's core and Qdrant keep one pod per node (3 each); the soft agents do not count."""
    manifests = _render_releases(PRODUCTION, cluster())
    assert isinstance(manifests, dict)
    enough = replace(cluster(), schedulable_nodes=3)
    assert [(r.name, r.status) for r in _spread(manifests, enough)] == [
        ("archangel: Deployment/archangel-core anti-affinity", Status.PASS),
        ("archangel: StatefulSet/archangel-qdrant anti-affinity", Status.PASS),
    ]
    short = _spread(manifests, replace(cluster(), schedulable_nodes=2))
    assert [r.status for r in short] == [Status.FAIL, Status.FAIL]
    for result in short:
        assert result.detail.startswith("one pod per node: needs 3 schedulable nodes, the cluster has 2")


def test_ingress_nginx_custom_headers_are_a_warning_with_the_controller_line_only_when_opted_in(
    tmp_path: Path,
) -> None:
    info = cluster()
    manifests = _render_releases(PRODUCTION, info)
    assert isinstance(manifests, dict)
    assert _ingress_custom_headers(manifests) == []  # production leaves them off
    opted = tmp_path / "headers.yaml"
    opted.write_text("ingress:\n  nginx:\n    customHeaders:\n      enabled: true\n")
    app = PRODUCTION.release("archangel")
    releases = (replace(app, values_files=(*app.values_files, opted)), PRODUCTION.release("archangel-monitoring"))
    manifests = _render_releases(replace(PRODUCTION, releases=releases), info)
    assert isinstance(manifests, dict)
    (warning,) = _ingress_custom_headers(manifests)
    assert warning.status is Status.WARN
    assert warning.name == "Ingress/archangel-core custom-headers"
    assert warning.detail.endswith(
        'global-allowed-response-headers: "Content-Security-Policy,Referrer-Policy,Strict-Transport-Security,'
        'X-Content-Type-Options,X-Frame-Options"'
    )


def test_cloudnativepg_mode_needs_the_operators_and_the_plugins_apis() -> None:
    """Production's database is a CloudNativePG Cluster: without the operator's or the plugin's API preflight fails
    naming what to install, before the chart's own refusal at install time."""
    app_values = {"database": {"mode": "cloudnativepg", "cloudnativepg": {"backup": {"enabled": True}}}}
    served = cluster()
    assert all(
        r.status is Status.PASS for r in _features("archangel", app_values, "production.yaml", served, frozenset())
    )
    bare = replace(served, api_versions={a for a in served.api_versions if "cnpg.io" not in a})
    failed = {r.name: r.detail for r in _features("archangel", app_values, "production.yaml", bare, frozenset())}
    assert failed["archangel: database.mode"].startswith(
        "enabled in production.yaml but the cluster does not serve postgresql.cnpg.io/v1/"
    )
    assert (
        "install the CloudNativePG operator (>= 1.26, which runs the Barman Cloud plugin), or set database.mode: builtin"
        in (failed["archangel: database.mode"])
    )
    assert "install the Barman Cloud plugin" in failed["archangel: database.cloudnativepg.backup.enabled"]
    builtin = {"database": {"mode": "builtin", "cloudnativepg": {"backup": {"enabled": True}}}}
    assert _features("archangel", builtin, "staging.yaml", bare, frozenset()) == []


def test_cloudnativepg_needs_a_running_operator_and_a_registered_plugin_not_only_their_crds() -> None:
    values = {"database": {"mode": "cloudnativepg", "cloudnativepg": {"backup": {"enabled": True}}}}
    running = replace(cluster(), cnpg_operator=True, barman_cloud_plugin=True)
    assert [r.status for r in _cloudnativepg(values, running)] == [Status.PASS, Status.PASS]
    missing = {
        r.name: r for r in _cloudnativepg(values, replace(running, cnpg_operator=False, barman_cloud_plugin=False))
    }
    operator = missing["database.mode: cloudnativepg operator"]
    assert operator.status is Status.FAIL
    assert operator.detail.startswith(
        "the CloudNativePG operator is not installed (no Deployment labelled app.kubernetes.io/name=cloudnative-pg"
    )
    assert missing["database.cloudnativepg.backup: Barman Cloud plugin"].status is Status.FAIL
    unreadable = _cloudnativepg(values, replace(running, cnpg_operator=None))
    assert unreadable[0].status is Status.WARN
    assert "cannot list the cluster's Deployments" in unreadable[0].detail
    assert _cloudnativepg({"database": {"mode": "builtin"}}, replace(running, cnpg_operator=False)) == []
