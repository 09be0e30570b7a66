"""Offline schema validation: built-in kinds per Kubernetes version, custom resources per CRD, and no
object ever passes without a schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm.core.chart import Chart
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.manifest import Manifest
from archangel_helm.validate import CrdSchemas, SchemaValidator, supported_kube_versions
from archangel_helm.validate.crds import go_regex_to_python, strict_schema
from archangel_helm.validate.graph import check_graph
from tests.support.project import APP_CHART, SHARED_CRD_SCHEMAS

NEEDS_SHARED = pytest.mark.skipif(
    not SHARED_CRD_SCHEMAS.is_dir(), reason=f"upstream CRD schemas not present at {SHARED_CRD_SCHEMAS}"
)

VALIDATOR = SchemaValidator([(1, 29), (1, 37)])


def deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "main", "image": "x:1", **container}]},
            },
        },
    }


def messages(obj: dict[str, Any], validator: SchemaValidator = VALIDATOR) -> list[str]:
    return [str(p) for p in validator.validate_object(obj)]


def test_a_valid_object_has_no_problems() -> None:
    assert messages(deployment()) == []


def test_an_unknown_field_is_named_with_its_full_path() -> None:
    assert messages(deployment(imagePullPolice="Always")) == [
        "Deployment/web: spec.template.spec.containers[0].imagePullPolice: unknown field (Kubernetes 1.29, 1.37)"
    ]


def test_a_wrong_type_says_what_was_given_and_what_is_wanted() -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "3"
    assert messages(obj) == ["Deployment/web: spec.replicas: got string '3', want integer (Kubernetes 1.29, 1.37)"]


def test_a_missing_required_field_is_named() -> None:
    obj = deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]
    assert messages(obj) == [
        "Deployment/web: spec.template.spec.containers[0].name: required field is missing (Kubernetes 1.29, 1.37)"
    ]


def test_int_or_string_accepts_both_and_rejects_others() -> None:
    good = deployment(
        ports=[{"containerPort": 80, "name": "http"}],
        readinessProbe={"httpGet": {"port": "http"}},
        livenessProbe={"httpGet": {"port": 8080}},
    )
    assert messages(good) == []
    bad = deployment(readinessProbe={"httpGet": {"port": [80]}})
    assert any("readinessProbe.httpGet.port" in m for m in messages(bad))


def test_a_kind_newer_than_the_oldest_version_is_reported_for_that_version() -> None:
    obj = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"}, "spec": {}}
    assert messages(obj) == [
        "DeviceClass/gpu: apiVersion: resource.k8s.io/v1 DeviceClass is not served (Kubernetes 1.29)"
    ]


def test_a_kind_with_no_schema_is_an_error_never_a_pass() -> None:
    (problem,) = VALIDATOR.validate_object(
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    )
    assert problem.rule == "schema/missing"
    assert "no schema for example.com/v1 Widget" in problem.message


def test_an_object_without_apiversion_or_kind_is_reported() -> None:
    (problem,) = VALIDATOR.validate_object({"metadata": {"name": "x"}})
    assert "no apiVersion or kind" in problem.message


def test_group_prefix_collisions_do_not_borrow_a_builtin_schema() -> None:
    # kubernetes-validate files keep only the group's first label: networking.istio.io/v1 must not match
    # networking.k8s.io/v1 schemas of the same kind name.
    obj = {"apiVersion": "networking.istio.io/v1", "kind": "Ingress", "metadata": {"name": "x"}}
    assert VALIDATOR.validate_object(obj)[0].rule == "schema/missing"


def test_supported_versions_come_from_the_chart_kubeversion() -> None:
    assert supported_kube_versions(Chart.load(APP_CHART)) == ((1, 32), (1, 37))


def test_a_kubeversion_older_than_any_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: old\nversion: 0.1.0\nkubeVersion: '>=1.20.0-0'\n")
    with pytest.raises(ConfigurationError, match=r"admits 1\.20, older than the oldest schema available"):
        supported_kube_versions(Chart.load(tmp_path))


# --- CRD schemas -------------------------------------------------------------------------------------------

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "size": {"type": "integer", "nullable": True},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "string"}},
                },
                "mode": {"type": "string", "pattern": "^(?i)(abort|warn)?$"},
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            },
        },
    },
}


def widget_crd_yaml() -> str:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": WIDGET_SCHEMA}},
                {"name": "v0", "served": False, "storage": False, "schema": {"openAPIV3Schema": WIDGET_SCHEMA}},
            ],
        },
    }
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [crd]})


@pytest.fixture
def widgets(tmp_path: Path) -> SchemaValidator:
    (tmp_path / "crds.yaml").write_text(widget_crd_yaml())  # the shape of `kubectl get crd -o yaml`
    return SchemaValidator([(1, 37)], CrdSchemas.from_directories(tmp_path))


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_crd_manifests_load_only_served_versions(widgets: SchemaValidator) -> None:
    assert widgets.crds.knows("example.com/v1", "Widget")
    assert not widgets.crds.knows("example.com/v0", "Widget")


def test_crd_valid_object_passes(widgets: SchemaValidator) -> None:
    assert messages(widget(port=80, size=None, mode="WARN", free={"anything": {"goes": 1}}), widgets) == []
    assert messages(widget(port="http"), widgets) == []


def test_crd_unknown_fields_are_errors_except_under_preserve_unknown_fields(widgets: SchemaValidator) -> None:
    assert messages(widget(sise=3, free={"x": 1}), widgets) == [
        "Widget/w: spec.sise: unknown field (not in the example.com/v1 Widget CRD schema)"
    ]


def test_crd_root_fields_are_allowed_even_when_the_schema_omits_them(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    folder = tmp_path / "example.com" / "v1"
    folder.mkdir(parents=True)
    (folder / "Gadget.json").write_text(json.dumps(schema))  # like Istio's: no apiVersion, kind or metadata listed
    validator = SchemaValidator([(1, 37)], CrdSchemas.from_directories(tmp_path))
    gadget: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g", "labels": {"a": "b"}},
        "spec": {"x": "y"},
    }
    assert messages(gadget, validator) == []
    gadget["spec"]["z"] = 1
    assert messages(gadget, validator) == [
        "Gadget/g: spec.z: unknown field (not in the example.com/v1 Gadget CRD schema)"
    ]


def test_crd_metadata_is_checked_against_objectmeta(widgets: SchemaValidator) -> None:
    obj = widget()
    obj["metadata"]["labelz"] = {}
    assert messages(obj, widgets) == ["Widget/w: metadata.labelz: unknown field (not in the ObjectMeta schema)"]


def test_crd_int_or_string_rejects_other_types(widgets: SchemaValidator) -> None:
    assert any("spec.port" in m for m in messages(widget(port=1.5), widgets))


def test_crd_null_only_where_nullable(widgets: SchemaValidator) -> None:
    assert messages(widget(size=None), widgets) == []
    assert messages(widget(mode=None), widgets) == ["Widget/w: spec.mode: got null, want string"]


def test_crd_go_case_insensitive_pattern_is_honoured(widgets: SchemaValidator) -> None:
    assert messages(widget(mode="Abort"), widgets) == []
    assert "does not match" in messages(widget(mode="panic"), widgets)[0]


def test_crd_list_map_keys_must_be_unique(widgets: SchemaValidator) -> None:
    assert (
        "duplicate entry with keys {'name': 'a'}" in messages(widget(items=[{"name": "a"}, {"name": "a"}]), widgets)[0]
    )
    assert "duplicate entry 'x'" in messages(widget(tags=["x", "x"]), widgets)[0]


def test_go_regex_rewrite_scopes_the_flag_to_its_group() -> None:
    assert go_regex_to_python("^(?i)(abort|warn)?$") == "^(?i:(abort|warn)?$)"
    assert go_regex_to_python("^((?i)jan|feb)(x)$") == "^((?i:jan|feb))(x)$"
    assert go_regex_to_python("(?i)^a$") == "(?i)^a$"  # a leading flag is already valid Python


def test_strict_schema_does_not_modify_its_input() -> None:
    before = json.dumps(WIDGET_SCHEMA, sort_keys=True)
    strict_schema(WIDGET_SCHEMA)
    assert json.dumps(WIDGET_SCHEMA, sort_keys=True) == before


def test_a_missing_crd_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        CrdSchemas.from_directories(tmp_path / "nope")


@NEEDS_SHARED
def test_every_upstream_schema_we_rely_on_loads_and_compiles() -> None:
    store = CrdSchemas.from_directories(SHARED_CRD_SCHEMAS)
    wanted = {
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"),
        ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"),
        ("networking.istio.io/v1", "VirtualService"),
        ("networking.istio.io/v1", "DestinationRule"),
        ("security.istio.io/v1", "PeerAuthentication"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"),
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "ApplicationSet"),
    }
    assert wanted <= set(store.schemas)
    for key in wanted:
        validator = store.validator(*key)
        assert validator is not None
        list(validator.iter_errors({"apiVersion": key[0], "kind": key[1], "metadata": {"name": "x"}}))


@NEEDS_SHARED
def test_upstream_schema_catches_a_misspelt_servicemonitor_field() -> None:
    validator = SchemaValidator([(1, 37)], CrdSchemas.from_directories(SHARED_CRD_SCHEMAS))
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "sm"},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "30s"}]},
    }
    assert messages(obj, validator) == [
        "ServiceMonitor/sm: spec.endpoints[0].intervall: unknown field (not in the monitoring.coreos.com/v1 ServiceMonitor CRD schema)"
    ]


@NEEDS_SHARED
def test_argo_helm_values_object_is_free_form() -> None:
    validator = SchemaValidator([(1, 37)], CrdSchemas.from_directories(SHARED_CRD_SCHEMAS))
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
            "source": {
                "repoURL": "https://example.com/r.git",
                "path": "charts/x",
                "targetRevision": "main",
                "helm": {"valuesObject": {"anything": {"nested": [1, 2]}}},
            },
        },
    }
    assert messages(app, validator) == []


# --- the object graph (validate/graph.py) -----------------------------------------------------------------------


def graph_problems(*documents: dict[str, Any]) -> list[str]:
    manifest = Manifest(tuple(documents), ("",) * len(documents), "")
    return [f"{p.rule} {p}" for p in check_graph(manifest)]


def meta(name: str, namespace: str | None = "app", **labels: str) -> dict[str, Any]:
    return {"name": name, **({"namespace": namespace} if namespace else {}), **({"labels": labels} if labels else {})}


def web_deployment(namespace: str | None = "app", containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    ports = [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("web", namespace),
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers or [{"name": "web", "image": "x:1", "ports": ports}]},
            },
        },
    }


def web_service(namespace: str | None = "app") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("web", namespace, app="web"),
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "metrics", "port": 9090}],
        },
    }


def test_a_servicemonitor_targetport_resolves_on_the_pods_behind_the_service() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta("web"),
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "endpoints": [{"targetPort": 8080}, {"targetPort": "metrics"}, {"targetPort": "admin"}],
        },
    }
    assert graph_problems(web_deployment(), web_service(), monitor) == [
        "graph/servicemonitor-port ServiceMonitor/web: spec.endpoints[2].targetPort: port 'admin' is not a container "
        "port of Deployment/web, selected by Service/web"
    ]


def test_a_podmonitor_looks_only_in_the_namespaces_it_names() -> None:
    def monitor(namespace_selector: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": meta("web", "monitoring"),
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "namespaceSelector": namespace_selector,
                "podMetricsEndpoints": [{"port": "metrics"}],
            },
        }

    assert graph_problems(web_deployment(), monitor({"matchNames": ["app"]})) == []
    assert graph_problems(web_deployment(), monitor({"any": True})) == []
    assert graph_problems(web_deployment(), monitor({})) == [
        "graph/podmonitor-selector PodMonitor/web: spec.selector: selects no pods of the release"
    ]


@pytest.mark.parametrize(
    "host",
    ["web", "web.app", "web.app.svc", "web.app.svc.cluster.local", "web.app.svc.example.internal"],
)
def test_a_virtualservice_host_names_a_service_in_any_istio_form(host: str) -> None:
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": meta("web"),
        "spec": {
            "hosts": [host],
            "http": [{"route": [{"destination": {"host": host, "port": {"number": 8080}}}]}],
            "tcp": [{"route": [{"destination": {"host": host, "port": {"number": 9090}}}]}],
        },
    }
    assert graph_problems(web_deployment(), web_service(), virtual_service) == [
        "graph/virtualservice-destination VirtualService/web: spec.http[0].route[0].destination.port.number: "
        f"{host}: port 8080 is not a port of Service/web"
    ]


@pytest.mark.parametrize("host", ["web.elsewhere", "web.elsewhere.svc.cluster.local", "api.example.com", "*.app"])
def test_a_virtualservice_host_outside_the_release_is_not_checked(host: str) -> None:
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": meta("web"),
        "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": host, "port": {"number": 1}}}]}]},
    }
    assert graph_problems(web_deployment(), web_service(), virtual_service) == []


def test_an_ingress_backend_is_looked_up_in_the_ingress_namespace() -> None:
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta("web", "edge"),
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }
    assert graph_problems(web_deployment(), web_service(), ingress) == [
        "graph/ingress-backend Ingress/web: spec.defaultBackend.service: Service 'web' is not rendered by the release"
    ]
    ingress["metadata"]["namespace"] = "app"
    ingress["spec"]["defaultBackend"]["service"]["port"] = {"name": "admin"}
    assert graph_problems(web_deployment(), web_service(), ingress) == [
        "graph/ingress-backend Ingress/web: spec.defaultBackend.service: port 'admin' is not a port name of Service/web"
    ]


def test_an_httproute_checks_service_backends_only_and_follows_their_namespace() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": meta("web", "edge"),
        "spec": {
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web", "namespace": "app", "port": 80},
                        {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "web", "port": 1},
                        {"name": "web", "port": 80},
                    ]
                }
            ]
        },
    }
    assert graph_problems(web_deployment(), web_service(), route) == [
        "graph/httproute-backend HTTPRoute/web: spec.rules[0].backendRefs[2]: Service 'web' is not rendered by the "
        "release"
    ]


def test_a_probe_named_port_must_be_a_port_of_its_own_container() -> None:
    containers: list[dict[str, Any]] = [
        {"name": "web", "image": "x:1", "ports": [{"name": "http", "containerPort": 8080}]},
        {
            "name": "sidecar",
            "image": "y:1",
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
            "livenessProbe": {"tcpSocket": {"port": 8080}},
            "startupProbe": {"grpc": {"port": 9000}},
        },
    ]
    assert graph_problems(web_deployment(containers=containers)) == [
        "graph/probe-port Deployment/web: spec.template.spec.containers[1].readinessProbe.httpGet.port: port 'http' "
        "is not a port name of container sidecar"
    ]


def test_a_peerauthentication_selects_pods_of_its_own_namespace_only() -> None:
    policy: dict[str, Any] = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": meta("web", "istio-system"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "mtls": {"mode": "STRICT"}},
    }
    assert graph_problems(web_deployment(), policy) == [
        "graph/peerauthentication-selector PeerAuthentication/web: spec.selector: selects no pods of the release"
    ]
    policy["metadata"]["namespace"] = "app"
    assert graph_problems(web_deployment(), policy) == []
