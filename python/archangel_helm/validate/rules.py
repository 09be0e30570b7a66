"""Whole-release checks as named rules, each finding waivable per object with a reason.

A rule is a function from the release under check to problems. `run_checks` applies every rule, then the
waivers: a waived finding is reported as such (with its reason) and does not fail the check; a waiver that
matches nothing is itself reported, so stale waivers do not pile up.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archangel_helm.core import yamlio
from archangel_helm.core.chart import Chart
from archangel_helm.core.errors import ConfigurationError
from archangel_helm.core.manifest import Manifest
from archangel_helm.validate.argo_hooks import hook_report, sync_waves
from archangel_helm.validate.graph import check_graph, pods_without_default_deny
from archangel_helm.validate.pod_security import check_pod_security
from archangel_helm.validate.problems import Problem
from archangel_helm.validate.references import ExternalObjects, check_references
from archangel_helm.validate.schema_coverage import check_values_usage
from archangel_helm.validate.workload_rules import (
    check_autoscalers,
    check_containers,
    check_names,
    check_pdbs_allow_disruption,
)

# Functions whose result differs between renders (random values, salts, keys, certificates, the clock) or needs
# the live cluster. Sprig's *WithKey certificate functions take a fixed key but still draw a random serial number.
FORBIDDEN_FUNCTIONS = re.compile(
    r"\b(lookup|randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|uuidv4|shuffle|now"
    r"|htpasswd|bcrypt|encryptAES|genPrivateKey|genCA(?:WithKey)?|genSelfSignedCert(?:WithKey)?"
    r"|genSignedCert(?:WithKey)?|date|dateInZone|unixEpoch)\b"
)
ORDER = {
    "StorageClass": "storage",
    "PriorityClass": "storage",
    "Namespace": "storage",
    "NetworkPolicy": "storage",
    "StatefulSet": "data",
    "Deployment": "workloads",
    "ServiceMonitor": "monitors",
    "PodMonitor": "monitors",
    "PrometheusRule": "monitors",
}
PHASES = ("storage", "data", "workloads", "monitors")


@dataclass
class Release:
    """What the rules look at: the chart, its rendered objects, and how to render it again."""

    chart: Chart
    manifest: Manifest
    rerender: Callable[[], str]
    external: ExternalObjects = field(default_factory=ExternalObjects)


@dataclass(frozen=True)
class ReleaseRule:
    id: str
    summary: str
    check: Callable[[Release], list[Problem]]


def _prefixed(prefix: str, problems: Iterable[Problem]) -> list[Problem]:
    """Keep a rule family's own ids (graph/..., schema/...) under the rule that produced them."""
    return [p if p.rule.startswith(prefix) else Problem(p.kind, p.name, p.path, p.message, prefix) for p in problems]


def _pod_security(release: Release) -> list[Problem]:
    return [p for t in release.manifest.pod_templates() for p in check_pod_security(t)]


def _default_deny(release: Release) -> list[Problem]:
    if not release.manifest.of_kind("NetworkPolicy"):
        return []  # a release without policies is judged by the cluster's own; with some, all pods must be covered
    return [
        Problem(
            t.owner_kind,
            t.owner_name,
            "metadata.labels",
            "no default-deny NetworkPolicy selects these pods",
            "network/default-deny",
        )
        for t in pods_without_default_deny(release.manifest)
    ]


def _deterministic(release: Release) -> list[Problem]:
    second = release.rerender()
    if second == release.manifest.text:
        return []
    first_lines, second_lines = release.manifest.text.splitlines(), second.splitlines()
    line = next((i for i, (a, b) in enumerate(zip(first_lines, second_lines, strict=False)) if a != b), 0)
    return [
        Problem(
            "Chart",
            release.chart.name,
            f"rendered line {line + 1}",
            f"two renders of the same inputs differ ({first_lines[line : line + 1]} vs "
            f"{second_lines[line : line + 1]}); Argo CD would see a change on every refresh",
            "gitops/deterministic",
        )
    ]


