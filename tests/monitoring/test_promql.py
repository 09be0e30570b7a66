"""archangel_helm.monitoring.promql and .rules: the helpers the rule and dashboard checks rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from archangel_helm.monitoring.promql import grafana_query_metric_names, metric_names
from archangel_helm.monitoring.rules import RulesFileError, alerting_rules, load_rules, parse_rules, recorded_names


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('up{job="x"} == 0', {"up"}),
        (
            'sum by (namespace, release) (rate(archangel_http_requests_total{code=~"5.."}[5m]))',
            {"archangel_http_requests_total"},
        ),
        ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))", {"a_bucket"}),
        ("a / on (namespace) group_left (release, component) b", {"a", "b"}),
        ("a * on (namespace, pod) group_left b", {"a", "b"}),
        ("rate(a[30m] offset 1d) > 0.5 * rate(a[30m])", {"a"}),
        ('time() - min_over_time(timestamp(a{job="j"})[8d:1h]) > 7 * 86400 unless on (target) b', {"a", "b"}),
        ('label_replace(a, "target", "$1", "cronjob", ".+-backup-(database|vectorstore)") > 26 * 3600', {"a"}),
        (
            'component:archangel_x:rate5m{component="core"} > 0.0144 and b:c:d',
            {"component:archangel_x:rate5m", "b:c:d"},
        ),
        ('count(ALERTS{alertstate="firing"}) or vector(0)', {"ALERTS"}),
        ('sum(rate(a{namespace="$namespace"}[$__rate_interval]))', {"a"}),
        ("1 - x / y > bool 0.1", {"x", "y"}),
        ("vector(1)", set()),
        ("+Inf > NaN", set()),
    ],
)
def test_metric_names(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names


def test_grafana_templating_queries() -> None:
    assert grafana_query_metric_names('label_values(up{component="core"}, namespace)') == {"up"}
    assert grafana_query_metric_names("label_values(namespace)") == set()
    assert grafana_query_metric_names("query_result(max(a))") == {"a"}
    assert grafana_query_metric_names("label_names()") == set()


def test_rules_are_parsed_with_their_names_and_severities(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - record: a:b:c\n        expr: sum(x)\n"
        "      - alert: A\n        expr: a:b:c > 1\n        for: 5m\n        labels: {severity: critical}\n"
        "        annotations: {summary: s}\n"
    )
    rules = load_rules([path])
    assert recorded_names(rules) == {"a:b:c"}
    (alert,) = alerting_rules(rules)
    assert (alert.name, alert.severity, alert.for_, alert.file) == ("A", "critical", "5m", "r.yaml")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"rules": []}, "expected a mapping with a list of groups"),
        ({"groups": [{"rules": []}]}, "groups[0] needs a name"),
        ({"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}, "group g rule 0: needs an expr"),
        ({"groups": [{"name": "g", "rules": [{"expr": "x"}]}]}, "exactly one of alert or record"),
        (
            {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "x", "labels": {"s": 1}}]}]},
            "labels must map strings",
        ),
    ],
)
def test_malformed_rules_are_refused_by_name(document: object, message: str) -> None:
    with pytest.raises(RulesFileError, match=r"f\.yaml") as caught:
        parse_rules(document, "f.yaml")
    assert message in str(caught.value)
