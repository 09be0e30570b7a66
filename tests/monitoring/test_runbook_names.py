"""The object names the runbooks give the on-call engineer exist: every `kubectl` command's object (`kind/name`,
`kind name`, `--from=kind/name`), container (`-c`) and label selector (`-l`), and every `$REL-...` /
`<release>-...` name in the text, resolve against the production render of the chart that owns them
(`$REL` and `<release>` are the application release, "archangel"; `-n monitoring` is the monitoring chart;
`-n archangel-staging`, for what only staging's builtin database has, the staging render). Objects an operator
makes from a rendered one count too: a StatefulSet's claims, CloudNativePG's instance pods, claims, Services and
Secrets of a Cluster.
A runbook that names `$REL-archangel-backup-database` when the CronJob is `archangel-backup-database` sends
someone paged at night to an object that does not exist."""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from archangel_helm import Manifest
from archangel_helm.core.manifest import K8sObject, labels_of, name_of
from tests.support.monitoring import RUNBOOKS_DIR

APP_RELEASE = "archangel"
APP_NAMESPACE = "archangel"
STAGING_NAMESPACE = "archangel-staging"
MONITORING_NAMESPACE = "monitoring"
# Namespaces of what Archangel depends on but does not deploy: their objects are not in our renders (cnpg-system:
# the CloudNativePG operator and its Barman Cloud plugin, database.cloudnativepg.operatorNamespace).
EXTERNAL_NAMESPACES = {"cert-manager", "kube-system", "cnpg-system"}

KINDS = {
    "deploy": "Deployment",
    "deployment": "Deployment",
    "sts": "StatefulSet",
    "statefulset": "StatefulSet",
    "svc": "Service",
    "service": "Service",
    "hpa": "HorizontalPodAutoscaler",
    "cronjob": "CronJob",
    "cj": "CronJob",
    "job": "Job",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "cm": "ConfigMap",
    "configmap": "ConfigMap",
    "secret": "Secret",
    "sa": "ServiceAccount",
    "serviceaccount": "ServiceAccount",
    "pdb": "PodDisruptionBudget",
    "netpol": "NetworkPolicy",
    "networkpolicy": "NetworkPolicy",
    "ing": "Ingress",
    "ingress": "Ingress",
    "storageclass": "StorageClass",
    "sc": "StorageClass",
    "certificate": "Certificate",
    "volumesnapshot": "VolumeSnapshot",
    "volumesnapshotclass": "VolumeSnapshotClass",
    # CloudNativePG (clusters.postgresql.cnpg.io, ...) and its Barman Cloud plugin (objectstores.barmancloud.cnpg.io).
    "cluster": "Cluster",
    "pooler": "Pooler",
    "scheduledbackup": "ScheduledBackup",
    "objectstore": "ObjectStore",
}
# Made at run time by controllers, not rendered by a chart: a concrete name of these cannot be checked.
RUNTIME_KINDS = {
    "pod",
    "node",
    "event",
    "endpointslice",
    "endpoints",
    "replicaset",
    "rs",
    "certificaterequest",
    "order",
    "challenge",
    "backup",  # CloudNativePG's Backups, one per run of a ScheduledBackup
}
CLUSTER_SCOPED = {"StorageClass", "VolumeSnapshotClass"}
# Verbs whose first argument is a resource type (or types) and the rest names; the others take kind/name.
TYPE_THEN_NAMES = {"get", "describe", "edit", "patch", "delete", "label", "annotate", "scale"}
# Options that take a value as the next argument.
VALUE_OPTIONS = {"-n", "--namespace", "-l", "--selector", "-c", "--container", "-o", "--output", "-p", "--patch"}
PLACEHOLDER = re.compile(r"<[^<>]+>")
RELEASE_REF = re.compile(r"\$\{?REL\}?|<release>")
RELEASE_NAME = re.compile(r"[A-Za-z0-9.-]*(?:\$\{?REL\}?|<release>)[A-Za-z0-9.<>-]*[A-Za-z0-9>]")
KUBECTL = re.compile(r"\bkubectl\s[^`|;&#\n]*")


@dataclass(frozen=True)
class Reference:
    runbook: str
    command: str
    kind: str  # as written: deploy, cronjob, pvc, ...
    name: str | None = None
    namespace: str | None = None
    container: str | None = None
    selectors: tuple[str, ...] = field(default=())


def resolve(name: str) -> str:
    return RELEASE_REF.sub(APP_RELEASE, name)


