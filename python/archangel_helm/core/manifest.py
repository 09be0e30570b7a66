"""The rendered object set of one release and the queries tests and checks run on it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath

from archangel_helm.core import yamlio
from archangel_helm.core.errors import ObjectNotFoundError

K8sObject = dict[str, Any]

_SOURCE = re.compile(r"^# Source: (?P<source>.+)$", re.MULTILINE)

# Where each workload kind keeps its pod template (path of keys from the object root).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class PodTemplate:
    """One pod template and the object that owns it."""

    owner: K8sObject
    path: tuple[str, ...]  # keys from the owner's root to the template (metadata + spec)

    @property
    def owner_kind(self) -> str:
        return str(self.owner["kind"])

    @property
    def owner_name(self) -> str:
        return str(self.owner["metadata"]["name"])

    @property
    def template(self) -> dict[str, Any]:
        node: Any = self.owner
        for key in self.path:
            node = node[key]
        return dict(node)

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("labels") or {})

    @property
    def annotations(self) -> dict[str, str]:
        return dict((self.template.get("metadata") or {}).get("annotations") or {})

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.template.get("spec") or {})

    def containers(self, include_init: bool = True) -> list[dict[str, Any]]:
        spec = self.spec
        init = list(spec.get("initContainers") or []) if include_init else []
        return init + list(spec.get("containers") or [])

    @property
    def ref(self) -> str:
        return f"{self.owner_kind}/{self.owner_name}"


@dataclass(frozen=True, repr=False)
class Manifest:
    """The parsed objects of one `helm template` run, in output order."""

    objects: tuple[K8sObject, ...]
    sources: tuple[str, ...]  # the template each object came from, parallel to objects
    text: str  # helm's stdout, unchanged (determinism tests compare it byte for byte)

    @classmethod
    def parse(cls, text: str) -> Manifest:
        objects: list[K8sObject] = []
        sources: list[str] = []
        for document in re.split(r"^---\s*$", text, flags=re.MULTILINE):
            source_match = _SOURCE.search(document)
            for loaded in yamlio.load_all(document):
                if loaded is None:
                    continue
                if not isinstance(loaded, dict) or "kind" not in loaded:
                    raise ValueError(f"rendered document is not a Kubernetes object: {str(loaded)[:200]}")
                objects.append(loaded)
                sources.append(source_match["source"] if source_match else "")
        return cls(tuple(objects), tuple(sources), text)

    def __iter__(self) -> Iterator[K8sObject]:
        return iter(self.objects)

    def __repr__(self) -> str:
        # Short: pytest prints the arguments of a failed assertion, and a whole release is thousands of lines.
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds().items()))
        return f"<Manifest of {len(self.objects)} objects: {kinds or 'none'}>"

    def __len__(self) -> int:
        return len(self.objects)

    def kinds(self) -> Counter[str]:
        return Counter(str(obj["kind"]) for obj in self.objects)

    def refs(self) -> set[tuple[str, str]]:
        """Every (kind, name) pair: what an inventory test compares."""
        return {(str(obj["kind"]), name_of(obj)) for obj in self.objects}

    def of_kind(self, kind: str) -> list[K8sObject]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def find(self, kind: str, name: str) -> K8sObject | None:
        for obj in self.objects:
            if obj["kind"] == kind and name_of(obj) == name:
                return obj
        return None

    def get(self, kind: str, name: str) -> K8sObject:
        found = self.find(kind, name)
        if found is None:
            names = sorted(name_of(obj) for obj in self.of_kind(kind))
            raise ObjectNotFoundError(
                f"no {kind} named {name!r} in the manifest; {kind} objects present: {names or 'none'}"
            )
        return found

    def source_of(self, obj: K8sObject) -> str:
        for candidate, source in zip(self.objects, self.sources, strict=True):
            if candidate is obj:
                return source
        raise ObjectNotFoundError(f"{ref_of(obj)} is not an object of this manifest")

    def select(self, expression: str) -> Any:
        """A JMESPath query over the list of objects, e.g. ``[?kind=='Service'].metadata.name``."""
        return jmespath.search(expression, list(self.objects))

    def pod_templates(self) -> Iterator[PodTemplate]:
        """Every pod template with its owner: Deployments, StatefulSets, DaemonSets, Jobs, CronJobs."""
        for obj in self.objects:
            path = POD_TEMPLATE_PATHS.get(str(obj["kind"]))
            if path is not None:
                yield PodTemplate(obj, path)
            elif obj["kind"] == "Pod":
                yield PodTemplate(obj, ())

    def hooks(self) -> list[K8sObject]:
        return [obj for obj in self.objects if "helm.sh/hook" in annotations_of(obj)]


def name_of(obj: K8sObject) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def ref_of(obj: K8sObject) -> str:
    return f"{obj.get('kind')}/{name_of(obj)}"


def labels_of(obj: K8sObject) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj: K8sObject) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})
