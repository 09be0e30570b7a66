"""What a cluster offers, read through its API: version, served APIs (as Helm reports them to charts),
namespaces and StorageClasses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from archangel_helm.core.release_inputs import ReleaseInputs
    from archangel_helm.plan.environments import ReleaseSpec

# The optional APIs the charts can use, and what each is called in reports.
OPTIONAL_APIS: dict[str, str] = {
    "autoscaling.k8s.io/v1/VerticalPodAutoscaler": "Vertical Pod Autoscaler",
    "monitoring.coreos.com/v1/ServiceMonitor": "prometheus-operator (ServiceMonitor)",
    "monitoring.coreos.com/v1/PrometheusRule": "prometheus-operator (PrometheusRule)",
    "monitoring.coreos.com/v1/PodMonitor": "prometheus-operator (PodMonitor)",
    "monitoring.coreos.com/v1alpha1/AlertmanagerConfig": "prometheus-operator (AlertmanagerConfig)",
    "networking.istio.io/v1/VirtualService": "Istio (VirtualService)",
    "networking.istio.io/v1/DestinationRule": "Istio (DestinationRule)",
    "security.istio.io/v1/PeerAuthentication": "Istio (PeerAuthentication)",
    "gateway.networking.k8s.io/v1/HTTPRoute": "Gateway API (HTTPRoute)",
    "snapshot.storage.k8s.io/v1/VolumeSnapshot": "CSI snapshots (VolumeSnapshot)",
    "snapshot.storage.k8s.io/v1/VolumeSnapshotClass": "CSI snapshots (VolumeSnapshotClass)",
    "keda.sh/v1alpha1/ScaledObject": "KEDA (ScaledObject)",
    "postgresql.cnpg.io/v1/Cluster": "CloudNativePG (Cluster)",
    "postgresql.cnpg.io/v1/Pooler": "CloudNativePG (Pooler)",
    "postgresql.cnpg.io/v1/ScheduledBackup": "CloudNativePG (ScheduledBackup)",
    "barmancloud.cnpg.io/v1/ObjectStore": "Barman Cloud plugin (ObjectStore)",
    "cert-manager.io/v1/Certificate": "cert-manager (Certificate)",
    "cert-manager.io/v1/Issuer": "cert-manager (Issuer)",
    "metrics.k8s.io/v1beta1": "resource metrics (metrics-server)",
    "custom.metrics.k8s.io/v1beta1": "custom metrics (e.g. prometheus-adapter)",
}


@dataclass
class ClusterInfo:
    version: tuple[int, int]
    git_version: str
    api_versions: set[str] = field(default_factory=set)  # "group/version" and "group/version/Kind"
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    storage_classes: dict[str, bool] = field(default_factory=dict)  # name -> is default
    # (address, port) of every API server endpoint (the `kubernetes` Service's endpoints): what in-cluster
    # callers really connect to after kube-proxy; None when they could not be read.
    api_server_endpoints: list[tuple[str, int]] | None = None
    # Nodes: how many are schedulable, and how many of those a node simulator (kwok) plays instead of a kubelet,
    # where no container runs and nothing answers on the pod network. None when nodes could not be listed.
    schedulable_nodes: int | None = None
    simulated_nodes: int = 0
    # Istio: is its sidecar injector registered (a MutatingWebhookConfiguration with a *.sidecar-injector.istio.io
    # webhook), and does its CNI node agent run (a DaemonSet labelled k8s-app=istio-cni-node with ready pods)?
    # None when the deployer may not read them.
    istio_injector: bool | None = None
    istio_cni: bool | None = None
    # CloudNativePG: does its operator run (a Deployment labelled app.kubernetes.io/name=cloudnative-pg with ready
    # replicas), and is the Barman Cloud plugin registered (the Service labelled
    # cnpg.io/pluginName=barman-cloud.cloudnative-pg.io, by which the operator finds it)? None when unreadable.
    cnpg_operator: bool | None = None
    barman_cloud_plugin: bool | None = None

    def serves(self, api: str) -> bool:
        return api in self.api_versions

    @property
    def kube_version(self) -> str:
        """The version `helm install` sees as .Capabilities.KubeVersion (major.minor.0)."""
        return ".".join(map(str, self.version)) + ".0"

    def release_inputs(self, release: ReleaseSpec) -> ReleaseInputs:
        """The release as it renders on this cluster: its values files, this version and the APIs served."""
        return release.inputs(self.kube_version, tuple(sorted(self.api_versions)))

    @property
    def runs_containers(self) -> bool:
        """False when every schedulable node is simulated: probes, metrics and HTTP checks cannot succeed there."""
        return not (self.schedulable_nodes and self.simulated_nodes >= self.schedulable_nodes)


def _call(api_client: Any, path: str) -> dict[str, Any]:
    from archangel_helm.operate.connect import get_json

    return dict(get_json(api_client, path))


def discover(api_client: Any, namespaces: Iterable[str] = ()) -> ClusterInfo:
    """Read the cluster through an ApiClient (the real kubernetes client; kmock in the tests).

    Only the named namespaces are read (get, not list: the deployer needs no cluster-wide namespace access).
    """
    import kubernetes

    version = _call(api_client, "/version")
    minor = int("".join(c for c in str(version.get("minor", "0")) if c.isdigit()) or 0)
    info = ClusterInfo((int(version.get("major", 1)), minor), str(version.get("gitVersion", "")))
    info.api_versions.add("v1")
    groups = _call(api_client, "/apis").get("groups") or []
    for group in groups:
        for group_version in group.get("versions") or []:
            name = group_version["groupVersion"]
            info.api_versions.add(name)
            try:
                resources = _call(api_client, f"/apis/{name}").get("resources") or []
            except kubernetes.client.exceptions.ApiException:
                continue
            for resource in resources:
                if "/" not in resource.get("name", "") and resource.get("kind"):
                    info.api_versions.add(f"{name}/{resource['kind']}")
    for name in namespaces:
        try:
            metadata = _call(api_client, f"/api/v1/namespaces/{name}").get("metadata") or {}
        except kubernetes.client.exceptions.ApiException as error:
            if error.status == 404:
                continue
            raise
        info.namespaces[name] = dict(metadata.get("labels") or {})
    info.api_server_endpoints = _api_server_endpoints(api_client)
    _count_nodes(api_client, info)
    _find_istio(api_client, info)
    _find_cloudnativepg(api_client, info)
    try:
        storage_classes = _call(api_client, "/apis/storage.k8s.io/v1/storageclasses").get("items") or []
    except kubernetes.client.exceptions.ApiException:
        storage_classes = []
    for storage_class in storage_classes:
        metadata = storage_class.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        info.storage_classes[str(metadata.get("name"))] = (
            annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
        )
    return info


SIMULATED_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def _count_nodes(api_client: Any, info: ClusterInfo) -> None:
    import kubernetes

    try:
        nodes = _call(api_client, "/api/v1/nodes").get("items") or []
    except kubernetes.client.exceptions.ApiException:
        return  # a deployer without cluster-wide node access: the checks that need it say so
    schedulable = [n for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
    info.schedulable_nodes = len(schedulable)
    info.simulated_nodes = sum(
        1 for n in schedulable if SIMULATED_NODE_ANNOTATION in ((n.get("metadata") or {}).get("annotations") or {})
    )


def _find_istio(api_client: Any, info: ClusterInfo) -> None:
    import kubernetes

    try:
        webhooks = _call(api_client, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations")
        info.istio_injector = any(
            str(hook.get("name", "")).endswith("sidecar-injector.istio.io")
            for configuration in webhooks.get("items") or []
            for hook in configuration.get("webhooks") or []
        )
    except kubernetes.client.exceptions.ApiException:
        pass
    try:
        agents = _call(api_client, "/apis/apps/v1/daemonsets?labelSelector=k8s-app%3Distio-cni-node")
        info.istio_cni = any(
            int((daemonset.get("status") or {}).get("numberReady") or 0) > 0 for daemonset in agents.get("items") or []
        )
    except kubernetes.client.exceptions.ApiException:
        pass


CNPG_OPERATOR_SELECTOR = "app.kubernetes.io/name=cloudnative-pg"
BARMAN_CLOUD_PLUGIN_SELECTOR = "cnpg.io/pluginName=barman-cloud.cloudnative-pg.io"


def _find_cloudnativepg(api_client: Any, info: ClusterInfo) -> None:
    import kubernetes

    unreadable = kubernetes.client.exceptions.ApiException
    with contextlib.suppress(unreadable):
        operators = _call(api_client, f"/apis/apps/v1/deployments?labelSelector={quote(CNPG_OPERATOR_SELECTOR)}")
        info.cnpg_operator = any(
            int((deployment.get("status") or {}).get("readyReplicas") or 0) > 0
            for deployment in operators.get("items") or []
        )
    with contextlib.suppress(unreadable):
        plugins = _call(api_client, f"/api/v1/services?labelSelector={quote(BARMAN_CLOUD_PLUGIN_SELECTOR)}")
        info.barman_cloud_plugin = bool(plugins.get("items"))


def _api_server_endpoints(api_client: Any) -> list[tuple[str, int]] | None:
    import kubernetes

    selector = "labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes"
    path = f"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?{selector}"
    try:
        slices = _call(api_client, path).get("items") or []
    except kubernetes.client.exceptions.ApiException:
        return None
    endpoints = []
    for endpoint_slice in slices:
        ports = [int(p["port"]) for p in endpoint_slice.get("ports") or [] if p.get("port")]
        for endpoint in endpoint_slice.get("endpoints") or []:
            endpoints += [(str(address), port) for address in endpoint.get("addresses") or [] for port in ports]
    return sorted(set(endpoints)) or None
