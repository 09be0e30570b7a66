"""Core and agent workloads: replicas and autoscaling, availability during rollouts and disruptions,
scheduling, hardening, and the combinations the chart refuses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest, RenderError
from archangel_helm.core.manifest import PodTemplate, labels_of
from archangel_helm.plan.environments import load_environments
from archangel_helm.plan.shipped import ShippedValues
from archangel_helm.testing import assertions as a
from archangel_helm.testing.plugin import RenderChart
from archangel_helm.validate.pod_security import check_pod_security
from archangel_helm.validate.selectors import selected_pod_templates
from tests.support.entry_points import entry_point
from tests.support.notes import install_notes
from tests.support.project import PROJECT, SHIPPED_VALUES

RenderEnv = Callable[..., Manifest]
VPA_API = "autoscaling.k8s.io/v1/VerticalPodAutoscaler"
KEDA_API = "keda.sh/v1alpha1/ScaledObject"


def template_of(manifest: Manifest, kind: str, name: str) -> PodTemplate:
    return next(t for t in manifest.pod_templates() if (t.owner_kind, t.owner_name) == (kind, name))


def container(manifest: Manifest, name: str) -> dict[str, Any]:
    return template_of(manifest, "Deployment", f"archangel-{name}").containers()[0]


# --- production: the figures the mission promises ------------------------------------------------------------


def test_production_core_runs_three_replicas_with_a_vpa_and_a_pdb(production: Manifest) -> None:
    assert production.get("Deployment", "archangel-core")["spec"]["replicas"] == 3
    vpa = production.get("VerticalPodAutoscaler", "archangel-core")["spec"]
    assert vpa["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "archangel-core"}
    assert vpa["updatePolicy"] == {"updateMode": "Initial", "minReplicas": 2}
    core_policy, others = vpa["resourcePolicy"]["containerPolicies"]
    assert core_policy["containerName"] == "core"
    assert core_policy["minAllowed"] == {"cpu": "500m", "memory": "1Gi"}
    assert core_policy["maxAllowed"] == {"cpu": "4", "memory": "8Gi"}
    assert others == {"containerName": "*", "mode": "Off"}
    assert production.get("PodDisruptionBudget", "archangel-core")["spec"]["maxUnavailable"] == 1


def test_production_agents_autoscale_3_to_20_on_cpu_memory_and_decision_rate(production: Manifest) -> None:
    hpa = production.get("HorizontalPodAutoscaler", "archangel-agents")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "archangel-agents"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    assert hpa["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
        {
            "type": "Resource",
            "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "agent_decisions_per_second"},
                "target": {"type": "AverageValue", "averageValue": "20"},
            },
        },
    ]
    behavior = hpa["behavior"]
    assert behavior["scaleUp"]["selectPolicy"] == "Max"
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert {p["type"] for p in behavior["scaleDown"]["policies"]} == {"Pods", "Percent"}


def test_production_agents_deployment_leaves_replicas_to_the_hpa(production: Manifest) -> None:
    assert "replicas" not in production.get("Deployment", "archangel-agents")["spec"]


def test_production_has_no_keda_object_and_no_vpa_on_agents(production: Manifest) -> None:
    assert production.of_kind("ScaledObject") == []
    assert production.find("VerticalPodAutoscaler", "archangel-agents") is None


@pytest.mark.parametrize("shipped", SHIPPED_VALUES, ids=lambda s: s.id)
def test_every_pod_meets_pod_security_restricted(
    shipped: ShippedValues, render_shipped: Callable[..., Manifest]
) -> None:
    problems = [str(p) for t in render_shipped(shipped).pod_templates() for p in check_pod_security(t)]
    assert problems == []


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget"])
@pytest.mark.parametrize("component", ["core", "agents"])
def test_service_and_pdb_select_exactly_their_components_pods(production: Manifest, kind: str, component: str) -> None:
    obj = production.get(kind, f"archangel-{component}")
    if kind == "Service":
        selected = selected_pod_templates(obj["spec"]["selector"], production.pod_templates(), plain=True)
    else:
        selected = selected_pod_templates(obj["spec"]["selector"], production.pod_templates())
    assert [t.ref for t in selected] == [f"Deployment/archangel-{component}"]


@pytest.mark.parametrize("component", ["core", "agents"])
def test_service_ports_name_container_ports(production: Manifest, component: str) -> None:
    service = production.get("Service", f"archangel-{component}")
    container_ports = {p["name"] for p in container(production, component)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports


# --- zero-downtime rollouts and drains ------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["core", "agents"])
def test_rollouts_never_go_below_the_desired_count(production: Manifest, component: str) -> None:
    spec = production.get("Deployment", f"archangel-{component}")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}
    assert spec["minReadySeconds"] >= 5
    assert spec["progressDeadlineSeconds"] == 600


@pytest.mark.parametrize(("component", "seconds"), [("core", 30), ("agents", 10)])
def test_pods_drain_before_they_stop(production: Manifest, component: str, seconds: int) -> None:
    # core sits behind the NLB, whose asynchronous deregistration needs the longer drain.
    template = template_of(production, "Deployment", f"archangel-{component}")
    sleep = template.containers()[0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep == seconds
    assert template.spec["terminationGracePeriodSeconds"] > sleep


def test_the_load_balancer_drains_a_target_as_long_as_the_pod_keeps_serving(render_env: RenderEnv) -> None:
    production = render_env("production", "archangel", entry_point("nlb"))
    service = production.get("Service", "archangel-core-public")
    attributes = service["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
    ]
    sleep = template_of(production, "Deployment", "archangel-core").containers()[0]["lifecycle"]["preStop"]["sleep"]
    assert attributes == f"deregistration_delay.timeout_seconds={sleep['seconds']}"


@pytest.mark.parametrize("component", ["core", "agents"])
def test_pdbs_let_unhealthy_pods_be_evicted(production: Manifest, component: str) -> None:
    assert (
        production.get("PodDisruptionBudget", f"archangel-{component}")["spec"]["unhealthyPodEvictionPolicy"]
        == "AlwaysAllow"
    )


# --- scheduling -------------------------------------------------------------------------------------------------


def test_production_core_requires_distinct_nodes_and_agents_prefer_them(production: Manifest) -> None:
    core = template_of(production, "Deployment", "archangel-core").spec["affinity"]["podAntiAffinity"]
    agents = template_of(production, "Deployment", "archangel-agents").spec["affinity"]["podAntiAffinity"]
    (term,) = core["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "core"
    (preferred,) = agents["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["weight"] == 100
    assert preferred["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "agents"


@pytest.mark.parametrize("component", ["core", "agents"])
def test_pods_spread_over_zones_and_nodes(production: Manifest, component: str) -> None:
    template = template_of(production, "Deployment", f"archangel-{component}")
    constraints = {c["topologyKey"]: c for c in template.spec["topologySpreadConstraints"]}
    assert set(constraints) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in constraints.values():
        assert constraint["maxSkew"] == 1
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]
        assert selected_pod_templates(constraint["labelSelector"], production.pod_templates()) == [template]


def test_production_priority_classes_exist_for_every_pod_that_names_one(production: Manifest) -> None:
    classes = {o["metadata"]["name"]: o["value"] for o in production.of_kind("PriorityClass")}
    named = {t.spec.get("priorityClassName") for t in production.pod_templates()} - {None}
    assert named == {"archangel-critical", "archangel-high"}
    assert named <= set(classes)
    assert classes["archangel-critical"] > classes["archangel-high"]
    assert all(not o["globalDefault"] for o in production.of_kind("PriorityClass"))


# --- hardening and hygiene ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["core", "agents"])
def test_containers_are_locked_down(production: Manifest, component: str) -> None:
    template = template_of(production, "Deployment", f"archangel-{component}")
    main = template.containers()[0]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in main["volumeMounts"]
    assert template.spec["automountServiceAccountToken"] is False
    assert template.spec["enableServiceLinks"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"]["port"] == "http"
    assert set(main["resources"]) == {"requests", "limits"}
    assert main["image"].startswith("ghcr.io/archangel-ai/")
    assert not main["image"].endswith(":latest")


def test_workloads_get_no_kubernetes_api_access(production: Manifest) -> None:
    # Only the secrets hook and the volume-snapshot CronJob call the API; each has its own account and Role.
    rbac = {
        (o["kind"], o["metadata"]["name"])
        for o in production
        if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
    }
    assert rbac == {
        (kind, name)
        for kind in ("Role", "RoleBinding")
        for name in ("archangel-secrets-hook", "archangel-volume-snapshots")
    }
    for account in production.of_kind("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
    for template in production.pod_templates():
        if template.ref not in ("Job/archangel-secrets-hook", "CronJob/archangel-volume-snapshots"):
            assert template.spec.get("automountServiceAccountToken") is False, template.ref


def test_agents_find_core_through_its_service(production: Manifest) -> None:
    env = {e["name"]: e.get("value") for e in container(production, "agents")["env"]}
    assert env["ARCHANGEL_CORE_URL"] == "http://archangel-core.archangel.svc:80"


def test_a_config_change_rolls_the_pods(render_env: RenderEnv, production: Manifest) -> None:
    changed = render_env("production", "archangel", {"core": {"config": {"LOG_LEVEL": "debug"}}})

    def checksum(manifest: Manifest, component: str) -> str:
        return template_of(manifest, "Deployment", f"archangel-{component}").annotations["checksum/config"]

    assert checksum(changed, "core") != checksum(production, "core")
    assert checksum(changed, "agents") == checksum(production, "agents")


# --- staging: the same shape at small scale ------------------------------------------------------------------


def test_staging_is_small_and_recommendation_only(staging: Manifest) -> None:
    assert staging.get("Deployment", "archangel-core")["spec"]["replicas"] == 2
    assert staging.get("VerticalPodAutoscaler", "archangel-core")["spec"]["updatePolicy"] == {"updateMode": "Off"}
    hpa = staging.get("HorizontalPodAutoscaler", "archangel-agents")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    core = template_of(staging, "Deployment", "archangel-core").spec["affinity"]["podAntiAffinity"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in core
    assert staging.of_kind("PriorityClass") == []


def test_staging_pdbs_still_allow_a_disruption_at_one_agent(staging: Manifest) -> None:
    assert staging.get("PodDisruptionBudget", "archangel-agents")["spec"]["maxUnavailable"] == 1


# --- toggles -------------------------------------------------------------------------------------------------------


def test_without_autoscaling_agents_run_fixed_replicas(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"agents.autoscaling.enabled": False})
    assert manifest.get("Deployment", "archangel-agents")["spec"]["replicas"] == 5
    assert manifest.of_kind("HorizontalPodAutoscaler") == []


def test_keda_replaces_the_hpa_with_a_scaledobject(render_env: RenderEnv, environments: Any) -> None:
    apis = (*environments["production"].api_versions, KEDA_API)
    manifest = render_env(
        "production", "archangel", {"agents.autoscaling.enabled": False, "agents.keda.enabled": True}, api_versions=apis
    )
    assert manifest.of_kind("HorizontalPodAutoscaler") == []
    assert "replicas" not in manifest.get("Deployment", "archangel-agents")["spec"]
    scaled = manifest.get("ScaledObject", "archangel-agents")
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 20)
    triggers = {t["type"]: t["metadata"] for t in spec["triggers"]}
    assert triggers["cpu"] == {"value": "70"}
    assert triggers["memory"] == {"value": "80"}
    assert triggers["prometheus"]["query"] == 'sum(rate(archangel_agent_decisions_total{namespace="archangel"}[2m]))'
    assert all(isinstance(v, str) for t in triggers.values() for v in t.values())  # KEDA metadata must be strings
    assert (
        spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    )
    assert scaled["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


def test_vpa_renders_only_when_the_cluster_serves_it(render_env: RenderEnv, environments: Any) -> None:
    apis = [a for a in environments["production"].api_versions if a != VPA_API]
    assert render_env("production", "archangel", api_versions=apis).of_kind("VerticalPodAutoscaler") == []


def test_vpa_carries_argo_skip_dry_run(production: Manifest) -> None:
    annotations = production.get("VerticalPodAutoscaler", "archangel-core")["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/sync-options"] == "SkipDryRunOnMissingResource=true"


def test_a_vpa_may_manage_memory_while_the_hpa_scales_on_cpu_only(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "agents.autoscaling.memory.enabled": False,
            "agents.verticalPodAutoscaler": {"enabled": True, "updateMode": "Auto", "controlledResources": ["memory"]},
        },
    )
    policy = manifest.get("VerticalPodAutoscaler", "archangel-agents")["spec"]["resourcePolicy"]["containerPolicies"][0]
    assert policy["controlledResources"] == ["memory"]


def test_anti_affinity_none_keeps_user_affinity(render_env: RenderEnv) -> None:
    node_affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["agents"]}]}]
        }
    }
    manifest = render_env(
        "production",
        "archangel",
        {"agents.podAntiAffinity": "none", "agents.affinity": {"nodeAffinity": node_affinity}},
    )
    affinity = template_of(manifest, "Deployment", "archangel-agents").spec["affinity"]
    assert affinity == {"nodeAffinity": node_affinity}


def test_topology_spread_can_be_turned_off(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"core.topologySpread.enabled": False})
    assert "topologySpreadConstraints" not in template_of(manifest, "Deployment", "archangel-core").spec


def test_namespace_is_optional_and_labelled_restricted(render_env: RenderEnv, production: Manifest) -> None:
    assert production.of_kind("Namespace") == []
    namespace = render_env("production", "archangel", {"namespace.create": True}).get("Namespace", "archangel")
    labels = labels_of(namespace)
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert namespace["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_pdb_can_be_disabled(render_env: RenderEnv) -> None:
    assert (
        render_env("production", "archangel", {"core.pdb.enabled": False}).find("PodDisruptionBudget", "archangel-core")
        is None
    )


def test_min_available_is_accepted_when_it_leaves_an_eviction(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"core.pdb": {"maxUnavailable": None, "minAvailable": 2}})
    assert manifest.get("PodDisruptionBudget", "archangel-core")["spec"] == {
        "minAvailable": 2,
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "archangel",
                "app.kubernetes.io/instance": "archangel",
                "app.kubernetes.io/component": "core",
            }
        },
    }


def test_image_digest_pins_the_image(render_env: RenderEnv) -> None:
    digest = "sha256:" + "a" * 64
    manifest = render_env("production", "archangel", {"core.image.digest": digest})
    assert container(manifest, "core")["image"] == f"ghcr.io/archangel-ai/archangel-core:1.4.2@{digest}"


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize("chart", ["archangel", "archangel-monitoring"])
def test_global_registry_wins_over_every_images_own_registry(
    render_env: RenderEnv, environment: str, chart: str
) -> None:
    """Bitnami's precedence: a mirror set once in global.imageRegistry moves every image, hooks and tests too."""
    manifest = render_env(environment, chart, {"global.imageRegistry": "mirror.example"})
    images = [c["image"] for t in manifest.pod_templates() for c in t.containers()]
    assert images
    for image in images:
        assert image.startswith("mirror.example/"), image
        assert not image.startswith("mirror.example/mirror.example"), image


