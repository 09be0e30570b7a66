"""Kubernetes client set-up shared by the in-cluster entry points."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def core_v1_api() -> Any:
    """A CoreV1Api from the pod's service account, else from KUBECONFIG / ~/.kube/config."""
    import kubernetes  # heavy import, only for the commands that talk to a cluster

    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.CoreV1Api()


def current_namespace(explicit: str | None) -> str | None:
    """--namespace, else $POD_NAMESPACE (downward API), else the service account's namespace file."""
    if explicit:
        return explicit
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return None
