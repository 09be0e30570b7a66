"""Preflight's Istio discovery against the real API server: the sidecar injector's webhook registration and the
CNI node agent's DaemonSet, read as `deploy` reads them. The objects created here are inert stand-ins for
Istio's (a webhook that selects no object and ignores failures, a DaemonSet whose pods kwok runs): what is under
test is the discovery of real API objects, not Istio."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import yaml

from archangel_helm.operate.cluster import discover
from archangel_helm.operate.connect import connect
from tests.support.cluster_state import reset
from tests.support.local_cluster import LocalCluster

WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "MutatingWebhookConfiguration",
    "metadata": {"name": "istio-sidecar-injector-test"},
    "webhooks": [
        {
            "name": "object.sidecar-injector.istio.io",
            "clientConfig": {"url": "https://127.0.0.1:1/inject"},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "objectSelector": {"matchLabels": {"archangel.io/never": "matches"}},
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
    ],
}
CNI_AGENT = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "istio-cni-node", "namespace": "istio-system", "labels": {"k8s-app": "istio-cni-node"}},
    "spec": {
        "selector": {"matchLabels": {"k8s-app": "istio-cni-node"}},
        "template": {
            "metadata": {"labels": {"k8s-app": "istio-cni-node"}},
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "install-cni",
                        "image": "example.invalid/install-cni:1.0",
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }
                ],
            },
        },
    },
}


@pytest.fixture
def cluster(clean_cluster: LocalCluster) -> Iterator[LocalCluster]:
    yield clean_cluster
    clean_cluster.try_run("kubectl", "delete", "mutatingwebhookconfiguration", "istio-sidecar-injector-test")
    reset(clean_cluster)


def test_discovery_reads_the_injector_and_the_cni_agent(cluster: LocalCluster) -> None:
    client = connect(str(cluster.kubeconfig), None)
    before = discover(client)
    assert (before.istio_injector, before.istio_cni) == (False, False)
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(WEBHOOK))
    assert discover(client).istio_injector is True
    cluster.kubectl("create", "namespace", "istio-system")
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(CNI_AGENT))
    deadline = time.monotonic() + 60
    while not discover(client).istio_cni and time.monotonic() < deadline:
        time.sleep(1)
    status = json.loads(cluster.kubectl("get", "ds", "istio-cni-node", "-n", "istio-system", "-o", "json"))["status"]
    assert status["numberReady"] > 0
    assert discover(client).istio_cni is True
