"""The volume-snapshot job against a Kubernetes API emulator (kmock), through the real kubernetes client.

A small coroutine plays the snapshot-controller: it marks new VolumeSnapshots readyToUse, as the CSI driver
would once the disk snapshot exists.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kmock as kmock_lib
import pytest

from tests.support.kube_emulator import KubeEmulator

SNAPSHOTS = kmock_lib.resource("snapshot.storage.k8s.io", "v1", "volumesnapshots")
CLAIMS = kmock_lib.resource("", "v1", "persistentvolumeclaims")
NS = "archangel"
SELECTOR = "app.kubernetes.io/instance=archangel"
COMMAND = (
    "archangel_helm.cli",
    "backup",
    "snapshots",
    "--namespace",
    NS,
    "--selector",
    SELECTOR,
    "--snapshot-class",
    "ebs-snapshots",
    "--retention-days",
    "7",
    "--keep-ready",
    "2",
    "--timeout",
    "30",
)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def cluster(kube: KubeEmulator) -> AsyncIterator[KubeEmulator]:
    server = kube.server
    server.resources["snapshot.storage.k8s.io/v1/volumesnapshots"] = server.ResourceInfo(
        kind="VolumeSnapshot", namespaced=True, verbs={"get", "list", "create", "delete", "patch"}
    )
    server.resources["v1/persistentvolumeclaims"] = server.ResourceInfo(
        kind="PersistentVolumeClaim", namespaced=True, verbs={"get", "list"}
    )
    for claim in ("data-archangel-postgresql-0", "storage-archangel-qdrant-0"):
        server.objects[CLAIMS, NS, claim] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": NS, "labels": {"app.kubernetes.io/instance": "archangel"}},
        }
    server.objects[CLAIMS, NS, "someone-elses"] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "someone-elses", "namespace": NS, "labels": {}},
    }

    async def snapshot_controller() -> None:
        while True:
            for key, obj in list(server.objects.items()):
                if key[0] != SNAPSHOTS or obj.deleted:
                    continue
                if "status" not in obj.raw:  # new: created by the job
                    obj.patch(
                        {
                            "metadata": {"creationTimestamp": iso(datetime.now(UTC))},
                            "status": {"readyToUse": True, "creationTime": iso(datetime.now(UTC))},
                        }
                    )
            await asyncio.sleep(0.1)

    task = asyncio.create_task(snapshot_controller())
    try:
        yield kube
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def existing(server: Any, pvc: str, age: timedelta, ready: bool = True, managed: bool = True) -> str:
    when = datetime.now(UTC) - age
    name = f"{pvc}-{when:%Y%m%d%H%M}"
    labels = {"archangel.io/pvc": pvc}
    if managed:
        labels["app.kubernetes.io/managed-by"] = "archangel-volume-snapshots"
    server.objects[SNAPSHOTS, NS, name] = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": NS, "labels": labels, "creationTimestamp": iso(when)},
        "spec": {"source": {"persistentVolumeClaimName": pvc}},
        "status": {"readyToUse": ready},
    }
    return name


def names(server: Any) -> set[str]:
    return {key[2] for key, obj in server.objects.items() if key[0] == SNAPSHOTS and not obj.deleted}


async def test_creates_a_labelled_snapshot_of_every_selected_claim_and_waits_for_it(cluster: KubeEmulator) -> None:
    code, out, err = await cluster.run(*COMMAND)
    assert code == 0, err
    created = {key[2]: obj.raw for key, obj in cluster.server.objects.items() if key[0] == SNAPSHOTS}
    assert {s["spec"]["source"]["persistentVolumeClaimName"] for s in created.values()} == {
        "data-archangel-postgresql-0",
        "storage-archangel-qdrant-0",
    }
    for snapshot in created.values():
        assert snapshot["spec"]["volumeSnapshotClassName"] == "ebs-snapshots"
        assert snapshot["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "archangel-volume-snapshots"
    assert "snapshots: 2 created, 0 deleted" in out
    assert 'archangel_volume_snapshot_last_success_timestamp_seconds{pvc="data-archangel-postgresql-0"}' in out


async def test_prunes_past_retention_but_keeps_the_newest_ready_ones(cluster: KubeEmulator) -> None:
    server = cluster.server
    pvc = "data-archangel-postgresql-0"
    recent = existing(server, pvc, timedelta(days=2))
    old_ready = [existing(server, pvc, timedelta(days=d)) for d in (10, 20, 30)]
    old_unready = existing(server, pvc, timedelta(days=9), ready=False)
    foreign = existing(server, pvc, timedelta(days=60), managed=False)
    code, _, err = await cluster.run(*COMMAND)
    assert code == 0, err
    remaining = names(server)
    # keep-ready 2: today's new one and the 2-day-old are the newest ready; older ones beyond 7 days go.
    assert recent in remaining
    assert not set(old_ready) & remaining
    assert old_unready not in remaining
    assert foreign in remaining  # not ours: never touched


async def test_keep_ready_protects_old_snapshots_when_nothing_newer_is_ready(cluster: KubeEmulator) -> None:
    server = cluster.server
    pvc = "storage-archangel-qdrant-0"
    old = [existing(server, pvc, timedelta(days=d)) for d in (15, 25, 35)]
    code, _, err = await cluster.run(*COMMAND[:-6], "--retention-days", "7", "--keep-ready", "3", "--timeout", "30")
    assert code == 0, err
    # with the new one, the 3 newest ready are: new, 15 d, 25 d
    assert set(old[:2]) <= names(server)
    assert old[2] not in names(server)


async def test_no_matching_claim_is_a_configuration_error(cluster: KubeEmulator) -> None:
    code, _, err = await cluster.run(
        "archangel_helm.cli",
        "backup",
        "snapshots",
        "--namespace",
        NS,
        "--selector",
        "app.kubernetes.io/instance=nobody",
    )
    assert code == 2
    assert "no PersistentVolumeClaim in archangel matches 'app.kubernetes.io/instance=nobody'" in err


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app.kubernetes.io/instance=archangel,archangel.io/data!=postgresql", {"storage-archangel-qdrant-0"}),
        ("archangel.io/data in (qdrant, postgresql)", {"storage-archangel-qdrant-0", "data-archangel-postgresql-0"}),
        ("archangel.io/data notin (qdrant)", {"data-archangel-postgresql-0", "someone-elses"}),
        ("archangel.io/data", {"storage-archangel-qdrant-0", "data-archangel-postgresql-0"}),
        ("!archangel.io/data", {"someone-elses"}),
    ],
)
async def test_every_selector_form_selects_as_the_api_server_does(
    cluster: KubeEmulator, selector: str, expected: set[str]
) -> None:
    """The claims are selected by the one label-selector implementation (the emulator, like a server that
    ignores the parameter, returns every claim): !=, in, notin, and bare keys too, not only key=value."""
    for claim, data in (("data-archangel-postgresql-0", "postgresql"), ("storage-archangel-qdrant-0", "qdrant")):
        cluster.server.objects[CLAIMS, NS, claim].patch({"metadata": {"labels": {"archangel.io/data": data}}})
    command = list(COMMAND)
    command[command.index(SELECTOR)] = selector
    code, _, err = await cluster.run(*command)
    assert code == 0, err
    created = {
        obj.raw["spec"]["source"]["persistentVolumeClaimName"]
        for k, obj in cluster.server.objects.items()
        if k[0] == SNAPSHOTS
    }
    assert created == expected


async def test_an_unreadable_selector_is_refused_before_anything(cluster: KubeEmulator) -> None:
    command = list(COMMAND)
    command[command.index(SELECTOR)] = "app in qdrant"
    code, _, err = await cluster.run(*command)
    assert code == 2
    assert "label selector 'app in qdrant': cannot read 'app in qdrant'" in err
    assert not names(cluster.server)
