"""What a pod template names that must exist: ConfigMaps, Secrets (image pull secrets too), claims, its
ServiceAccount, its PriorityClass. Each must be rendered by the release, created by its hooks (the generated
Secret), or declared external."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from archangel_helm.core.manifest import Manifest, PodTemplate, labels_of, name_of
from archangel_helm.validate.operators import operator_secrets
from archangel_helm.validate.problems import Problem

GENERATED_SECRET_LABEL = "archangel.io/generated-secret"
BUILTIN_PRIORITY_CLASSES = {"system-cluster-critical", "system-node-critical"}


@dataclass(frozen=True)
class Reference:
    kind: str
    name: str
    path: str
    optional: bool = False


@dataclass
class ExternalObjects:
    """Objects the release uses but does not render: `Kind/name` strings (e.g. `Secret/pg-credentials`)."""

    names: set[str] = field(default_factory=set)

    def __contains__(self, reference: Reference) -> bool:
        return f"{reference.kind}/{reference.name}" in self.names


def pod_references(template: PodTemplate) -> Iterator[Reference]:
    spec = template.spec
    base = ".".join((*template.path, "spec")) if template.path else "spec"
    account = spec.get("serviceAccountName")
    if account and account != "default":
        yield Reference("ServiceAccount", account, f"{base}.serviceAccountName")
    if spec.get("priorityClassName"):
        yield Reference("PriorityClass", spec["priorityClassName"], f"{base}.priorityClassName")
    for index, pull_secret in enumerate(spec.get("imagePullSecrets") or []):
        if pull_secret.get("name"):
            # The kubelet cannot pull without it, and the pod never starts (ErrImagePull), so not optional.
            yield Reference("Secret", pull_secret["name"], f"{base}.imagePullSecrets[{index}]")
    for index, volume in enumerate(spec.get("volumes") or []):
        where = f"{base}.volumes[{index}]"
        if "configMap" in volume:
            yield Reference("ConfigMap", volume["configMap"]["name"], where, bool(volume["configMap"].get("optional")))
        if "secret" in volume:
            yield Reference("Secret", volume["secret"]["secretName"], where, bool(volume["secret"].get("optional")))
        if "persistentVolumeClaim" in volume:
            yield Reference("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], where)
        for source_index, source in enumerate((volume.get("projected") or {}).get("sources") or []):
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if key in source:
                    yield Reference(
                        kind,
                        source[key]["name"],
                        f"{where}.projected.sources[{source_index}]",
                        bool(source[key].get("optional")),
                    )
    for field_name in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(field_name) or []):
            where = f"{base}.{field_name}[{index}]"
            for env_index, source in enumerate(container.get("envFrom") or []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in source:
                        yield Reference(
                            kind,
                            source[key]["name"],
                            f"{where}.envFrom[{env_index}]",
                            bool(source[key].get("optional")),
                        )
            for env_index, variable in enumerate(container.get("env") or []):
                value_from = variable.get("valueFrom") or {}
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in value_from:
                        yield Reference(
                            kind,
                            value_from[key]["name"],
                            f"{where}.env[{env_index}]",
                            bool(value_from[key].get("optional")),
                        )


def generated_secrets(manifest: Manifest) -> set[str]:
    """Secrets the release's hooks create (declared by the hook's spec ConfigMap)."""
    names = {
        labels_of(o)[GENERATED_SECRET_LABEL]
        for o in manifest.of_kind("ConfigMap")
        if GENERATED_SECRET_LABEL in labels_of(o)
    }
    for configmap in manifest.of_kind("ConfigMap"):
        spec = (configmap.get("data") or {}).get("spec.json")
        if GENERATED_SECRET_LABEL in labels_of(configmap) and spec:
            document = json.loads(spec)
            names.add(str(document["secret"]["name"]))
            # The data tier's CA and server certificates, when the hook makes them.
            certificates = document.get("certificates") or {}
            if certificates:
                names.add(str(certificates["ca"]["secret"]))
                names.update(str(server["secret"]) for server in certificates["servers"])
    return names


def check_references(manifest: Manifest, external: ExternalObjects | None = None) -> list[Problem]:
    external = external or ExternalObjects()
    rendered = {(str(o["kind"]), name_of(o)) for o in manifest}
    generated = generated_secrets(manifest) | operator_secrets(manifest)
    problems = []
    for template in manifest.pod_templates():
        for reference in pod_references(template):
            if reference.optional or (reference.kind, reference.name) in rendered or reference in external:
                continue
            if reference.kind == "Secret" and reference.name in generated:  # by the hooks or an operator
                continue
            if reference.kind == "PriorityClass" and reference.name in BUILTIN_PRIORITY_CLASSES:
                continue
            problems.append(
                Problem(
                    template.owner_kind,
                    template.owner_name,
                    reference.path,
                    f"{reference.kind} {reference.name!r} is neither rendered by the release, created by its "
                    "hooks, nor declared external",
                    "references/exist",
                )
            )
    return problems
