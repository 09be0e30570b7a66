"""The object graph of a release: what selects, targets or names what, and whether it resolves.

Each check returns Problems named by rule, so one broken reference reads as
`Service/archangel-core: spec.ports[0].targetPort: port "htp" is not a container port of the pods it selects`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archangel_helm.core.manifest import K8sObject, Manifest, PodTemplate, labels_of, name_of
from archangel_helm.validate.operators import selectable_pod_templates
from archangel_helm.validate.problems import Problem
from archangel_helm.validate.selectors import matches, selected_pod_templates


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
    templates = selectable_pod_templates(manifest)
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
    templates = selectable_pod_templates(manifest)
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


def _monitor_namespaces(monitor: K8sObject) -> set[str | None] | None:
    """The namespaces a ServiceMonitor/PodMonitor looks in; None for any (`namespaceSelector.any: true`)."""
    selector = (monitor.get("spec") or {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return set(selector.get("matchNames") or [_namespace(monitor)])


def _in_namespaces(obj: K8sObject, namespaces: set[str | None] | None) -> bool:
    return namespaces is None or _namespace(obj) in namespaces


def _service_pods(service: K8sObject, templates: list[PodTemplate]) -> list[PodTemplate]:
    selector = (service.get("spec") or {}).get("selector")
    return selected_pod_templates(selector, _same_namespace(templates, _namespace(service)), plain=True)


def check_service_monitors(manifest: Manifest) -> list[Problem]:
    problems = []
    services = manifest.of_kind("Service")
    templates = list(manifest.pod_templates())
    for monitor in manifest.of_kind("ServiceMonitor"):
        spec = monitor.get("spec") or {}
        namespaces = _monitor_namespaces(monitor)
        selected = [
            s for s in services if _in_namespaces(s, namespaces) and matches(spec.get("selector"), labels_of(s))
        ]
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
            if "port" not in endpoint and "targetPort" in endpoint:
                # targetPort names the pod's port (number or name), behind the Service: resolve it there.
                target = endpoint["targetPort"]
                for service in selected:
                    for owner in _port_on(target, _service_pods(service, templates)):
                        problems.append(
                            Problem(
                                "ServiceMonitor",
                                name_of(monitor),
                                f"spec.endpoints[{index}].targetPort",
                                f"port {target!r} is not a container port of {owner}, "
                                f"selected by Service/{name_of(service)}",
                                "graph/servicemonitor-port",
                            )
                        )
                continue
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


def check_pod_monitors(manifest: Manifest) -> list[Problem]:
    problems = []
    templates = selectable_pod_templates(manifest)
    for monitor in manifest.of_kind("PodMonitor"):
        spec = monitor.get("spec") or {}
        namespaces = _monitor_namespaces(monitor)
        selected = selected_pod_templates(
            spec.get("selector"), [t for t in templates if _in_namespaces(t.owner, namespaces)]
        )
        if not selected:
            problems.append(
                Problem(
                    "PodMonitor",
                    name_of(monitor),
                    "spec.selector",
                    "selects no pods of the release",
                    "graph/podmonitor-selector",
                )
            )
            continue
        for index, endpoint in enumerate(spec.get("podMetricsEndpoints") or []):
            for field in ("port", "portNumber", "targetPort"):
                if field not in endpoint:
                    continue
                port = endpoint[field]
                if field == "port" and not isinstance(port, str):
                    port = str(port)  # `port` is always a container port name
                for owner in _port_on(port, selected):
                    problems.append(
                        Problem(
                            "PodMonitor",
                            name_of(monitor),
                            f"spec.podMetricsEndpoints[{index}].{field}",
                            f"port {port!r} is not a container port of {owner}",
                            "graph/podmonitor-port",
                        )
                    )
                break  # the first of port, portNumber, targetPort present is the one Prometheus uses
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
        # A workload selector only reaches pods in the policy's own namespace.
        in_namespace = _same_namespace(templates, _namespace(policy))
        if selector is not None and not selected_pod_templates(selector, in_namespace):
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


def _services_named(manifest: Manifest, name: str, namespace: str | None) -> list[K8sObject]:
    """Rendered Services of that name in that namespace. An object without metadata.namespace goes to the
    release's namespace, which the manifest does not record: it matches any namespace asked for."""
    found = [
        s
        for s in manifest.of_kind("Service")
        if name_of(s) == name and (namespace is None or _namespace(s) in (None, namespace))
    ]
    return sorted(found, key=lambda s: _namespace(s) != namespace)  # an exact namespace match first


def _service_port_problem(service: K8sObject, port: Any) -> str | None:
    """Why a Service does not serve a port (a number matches spec.ports[].port, a name spec.ports[].name)."""
    ports = (service.get("spec") or {}).get("ports") or []
    if isinstance(port, str):
        if port in {p.get("name") for p in ports}:
            return None
        return f"port {port!r} is not a port name of Service/{name_of(service)}"
    if int(port) in {int(p["port"]) for p in ports if "port" in p}:
        return None
    return f"port {port!r} is not a port of Service/{name_of(service)}"