def test_an_images_own_registry_applies_without_a_global_one(render_env: RenderEnv) -> None:
    manifest = render_env("staging", "archangel", {"core.image.registry": "registry.internal:5000"})
    assert container(manifest, "core")["image"] == "registry.internal:5000/archangel-ai/archangel-core:1.4.2"
    assert container(manifest, "agents")["image"].startswith("ghcr.io/")


@pytest.mark.parametrize("chart", ["archangel", "archangel-monitoring"])
def test_production_pulls_every_image_by_digest(render_env: RenderEnv, chart: str) -> None:
    manifest = render_env("production", chart)
    for template in manifest.pod_templates():
        for c in template.containers():
            assert re.fullmatch(r"[^@]+:[^@:/]+@sha256:[0-9a-f]{64}", c["image"]), (template.ref, c["image"])


@pytest.mark.parametrize(
    ("chart", "unset", "expected"),
    [
        ("archangel", "core.image.digest", "core.image.digest: the digest (sha256:...) of archangel-ai/archangel-core"),
        ("archangel", "tools.image.digest", "tools.image.digest: the digest"),
        ("archangel", "vectorStore.qdrant.image.digest", "vectorStore.qdrant.image.digest: the digest"),
        ("archangel-monitoring", "pushgateway.image.digest", "pushgateway.image.digest: the digest"),
        ("archangel-monitoring", "tools.image.digest", "tools.image.digest: the digest"),
    ],
)
def test_production_names_each_image_without_a_digest(
    render_env: RenderEnv, chart: str, unset: str, expected: str
) -> None:
    with pytest.raises(RenderError) as error:
        render_env("production", chart, {unset: ""})
    assert "this release needs values only your site knows" in str(error.value)
    assert expected in str(error.value)


