"""The object graph of a release: what selects, targets or names what, and whether it resolves.

Each check returns Problems named by rule, so one broken reference reads as
`Service/archangel-core: spec.ports[0].targetPort: port "htp" is not a container port of the pods it selects`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..manifest import K8sObject, Manifest, PodTemplate, labels_of, name_of
from .problems import Problem
from .selectors import matches, selected_pod_templates


def _container_ports(template: PodTemplate) -> tuple[set[int], set[str]]:
    numbers: set[int] = set()
    names: set[str] = set()
    for container in template.containers():
        for port in container.get("ports") or []:
            numbers.add(int(port["containerPort"]))
            if port.get("name"):
                names.add(str(port["name"]))
    return numbers, names


def _port_on(port: Any, templates: Iterable[PodTemplate]) -> list[str]:
    """Owners of the templates that do NOT expose the port (a number or a name)."""
    missing = []
    for template in templates:
        numbers, names = _container_ports(template)
        present = port in names if isinstance(port, str) else int(port) in numbers
        if not present:
            missing.append(template.ref)
    return missing


def _namespace(obj: K8sObject) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def _same_namespace(templates: Iterable[PodTemplate], namespace: str | None) -> list[PodTemplate]:
    return [t for t in templates if _namespace(t.owner) == namespace]


def check_services(manifest: Manifest) -> list[Problem]:
    problems = []
    templates = list(manifest.pod_templates())
    for service in manifest.of_kind("Service"):
        spec = service.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            continue  # a selector-less Service is managed by hand (EndpointSlices); nothing to resolve
        selected = selected_pod_templates(selector, _same_namespace(templates, _namespace(service)), plain=True)
        if not selected:
            problems.append(
                Problem(
                    "Service",
                    name_of(service),
                    "spec.selector",
                    f"selects no pods of the release: {selector}",
                    "graph/service-selector",
                )
            )
            continue
        for index, port in enumerate(spec.get("ports") or []):
            target = port.get("targetPort", port.get("port"))
            for owner in _port_on(target, selected):
                problems.append(
                    Problem(
                        "Service",
                        name_of(service),
                        f"spec.ports[{index}].targetPort",
                        f"port {target!r} is not a container port of {owner}",
                        "graph/service-port",
                    )
                )
    return problems


def check_pdbs(manifest: Manifest) -> list[Problem]:
    problems = []
    templates = list(manifest.pod_templates())
    for pdb in manifest.of_kind("PodDisruptionBudget"):
        selector = (pdb.get("spec") or {}).get("selector")
        if not selected_pod_templates(selector, _same_namespace(templates, _namespace(pdb))):
            problems.append(
                Problem(
                    "PodDisruptionBudget",
                    name_of(pdb),
                    "spec.selector",
                    "selects no pods of the release",
                    "graph/pdb-selector",
                )
            )
    return problems


def _peer_templates(peer: dict[str, Any], policy: K8sObject, templates: list[PodTemplate]) -> list[PodTemplate] | None:
    """Pod templates of this release a NetworkPolicy peer names; None when it points outside the release."""
    if "ipBlock" in peer or "namespaceSelector" in peer:
        return None
    return selected_pod_templates(peer.get("podSelector"), _same_namespace(templates, _namespace(policy)))


def check_network_policies(manifest: Manifest) -> list[Problem]:
    problems = []
    templates = list(manifest.pod_templates())
    for policy in manifest.of_kind("NetworkPolicy"):
        name = name_of(policy)
        spec = policy.get("spec") or {}
        targets = selected_pod_templates(spec.get("podSelector"), _same_namespace(templates, _namespace(policy)))
        if not targets:
            problems.append(
                Problem(
                    "NetworkPolicy",
                    name,
                    "spec.podSelector",
                    "selects no pods of the release",
                    "graph/networkpolicy-selector",
                )
            )
            continue
        for index, rule in enumerate(spec.get("ingress") or []):
            for port_index, port in enumerate(rule.get("ports") or []):
                if "port" not in port:
                    continue
                for owner in _port_on(port["port"], targets):
                    problems.append(
                        Problem(
                            "NetworkPolicy",
                            name,
                            f"spec.ingress[{index}].ports[{port_index}]",
                            f"allows port {port['port']!r}, which {owner} does not expose",
                            "graph/networkpolicy-port",
                        )
                    )
            for peer_index, peer in enumerate(rule.get("from") or []):
                peers = _peer_templates(peer, policy, templates)
                if peers is not None and not peers:
                    problems.append(
                        Problem(
                            "NetworkPolicy",
                            name,
                            f"spec.ingress[{index}].from[{peer_index}]",
                            "names pods that no workload of the release runs",
                            "graph/networkpolicy-peer",
                        )
                    )
        for index, rule in enumerate(spec.get("egress") or []):
            for peer_index, peer in enumerate(rule.get("to") or []):
                peers = _peer_templates(peer, policy, templates)
                if peers is None:
                    continue
                if not peers:
                    problems.append(
                        Problem(
                            "NetworkPolicy",
                            name,
                            f"spec.egress[{index}].to[{peer_index}]",
                            "names pods that no workload of the release runs",
                            "graph/networkpolicy-peer",
                        )
                    )
                for port_index, port in enumerate(rule.get("ports") or []):
                    if "port" in port:
                        for owner in _port_on(port["port"], peers):
                            problems.append(
                                Problem(
                                    "NetworkPolicy",
                                    name,
                                    f"spec.egress[{index}].ports[{port_index}]",
                                    f"allows port {port['port']!r}, which {owner} does not expose",
                                    "graph/networkpolicy-port",
                                )
                            )
    return problems


def is_default_deny(policy: K8sObject) -> bool:
    spec = policy.get("spec") or {}
    return (
        set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def pods_without_default_deny(manifest: Manifest) -> list[PodTemplate]:
    denies = [p for p in manifest.of_kind("NetworkPolicy") if is_default_deny(p)]
    return [
        t
        for t in manifest.pod_templates()
        if not any(
            matches((p.get("spec") or {}).get("podSelector"), t.labels) and _namespace(p) == _namespace(t.owner)
            for p in denies
        )
    ]


def check_service_monitors(manifest: Manifest) -> list[Problem]:
    problems = []
    services = manifest.of_kind("Service")
    for monitor in manifest.of_kind("ServiceMonitor"):
        spec = monitor.get("spec") or {}
        names = (spec.get("namespaceSelector") or {}).get("matchNames") or [_namespace(monitor)]
        selected = [s for s in services if _namespace(s) in names and matches(spec.get("selector"), labels_of(s))]
        if not selected:
            problems.append(
                Problem(
                    "ServiceMonitor",
                    name_of(monitor),
                    "spec.selector",
                    "selects no Service of the release",
                    "graph/servicemonitor-selector",
                )
            )
            continue
        for index, endpoint in enumerate(spec.get("endpoints") or []):
            port = endpoint.get("port")
            for service in selected:
                if port not in {p.get("name") for p in (service.get("spec") or {}).get("ports") or []}:
                    problems.append(
                        Problem(
                            "ServiceMonitor",
                            name_of(monitor),
                            f"spec.endpoints[{index}].port",
                            f"port {port!r} is not a port name of Service/{name_of(service)}",
                            "graph/servicemonitor-port",
                        )
                    )
    return problems


def check_scale_targets(manifest: Manifest) -> list[Problem]:
    problems = []
    paths = {
        "HorizontalPodAutoscaler": "scaleTargetRef",
        "ScaledObject": "scaleTargetRef",
        "VerticalPodAutoscaler": "targetRef",
    }
    for kind, field in paths.items():
        for obj in manifest.of_kind(kind):
            target = (obj.get("spec") or {}).get(field) or {}
            target_kind = str(target.get("kind", "Deployment"))
            if manifest.find(target_kind, str(target.get("name"))) is None:
                problems.append(
                    Problem(
                        kind,
                        name_of(obj),
                        f"spec.{field}",
                        f"targets {target_kind}/{target.get('name')}, which the release does not render",
                        "graph/scale-target",
                    )
                )
    return problems


def check_peer_authentications(manifest: Manifest) -> list[Problem]:
    problems = []
    templates = list(manifest.pod_templates())
    for policy in manifest.of_kind("PeerAuthentication"):
        selector = (policy.get("spec") or {}).get("selector")
        if selector is not None and not selected_pod_templates(selector, templates):
            problems.append(
                Problem(
                    "PeerAuthentication",
                    name_of(policy),
                    "spec.selector",
                    "selects no pods of the release",
                    "graph/peerauthentication-selector",
                )
            )
    return problems


GRAPH_CHECKS: tuple[Callable[[Manifest], list[Problem]], ...] = (
    check_services,
    check_pdbs,
    check_network_policies,
    check_service_monitors,
    check_scale_targets,
    check_peer_authentications,
)


def check_graph(manifest: Manifest) -> list[Problem]:
    return [problem for check in GRAPH_CHECKS for problem in check(manifest)]