def _template_functions(release: Release) -> list[Problem]:
    problems = []
    for file in sorted((release.chart.path / "templates").rglob("*")):
        if not file.is_file():
            continue
        for action in re.findall(r"\{\{(.*?)\}\}", file.read_text(), flags=re.DOTALL):
            if action.strip().lstrip("-").lstrip().startswith("/*"):
                continue  # a comment, {{/* */}} or whitespace-trimming {{- /* */}}
            for function in sorted(set(FORBIDDEN_FUNCTIONS.findall(action))):
                problems.append(
                    Problem(
                        "Chart",
                        release.chart.name,
                        str(file.relative_to(release.chart.path)),
                        f"uses {function}: its result differs between renders or needs the live cluster, "
                        "which `helm template` (and so Argo CD) cannot give",
                        "gitops/no-live-functions",
                    )
                )
    return problems


def _hooks(release: Release) -> list[Problem]:
    problems = []
    for hook in hook_report(release.manifest):
        if hook.helm_test_only:
            continue  # `helm test` pods are for Helm users and CI; Argo CD skipping them loses nothing
        if hook.ignored_by_argo:
            problems.append(
                Problem(
                    hook.kind,
                    hook.name,
                    "metadata.annotations",
                    "the chart also has argocd.argoproj.io/hook annotations, so Argo CD ignores this Helm hook",
                    "gitops/hooks",
                )
            )
        elif not hook.argo_phases:
            problems.append(
                Problem(
                    hook.kind,
                    hook.name,
                    "metadata.annotations",
                    f"helm hook {','.join(hook.helm_events)} has no Argo CD equivalent: it never runs under Argo CD",
                    "gitops/hooks",
                )
            )
    return problems


def _sync_waves(release: Release) -> list[Problem]:
    waves = sync_waves(release.manifest)
    by_phase: dict[str, list[int]] = {}
    for (kind, _), wave in waves.items():
        if kind in ORDER:
            by_phase.setdefault(ORDER[kind], []).append(wave)
    problems = []
    for earlier, later in itertools.combinations(PHASES, 2):  # in order: every earlier phase before every later
        if by_phase.get(earlier) and by_phase.get(later) and max(by_phase[earlier]) > min(by_phase[later]):
            problems.append(
                Problem(
                    "Chart",
                    release.chart.name,
                    "argocd.argoproj.io/sync-wave",
                    f"{earlier} objects (wave up to {max(by_phase[earlier])}) sync after {later} objects "
                    f"(wave from {min(by_phase[later])})",
                    "gitops/sync-waves",
                )
            )
    return problems


RULES: tuple[ReleaseRule, ...] = (
    ReleaseRule(
        "graph",
        "selectors select, ports and targets named by Services, PDBs, policies, monitors and autoscalers exist",
        lambda r: _prefixed("graph", check_graph(r.manifest)),
    ),
    ReleaseRule(
        "references/exist",
        "ConfigMaps, Secrets, claims, ServiceAccounts and PriorityClasses pods name exist",
        lambda r: check_references(r.manifest, r.external),
    ),
    ReleaseRule(
        "availability/pdb-disruption",
        "every PDB leaves a voluntary disruption possible at minimum scale",
        lambda r: check_pdbs_allow_disruption(r.manifest),
    ),
    ReleaseRule(
        "autoscaling",
        "HPA min <= max; no replicas field where an autoscaler owns the workload",
        lambda r: _prefixed("autoscaling", check_autoscalers(r.manifest)),
    ),
    ReleaseRule("pod-security/restricted", "every pod template meets Pod Security Standard restricted", _pod_security),
    ReleaseRule(
        "containers",
        "resources on every container, probes on long-running ones, images pinned",
        lambda r: _prefixed("containers", check_containers(r.manifest)),
    ),
    ReleaseRule(
        "names/length",
        "names within 63 characters, 52 for CronJobs and StatefulSets",
        lambda r: check_names(r.manifest),
    ),
    ReleaseRule("network/default-deny", "with NetworkPolicies, every pod is under a default deny", _default_deny),
    ReleaseRule("gitops/deterministic", "two renders of the same inputs are byte-identical", _deterministic),
    ReleaseRule(
        "gitops/no-live-functions",
        "no lookup, random, salted-hash, encryption, key or time functions in templates",
        _template_functions,
    ),
    ReleaseRule("gitops/hooks", "every Helm hook runs under Argo CD too (helm test hooks excepted)", _hooks),
    ReleaseRule("gitops/sync-waves", "sync waves order storage, data, workloads, monitors", _sync_waves),
    ReleaseRule(
        "schema",
        "every value is read and described by the schema; every value read is described",
        lambda r: _prefixed("schema", check_values_usage(r.chart)),
    ),
)


