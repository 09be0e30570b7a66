"""How the in-cluster entry points (the secrets hook, the backup, restore and snapshot jobs, the health check)
report: through the standard logging module, so a log collector gets timestamps, levels and, with
ARCHANGEL_LOG_FORMAT=json, one JSON object per line. Progress goes to stdout, warnings and errors to stderr.

ARCHANGEL_LOG_FORMAT: plain (the default: the message alone, what a person at a terminal reads, as the rest of
the CLI), text (UTC timestamp, level, logger, message) or json. The charts set text or json on their Jobs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

FORMAT_ENV = "ARCHANGEL_LOG_FORMAT"
FORMATS = ("plain", "text", "json")
_CONFIGURED: dict[str, str] = {}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


class _PlainFormatter(logging.Formatter):
    """The message alone, as the CLI prints; a warning says it is one."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = "WARNING: " if record.levelno == logging.WARNING else ""
        return prefix + record.getMessage()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{_utc(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"


def _utc(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _CurrentStream(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout or sys.stderr is at the time (pytest's capture replaces and closes them):
    a handler that kept the stream it was made with would write to a closed one."""

    def __init__(self, name: str) -> None:
        self._stream_name = name
        super().__init__()

    @property
    def stream(self) -> Any:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current one


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def log_format() -> tuple[str, str | None]:
    """The format, and a warning when $ARCHANGEL_LOG_FORMAT names none: a job must not stop over how it logs,
    so it logs as text and says what it ignored."""
    chosen = os.environ.get(FORMAT_ENV, "plain").strip().lower() or "plain"
    if chosen not in FORMATS:
        return "text", f"${FORMAT_ENV}={chosen!r} is not one of {', '.join(FORMATS)}: logging as text"
    return chosen, None


def logger(name: str) -> logging.Logger:
    """The logger of one entry point ("archangel.backup", ...), its handlers set up once per format: INFO to
    stdout, WARNING and above to stderr, each line flushed as written."""
    chosen, problem = log_format()
    root = logging.getLogger("archangel")
    if _CONFIGURED.get("format") != chosen:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        formatter: logging.Formatter = {
            "json": _JsonFormatter(),
            "text": _TextFormatter(),
            "plain": _PlainFormatter(),
        }[chosen]
        progress = _CurrentStream("stdout")
        progress.addFilter(_Below(logging.WARNING))
        problems = _CurrentStream("stderr")
        problems.setLevel(logging.WARNING)
        for handler in (progress, problems):
            handler.setFormatter(formatter)
            root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
        _CONFIGURED["format"] = chosen
        if problem:
            root.warning(problem)
    return logging.getLogger(name if name.startswith("archangel") else f"archangel.{name}")
