"""The rules of a Prometheus rules file (groups of alerting and recording rules), as data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archangel_helm.core import yamlio


class RulesFileError(ValueError):
    """A rules file that is not what Prometheus reads; the message names the file and the rule."""


@dataclass(frozen=True)
class PrometheusRuleEntry:
    file: str
    group: str
    expr: str
    alert: str | None = None
    record: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    for_: str | None = None

    @property
    def name(self) -> str:
        return self.alert or self.record or ""

    @property
    def severity(self) -> str | None:
        return self.labels.get("severity")


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise RulesFileError(f"{where} must map strings to strings")
    return dict(value)


def parse_rules(document: Any, source: str) -> list[PrometheusRuleEntry]:
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise RulesFileError(f"{source}: expected a mapping with a list of groups")
    rules: list[PrometheusRuleEntry] = []
    for index, group in enumerate(document["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            raise RulesFileError(f"{source}: groups[{index}] needs a name")
        for position, raw in enumerate(group.get("rules") or []):
            where = f"{source}: group {group['name']} rule {position}"
            if not isinstance(raw, dict) or not isinstance(raw.get("expr"), str):
                raise RulesFileError(f"{where}: needs an expr")
            alert, record = raw.get("alert"), raw.get("record")
            if (alert is None) == (record is None):
                raise RulesFileError(f"{where}: needs exactly one of alert or record")
            rules.append(
                PrometheusRuleEntry(
                    file=source,
                    group=group["name"],
                    expr=raw["expr"],
                    alert=alert,
                    record=record,
                    labels=_string_map(raw.get("labels"), f"{where}: labels"),
                    annotations=_string_map(raw.get("annotations"), f"{where}: annotations"),
                    for_=raw.get("for"),
                )
            )
    return rules


def load_rules(paths: Iterable[Path]) -> list[PrometheusRuleEntry]:
    rules: list[PrometheusRuleEntry] = []
    for path in paths:
        try:
            document = yamlio.load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise RulesFileError(f"{path}: cannot read: {error}") from error
        rules += parse_rules(document, path.name)
    return rules


def alerting_rules(rules: Iterable[PrometheusRuleEntry]) -> list[PrometheusRuleEntry]:
    return [rule for rule in rules if rule.alert]


def recorded_names(rules: Iterable[PrometheusRuleEntry]) -> set[str]:
    return {rule.record for rule in rules if rule.record}