def _ingress_backends(spec: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    if (spec.get("defaultBackend") or {}).get("service"):
        yield "spec.defaultBackend.service", spec["defaultBackend"]["service"]
    for rule_index, rule in enumerate(spec.get("rules") or []):
        for path_index, path in enumerate((rule.get("http") or {}).get("paths") or []):
            service = (path.get("backend") or {}).get("service")
            if service:
                yield f"spec.rules[{rule_index}].http.paths[{path_index}].backend.service", service


def check_ingresses(manifest: Manifest) -> list[Problem]:
    problems = []
    for ingress in manifest.of_kind("Ingress"):
        for where, backend in _ingress_backends(ingress.get("spec") or {}):
            name = str(backend.get("name"))
            services = _services_named(manifest, name, _namespace(ingress))  # a backend is always same-namespace
            port_spec = backend.get("port") or {}
            port = port_spec.get("name", port_spec.get("number"))
            if not services:
                message = f"Service {name!r} is not rendered by the release"
            elif port is not None and (problem := _service_port_problem(services[0], port)):
                message = problem
            else:
                continue
            problems.append(Problem("Ingress", name_of(ingress), where, message, "graph/ingress-backend"))
    return problems


def check_http_routes(manifest: Manifest) -> list[Problem]:
    problems = []
    for route in manifest.of_kind("HTTPRoute"):
        for rule_index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
            for ref_index, ref in enumerate(rule.get("backendRefs") or []):
                if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                    continue  # another kind of backend (a ServiceImport, an extension's resource)
                name = str(ref.get("name"))
                namespace = ref.get("namespace") or _namespace(route)
                services = _services_named(manifest, name, namespace)
                if not services:
                    message = f"Service {name!r} is not rendered by the release"
                elif "port" not in ref:
                    message = f"names no port; a Service backend needs one (Service/{name})"
                elif problem := _service_port_problem(services[0], int(ref["port"])):
                    message = problem
                else:
                    continue
                problems.append(
                    Problem(
                        "HTTPRoute",
                        name_of(route),
                        f"spec.rules[{rule_index}].backendRefs[{ref_index}]",
                        message,
                        "graph/httproute-backend",
                    )
                )
    return problems


def _istio_service(manifest: Manifest, host: str, namespace: str | None) -> K8sObject | None:
    """The rendered Service an Istio host names: `name` (in the VirtualService's namespace), `name.namespace`,
    `name.namespace.svc` or `name.namespace.svc.<cluster domain>`; None for any other host."""
    parts = host.split(".")
    if "*" in host:
        return None
    if len(parts) == 1:
        found = _services_named(manifest, parts[0], namespace)
    elif len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
        found = _services_named(manifest, parts[0], parts[1])
    else:
        return None
    return found[0] if found else None


def _virtual_service_destinations(spec: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for protocol in ("http", "tcp", "tls"):
        for index, route in enumerate(spec.get(protocol) or []):
            for route_index, destination in enumerate(route.get("route") or []):
                if destination.get("destination"):
                    yield f"spec.{protocol}[{index}].route[{route_index}].destination", destination["destination"]
            if protocol == "http" and route.get("mirror"):
                yield f"spec.http[{index}].mirror", route["mirror"]
            if protocol == "http":
                for mirror_index, mirror in enumerate(route.get("mirrors") or []):
                    if mirror.get("destination"):
                        yield f"spec.http[{index}].mirrors[{mirror_index}].destination", mirror["destination"]


def check_virtual_services(manifest: Manifest) -> list[Problem]:
    problems = []
    for virtual_service in manifest.of_kind("VirtualService"):
        for where, destination in _virtual_service_destinations(virtual_service.get("spec") or {}):
            number = (destination.get("port") or {}).get("number")
            if number is None:
                continue
            service = _istio_service(manifest, str(destination.get("host", "")), _namespace(virtual_service))
            if service is None:
                continue  # a host outside the release (an external name, a ServiceEntry, another release)
            problem = _service_port_problem(service, int(number))
            if problem:
                problems.append(
                    Problem(
                        "VirtualService",
                        name_of(virtual_service),
                        f"{where}.port.number",
                        f"{destination.get('host')}: {problem}",
                        "graph/virtualservice-destination",
                    )
                )
    return problems


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def check_probe_ports(manifest: Manifest) -> list[Problem]:
    """A probe's named port is looked up (by the kubelet) among the ports of the container it belongs to."""
    problems = []
    for template in manifest.pod_templates():
        base = ".".join((*template.path, "spec"))
        for field in ("initContainers", "containers"):
            for index, container in enumerate(template.spec.get(field) or []):
                names = {str(p["name"]) for p in container.get("ports") or [] if p.get("name")}
                for probe_name in PROBES:
                    probe = container.get(probe_name) or {}
                    for handler in ("httpGet", "tcpSocket", "grpc"):
                        port = (probe.get(handler) or {}).get("port")
                        if isinstance(port, str) and port not in names:
                            problems.append(
                                Problem(
                                    template.owner_kind,
                                    template.owner_name,
                                    f"{base}.{field}[{index}].{probe_name}.{handler}.port",
                                    f"port {port!r} is not a port name of container {container.get('name')}",
                                    "graph/probe-port",
                                )
                            )
    return problems


GRAPH_CHECKS: tuple[Callable[[Manifest], list[Problem]], ...] = (
    check_services,
    check_pdbs,
    check_network_policies,
    check_service_monitors,
    check_pod_monitors,
    check_scale_targets,
    check_peer_authentications,
    check_ingresses,
    check_http_routes,
    check_virtual_services,
    check_probe_ports,
)


def check_graph(manifest: Manifest) -> list[Problem]:
    return [problem for check in GRAPH_CHECKS for problem in check(manifest)]
