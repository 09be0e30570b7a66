"""Preflight: is this cluster what the environment's charts and values expect? Every check is printed as
pass / warn / fail, and a feature enabled in the values whose API the cluster lacks is a failure that names
the value to change."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archangel_helm.core.chart import Chart, format_kube_version, kube_version_bounds
from archangel_helm.core.errors import RenderError
from archangel_helm.core.helm import MINIMUM_HELM, Helm
from archangel_helm.core.manifest import Manifest, PodTemplate, name_of
from archangel_helm.core.values_layering import get
from archangel_helm.operate.checks import Status, StepCheck
from archangel_helm.operate.cluster import OPTIONAL_APIS, ClusterInfo
from archangel_helm.plan.capacity import autoscaler_ranges
from archangel_helm.plan.environments import Environment
from archangel_helm.validate.operators import operator_workloads
from archangel_helm.validate.selectors import matches

STEP = "preflight"


@dataclass(frozen=True)
class Feature:
    chart: str
    value: str  # dotted path of the value that enables it
    api: str
    enabled: Callable[[dict[str, Any]], bool]
    advice: str
    # FAIL: without the API the feature is broken. WARN: the chart leaves the object out and degrades gracefully.
    missing: Status = Status.FAIL
    # How to do without it; "" for "set <value> to false/empty".
    instead: str = ""

    @property
    def alternative(self) -> str:
        return self.instead or f"set {self.value} to false/empty"


def _on(path: str) -> Callable[[dict[str, Any]], bool]:
    return lambda values: bool(get(values, path))


def _both(first: str, second: str) -> Callable[[dict[str, Any]], bool]:
    return lambda values: bool(get(values, first)) and bool(get(values, second))


FEATURES: tuple[Feature, ...] = (
    *(
        Feature(
            "archangel",
            f"{c}.verticalPodAutoscaler.enabled",
            "autoscaling.k8s.io/v1/VerticalPodAutoscaler",
            _on(f"{c}.verticalPodAutoscaler.enabled"),
            "install the Vertical Pod Autoscaler",
        )
        for c in ("core", "agents")
    ),
    *(
        Feature(
            "archangel", f"{c}.keda.enabled", "keda.sh/v1alpha1/ScaledObject", _on(f"{c}.keda.enabled"), "install KEDA"
        )
        for c in ("core", "agents")
    ),
    *(
        Feature(
            "archangel",
            f"{c}.autoscaling.enabled",
            "metrics.k8s.io/v1beta1",
            _on(f"{c}.autoscaling.enabled"),
            "install metrics-server (the HPA reads CPU and memory from it)",
        )
        for c in ("core", "agents")
    ),
    *(
        Feature(
            "archangel",
            f"{c}.autoscaling.podsMetrics",
            "custom.metrics.k8s.io/v1beta1",
            _both(f"{c}.autoscaling.enabled", f"{c}.autoscaling.podsMetrics"),
            "the chart leaves the Pods metrics out and the HPA scales on CPU and memory only; install "
            "prometheus-adapter with the rule in charts/archangel/README.md",
            Status.WARN,
        )
        for c in ("core", "agents")
    ),
    Feature(
        "archangel",
        "metrics.serviceMonitor.enabled",
        "monitoring.coreos.com/v1/ServiceMonitor",
        _on("metrics.serviceMonitor.enabled"),
        "install prometheus-operator (kube-prometheus-stack)",
    ),
    Feature(
        "archangel",
        "istio.virtualService.enabled",
        "networking.istio.io/v1/VirtualService",
        _on("istio.virtualService.enabled"),
        "install Istio >= 1.22",
    ),
    Feature(
        "archangel",
        "istio.destinationRule.enabled",
        "networking.istio.io/v1/DestinationRule",
        _on("istio.destinationRule.enabled"),
        "install Istio >= 1.22",
    ),
    Feature(
        "archangel",
        "istio.peerAuthentication.enabled",
        "security.istio.io/v1/PeerAuthentication",
        _on("istio.peerAuthentication.enabled"),
        "install Istio >= 1.22",
    ),
    Feature(
        "archangel",
        "gateway.enabled",
        "gateway.networking.k8s.io/v1/HTTPRoute",
        _on("gateway.enabled"),
        "install the Gateway API CRDs and a Gateway implementation",
    ),
    Feature(
        "archangel",
        "backup.volumeSnapshots.enabled",
        "snapshot.storage.k8s.io/v1/VolumeSnapshot",
        _both("backup.enabled", "backup.volumeSnapshots.enabled"),
        "install the snapshot-controller and CSI snapshot CRDs",
    ),
    # database.mode cloudnativepg: the chart refuses to render without the operator's and the plugin's APIs;
    # preflight says so before anything is installed, with what to install.
    Feature(
        "archangel",
        "database.mode",
        "postgresql.cnpg.io/v1/Cluster",  # its Pooler and ScheduledBackup come with the same CRDs
        lambda values: get(values, "database.mode") == "cloudnativepg",
        "install the CloudNativePG operator (>= 1.26, which runs the Barman Cloud plugin)",
        instead="set database.mode: builtin",
    ),
    Feature(
        "archangel",
        "database.cloudnativepg.backup.enabled",
        "barmancloud.cnpg.io/v1/ObjectStore",
        lambda values: (
            get(values, "database.mode") == "cloudnativepg"
            and bool(get(values, "database.cloudnativepg.backup.enabled"))
        ),
        "install the Barman Cloud plugin (>= 0.14, with cert-manager): without it no WAL is archived",
    ),
    # The data tier's certificates: cert-manager when asked for; with "auto" and no cert-manager the secrets hook
    # makes them (no renewal between upgrades): worth a warning, not a stop.
    Feature(
        "archangel",
        "dataTLS.certificates",
        "cert-manager.io/v1/Certificate",
        lambda values: bool(get(values, "dataTLS.enabled")) and get(values, "dataTLS.certificates") == "cert-manager",
        "install cert-manager (>= 1.15)",
        instead="set dataTLS.certificates: hook",
    ),
    Feature(
        "archangel",
        "dataTLS.certificates",
        "cert-manager.io/v1/Certificate",
        lambda values: bool(get(values, "dataTLS.enabled")) and get(values, "dataTLS.certificates") == "auto",
        "the secrets hook makes the data tier's certificates instead, renewed only at an upgrade near their end; "
        "install cert-manager (>= 1.15) for certificates it renews itself",
        Status.WARN,
    ),
    Feature(
        "archangel-monitoring",
        "mode",
        "monitoring.coreos.com/v1/PrometheusRule",
        lambda values: get(values, "mode") == "operator",
        "install prometheus-operator, or set mode: standalone",
    ),
    # Without these two APIs the chart quietly leaves the object out: Alertmanager would not route Archangel's
    # alerts, and the backup metrics pushed to the Pushgateway would never be scraped (so every backup alert).
    Feature(
        "archangel-monitoring",
        "operator.alertmanagerConfig.enabled",
        "monitoring.coreos.com/v1alpha1/AlertmanagerConfig",
        lambda values: (
            get(values, "mode") == "operator"
            and bool(get(values, "operator.alertmanagerConfig.enabled"))
            and any(bool(get(values, f"alerting.receivers.{name}.enabled")) for name in ("email", "slack", "pagerduty"))
        ),
        "install prometheus-operator >= 0.55 (AlertmanagerConfig), or route the alerts in Alertmanager yourself",
    ),
    Feature(
        "archangel-monitoring",
        "operator.serviceMonitor.enabled",
        "monitoring.coreos.com/v1/ServiceMonitor",
        lambda values: (
            get(values, "mode") == "operator"
            and bool(get(values, "pushgateway.enabled"))
            and bool(get(values, "operator.serviceMonitor.enabled"))
        ),
        "install prometheus-operator (the Pushgateway's ServiceMonitor carries the backup metrics)",
    ),
)


def run_preflight(
    environment: Environment, cluster: ClusterInfo, helm: Helm, allow_missing: frozenset[str] = frozenset()
) -> list[StepCheck]:
    """Every check; an API in `allow_missing` that a feature needs and the cluster lacks is a warning."""
    results = [
        StepCheck(
            STEP,
            "helm",
            Status.PASS if helm.version >= MINIMUM_HELM else Status.FAIL,
            f"{helm.build} (>= {'.'.join(map(str, MINIMUM_HELM))} required)",
        ),
    ]
    results += _kube_version(environment, cluster)
    results += _apis(environment, cluster, allow_missing)
    manifests = _render_releases(environment, cluster)
    if isinstance(manifests, StepCheck):
        results.append(manifests)
    else:
        results += _storage_classes(environment, cluster, manifests)
        results += _spread(manifests, cluster)
        results += _ingress_custom_headers(manifests)
    for release in environment.releases:
        values = release.inputs().merged_values()
        results += _namespace(release.namespace, cluster, values if release.chart.name == "archangel" else None)
        results += _features(release.chart.name, values, release.values_files[-1].name, cluster, allow_missing)
        if release.chart.name == "archangel":
            results += _storage(values, cluster)
            results += _api_server_policy(values, cluster)
            results += _istio_injection(values, cluster, release.namespace)
            results += _cloudnativepg(values, cluster)
    return results


def _cloudnativepg(values: dict[str, Any], cluster: ClusterInfo) -> list[StepCheck]:
    """Served CRDs are not a running operator: a Cluster without its operator never starts an instance, and
    without the Barman Cloud plugin registered no WAL is archived (the RPO is then the last base backup)."""
    if get(values, "database.mode") != "cloudnativepg":
        return []
    from archangel_helm.operate.cluster import BARMAN_CLOUD_PLUGIN_SELECTOR, CNPG_OPERATOR_SELECTOR

    wanted = [("database.mode: cloudnativepg operator", cluster.cnpg_operator, "the CloudNativePG operator",
               f"Deployment labelled {CNPG_OPERATOR_SELECTOR} with a ready replica")]  # fmt: skip
    if get(values, "database.cloudnativepg.backup.enabled"):
        wanted.append(("database.cloudnativepg.backup: Barman Cloud plugin", cluster.barman_cloud_plugin,
                       "the Barman Cloud plugin", f"Service labelled {BARMAN_CLOUD_PLUGIN_SELECTOR}"))  # fmt: skip
    results = []
    for name, found, what, how in wanted:
        if found:
            results.append(StepCheck(STEP, name, Status.PASS, f"{what} runs ({how})"))
        elif found is None:
            results.append(StepCheck(STEP, name, Status.WARN, f"cannot list the cluster's {how.split(' ')[0]}s "
                                       f"to find {what}: check it runs before installing"))  # fmt: skip
        else:
            results.append(StepCheck(STEP, name, Status.FAIL, f"{what} is not installed (no {how}): install it "
                                       "first (docs/DISASTER_RECOVERY.md, Moving a release ...), or set "
                                       "database.mode: builtin"))  # fmt: skip
    return results


def _api_server_policy(values: dict[str, Any], cluster: ClusterInfo) -> list[StepCheck]:
    """The NetworkPolicy's API server range covers the real endpoints: otherwise the secrets hook (every
    install and upgrade) and the snapshot job are cut off the moment the policies exist."""
    if not get(values, "networkPolicy.enabled"):
        return []
    name = "networkPolicy.kubeAPIServer"
    if cluster.api_server_endpoints is None:
        return [StepCheck(STEP, name, Status.WARN, "API server endpoints not readable; check cidrs and ports by hand")]
    cidrs = [ipaddress.ip_network(str(c), strict=False) for c in get(values, "networkPolicy.kubeAPIServer.cidrs") or []]
    ports = {int(p) for p in get(values, "networkPolicy.kubeAPIServer.ports") or []}
    outside = [
        f"{address}:{port}"
        for address, port in cluster.api_server_endpoints
        if not any(ipaddress.ip_address(address) in cidr for cidr in cidrs) or port not in ports
    ]
    if outside:
        return [
            StepCheck(
                STEP,
                name,
                Status.FAIL,
                f"API server endpoint(s) {', '.join(outside)} outside cidrs {[str(c) for c in cidrs]} / ports "
                f"{sorted(ports)}: the secrets hook and the snapshot job could not reach it",
            )
        ]
    endpoints = ", ".join(f"{a}:{p}" for a, p in cluster.api_server_endpoints)
    return [StepCheck(STEP, name, Status.PASS, f"covers the API server endpoints ({endpoints})")]


def _istio_injection(values: dict[str, Any], cluster: ClusterInfo, namespace: str) -> list[StepCheck]:
    """istio.injection.enabled labels every pod for Istio's injector. Under restricted Pod Security an injected pod
    is admitted only when the Istio CNI node agent sets up its traffic redirection (istio-init needs NET_ADMIN)."""
    if not get(values, "istio.injection.enabled"):
        return []
    name = "istio.injection"
    labels = cluster.namespaces.get(namespace)
    restricted = (
        (labels or {}).get("pod-security.kubernetes.io/enforce") == "restricted"
        if labels is not None
        else bool(get(values, "namespace.create")) and get(values, "namespace.podSecurity") == "restricted"
    )
    if cluster.istio_injector is False:
        return [
            StepCheck(
                STEP,
                name,
                Status.WARN,
                "no Istio sidecar injector is registered: the pods run without sidecars and mutual TLS "
                "(PeerAuthentication, ISTIO_MUTUAL) changes nothing until Istio is installed",
            )
        ]
    if not restricted:
        return [StepCheck(STEP, name, Status.PASS, "pods are labelled for injection")]
    if cluster.istio_cni is None or cluster.istio_injector is None:
        return [
            StepCheck(
                STEP,
                name,
                Status.WARN,
                "cannot read the Istio injector or CNI agent: with restricted Pod Security, injected pods are "
                "admitted only with the Istio CNI node agent (check: kubectl get ds -A -l k8s-app=istio-cni-node)",
            )
        ]
    if not cluster.istio_cni:
        return [
            StepCheck(
                STEP,
                name,
                Status.FAIL,
                f"namespace {namespace} enforces restricted Pod Security and no Istio CNI node agent runs: every "
                "injected pod would be refused (istio-init needs NET_ADMIN). Install Istio's CNI component "
                "(istioctl install --set components.cni.enabled=true), or set istio.injection.enabled=false",
            )
        ]
    return [StepCheck(STEP, name, Status.PASS, "Istio injector and CNI node agent run; pods are injected")]


def _ingress_custom_headers(manifests: dict[str, Manifest]) -> list[StepCheck]:
    """ingress-nginx answers 503 on every path of an Ingress whose custom-headers ConfigMap names a header its
    controller does not allow. The controller's settings are not the release's to read: a reminder, with the
    line to set, read from the rendered Ingress and ConfigMap."""
    results = []
    for manifest in manifests.values():
        for ingress in manifest.of_kind("Ingress"):
            reference = (ingress["metadata"].get("annotations") or {}).get("nginx.ingress.kubernetes.io/custom-headers")
            if not reference:
                continue
            headers = sorted(manifest.get("ConfigMap", reference.rpartition("/")[2]).get("data") or {})
            results.append(
                StepCheck(
                    STEP,
                    f"Ingress/{name_of(ingress)} custom-headers",
                    Status.WARN,
                    "ingress-nginx answers 503 on every path unless its controller ConfigMap allows each header: "
                    f'global-allowed-response-headers: "{",".join(headers)}"',
                )
            )
    return results


def _kube_version(environment: Environment, cluster: ClusterInfo) -> list[StepCheck]:
    results = []
    server = format_kube_version(cluster.version)
    for release in environment.releases:
        chart = Chart.load(release.chart)
        lower, upper = kube_version_bounds(chart.kube_version_constraint)
        ok = cluster.version >= lower and (upper is None or cluster.version <= upper)
        results.append(
            StepCheck(
                STEP,
                f"kubernetes version ({chart.name})",
                Status.PASS if ok else Status.FAIL,
                f"server {cluster.git_version or server}; chart needs {chart.kube_version_constraint}",
            )
        )
    return results


def _apis(environment: Environment, cluster: ClusterInfo, allow_missing: frozenset[str]) -> list[StepCheck]:
    results = []
    declared = set(environment.api_versions)
    for api, label in OPTIONAL_APIS.items():
        served = cluster.serves(api)
        if api in declared and not served:
            status = Status.WARN if _group_version(api) in allow_missing else Status.FAIL
            detail = f"missing: environments.yaml says {environment.name} clusters serve {api}"
        else:
            status, detail = Status.PASS, f"{'served' if served else 'not served'} ({api})"
        results.append(StepCheck(STEP, f"API: {label}", status, detail))
    return results


def _namespace(namespace: str, cluster: ClusterInfo, app_values: dict[str, Any] | None) -> list[StepCheck]:
    name = f"namespace {namespace}"
    if namespace not in cluster.namespaces:
        created_by_chart = app_values is not None and bool(get(app_values, "namespace.create"))
        if created_by_chart:
            return [StepCheck(STEP, name, Status.PASS, "absent; the chart creates it with Pod Security labels")]
        return [
            StepCheck(
                STEP,
                name,
                Status.WARN,
                "absent; it will be created without Pod Security Admission labels "
                "(label it pod-security.kubernetes.io/enforce=restricted, or set namespace.create)",
            )
        ]
    labels = cluster.namespaces[namespace]
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    injected = labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels
    if enforce == "restricted" and injected:
        return [
            StepCheck(
                STEP,
                name,
                Status.WARN,
                "exists, Pod Security enforce=restricted and Istio sidecar injection: pods are admitted only "
                "with Istio CNI (without it istio-init needs NET_ADMIN and every pod is refused)",
            )
        ]
    if enforce == "restricted":
        return [StepCheck(STEP, name, Status.PASS, "exists, Pod Security enforce=restricted")]
    return [
        StepCheck(STEP, name, Status.WARN, f"exists, Pod Security enforce={enforce or 'not set'} (restricted expected)")
    ]


def _features(
    chart: str, values: dict[str, Any], values_file: str, cluster: ClusterInfo, allow_missing: frozenset[str]
) -> list[StepCheck]:
    results = []
    for feature in FEATURES:
        if feature.chart != chart or not feature.enabled(values):
            continue
        name = f"{chart}: {feature.value}"
        if cluster.serves(feature.api):
            results.append(StepCheck(STEP, name, Status.PASS, f"enabled, and the cluster serves {feature.api}"))
        elif _group_version(feature.api) in allow_missing:
            results.append(
                StepCheck(
                    STEP,
                    name,
                    Status.WARN,
                    f"enabled, and the cluster does not serve {feature.api}; installing anyway "
                    f"(--allow-missing-api): it does nothing until that API is served ({feature.advice})",
                )
            )
        elif feature.missing is Status.WARN:
            results.append(
                StepCheck(
                    STEP, name, Status.WARN, f"enabled, and the cluster does not serve {feature.api}: {feature.advice}"
                )
            )
        else:
            results.append(
                StepCheck(
                    STEP,
                    name,
                    Status.FAIL,
                    f"enabled in {values_file} but the cluster does not serve {feature.api}: "
                    f"{feature.advice}, or {feature.alternative}",
                )
            )
    return results


def storage_claims(manifest: Manifest) -> list[tuple[str, str | None]]:
    """(claimant, StorageClass or None for the default) of every claim the release makes: PVCs, StatefulSet
    claim templates, pods' generic ephemeral volumes, and the volumes of an operator's pods (a CloudNativePG
    Cluster's data and WAL volumes)."""
    claims: list[tuple[str, str | None]] = [
        (workload.template.ref, (claim.get("spec") or {}).get("storageClassName"))
        for workload in operator_workloads(manifest)
        for claim in workload.claims
    ]
    for claim in manifest.of_kind("PersistentVolumeClaim"):
        claims.append((f"PersistentVolumeClaim/{name_of(claim)}", (claim.get("spec") or {}).get("storageClassName")))
    for template in manifest.pod_templates():
        if template.owner_kind == "StatefulSet":
            for claim in (template.owner.get("spec") or {}).get("volumeClaimTemplates") or []:
                claims.append((template.ref, (claim.get("spec") or {}).get("storageClassName")))
        for volume in template.spec.get("volumes") or []:
            ephemeral = ((volume.get("ephemeral") or {}).get("volumeClaimTemplate") or {}).get("spec")
            if ephemeral is not None:
                claims.append((template.ref, ephemeral.get("storageClassName")))
    return claims


def _render_releases(environment: Environment, cluster: ClusterInfo) -> dict[str, Manifest] | StepCheck:
    """Each release as it would install on this cluster (its version and served APIs), or the failure."""
    manifests: dict[str, Manifest] = {}
    for spec in environment.releases:
        try:
            manifests[spec.name] = cluster.release_inputs(spec).render()
        except RenderError as error:
            message = error.helm_message.splitlines()[-1] if error.helm_message else str(error)
            return StepCheck(STEP, f"render {spec.name}", Status.FAIL, f"cannot render for this cluster: {message}")
    return manifests


def _spread(manifests: dict[str, Manifest], cluster: ClusterInfo) -> list[StepCheck]:
    """A workload with required anti-affinity per node needs a schedulable node for each of its pods (at its
    autoscaler's maximum): beyond that, pods stay Pending."""
    results = []
    for release, manifest in manifests.items():
        maxima = {(kind, name): high for (kind, name), (_, high, _) in autoscaler_ranges(manifest).items()}
        for template in manifest.pod_templates():
            if template.owner_kind not in ("Deployment", "StatefulSet") or not _hard_per_node(template):
                continue
            replicas = maxima.get(
                (template.owner_kind, template.owner_name), int((template.owner.get("spec") or {}).get("replicas", 1))
            )
            name = f"{release}: {template.ref} anti-affinity"
            if cluster.schedulable_nodes is None:
                results.append(StepCheck(STEP, name, Status.WARN, f"needs {replicas} nodes; nodes not readable"))
                continue
            ok = cluster.schedulable_nodes >= replicas
            detail = (
                f"one pod per node: needs {replicas} schedulable nodes, the cluster has {cluster.schedulable_nodes}"
            )
            if not ok:
                detail += "; add nodes or lower its replicas (or use podAntiAffinity soft)"
            results.append(StepCheck(STEP, name, Status.PASS if ok else Status.FAIL, detail))
    return results


def _hard_per_node(template: PodTemplate) -> bool:
    """Whether the pod template's required anti-affinity keeps its own pods one per node."""
    affinity = (template.spec.get("affinity") or {}).get("podAntiAffinity") or {}
    labels = template.labels
    for term in affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if term.get("topologyKey") == "kubernetes.io/hostname" and matches(term.get("labelSelector") or {}, labels):
            return True
    return False


def _storage_classes(environment: Environment, cluster: ClusterInfo, manifests: dict[str, Manifest]) -> list[StepCheck]:
    """Every class a release claims exists, or an earlier release of the deploy order creates it: a claim on a
    class that does not exist yet stays Pending, and Helm's --wait with it."""
    order = [r.name for r in environment.releases]
    created_by: dict[str, str] = {}
    for release in order:
        for created in manifests[release].of_kind("StorageClass"):
            created_by.setdefault(name_of(created), release)
    defaults = [name for name, default in cluster.storage_classes.items() if default]
    results = []
    for release in order:
        claimed: dict[str | None, list[str]] = {}
        for claimant, storage_class in storage_claims(manifests[release]):
            claimed.setdefault(storage_class, []).append(claimant)
        for storage_class, claimants in sorted(claimed.items(), key=lambda item: item[0] or ""):
            who = ", ".join(sorted(set(claimants)))
            name = f"{release}: StorageClass {storage_class or '(default)'}"
            creator = created_by.get(storage_class or "")
            if storage_class is None:
                status = Status.PASS if defaults else Status.FAIL
                detail = f"the default ({', '.join(defaults)})" if defaults else "the cluster has no default class"
            elif creator is not None and order.index(creator) <= order.index(release):
                status, detail = Status.PASS, f"created by {creator}" + (" first" if creator != release else "")
            elif creator is not None:
                status = Status.FAIL
                detail = (
                    f"{creator} creates it after {release}: reorder the releases in environments.yaml so {creator} "
                    "comes first, or claim an existing class"
                )
            elif storage_class in cluster.storage_classes:
                status, detail = Status.PASS, "exists"
            else:
                status, detail = Status.FAIL, "the cluster has no such class and no release creates it"
            results.append(StepCheck(STEP, name, status, f"{detail}; claimed by {who}"))
    return results


def _group_version(api: str) -> str:
    """group/version of `group/version/Kind` or `group/version`."""
    return "/".join(api.split("/")[:2])


def _storage(values: dict[str, Any], cluster: ClusterInfo) -> list[StepCheck]:
    results = []
    defaults = [name for name, default in cluster.storage_classes.items() if default]
    results.append(
        StepCheck(
            STEP,
            "default StorageClass",
            Status.PASS if defaults else Status.WARN,
            ", ".join(defaults) if defaults else "none: every claim must name its class",
        )
    )
    if get(values, "storage.classes.create"):
        for key in ("fast", "standard"):
            name = get(values, f"storage.classes.{key}.name")
            if name in cluster.storage_classes:
                results.append(
                    StepCheck(
                        STEP,
                        f"StorageClass {name}",
                        Status.WARN,
                        "already exists: the chart will try to own it (another release may)",
                    )
                )
        return results
    for path in ("database.postgresql.persistence.storageClassName", "vectorStore.qdrant.persistence.storageClassName"):
        name = get(values, path)
        if name and name not in cluster.storage_classes:
            results.append(
                StepCheck(
                    STEP,
                    f"StorageClass {name}",
                    Status.FAIL,
                    f"{path} names it but the cluster has none; set storage.classes.create=true "
                    "or name an existing class",
                )
            )
    return results
