"""Pod Security Standard "restricted" (which includes "baseline"), checked on a pod template.

Follows https://kubernetes.io/docs/concepts/security/pod-security-standards/ field by field, so a finding
names the control the admission controller would reject the pod for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archangel_helm.core.manifest import PodTemplate
from archangel_helm.validate.problems import Problem

RULE = "pod-security/restricted"
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
ALLOWED_APPARMOR_TYPES = {"RuntimeDefault", "Localhost"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
# "" is the runtime's default; container_engine_t since Kubernetes 1.31.
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
_SELINUX_TYPES_TEXT = ", ".join(sorted(ALLOWED_SELINUX_TYPES - {""})) + " or unset"


def _baseline_context(sc: dict[str, Any], prefix: str, who: str) -> Iterator[tuple[str, str]]:
    """The baseline controls a pod's and a container's securityContext share: HostProcess, AppArmor, SELinux."""
    if (sc.get("windowsOptions") or {}).get("hostProcess") is True:
        yield f"{prefix}.windowsOptions.hostProcess", f"{who} must not be a Windows HostProcess (baseline: HostProcess)"
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in ALLOWED_APPARMOR_TYPES:
        yield (
            f"{prefix}.appArmorProfile.type",
            f"{who}: AppArmor profile {apparmor} is not allowed; only RuntimeDefault or Localhost (baseline: AppArmor)",
        )
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type") not in (None, *ALLOWED_SELINUX_TYPES):
        yield (
            f"{prefix}.seLinuxOptions.type",
            f"{who}: SELinux type {selinux['type']} is not allowed; only {_SELINUX_TYPES_TEXT} (baseline: SELinux)",
        )
    for field in ("user", "role"):
        if selinux.get(field):
            yield f"{prefix}.seLinuxOptions.{field}", f"{who}: SELinux {field} must not be set (baseline: SELinux)"


def _apparmor_annotation_allowed(value: str) -> bool:
    return value == "runtime/default" or value.startswith("localhost/")


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or []):
            yield f"{field}[{index}]", container


def check_pod_security(template: PodTemplate) -> list[Problem]:
    """Every way the pod template breaks the restricted profile; empty when it complies."""
    spec = template.spec
    base = ".".join((*template.path, "spec"))
    pod_sc = spec.get("securityContext") or {}
    found: list[tuple[str, str]] = []

    def add(path: str, message: str) -> None:
        found.append((f"{base}.{path}", message))

    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            add(field, f"{field} must not be true (baseline: host namespaces)")
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            add(
                f"volumes[{index}]",
                f"volume type {sorted(kinds - ALLOWED_VOLUME_TYPES)} is not allowed (restricted: volume types)",
            )
    for index, sysctl in enumerate(pod_sc.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            add(
                f"securityContext.sysctls[{index}]",
                f"sysctl {sysctl.get('name')} is not in the safe set (baseline: sysctls)",
            )
    for path, message in _baseline_context(pod_sc, "securityContext", "the pod"):
        add(path, message)
    metadata = ".".join((*template.path, "metadata"))
    for key, value in sorted(template.annotations.items()):
        if key.startswith(APPARMOR_ANNOTATION) and not _apparmor_annotation_allowed(str(value)):
            found.append(
                (
                    f'{metadata}.annotations["{key}"]',
                    f"AppArmor profile {value} for container {key.removeprefix(APPARMOR_ANNOTATION)} is not allowed; "
                    "only runtime/default or localhost/* (baseline: AppArmor)",
                )
            )
    if pod_sc.get("runAsUser") == 0:
        add("securityContext.runAsUser", "must not be 0 (restricted: running as non-root user)")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        add("securityContext.seccompProfile.type", f"{pod_seccomp} is not allowed (restricted: seccomp)")
    pod_non_root = pod_sc.get("runAsNonRoot") is True

    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        name = container.get("name", "?")
        prefix = f"{where}.securityContext"
        for path, message in _baseline_context(sc, prefix, f"container {name}"):
            add(path, message)
        if sc.get("privileged"):
            add(f"{prefix}.privileged", f"container {name} is privileged (baseline: privileged containers)")
        if sc.get("allowPrivilegeEscalation") is not False:
            add(
                f"{prefix}.allowPrivilegeEscalation",
                f"container {name} must set allowPrivilegeEscalation: false (restricted: privilege escalation)",
            )
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            add(
                f"{prefix}.capabilities.drop", f"container {name} must drop ALL capabilities (restricted: capabilities)"
            )
        extra = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            add(
                f"{prefix}.capabilities.add",
                f"container {name} adds {sorted(extra)}; only NET_BIND_SERVICE is allowed (restricted: capabilities)",
            )
        if sc.get("runAsNonRoot") is False or not (pod_non_root or sc.get("runAsNonRoot") is True):
            add(
                f"{prefix}.runAsNonRoot",
                f"container {name} must run with runAsNonRoot: true (pod or container) (restricted: non-root)",
            )
        if sc.get("runAsUser") == 0:
            add(
                f"{prefix}.runAsUser", f"container {name} must not run as user 0 (restricted: running as non-root user)"
            )
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp not in (None, "RuntimeDefault", "Localhost") or (seccomp is None and pod_seccomp is None):
            add(
                f"{prefix}.seccompProfile",
                f"container {name} needs seccompProfile RuntimeDefault or Localhost, on the pod or the container "
                "(restricted: seccomp)",
            )
        if sc.get("procMount") not in (None, "Default"):
            add(
                f"{prefix}.procMount", f"container {name} must use the default /proc mount (baseline: /proc mount type)"
            )
        for index, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                add(f"{where}.ports[{index}].hostPort", f"container {name} uses a host port (baseline: host ports)")
    return [Problem(template.owner_kind, template.owner_name, path, message, RULE) for path, message in found]
