"""`archangel-helm check` reports: plain text for people, JSON for tools, JUnit XML for CI dashboards.

Text and JSON also list the release's Helm hooks and how Argo CD runs each, since a hook that passes every rule
can still run at a different moment (or not at all) under Argo CD than under `helm install`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree

from archangel_helm.validate.argo_hooks import HookInfo
from archangel_helm.validate.rules import RuleFindings

ARGO_PHASE_ORDER = ("PreSync", "Sync", "PostSync", "SyncFail", "PreDelete", "PostDelete")


def in_argo_order(hooks: Sequence[HookInfo]) -> list[HookInfo]:
    """Hooks in the order Argo CD runs them (phase, then weight); those it never runs last."""

    def phase(hook: HookInfo) -> int:
        known = [ARGO_PHASE_ORDER.index(p) for p in hook.argo_phases if p in ARGO_PHASE_ORDER]
        return min(known, default=len(ARGO_PHASE_ORDER))

    return sorted(hooks, key=lambda h: (h.ignored_by_argo, phase(h), h.weight, h.kind, h.name))


def text(result: RuleFindings, subject: str, hooks: Sequence[HookInfo] = ()) -> str:
    lines = [f"{subject}:"]
    for rule_id, problems in result.by_rule().items():
        lines.append(f"  {'FAIL' if problems else 'pass'}  {rule_id}")
        lines += [f"        {problem}" for problem in problems]
    for problem, waiver in result.waived:
        lines.append(f"  waived  {problem.rule}: {problem.kind}/{problem.name}: {waiver.reason}")
    for waiver in result.unused_waivers:
        lines.append(f"  unused waiver  {waiver.rule} {waiver.object} ({waiver.reason}): it matches nothing any more")
    lines.append(f"  hooks ({len(hooks)}; how Argo CD runs each)" if hooks else "  hooks: none")
    lines += [f"        {hook}" for hook in in_argo_order(hooks)]
    lines.append(f"{len(result.failures)} problem(s), {len(result.waived)} waived")
    return "\n".join(lines)


def hook_dict(hook: HookInfo) -> dict[str, Any]:
    return {
        "kind": hook.kind,
        "name": hook.name,
        "helm_events": list(hook.helm_events),
        "weight": hook.weight,
        "delete_policy": list(hook.delete_policy),
        "argo_phases": list(hook.argo_phases),
        "ignored": hook.ignored_by_argo,
    }


def as_json(result: RuleFindings, subject: str, hooks: Sequence[HookInfo] = ()) -> str:
    return json.dumps(
        {"subject": subject, **result.as_dict(), "hooks": [hook_dict(h) for h in in_argo_order(hooks)]}, indent=2
    )


def junit(result: RuleFindings, subject: str) -> str:
    grouped = result.by_rule()
    suite = ElementTree.Element(
        "testsuite",
        name=subject,
        tests=str(len(grouped)),
        failures=str(sum(1 for p in grouped.values() if p)),
        skipped=str(len(result.waived)),
    )
    for rule_id, problems in grouped.items():
        case = ElementTree.SubElement(suite, "testcase", classname=subject, name=rule_id)
        if problems:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(problems)} problem(s)")
            failure.text = "\n".join(str(p) for p in problems)
    for problem, waiver in result.waived:
        case = ElementTree.SubElement(
            suite, "testcase", classname=subject, name=f"{problem.rule} {problem.kind}/{problem.name}"
        )
        ElementTree.SubElement(case, "skipped", message=f"waived: {waiver.reason}")
    return ElementTree.tostring(ElementTree.Element("testsuites", attrib={}), encoding="unicode").replace(
        "<testsuites />", "<testsuites>" + ElementTree.tostring(suite, encoding="unicode") + "</testsuites>"
    )
