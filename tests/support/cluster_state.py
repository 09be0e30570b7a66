"""Returning the shared test cluster to its starting state between test modules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.local_cluster import LocalCluster

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
BASE_STORAGE_CLASSES = frozenset({"gp3"})


def reset(cluster: LocalCluster) -> None:
    """Uninstall every release, delete every namespace but the system ones, and the cluster-scoped objects
    charts create and keep on purpose (StorageClasses, PriorityClasses, volumes); uncordon every node."""
    listing = ("list", "--all-namespaces", "--deployed", "--failed", "--pending", "--output", "json")
    releases = json.loads(cluster.helm(*listing))
    for release in releases:
        cluster.helm("uninstall", release["name"], "--namespace", release["namespace"], "--wait", "--timeout", "2m")
    namespaces = [
        n
        for n in cluster.kubectl("get", "namespaces", "-o", "name").split()
        if n.split("/")[1] not in SYSTEM_NAMESPACES
    ]
    if namespaces:
        cluster.kubectl("delete", *namespaces, "--wait=true", "--timeout=120s")
    classes = [
        c
        for c in cluster.kubectl("get", "storageclasses", "-o", "name").split()
        if c.split("/")[1] not in BASE_STORAGE_CLASSES
    ]
    priority = [
        p
        for p in cluster.kubectl("get", "priorityclasses", "-o", "name").split()
        if not p.split("/")[1].startswith("system-")
    ]
    for objects in (classes, priority):
        if objects:
            cluster.kubectl("delete", *objects, "--wait=true")
    cluster.kubectl("delete", "persistentvolumes", "--all", "--wait=true", "--timeout=120s")
    cluster.kubectl("uncordon", "--selector=type=kwok")
