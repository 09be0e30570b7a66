"""The local control plane is what the issue asks of it: a real API server of a supported version, TLS and
RBAC, the admission plugins a production cluster runs, six nodes in three zones, the optional APIs' CRDs,
and nothing bound beyond 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pykube
import pytest
from pytest_helm_charts.k8s.fixtures import NamespaceFactoryFunc

from archangel_helm import Chart
from archangel_helm.core.chart import kube_version_bounds
from archangel_helm.localcluster import pki, processes
from archangel_helm.localcluster.control_plane import status
from archangel_helm.localcluster.settings import ADVERTISE_ADDRESS, default_nodes
from tests.support.local_cluster import LocalCluster
from tests.support.project import APP_CHART


def test_server_is_kubernetes_1_37_and_inside_the_charts_kube_version(local_cluster: LocalCluster) -> None:
    server = json.loads(local_cluster.kubectl("version", "-o", "json"))["serverVersion"]
    assert server["gitVersion"] == "v1.37.2"
    lower, upper = kube_version_bounds(Chart.load(APP_CHART).kube_version_constraint)
    version = (int(server["major"]), int(server["minor"]))
    assert version >= lower
    assert upper is None or version <= upper


def test_six_ready_nodes_two_per_zone_with_realistic_capacity(local_cluster: LocalCluster) -> None:
    nodes = json.loads(local_cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    zones = sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes)
    assert zones == sorted(spec.zone for spec in default_nodes())
    assert len(set(zones)) == 3
    for node in nodes:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]
        assert node["status"]["capacity"]["cpu"] == "8"
        assert node["status"]["capacity"]["memory"] == "32Gi"
        assert not node["spec"].get("taints"), node["metadata"]["name"]


def test_the_api_server_speaks_tls_and_refuses_anonymous_requests(local_cluster: LocalCluster) -> None:
    context = ssl.create_default_context(cafile=str(local_cluster.settings.pki / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as refused:  # a verified TLS session, then RBAC: 403
        urllib.request.urlopen(f"{local_cluster.settings.server}/api/v1/namespaces", context=context, timeout=10)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(local_cluster.settings.server + "/version", context=ssl.create_default_context())


def test_pod_security_admission_refuses_a_root_pod_in_a_restricted_namespace(
    local_cluster: LocalCluster, namespace_factory_function_scope: NamespaceFactoryFunc
) -> None:
    namespace = namespace_factory_function_scope(
        f"psa-{uuid.uuid4().hex[:8]}", {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
    ).name
    result = local_cluster.try_run("kubectl", "run", "root", "-n", namespace, "--image=busybox:1.36", "--restart=Never")
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr


def test_limit_ranges_resource_quotas_and_the_default_storage_class_are_enforced(
    local_cluster: LocalCluster, random_namespace_function_scope: pykube.Namespace
) -> None:
    namespace = random_namespace_function_scope.name
    local_cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin="""
apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits: [{type: Container, default: {cpu: 500m, memory: 256Mi}, defaultRequest: {cpu: 100m, memory: 64Mi}}]
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: two-pods}
spec: {hard: {pods: "2"}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""",
    )
    local_cluster.kubectl("run", "first", "-n", namespace, "--image=busybox:1.36", "--restart=Never")
    pod = json.loads(local_cluster.kubectl("get", "pod", "first", "-n", namespace, "-o", "json"))
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    local_cluster.kubectl("run", "second", "-n", namespace, "--image=busybox:1.36", "--restart=Never")
    third = local_cluster.try_run("kubectl", "run", "third", "-n", namespace, "--image=busybox:1.36")
    assert "exceeded quota: two-pods" in third.stderr
    claim = json.loads(local_cluster.kubectl("get", "pvc", "claim", "-n", namespace, "-o", "json"))
    assert claim["spec"]["storageClassName"] == "gp3"


def test_node_authorizer_and_node_restriction_confine_a_kubelet(local_cluster: LocalCluster, tmp_path: Path) -> None:
    nodes = [spec.name for spec in default_nodes()]
    own, other = nodes[0], nodes[1]
    # A kubelet's identity, signed by the cluster CA as the kubelet's client certificate would be.
    pki_dir = local_cluster.settings.pki
    for suffix in ("crt", "key"):
        (tmp_path / f"ca.{suffix}").write_bytes((pki_dir / f"ca.{suffix}").read_bytes())
    kubelet = pki.issue(
        tmp_path, pki.CertificateSpec("kubelet", f"system:node:{own}", pki.CLIENT, organizations=("system:nodes",))
    )
    identity = [
        f"--server={local_cluster.settings.server}",
        f"--certificate-authority={pki_dir / 'ca.crt'}",
        f"--client-certificate={kubelet.certificate}",
        f"--client-key={kubelet.key}",
        "--kubeconfig=/dev/null",
    ]
    allowed = local_cluster.try_run(
        "kubectl", *identity, "label", "node", own, "example.com/checked=yes", "--overwrite"
    )
    assert allowed.returncode == 0, allowed.stderr
    # The Node authorizer: another node's object is out of reach altogether.
    other_node = local_cluster.try_run("kubectl", *identity, "label", "node", other, "example.com/checked=yes")
    assert f"node '{own}' cannot read '{other}', only its own Node object" in other_node.stderr
    # NodeRestriction (admission): on its own node, a kubelet may not set the labels reserved for administrators.
    reserved = local_cluster.try_run(
        "kubectl", *identity, "label", "node", own, "node-restriction.kubernetes.io/pool=private"
    )
    assert reserved.returncode != 0
    assert "is not allowed to modify labels: node-restriction.kubernetes.io/pool" in reserved.stderr
    local_cluster.kubectl("label", "node", own, "example.com/checked-")


def test_the_optional_apis_crds_are_installed_and_established(local_cluster: LocalCluster) -> None:
    if not local_cluster.has_crds:
        pytest.skip("no CRD manifests (../shared/crds, ARCHANGEL_CLUSTER_CRDS or `archangel-helm crds fetch`)")
    crds = json.loads(local_cluster.kubectl("get", "crds", "-o", "json"))["items"]
    established = {
        c["spec"]["group"] + "/" + c["spec"]["names"]["kind"]
        for c in crds
        if any(x["type"] == "Established" and x["status"] == "True" for x in c["status"]["conditions"])
    }
    for api in (
        "monitoring.coreos.com/ServiceMonitor",
        "monitoring.coreos.com/PrometheusRule",
        "monitoring.coreos.com/AlertmanagerConfig",
        "autoscaling.k8s.io/VerticalPodAutoscaler",
        "networking.istio.io/VirtualService",
        "security.istio.io/PeerAuthentication",
        "gateway.networking.k8s.io/HTTPRoute",
        "snapshot.storage.k8s.io/VolumeSnapshot",
        "keda.sh/ScaledObject",
        "postgresql.cnpg.io/Cluster",
        "barmancloud.cnpg.io/ObjectStore",
        "argoproj.io/Application",
    ):
        assert api in established


def test_the_api_servers_kubernetes_service_advertises_the_configured_address(local_cluster: LocalCluster) -> None:
    slices = json.loads(
        local_cluster.kubectl(
            "get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes", "-o", "json"
        )
    )["items"]
    addresses = {a for s in slices for e in s["endpoints"] for a in e["addresses"]}
    ports = {p["port"] for s in slices for p in s["ports"]}
    assert addresses == {ADVERTISE_ADDRESS}
    assert ports == {local_cluster.settings.ports.apiserver}


def test_every_process_listens_on_127_0_0_1_only(local_cluster: LocalCluster) -> None:
    current = status(local_cluster.settings)
    assert current.healthy
    assert current.state is not None
    ours = {started.pid for started in current.state.started()}
    listening = processes.listening_sockets()
    bound = {address for pid, address in listening if pid in ours}
    assert bound, "found none of the cluster's listening sockets"
    assert {address.rsplit(":", 1)[0] for address in bound} == {"127.0.0.1"}, bound
