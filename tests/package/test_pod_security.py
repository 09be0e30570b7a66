"""Pod Security Standards baseline controls the restricted check also enforces: AppArmor, SELinux and Windows
HostProcess, as https://kubernetes.io/docs/concepts/security/pod-security-standards/ lists their fields and
allowed values, on the pod, on every kind of container, and in the legacy annotation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from archangel_helm.core.manifest import PodTemplate
from archangel_helm.validate.pod_security import check_pod_security

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "web",
    "image": "x:1",
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


def pod(**changes: Any) -> dict[str, Any]:
    """A Pod that meets restricted; `changes` are merged into spec.securityContext, the first container's
    securityContext (container=...), the metadata annotations (annotations=...) or add an init/ephemeral container."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "annotations": changes.pop("annotations", {})},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [copy.deepcopy(RESTRICTED_CONTAINER)],
        },
    }
    obj["spec"]["containers"][0]["securityContext"].update(changes.pop("container", {}))
    for field in ("initContainers", "ephemeralContainers"):
        if field in changes:
            extra = copy.deepcopy(RESTRICTED_CONTAINER) | {"name": "extra"}
            extra["securityContext"].update(changes.pop(field))
            obj["spec"][field] = [extra]
    obj["spec"]["securityContext"].update(changes)
    return obj


def findings(obj: dict[str, Any]) -> list[str]:
    return [str(p) for p in check_pod_security(PodTemplate(obj, ()))]


@pytest.mark.parametrize(
    "allowed",
    [
        {},
        {"appArmorProfile": {"type": "RuntimeDefault"}},
        {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}},
        {"container": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"}}},
        {"annotations": {"container.apparmor.security.beta.kubernetes.io/web": "runtime/default"}},
        {"annotations": {"container.apparmor.security.beta.kubernetes.io/web": "localhost/k8s-web"}},
        {"seLinuxOptions": {"type": "", "level": "s0:c1,c2"}},
        *({"container": {"seLinuxOptions": {"type": t}}} for t in ("container_t", "container_init_t")),
        *({"seLinuxOptions": {"type": t}} for t in ("container_kvm_t", "container_engine_t")),
        {"seLinuxOptions": {"user": "", "role": ""}},
        {"windowsOptions": {"hostProcess": False}},
        {"container": {"windowsOptions": {"hostProcess": False}}},
    ],
)
def test_allowed_values_pass(allowed: dict[str, Any]) -> None:
    assert findings(pod(**copy.deepcopy(allowed))) == []


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"appArmorProfile": {"type": "Unconfined"}},
            "spec.securityContext.appArmorProfile.type",
            "the pod: AppArmor profile Unconfined is not allowed; only RuntimeDefault or Localhost (baseline: AppArmor)",
        ),
        (
            {"ephemeralContainers": {"appArmorProfile": {"type": "Unconfined"}}},
            "spec.ephemeralContainers[0].securityContext.appArmorProfile.type",
            "container extra: AppArmor profile Unconfined is not allowed",
        ),
        (
            {"annotations": {"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}},
            'metadata.annotations["container.apparmor.security.beta.kubernetes.io/web"]',
            "AppArmor profile unconfined for container web is not allowed; only runtime/default or localhost/*",
        ),
        (
            {"seLinuxOptions": {"type": "spc_t"}},
            "spec.securityContext.seLinuxOptions.type",
            "the pod: SELinux type spc_t is not allowed",
        ),
        (
            {"initContainers": {"seLinuxOptions": {"type": "unconfined_t"}}},
            "spec.initContainers[0].securityContext.seLinuxOptions.type",
            "container extra: SELinux type unconfined_t is not allowed",
        ),
        (
            {"seLinuxOptions": {"role": "sysadm_r"}},
            "spec.securityContext.seLinuxOptions.role",
            "the pod: SELinux role must not be set (baseline: SELinux)",
        ),
        (
            {"container": {"seLinuxOptions": {"user": "system_u"}}},
            "spec.containers[0].securityContext.seLinuxOptions.user",
            "container web: SELinux user must not be set",
        ),
        (
            {"windowsOptions": {"hostProcess": True}},
            "spec.securityContext.windowsOptions.hostProcess",
            "the pod must not be a Windows HostProcess (baseline: HostProcess)",
        ),
        (
            {"initContainers": {"windowsOptions": {"hostProcess": True}}},
            "spec.initContainers[0].securityContext.windowsOptions.hostProcess",
            "container extra must not be a Windows HostProcess",
        ),
    ],
)
def test_each_baseline_control_is_named_at_its_field(change: dict[str, Any], path: str, message: str) -> None:
    found = findings(pod(**change))
    assert len(found) == 1, found
    assert found[0].startswith(f"Pod/web: {path}: {message}"), found


def test_a_template_path_prefixes_the_annotation_path() -> None:
    obj = pod(annotations={"container.apparmor.security.beta.kubernetes.io/web": "unconfined"})
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": obj["metadata"], "spec": obj["spec"]}},
    }
    (found,) = [str(p) for p in check_pod_security(PodTemplate(deployment, ("spec", "template")))]
    assert found.startswith('Deployment/web: spec.template.metadata.annotations["container.apparmor.')