def _singular(kind: str) -> str:
    kind = kind.lower().split(".")[0]
    for suffix in ("ies", "es", "s"):
        stem = kind[: -len(suffix)] + ("y" if suffix == "ies" else "")
        if kind.endswith(suffix) and (stem in KINDS or stem in RUNTIME_KINDS):
            return stem
    return kind


def parse_kubectl(command: str, runbook: str = "") -> Iterator[Reference]:
    """The object references of one kubectl command line (pipes, comments and `;` already cut off)."""
    # A placeholder is one word however it is spelled: <newest backup job>.
    command = PLACEHOLDER.sub(lambda m: m.group(0).replace(" ", "_"), command)
    try:
        words = shlex.split(command, comments=False)
    except ValueError:
        words = command.split()
    words = words[1:]  # kubectl
    namespace = container = None
    selectors: list[str] = []
    positional: list[str] = []
    refs: list[tuple[str, str | None]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            break
        if word.startswith("--from="):
            kind, _, name = word.removeprefix("--from=").partition("/")
            refs.append((kind, name))
        elif word in VALUE_OPTIONS and index + 1 < len(words):
            value = words[index + 1]
            if word in {"-n", "--namespace"}:
                namespace = value
            elif word in {"-l", "--selector"}:
                selectors.append(value)
            elif word in {"-c", "--container"}:
                container = value
            index += 1
        elif not word.startswith("-"):
            positional.append(word)
        index += 1
    if positional[:2] == ["rollout", "history"] or positional[:2] == ["rollout", "status"]:
        positional = positional[1:]
    verb, arguments = (positional[0], positional[1:]) if positional else ("", [])
    if verb == "create":
        arguments = []  # `create job --from=... <new name>`: the new name is not an existing object
    if verb in TYPE_THEN_NAMES and arguments and "/" not in arguments[0]:
        kinds = arguments[0].split(",")
        names = arguments[1:]
        if names:
            refs += [(kinds[0], name) for name in names]
        else:
            refs += [(kind, None) for kind in kinds]
    else:
        for argument in arguments:
            if "/" in argument:
                kind, _, name = argument.partition("/")
                refs.append((kind, name))
            elif verb in {"logs", "exec", "attach", "port-forward"}:
                refs.append(("pod", argument))
    for ref_kind, ref_name in refs:
        yield Reference(runbook, command.strip(), ref_kind, ref_name, namespace, container, tuple(selectors))
    if not refs and selectors:
        yield Reference(runbook, command.strip(), "", None, namespace, None, tuple(selectors))


def kubectl_references(path: Path) -> Iterator[Reference]:
    for line in path.read_text().splitlines():
        for match in KUBECTL.finditer(line):
            yield from parse_kubectl(match.group(0), path.name)


# What the renders hold --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renders:
    application: Manifest
    monitoring: Manifest
    staging: Manifest  # the application as staging deploys it (database.mode builtin)

    def for_namespace(self, namespace: str | None) -> list[Manifest]:
        if namespace in (None, "$NS", "${NS}", APP_NAMESPACE):
            return [self.application]
        if namespace == MONITORING_NAMESPACE:
            return [self.monitoring]
        if namespace == STAGING_NAMESPACE:
            return [self.staging]
        if namespace is not None and PLACEHOLDER.fullmatch(namespace):
            return [self.application, self.monitoring]  # the alert's namespace label: either chart
        raise AssertionError(f"namespace {namespace!r} is neither the application's nor monitoring")


# What the CloudNativePG operator makes of a Cluster named <c> with N instances: instances <c>-1..<c>-N (their pods
# and claims, and <c>-<i>-wal with walStorage), the Services <c>-rw, <c>-ro and <c>-r, the Secrets <c>-ca,
# <c>-server and <c>-replication (<c>-app without bootstrap.initdb.secret, <c>-superuser with
# enableSuperuserAccess); of a Pooler <p>: its Deployment and Service <p>. Instances replaced later get higher
# numbers: a runbook names the first N, or <instance pod>.
CNPG_SERVICE_SUFFIXES = ("rw", "ro", "r")


def _cnpg_names(manifest: Manifest, kind: str) -> dict[str, K8sObject]:
    derived: dict[str, K8sObject] = {}
    for cluster in manifest.of_kind("Cluster"):
        name, spec = name_of(cluster), cluster.get("spec") or {}
        instances = [f"{name}-{i}" for i in range(1, int(spec.get("instances") or 1) + 1)]
        if kind == "Pod":
            derived |= dict.fromkeys(instances, cluster)
        if kind == "PersistentVolumeClaim":
            derived |= dict.fromkeys(instances, cluster)
            if spec.get("walStorage"):
                derived |= {f"{instance}-wal": cluster for instance in instances}
        if kind == "Service":
            derived |= {f"{name}-{suffix}": cluster for suffix in CNPG_SERVICE_SUFFIXES}
        if kind == "Secret":
            suffixes = ["ca", "server", "replication"]
            if not ((spec.get("bootstrap") or {}).get("initdb") or {}).get("secret"):
                suffixes.append("app")
            if spec.get("enableSuperuserAccess"):
                suffixes.append("superuser")
            derived |= {f"{name}-{suffix}": cluster for suffix in suffixes}
    if kind in ("Deployment", "Service"):
        derived |= {name_of(pooler): pooler for pooler in manifest.of_kind("Pooler")}
    return derived


def _cnpg_pod_labels(manifest: Manifest) -> list[dict[str, str]]:
    """The labels CloudNativePG puts on the pods of a Cluster (per role) and of a Pooler."""
    labels: list[dict[str, str]] = []
    for cluster in manifest.of_kind("Cluster"):
        for role in ("primary", "replica"):
            labels.append(
                {
                    "cnpg.io/cluster": name_of(cluster),
                    "cnpg.io/podRole": "instance",
                    "cnpg.io/instanceRole": role,
                    "role": role,
                }
            )
    for pooler in manifest.of_kind("Pooler"):
        cluster = ((pooler.get("spec") or {}).get("cluster") or {}).get("name", "")
        labels.append({"cnpg.io/poolerName": name_of(pooler), "cnpg.io/podRole": "pooler", "cnpg.io/cluster": cluster})
    return labels


def _derived_names(manifest: Manifest, kind: str) -> dict[str, K8sObject]:
    """Objects a chart makes exist without rendering them: StatefulSet claims, cert-manager's Ingress Certificates,
    what CloudNativePG makes of a Cluster or a Pooler."""
    derived: dict[str, K8sObject] = _cnpg_names(manifest, kind)
    if kind == "PersistentVolumeClaim":
        for sts in manifest.of_kind("StatefulSet"):
            for template in sts["spec"].get("volumeClaimTemplates") or []:
                for ordinal in range(int(sts["spec"].get("replicas") or 1)):
                    derived[f"{template['metadata']['name']}-{name_of(sts)}-{ordinal}"] = template
    if kind == "Certificate":
        for ingress in manifest.of_kind("Ingress"):
            for tls in ingress["spec"].get("tls") or []:
                if tls.get("secretName"):
                    derived[tls["secretName"]] = ingress
    return derived


def objects_named(manifests: list[Manifest], kind: str) -> dict[str, K8sObject]:
    found: dict[str, K8sObject] = {}
    for manifest in manifests:
        found |= {name_of(obj): obj for obj in manifest.of_kind(kind)}
        found |= _derived_names(manifest, kind)
    return found


def _containers(obj: K8sObject) -> set[str]:
    spec = obj.get("spec") or {}
    template = (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or spec.get("template") or {}
    pod = template.get("spec") or {}
    return {c["name"] for c in (pod.get("containers") or []) + (pod.get("initContainers") or [])}


def _all_labels(manifests: list[Manifest]) -> list[dict[str, str]]:
    labels: list[dict[str, str]] = []
    for manifest in manifests:
        labels += [labels_of(obj) for obj in manifest]
        labels += [template.labels for template in manifest.pod_templates()]
        labels += _cnpg_pod_labels(manifest)
    return labels


def problems(reference: Reference, renders: Renders) -> list[str]:
    """What does not resolve in one reference, as messages that name the runbook and the command."""
    where = f"{reference.runbook}: `{reference.command}`"
    if reference.namespace in EXTERNAL_NAMESPACES:
        return []
    try:
        manifests = renders.for_namespace(reference.namespace)
    except AssertionError as error:
        return [f"{where}: {error}"]
    found: list[str] = []
    for selector in reference.selectors:
        wanted = dict(part.split("=", 1) for part in resolve(selector).split(",") if "=" in part)
        if wanted.get("kubernetes.io/service-name"):
            if wanted["kubernetes.io/service-name"] not in objects_named(manifests, "Service"):
                found.append(f"{where}: no Service {wanted['kubernetes.io/service-name']!r} for the selector")
            continue
        if not any(all(labels.get(k) == v for k, v in wanted.items()) for labels in _all_labels(manifests)):
            found.append(f"{where}: no rendered object or pod carries the labels {selector!r}")
    if not reference.kind or reference.name is None:
        return found
    written = _singular(reference.kind)
    if written in RUNTIME_KINDS:
        return found
    if written not in KINDS:
        return [*found, f"{where}: kind {reference.kind!r} is unknown to this test; add it to KINDS or RUNTIME_KINDS"]
    kind = KINDS[written]
    if kind in CLUSTER_SCOPED:
        manifests = [renders.application, renders.monitoring]
    name = resolve(reference.name)
    if PLACEHOLDER.fullmatch(name):
        return found  # <pod>, <failed job>: the reader fills it in
    pattern = PLACEHOLDER.sub("*", name)
    candidates = objects_named(manifests, kind)
    matches = [obj for candidate, obj in candidates.items() if fnmatch.fnmatchcase(candidate, pattern)]
    if not matches:
        return [*found, f"{where}: no {kind} {name!r} in the production render; there are {sorted(candidates)}"]
    if reference.container and not PLACEHOLDER.fullmatch(reference.container):
        containers = set().union(*(_containers(obj) for obj in matches))
        if containers and reference.container not in containers:
            found.append(f"{where}: {kind} {name!r} has no container {reference.container!r}: {sorted(containers)}")
    return found


def release_names(text: str) -> list[str]:
    """Every `$REL-...` / `<release>-...` name in a runbook's text, commands and prose alike."""
    return [m.group(0) for m in RELEASE_NAME.finditer(text) if m.group(0) not in {"$REL", "${REL}", "<release>"}]


def all_names(renders: Renders) -> set[str]:
    names: set[str] = set()
    for manifest in (renders.application, renders.staging):
        names |= {name_of(obj) for obj in manifest}
        for kind in ("PersistentVolumeClaim", "Pod", "Service", "Secret", "Deployment"):
            names |= set(_derived_names(manifest, kind))
    return names


def name_problems(path: Path, renders: Renders) -> list[str]:
    known = all_names(renders)
    found = []
    for written in release_names(path.read_text()):
        pattern = PLACEHOLDER.sub("*", resolve(written))
        if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
            found.append(
                f"{path.name}: {written!r} names no object of the application's renders ({resolve(written)!r})"
            )
    return found


# Tests ------------------------------------------------------------------------------------------------------


def runbooks() -> list[Path]:
    return sorted(p for p in RUNBOOKS_DIR.glob("*.md") if p.name != "README.md")


@pytest.fixture(scope="module")
def renders(render_env: Callable[..., Manifest], production: Manifest) -> Renders:
    """Both charts as production deploys them (environments.yaml): release archangel, and the monitoring chart;
    and the application as staging deploys it, in its own namespace."""
    application = render_env("production", "archangel")
    assert {name_of(obj) for obj in application if obj["kind"] == "CronJob"} >= {"archangel-backup-database"}
    staging = render_env("staging", "archangel")
    assert {obj["metadata"].get("namespace") for obj in staging if obj["kind"] == "StatefulSet"} == {STAGING_NAMESPACE}
    return Renders(application, production, staging)


@pytest.mark.parametrize("path", runbooks(), ids=lambda p: p.stem)
def test_every_kubectl_object_in_a_runbook_exists(path: Path, renders: Renders) -> None:
    found = [message for reference in kubectl_references(path) for message in problems(reference, renders)]
    assert found == []


@pytest.mark.parametrize("path", runbooks(), ids=lambda p: p.stem)
def test_every_release_qualified_name_in_a_runbook_exists(path: Path, renders: Renders) -> None:
    assert name_problems(path, renders) == []


def test_the_runbooks_name_objects_at_all() -> None:
    """The parser finds what it should: a test that found no reference would pass on anything."""
    references = [r for path in runbooks() for r in kubectl_references(path)]
    named = {(r.kind, resolve(r.name)) for r in references if r.name}
    assert ("cronjob", "archangel-backup-database") in named
    assert ("cluster", "archangel-postgresql") in named
    assert ("sts", "archangel-postgresql") in named
    assert ("cronjob", "archangel-monitoring-healthcheck") in named


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "kubectl -n $NS get cronjob $REL-backup-database $REL-volume-snapshots -o yaml",
            [("cronjob", "$REL-backup-database"), ("cronjob", "$REL-volume-snapshots")],
        ),
        ("kubectl -n $NS logs sts/$REL-postgresql -c metrics --tail=50", [("sts", "$REL-postgresql")]),
        (
            "kubectl -n $NS create job --from=cronjob/$REL-backup-verify verify-manual-$(date +%s)",
            [("cronjob", "$REL-backup-verify")],
        ),
        ("kubectl -n $NS rollout history deploy/$REL-core", [("deploy", "$REL-core")]),
        (
            "kubectl -n $NS exec sts/$REL-postgresql -c postgresql -- pg_isready -U postgres",
            [("sts", "$REL-postgresql")],
        ),
        (
            "kubectl -n $NS get deploy,hpa,pods -l app.kubernetes.io/component=agents",
            [("deploy", None), ("hpa", None), ("pods", None)],
        ),
        ("kubectl -n $NS describe pod <pod>", [("pod", "<pod>")]),
        (
            "kubectl -n $NS get clusters.postgresql.cnpg.io $REL-postgresql",
            [("clusters.postgresql.cnpg.io", "$REL-postgresql")],
        ),
        ("kubectl cnpg -n $NS status $REL-postgresql", []),
    ],
)
def test_kubectl_commands_are_parsed(command: str, expected: list[tuple[str, str | None]]) -> None:
    assert [(r.kind, r.name) for r in parse_kubectl(command)] == expected


