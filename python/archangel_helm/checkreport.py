"""`archangel-helm check` reports: plain text for people, JSON for tools, JUnit XML for CI dashboards."""

from __future__ import annotations

import json
from xml.etree import ElementTree

from .validate.rules import CheckResult


def text(result: CheckResult, subject: str) -> str:
    lines = [f"{subject}:"]
    for rule_id, problems in result.by_rule().items():
        lines.append(f"  {'FAIL' if problems else 'pass'}  {rule_id}")
        lines += [f"        {problem}" for problem in problems]
    for problem, waiver in result.waived:
        lines.append(f"  waived  {problem.rule}: {problem.kind}/{problem.name}: {waiver.reason}")
    for waiver in result.unused_waivers:
        lines.append(f"  unused waiver  {waiver.rule} {waiver.object} ({waiver.reason}): it matches nothing any more")
    lines.append(f"{len(result.failures)} problem(s), {len(result.waived)} waived")
    return "\n".join(lines)


def as_json(result: CheckResult, subject: str) -> str:
    return json.dumps({"subject": subject, **result.as_dict()}, indent=2)


def junit(result: CheckResult, subject: str) -> str:
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
