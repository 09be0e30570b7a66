"""Inert stand-ins for the CloudNativePG operator and its Barman Cloud plugin, where preflight looks for them:
a Deployment labelled as the operator's (kwok runs its pod: nothing runs in it) and the Service by which the
operator finds the plugin. The local control plane has neither; what the tests check is the discovery and the
deploy around it, never the operator's behaviour."""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from tests.support.local_cluster import LocalCluster

NAMESPACE = "cnpg-system"
OPERATOR: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "cnpg-controller-manager",
        "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/name": "cloudnative-pg"},
    },
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "cloudnative-pg"}},
            "spec": {"containers": [{"name": "manager", "image": "example.invalid/cloudnative-pg:1.30.0"}]},
        },
    },
}
PLUGIN_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "barman-cloud",
        "namespace": NAMESPACE,
        "labels": {"cnpg.io/pluginName": "barman-cloud.cloudnative-pg.io"},
    },
    "spec": {"selector": {"app": "barman-cloud"}, "ports": [{"port": 9090, "targetPort": 9090}]},
}


def install_stand_ins(cluster: LocalCluster, timeout: float = 60) -> None:
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([OPERATOR, PLUGIN_SERVICE]))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(
            cluster.kubectl("get", "deployment", "cnpg-controller-manager", "-n", NAMESPACE, "-o", "json")
        )
        if int(status.get("status", {}).get("readyReplicas") or 0) > 0:
            return
        time.sleep(1)
    raise AssertionError("the operator stand-in's pod never became ready (kwok)")