def test_the_check_fails_on_names_the_charts_do_not_render(renders: Renders) -> None:
    """The review's finding: the old runbooks' CronJob name, a container and a label nothing has; and the builtin
    database's StatefulSet, which production (cloudnativepg) no longer has."""
    wrong = [
        "kubectl -n $NS get cronjob $REL-archangel-backup-database -o yaml",
        "kubectl -n archangel-staging logs sts/$REL-postgresql -c exporter",
        "kubectl -n $NS get pods -l app.kubernetes.io/component=backups",
        "kubectl -n monitoring create job --from=cronjob/$REL-healthcheck hc-manual",
        "kubectl -n $NS edit pvc storage-$REL-qdrant-7",
        "kubectl -n $NS logs sts/$REL-postgresql -c postgresql",
        "kubectl -n $NS edit pvc data-$REL-postgresql-0",
        "kubectl -n $NS get cluster $REL-postgres",
        "kubectl -n $NS get pvc $REL-postgresql-4",
        "kubectl -n $NS get svc $REL-postgresql-rx",
        "kubectl -n $NS get pods -l cnpg.io/cluster=$REL-pg",
    ]
    for command in wrong:
        assert [m for r in parse_kubectl(command, "x.md") for m in problems(r, renders)], command
    right = [
        "kubectl -n $NS get cronjob <release>-backup-vectorstore",
        "kubectl -n $NS edit pvc storage-$REL-qdrant-0",
        "kubectl -n cert-manager logs deploy/cert-manager",
        "kubectl -n $NS logs job/<newest backup job>",
        "kubectl -n archangel-staging edit pvc data-$REL-postgresql-0",
        "kubectl -n archangel-staging logs sts/$REL-postgresql -c postgresql",
        "kubectl -n $NS get clusters.postgresql.cnpg.io $REL-postgresql",
        "kubectl -n $NS get pvc $REL-postgresql-3 $REL-postgresql-3-wal",
        "kubectl -n $NS get svc $REL-postgresql-rw $REL-pgbouncer",
        "kubectl -n $NS get secret $REL-postgresql-ca",
        "kubectl -n $NS get pods -l cnpg.io/cluster=$REL-postgresql,cnpg.io/instanceRole=primary",
        "kubectl -n cnpg-system logs deploy/cnpg-controller-manager",
    ]
    for command in right:
        assert [m for r in parse_kubectl(command, "x.md") for m in problems(r, renders)] == [], command


def test_release_qualified_names_in_prose_are_found(tmp_path: Path, renders: Renders) -> None:
    page = tmp_path / "Page.md"
    page.write_text(
        "Expand `storage-$REL-qdrant-0`; run `$REL-archangel-backup-database` or <release>-backup-<target>.\n"
    )
    assert release_names(page.read_text()) == [
        "storage-$REL-qdrant-0",
        "$REL-archangel-backup-database",
        "<release>-backup-<target>",
    ]
    assert name_problems(page, renders) == [
        "Page.md: '$REL-archangel-backup-database' names no object of the application's renders "
        "('archangel-archangel-backup-database')"
    ]
