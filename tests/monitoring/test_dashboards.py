"""Grafana dashboards of files/dashboards: valid, consistently built, every query valid PromQL reading only
series our rules, exporters or applications produce, and shipped by ConfigMap in both modes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archangel_helm import Manifest
from archangel_helm.monitoring.promql import grafana_query_metric_names
from archangel_helm.monitoring.rules import load_rules, recorded_names
from tests.monitoring.known_metrics import known_metric
from tests.support.monitoring import binary, dashboard_files, rule_files, run

RECORDED = recorded_names(load_rules(rule_files()))
EXPECTED_DASHBOARDS = {"overview", "agents", "data"}


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard, panel or variable, query) for every panel target and templating query."""
    for path in dashboard_files():
        dashboard = load(path)
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                yield path.stem, str(panel.get("title")), str(target["expr"])
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                yield path.stem, f"${variable['name']}", str(query["query"] if isinstance(query, dict) else query)


def test_the_three_dashboards_exist() -> None:
    assert {p.stem for p in dashboard_files()} == EXPECTED_DASHBOARDS


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda p: p.stem)
def test_dashboard_is_valid_and_consistent(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"] == f"archangel-{path.stem}"
    assert dashboard["title"].startswith("Archangel / ")
    assert "archangel" in dashboard["tags"]
    panels = list(all_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "release"} <= variables
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert min(grid["w"], grid["h"]) > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))


def test_panels_do_not_overlap() -> None:
    for path in dashboard_files():
        cells: dict[tuple[int, int], str] = {}
        for panel in all_panels(load(path)):
            grid = panel["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{path.stem}: {panel['title']!r} overlaps {cells[(x, y)]!r}"
                    cells[(x, y)] = panel["title"]


def test_dashboard_uids_are_unique() -> None:
    uids = [load(p)["uid"] for p in dashboard_files()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize(("board", "where", "query"), list(dashboard_queries()), ids=lambda v: str(v)[:60])
def test_every_query_reads_series_that_exist(board: str, where: str, query: str) -> None:
    names = grafana_query_metric_names(query)
    assert names, f"{board} / {where}: no metric found in {query!r}"
    unknown = sorted(n for n in names if n not in RECORDED and not known_metric(n))
    assert unknown == [], f"{board} / {where}: {unknown} are not recorded, exported or in docs/METRICS.md"


def test_queries_select_the_chosen_namespace() -> None:
    for board, where, query in dashboard_queries():
        # Pushed batch-job metrics carry the Pushgateway's namespace, not the application's: they are selected
        # by their job instead.
        if where.startswith("$") or "ALERTS" in query or re.search(r'job=~?"archangel-', query):
            continue
        assert 'namespace="$namespace"' in query, f"{board} / {where}: {query}"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (Grafana's variables replaced by values of the right type)."""
    promtool = binary("promtool")
    rules = []
    for index, (_board, _where, query) in enumerate(q for q in dashboard_queries() if not q[1].startswith("$")):
        expr = (
            query.replace("$__rate_interval", "5m").replace("$namespace", "archangel").replace("$release", "archangel")
        )
        assert "$" not in re.sub(r'"[^"]*"', "", expr), expr
        rules.append({"record": f"dashboard_query_{index}", "expr": expr})
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_metric_check_can_fail() -> None:
    assert not known_metric("archangel_made_up_total")
    assert grafana_query_metric_names('rate(archangel_made_up_total{namespace="$namespace"}[5m])') == {
        "archangel_made_up_total"
    }


# Shipped by ConfigMap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["production", "standalone"])
def test_one_configmap_per_dashboard_with_the_sidecar_label(
    mode: str, production: Manifest, standalone: Manifest
) -> None:
    manifest = production if mode == "production" else standalone
    configmaps = {
        c["metadata"]["name"]: c
        for c in manifest.of_kind("ConfigMap")
        if c["metadata"]["labels"].get("grafana_dashboard") == "1"
    }
    assert set(configmaps) == {f"archangel-monitoring-dashboard-{name}" for name in EXPECTED_DASHBOARDS}
    for path in dashboard_files():
        data = configmaps[f"archangel-monitoring-dashboard-{path.stem}"]["data"]
        assert json.loads(data[path.name]) == load(path)


def test_standalone_grafana_mounts_every_dashboard_and_the_datasource(standalone: Manifest) -> None:
    deployment = standalone.get("Deployment", "archangel-monitoring-grafana")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    sources = {s["configMap"]["name"] for s in volumes["dashboards"]["projected"]["sources"]}
    assert sources == {f"archangel-monitoring-dashboard-{name}" for name in EXPECTED_DASHBOARDS}
    provisioning = standalone.get("ConfigMap", "archangel-monitoring-grafana")["data"]
    datasources = yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    assert datasources == [
        {
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": "http://archangel-monitoring-prometheus.monitoring.svc:9090",
            "isDefault": True,
            "editable": False,
            "jsonData": {"timeInterval": "30s"},
        }
    ]
    provider = yaml.safe_load(provisioning["dashboards.yaml"])["providers"][0]
    mounts = {
        m["name"]: m["mountPath"] for m in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert provider["options"]["path"] == mounts["dashboards"]


def test_dashboards_can_be_turned_off(render_monitoring: Any) -> None:
    manifest = render_monitoring({"dashboards": {"enabled": False}})
    assert not [c for c in manifest.of_kind("ConfigMap") if "grafana_dashboard" in c["metadata"]["labels"]]
