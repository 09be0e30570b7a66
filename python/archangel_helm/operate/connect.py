"""Reaching the cluster: a kubeconfig context, checked with one cheap request so a missing or unreachable
cluster fails at once with a message that says which."""

from __future__ import annotations

from typing import Any

from archangel_helm.core.errors import ConfigurationError


def connect(kubeconfig: str | None, context: str | None, timeout: float = 5.0) -> Any:
    import kubernetes
    import urllib3

    try:
        api_client = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context
        )
    except (kubernetes.config.ConfigException, OSError, TypeError) as error:
        where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise ConfigurationError(
            f"no cluster to talk to: cannot load a kubeconfig ({where}"
            f"{', context ' + context if context else ''}): {error}"
        ) from error
    host = api_client.configuration.host
    try:
        get_json(api_client, "/version", timeout)
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ConfigurationError(f"cannot reach the Kubernetes API at {host}: {error}") from error
    except kubernetes.client.exceptions.ApiException as error:
        raise ConfigurationError(
            f"the Kubernetes API at {host} refused the request: HTTP {error.status} {error.reason}"
        ) from error
    return api_client


def describe(api_client: Any, kubeconfig: str | None, context: str | None) -> str:
    """Which context and API server this run talks to, for the first preflight row."""
    import kubernetes

    name = context
    if name is None:
        try:
            _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            name = str(active.get("name")) if active else None
        except (kubernetes.config.ConfigException, OSError, TypeError):
            name = None
    return f"context {name or '(default)'} -> {api_client.configuration.host}"


def get_json(api_client: Any, path: str, timeout: float | None = 30.0) -> Any:
    """GET a path of the Kubernetes API (query string allowed) and decode the JSON, as the client's own typed
    calls would; HTTP errors raise the client's ApiException. Non-JSON bodies (proxied endpoints) come back as text."""
    import json
    from urllib.parse import parse_qsl

    import kubernetes

    resource, _, query = path.partition("?")
    method, url, headers, body, post = api_client.param_serialize(
        "GET",
        resource,
        query_params=parse_qsl(query),
        header_params={"Accept": "application/json, */*"},
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(
        method, url, header_params=headers, body=body, post_params=post, _request_timeout=timeout
    )
    data = response.read()
    if not 200 <= response.status < 300:
        raise kubernetes.client.exceptions.ApiException(
            status=response.status, reason=response.reason, http_resp=response
        )
    text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
    try:
        return json.loads(text)
    except ValueError:
        return text