def image_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every `image` mapping with a digest in a values tree."""
    found: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            path = f"{prefix}{key}"
            found += [path] if key == "image" and "digest" in value else image_paths(value, f"{path}.")
    return found


@pytest.mark.parametrize(
    ("chart", "site_file"),
    [("archangel", "production-site.yaml"), ("archangel-monitoring", "monitoring-production-site.yaml")],
)
def test_the_digest_check_names_exactly_the_images_the_release_runs(
    render_env: RenderEnv, chart: str, site_file: str
) -> None:
    """The site check keeps its own list of images; it must match what the templates render, no more, no less."""
    site = yaml.safe_load((PROJECT / "values" / "examples" / site_file).read_text())
    digest_fields = [f"{component}.digest" for component in image_paths(site)]
    manifest = render_env("production", chart)
    images = [c["image"] for t in manifest.pod_templates() for c in t.containers()]
    images += [c["spec"]["imageName"] for c in manifest.of_kind("Cluster")]  # the operator runs these
    rendered = {image.split("@")[0].split("/", 1)[1] for image in images}
    with pytest.raises(RenderError) as error:
        render_env("production", chart, dict.fromkeys(digest_fields, ""))
    named = set(re.findall(r"\.digest: the digest \(sha256:\.\.\.\) of (\S+) as your registry", str(error.value)))
    assert named == rendered


def test_user_extension_points(render_env: RenderEnv) -> None:
    manifest = render_env(
        "production",
        "archangel",
        {
            "core": {
                "extraEnv": [{"name": "FEATURE_X", "value": "on"}],
                "extraEnvFrom": [{"secretRef": {"name": "core-extra"}}],
                "extraVolumes": [{"name": "certs", "secret": {"secretName": "ca"}}],
                "extraVolumeMounts": [{"name": "certs", "mountPath": "/etc/certs", "readOnly": True}],
                "initContainers": [{"name": "wait", "image": "busybox:1.37"}],
                "sidecars": [{"name": "proxy", "image": "envoy:1.31"}],
                "podAnnotations": {"example.com/a": "b"},
                "podLabels": {"team": "ai"},
            }
        },
    )
    template = template_of(manifest, "Deployment", "archangel-core")
    main = template.containers(include_init=False)[0]
    assert {"name": "FEATURE_X", "value": "on"} in main["env"]
    assert {"secretRef": {"name": "core-extra"}} in main["envFrom"]
    assert {"name": "certs", "mountPath": "/etc/certs", "readOnly": True} in main["volumeMounts"]
    assert [c["name"] for c in template.spec["containers"]] == ["core", "proxy"]
    assert [c["name"] for c in template.spec["initContainers"]] == ["wait"]
    assert template.annotations["example.com/a"] == "b"
    assert template.labels["team"] == "ai"
    # User-supplied containers are not hardened for them: the policy check says so.
    assert any("proxy" in p.message for p in check_pod_security(template))


def test_an_existing_service_account_can_be_used(render_env: RenderEnv) -> None:
    manifest = render_env("production", "archangel", {"core.serviceAccount": {"create": False, "name": "core-irsa"}})
    assert manifest.find("ServiceAccount", "archangel-core") is None
    assert template_of(manifest, "Deployment", "archangel-core").spec["serviceAccountName"] == "core-irsa"


# --- refused combinations --------------------------------------------------------------------------------------


REFUSED: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    (
        "hpa-min-above-max",
        {"agents.autoscaling": {"minReplicas": 25, "maxReplicas": 20}},
        "agents.autoscaling: minReplicas (25) is greater than maxReplicas (20)",
        (),
    ),
    ("hpa-and-keda", {"agents.keda.enabled": True}, "autoscaling.enabled and keda.enabled are both true", (KEDA_API,)),
    (
        "keda-without-api",
        {"agents.autoscaling.enabled": False, "agents.keda.enabled": True},
        "agents.keda.enabled is true but the cluster does not serve keda.sh/v1alpha1/ScaledObject",
        (),
    ),
    (
        "keda-min-above-max",
        {
            "agents.autoscaling.enabled": False,
            "agents.keda": {"enabled": True, "minReplicaCount": 9, "maxReplicaCount": 4},
        },
        "agents.keda: minReplicaCount (9) is greater than maxReplicaCount (4)",
        (KEDA_API,),
    ),
    (
        "hpa-without-metrics",
        {"agents.autoscaling": {"cpu": {"enabled": False}, "memory": {"enabled": False}, "podsMetrics": []}},
        "agents.autoscaling is enabled with no metric",
        (),
    ),
    (
        "vpa-auto-on-hpa-cpu",
        {"agents.verticalPodAutoscaler": {"enabled": True, "updateMode": "Auto"}},
        "agents: verticalPodAutoscaler.updateMode Auto resizes cpu, which agents.autoscaling also scales on",
        (),
    ),
    (
        "vpa-recreate-on-hpa-memory",
        {
            "agents.verticalPodAutoscaler": {
                "enabled": True,
                "updateMode": "Recreate",
                "controlledResources": ["memory"],
            }
        },
        "resizes memory, which agents.autoscaling also scales on",
        (),
    ),
    (
        "vpa-auto-on-keda-cpu",
        {
            "agents.autoscaling.enabled": False,
            "agents.keda.enabled": True,
            "agents.verticalPodAutoscaler": {"enabled": True, "updateMode": "Auto"},
        },
        "resizes cpu, which agents.keda also scales on",
        (KEDA_API,),
    ),
    (
        "pdb-zero-percent",
        {"core.pdb.maxUnavailable": "0%"},
        "core.pdb.maxUnavailable is 0%: no pod could ever be evicted",
        (),
    ),
    (
        "pdb-min-available-all",
        {"core.pdb": {"maxUnavailable": None, "minAvailable": 3}},
        "core.pdb.minAvailable 3 keeps all 3 pods at minimum scale available",
        (),
    ),
    (
        "pdb-min-available-percent",
        {"agents.pdb": {"maxUnavailable": None, "minAvailable": "90%"}},
        "agents.pdb.minAvailable 90% keeps all 3 pods at minimum scale available",
        (),
    ),
    (
        "pdb-both",
        {"core.pdb": {"maxUnavailable": 1, "minAvailable": 1}},
        "core.pdb: set maxUnavailable or minAvailable, not both",
        (),
    ),
    (
        "rollout-with-nothing-to-do",
        {"core.rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}},
        "core.rollingUpdate: maxSurge and maxUnavailable cannot both be 0",
        (),
    ),
    (
        "grace-shorter-than-drain",
        {"core.terminationGracePeriodSeconds": 10, "core.preStopSleepSeconds": 10},
        "core.terminationGracePeriodSeconds (10) must be longer than core.preStopSleepSeconds (10)",
        (),
    ),
    (
        "two-anti-affinities",
        {"core.affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}}},
        'core.affinity.podAntiAffinity is set while core.podAntiAffinity is "hard"',
        (),
    ),
]


@pytest.mark.parametrize(("values", "message", "extra_apis"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_combinations_that_cannot_work_are_refused(
    render_env: RenderEnv, environments: Any, values: dict[str, Any], message: str, extra_apis: tuple[str, ...]
) -> None:
    apis = (*environments["production"].api_versions, *extra_apis)
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", values, api_versions=apis)
    assert message in caught.value.helm_message


def test_a_pdb_of_zero_is_refused_by_the_schema(render_env: RenderEnv) -> None:
    with pytest.raises(RenderError) as caught:
        render_env("production", "archangel", {"core.pdb.maxUnavailable": 0})
    assert a.failed_values_schema(caught.value, "core/pdb/maxUnavailable", "oneOf")


def test_the_hpa_reads_pods_metrics_only_where_the_custom_metrics_api_is_served(
    render_env: Callable[..., Manifest],
) -> None:
    """Without custom.metrics.k8s.io the HPA could not read the Pods metric and would never scale down: the
    chart leaves that metric out and NOTES.txt says so."""
    served = render_env("production", "archangel")
    metrics = served.get("HorizontalPodAutoscaler", "archangel-agents")["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Resource", "Pods"]
    environment_apis = [a for a in load_environments(PROJECT)["production"].api_versions if "custom.metrics" not in a]
    missing = render_env("production", "archangel", api_versions=environment_apis)
    metrics = missing.get("HorizontalPodAutoscaler", "archangel-agents")["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Resource", "Resource"]
    # `helm install --dry-run=client` knows no aggregated API: the case of a cluster without prometheus-adapter.
    site = PROJECT / "values" / "examples" / "production-site.yaml"
    notes = install_notes("-f", str(PROJECT / "values" / "production.yaml"), "-f", str(site))
    assert "NOTE: agents.autoscaling.podsMetrics lists agent_decisions_per_second, but this cluster" in notes


def test_pods_metrics_alone_without_the_custom_metrics_api_are_refused(render_chart: RenderChart) -> None:
    with pytest.raises(RenderError, match=r"agents\.autoscaling scales on podsMetrics alone"):
        render_chart(
            "charts/archangel",
            [],
            {"agents.autoscaling.cpu.enabled": False, "agents.autoscaling.memory.enabled": False},
        )