@dataclass(frozen=True)
class Waiver:
    rule: str  # a rule id or prefix, glob allowed (graph/*)
    object: str  # Kind/name, glob allowed (CronJob/*)
    reason: str

    def matches(self, problem: Problem) -> bool:
        rule_ok = fnmatch.fnmatch(problem.rule, self.rule) or problem.rule.startswith(self.rule.rstrip("*") + "/")
        return rule_ok and fnmatch.fnmatch(f"{problem.kind}/{problem.name}", self.object)


def load_waivers(path: Path) -> list[Waiver]:
    try:
        document = yamlio.load(path.read_text()) or {}
    except OSError as error:
        raise ConfigurationError(f"--waivers {path}: cannot read it: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigurationError(f"--waivers {path}: not YAML: {error}") from error
    entries = document.get("waivers") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path}: expected a 'waivers' list of {{rule, object, reason}}")
    waivers = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry[k] for k in ("rule", "object", "reason")
        ):
            raise ConfigurationError(f"{path}: waivers[{index}] needs non-empty rule, object and reason")
        waivers.append(Waiver(entry["rule"], entry["object"], entry["reason"]))
    return waivers


@dataclass
class RuleFindings:
    rules: Sequence[ReleaseRule]
    failures: list[Problem] = field(default_factory=list)
    waived: list[tuple[Problem, Waiver]] = field(default_factory=list)
    unused_waivers: list[Waiver] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def by_rule(self) -> dict[str, list[Problem]]:
        grouped: dict[str, list[Problem]] = {rule.id: [] for rule in self.rules}
        for problem in self.failures:
            grouped.setdefault(_family(problem.rule), []).append(problem)
        return grouped

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rules": [{"id": r.id, "summary": r.summary} for r in self.rules],
            "failures": [p.as_dict() for p in self.failures],
            "waived": [{**p.as_dict(), "reason": w.reason} for p, w in self.waived],
            "unused_waivers": [vars(w) for w in self.unused_waivers],
        }


def _family(rule_id: str) -> str:
    for rule in RULES:
        if rule_id == rule.id or rule_id.startswith(rule.id + "/"):
            return rule.id
    return rule_id


def run_checks(
    release: Release,
    waivers: Sequence[Waiver] = (),
    rules: Sequence[ReleaseRule] = RULES,
    extra: Callable[[Release], list[Problem]] | None = None,
) -> RuleFindings:
    result = RuleFindings(rules)
    problems = [p for rule in rules for p in rule.check(release)]
    if extra is not None:
        problems += extra(release)
    used: set[Waiver] = set()
    for problem in sorted(set(problems)):
        waiver = next((w for w in waivers if w.matches(problem)), None)
        if waiver is None:
            result.failures.append(problem)
        else:
            result.waived.append((problem, waiver))
            used.add(waiver)
    result.unused_waivers = [w for w in waivers if w not in used]
    return result
