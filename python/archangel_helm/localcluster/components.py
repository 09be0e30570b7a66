"""The command line of each control-plane process, and kwok's configuration."""

from __future__ import annotations

from importlib import resources

from archangel_helm.localcluster.settings import ADVERTISE_ADDRESS, POD_CIDR, SERVICE_CIDR, Settings
from archangel_helm.localcluster.tools import Toolset

# explicitly so that what this cluster enforces is written down here and not left to the binary's default.
ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "DefaultIngressClass",
    "TaintNodesByCondition",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)


def etcd_command(settings: Settings, toolset: Toolset) -> list[str]:
    p, ports = settings.pki, settings.ports
    client = f"https://127.0.0.1:{ports.etcd_client}"
    peer = f"https://127.0.0.1:{ports.etcd_peer}"
    return [
        str(toolset.binary("etcd")),
        "--name=archangel-local",
        f"--data-dir={settings.directory / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=archangel-local={peer}",
        "--initial-cluster-state=new",
        f"--cert-file={p / 'etcd-server.crt'}",
        f"--key-file={p / 'etcd-server.key'}",
        f"--trusted-ca-file={p / 'ca.crt'}",
        "--client-cert-auth=true",
        f"--peer-cert-file={p / 'etcd-peer.crt'}",
        f"--peer-key-file={p / 'etcd-peer.key'}",
        f"--peer-trusted-ca-file={p / 'ca.crt'}",
        "--peer-client-cert-auth=true",
        # A test cluster's data is thrown away: skipping fsync keeps a 2-core machine's disk out of the way.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_command(settings: Settings, toolset: Toolset) -> list[str]:
    p = settings.pki
    return [
        str(toolset.binary("kube-apiserver")),
        f"--advertise-address={ADVERTISE_ADDRESS}",
        "--bind-address=127.0.0.1",
        f"--secure-port={settings.ports.apiserver}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
        "--allow-privileged=true",
        f"--etcd-servers=https://127.0.0.1:{settings.ports.etcd_client}",
        f"--etcd-cafile={p / 'ca.crt'}",
        f"--etcd-certfile={p / 'apiserver-etcd-client.crt'}",
        f"--etcd-keyfile={p / 'apiserver-etcd-client.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.key'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--profiling=false",
        "--v=1",
    ]


def component_common(settings: Settings, name: str, serving: str, port: int) -> list[str]:
    p = settings.pki
    kubeconfig = p / f"{name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={p / f'{serving}.crt'}",
        f"--tls-private-key-file={p / f'{serving}.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_command(settings: Settings, toolset: Toolset) -> list[str]:
    p = settings.pki
    return [
        str(toolset.binary("kube-controller-manager")),
        *component_common(
            settings, "controller-manager", "controller-manager-serving", settings.ports.controller_manager
        ),
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--use-service-account-credentials=true",
        f"--root-ca-file={p / 'ca.crt'}",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--allocate-node-cidrs=false",
        # HPA: read metrics every 15 s as on a real cluster (no metrics API here, so it reports that it cannot).
        "--horizontal-pod-autoscaler-sync-period=15s",
    ]


def scheduler_command(settings: Settings, toolset: Toolset) -> list[str]:
    return [
        str(toolset.binary("kube-scheduler")),
        *component_common(settings, "scheduler", "scheduler-serving", settings.ports.scheduler),
    ]


def kwok_command(settings: Settings, toolset: Toolset) -> list[str]:
    return [
        str(toolset.binary("kwok")),
        f"--kubeconfig={settings.pki / 'node-simulator.kubeconfig'}",
        f"--config={settings.directory / 'kwok.yaml'}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{settings.ports.kwok}",
    ]


def write_kwok_config(settings: Settings, toolset: Toolset, *, snapshots: bool) -> None:
    """kwok's own node and pod stages, ours for storage and load balancers, and the snapshot stage when the
    VolumeSnapshot API exists (a stage for an unknown resource stops kwok)."""
    documents = [path.read_text() for path in sorted(toolset.stages.glob("*.yaml"))]
    documents.append(resource("stages.yaml"))
    if snapshots:
        documents.append(resource("snapshot-stages.yaml"))
    (settings.directory / "kwok.yaml").write_text("\n---\n".join(d.strip() for d in documents) + "\n")


def resource(name: str) -> str:
    return resources.files("archangel_helm.localcluster").joinpath("manifests", name).read_text()
