"""The deployment report: what was deployed, what was checked and measured, and what to do next, as
Markdown (for a ticket), JSON (for tools) and a self-contained HTML page with the latency histogram."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archangel_helm.operate.checks import Status, StepCheck


@dataclass
class DeployReport:
    environment: str
    mode: str  # deploy, dry-run, verify
    started_at: str
    finished_at: str
    outcome: str  # succeeded, failed at <step>
    versions: dict[str, str] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # name -> {chart, version, namespace, revision, objects}
    checks: list[StepCheck] = field(default_factory=list)
    load: dict[str, Any] | None = None  # LoadResult.as_dict()
    next_steps: list[str] = field(default_factory=list)
    # Whether the run did what it was asked (deployed and verified, or a clean dry run): what the exit code
    # says. `outcome` is the words for people.
    succeeded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "mode": self.mode,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "versions": self.versions,
            "releases": self.releases,
            "checks": [c.as_dict() for c in self.checks],
            "load": self.load,
            "next_steps": self.next_steps,
            "succeeded": self.succeeded,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeployReport:
        checks = [StepCheck(c["step"], c["name"], Status(c["status"]), c["detail"]) for c in data.get("checks", [])]
        return cls(
            data["environment"],
            data["mode"],
            data["started_at"],
            data["finished_at"],
            data["outcome"],
            data.get("versions", {}),
            data.get("releases", {}),
            checks,
            data.get("load"),
            data.get("next_steps", []),
            # Reports written before the field: their outcome's words.
            bool(data.get("succeeded", str(data["outcome"]).startswith(("succeeded", "dry run")))),
        )


def _load_rows(load: dict[str, Any]) -> list[tuple[str, str]]:
    latency = load.get("latency_seconds") or {}
    rows = [
        ("target", f"{load['target']['method']} {load['target']['url']}"),
        ("concurrency x duration", f"{load['target']['concurrency']} x {load['target']['duration_seconds']} s"),
        ("requests", f"{load['requests']:,} ({load['throughput_rps']:.1f} req/s)"),
        ("error rate", f"{(load['error_rate'] or 0) * 100:.2f} % ({load['errors']['total']} errors)"),
    ]
    for key in ("p50", "p95", "p99", "max"):
        if key in latency:
            rows.append((key.upper() if key != "max" else "max", f"{latency[key] * 1000:.1f} ms"))
    return rows


def _cell(text: object) -> str:
    """A Markdown table cell: cluster-supplied text must not end the cell (|), break the row, or open HTML (<)."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _release_rows(report: DeployReport) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, release in report.releases.items():
        objects = ", ".join(f"{count} {kind}" for kind, count in sorted(release.get("objects", {}).items()))
        revision = str(release.get("revision", "-"))
        if release.get("previous_revision"):
            revision += f" (from {release['previous_revision']})"
        rows.append((name, str(release.get("chart", "")), str(release.get("namespace", "")), revision, objects or "-"))
    return rows


def markdown(report: DeployReport) -> str:
    out = [
        f"# Archangel {report.mode}: {report.environment}",
        "",
        f"**Outcome: {report.outcome}** ({report.started_at} to {report.finished_at})",
        "",
        "## Versions",
        "",
        "| component | version |",
        "|---|---|",
    ]
    out += [f"| {_cell(name)} | {_cell(version)} |" for name, version in report.versions.items()]
    if report.releases:
        out += ["", "## Releases", "", "| release | chart | namespace | revision | objects |", "|---|---|---|---|---|"]
        out += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in _release_rows(report)]
    for step in dict.fromkeys(c.step for c in report.checks):
        out += ["", f"## {step.capitalize()}", "", "| | check | detail |", "|---|---|---|"]
        out += [
            f"| {c.status.value.upper()} | {_cell(c.name)} | {_cell(c.detail)} |"
            for c in report.checks
            if c.step == step
        ]
    if report.load:
        verdict = "passed" if report.load["verdict"]["passed"] else "FAILED"
        out += ["", f"## Load check ({verdict})", "", "| figure | value |", "|---|---|"]
        out += [f"| {name} | {_cell(value)} |" for name, value in _load_rows(report.load)]
        out += [""] + [f"- {c['text']}" for c in report.load["verdict"]["checks"]]
    out += ["", "## Next steps", ""] + [f"- {step}" for step in report.next_steps]
    return "\n".join(out) + "\n"


def histogram_svg(load: dict[str, Any], width: int = 640, height: int = 220) -> str:
    """The latency histogram as an inline SVG bar chart (no scripts, no external assets)."""
    edges, counts = load["histogram"]["edges_seconds"], load["histogram"]["counts"]
    if not counts or not any(counts):
        return "<p>No latency samples.</p>"
    top = max(counts)
    bar = (width - 60) / len(counts)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img" '
        f'aria-label="latency histogram">'
    ]
    for index, count in enumerate(counts):
        h = (height - 20) * count / top
        x = 50 + index * bar
        label = f"{edges[index] * 1000:.0f}-{edges[index + 1] * 1000:.0f} ms: {count}"
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(bar - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="#3b6ea5"><title>{html.escape(label)}</title></rect>'
        )
    for index in range(0, len(edges), max(1, len(edges) // 8)):
        x = 50 + index * bar
        parts.append(f'<text x="{x:.1f}" y="{height + 15}" font-size="10">{edges[index] * 1000:.0f}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="{height + 35}" font-size="11" text-anchor="middle">latency (ms)</text>')
    parts.append(f'<text x="5" y="15" font-size="11">{top} req</text></svg>')
    return "".join(parts)


def html_page(report: DeployReport) -> str:
    colour = {Status.PASS: "#1a7f37", Status.WARN: "#9a6700", Status.FAIL: "#cf222e", Status.SKIP: "#57606a"}
    rows = "".join(
        f'<tr><td style="color:{colour[c.status]}"><b>{c.status.value.upper()}</b></td><td>{html.escape(c.step)}</td>'
        f"<td>{html.escape(c.name)}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in report.checks
    )
    versions = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in report.versions.items()
    )
    releases = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in _release_rows(report)
    )
    if releases:
        releases = (
            "<h2>Releases</h2><table><tr><th>release</th><th>chart</th><th>namespace</th><th>revision</th>"
            f"<th>objects</th></tr>{releases}</table>"
        )
    load = ""
    if report.load:
        figures = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _load_rows(report.load)
        )
        load = f"<h2>Load check</h2><table>{figures}</table>{histogram_svg(report.load)}"
    steps = "".join(f"<li>{html.escape(s)}</li>" for s in report.next_steps)
    title = html.escape(f"Archangel {report.mode}: {report.environment}")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p><b>Outcome: {html.escape(report.outcome)}</b> ({html.escape(report.started_at)} to "
        f"{html.escape(report.finished_at)})</p><h2>Versions</h2><table>{versions}</table>{releases}"
        f"<h2>Checks</h2><table><tr><th></th><th>step</th><th>check</th><th>detail</th></tr>{rows}</table>"
        f"{load}<h2>Next steps</h2><ul>{steps}</ul></body></html>\n"
    )


def write(report: DeployReport, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "report.md": markdown(report),
        "report.json": json.dumps(report.as_dict(), indent=2) + "\n",
        "report.html": html_page(report),
    }
    for name, content in files.items():
        (directory / name).write_text(content)
    return [directory / name for name in files]
