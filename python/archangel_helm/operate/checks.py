"""One result line of a preflight or verification: pass, warn or fail, with what was found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class StepCheck:
    step: str  # preflight, deploy, verify, load
    name: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


def failed(results: Sequence[StepCheck]) -> list[StepCheck]:
    return [r for r in results if r.status is Status.FAIL]


def table(results: Sequence[StepCheck]) -> str:
    width = max((len(r.name) for r in results), default=10)
    return "\n".join(f"  {r.status.value.upper():4}  {r.name.ljust(width)}  {r.detail}" for r in results)
