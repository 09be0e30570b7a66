"""PostgreSQL's configuration as the chart renders it (a ConfigMap, read as config_file), on a real server: it
starts with it, a reloadable parameter changes by the config-reloader's reload without a restart, and the
chart's list of start-only parameters (the only ones that roll the pod) is what the server says."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from archangel_helm import Manifest
from archangel_helm.backup.postgres import psql
from archangel_helm.hooks.certificates import CaSpec, ServerCertificateSpec, issue_server_certificate, new_ca
from tests.charts.test_data_tier import BUILTIN
from tests.support import servers

pytestmark = pytest.mark.skipif(servers.missing_postgres_reason() is not None, reason="no PostgreSQL binaries")


@pytest.fixture(scope="module")
def production(render_env: Callable[..., Manifest]) -> Manifest:
    # The builtin StatefulSet's configuration file, with production's settings otherwise (production's own
    # PostgreSQL is a CloudNativePG Cluster, whose parameters the operator writes).
    return render_env("production", "archangel", BUILTIN)


def rendered_conf(manifest: Manifest) -> str:
    return str(manifest.get("ConfigMap", "archangel-postgresql")["data"]["postgresql.conf"])


def reloader_command(manifest: Manifest) -> str:
    pod = manifest.get("StatefulSet", "archangel-postgresql")["spec"]["template"]["spec"]
    (reloader,) = [c for c in pod["containers"] if c["name"] == "config-reloader"]
    script: str = reloader["command"][-1]
    return script


@pytest.fixture(scope="module")
def server(production: Manifest) -> Iterator[servers.PostgresServer]:
    """With the chart's data-tier TLS (a certificate made by the hook's code; the tests' clients do not verify
    it: test_data_tls does) and its pg_hba.conf."""
    now = datetime.now(UTC)
    ca = new_ca(CaSpec("archangel-data-ca", "test CA", 30), now)
    certificate = issue_server_certificate(
        ca, ServerCertificateSpec("archangel-postgresql-tls", "archangel-postgresql", ("localhost",), 30, 1), now
    )
    configmap = production.get("ConfigMap", "archangel-postgresql")["data"]
    with servers.chart_postgres_server(configmap, certificate) as started:
        yield started


def query(server: servers.PostgresServer, sql: str) -> str:
    return psql(server.connection(), sql).strip()


def test_the_server_runs_with_the_rendered_configuration(server: servers.PostgresServer, production: Manifest) -> None:
    parameters = settings(rendered_conf(production))
    assert query(server, "show work_mem") == parameters["work_mem"]
    assert query(server, "show shared_buffers") == parameters["shared_buffers"]
    assert query(server, "show max_connections") == "300"
    assert query(server, "show config_file").endswith("/postgresql.conf")


def test_a_reloadable_parameter_changes_without_a_restart(server: servers.PostgresServer, production: Manifest) -> None:
    """What the config-reloader does when the kubelet updates the mounted ConfigMap: pg_reload_conf()."""
    assert "select pg_reload_conf()" in reloader_command(production)
    started = query(server, "select pg_postmaster_start_time()")
    conf = server.directory / "postgresql.conf"
    conf.write_text(conf.read_text().replace("work_mem = '16MB'", "work_mem = '32MB'"))
    assert query(server, "select pg_reload_conf()") == "t"
    deadline = time.monotonic() + 10
    while query(server, "show work_mem") != "32MB" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert query(server, "show work_mem") == "32MB"
    assert query(server, "select pg_postmaster_start_time()") == started


STATIC = {"listen_addresses", "hba_file", "ident_file", "unix_socket_directories"}  # the chart's own lines


def settings(conf: str) -> dict[str, str]:
    """name -> value of the non-comment lines of a rendered postgresql.conf."""
    pairs = (line.split(" = ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    return {name: value.strip("'") for name, value in pairs}


def test_the_start_only_parameters_are_exactly_the_servers_postmaster_context(
    server: servers.PostgresServer, production: Manifest
) -> None:
    """The chart's list (templates/database/_config.tpl, printed in the file) against pg_settings: a reloadable
    parameter in it would restart PostgreSQL for nothing, a start-only one missing would never take effect."""
    conf = rendered_conf(production)
    (line,) = [line for line in conf.splitlines() if line.startswith("# start-only: ")]
    chart_list = set(line.removeprefix("# start-only: ").split())
    rows = query(server, "select name || '|' || context from pg_settings").splitlines()
    contexts = dict(row.split("|", 1) for row in rows)
    assert sorted(n for n in chart_list if n in contexts and contexts[n] != "postmaster") == []
    assert len([n for n in chart_list if n in contexts]) >= len(chart_list) - 2  # a name or two may be newer
    configured = set(settings(conf)) - STATIC
    assert sorted(n for n in configured if contexts.get(n) == "postmaster" and n not in chart_list) == []
    assert {"shared_buffers", "max_connections"} <= configured & chart_list
