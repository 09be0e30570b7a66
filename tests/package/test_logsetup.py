"""The in-cluster entry points' logs, as a collector reads them: the secrets hook run as its Job runs it, with
each ARCHANGEL_LOG_FORMAT: plain lines, text with a UTC timestamp and level, or one JSON object per line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def hook(tmp_path: Path, log_format: str | None) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"secret": {"name": "x"}, "keys": [{"name": "k", "length": 3, "alphabet": "hex"}]}))
    env = {k: v for k, v in os.environ.items() if k != "ARCHANGEL_LOG_FORMAT"}
    if log_format is not None:
        env["ARCHANGEL_LOG_FORMAT"] = log_format
    command = [sys.executable, "-m", "archangel_helm.hooks.secrets", "--spec", str(spec), "--namespace", "ns"]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


EXPECTED = "secrets hook: bad spec, nothing was written:"


def test_plain_is_the_message_alone(tmp_path: Path) -> None:
    done = hook(tmp_path, None)
    assert done.returncode == 2
    assert done.stderr.startswith(EXPECTED)


def test_text_has_a_utc_timestamp_the_level_and_the_logger(tmp_path: Path) -> None:
    done = hook(tmp_path, "text")
    assert done.returncode == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR   archangel\.secrets-hook: " + EXPECTED, done.stderr)


def test_json_is_one_object_per_line(tmp_path: Path) -> None:
    done = hook(tmp_path, "json")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    assert record["logger"] == "archangel.secrets-hook"
    assert record["message"].startswith(EXPECTED)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])


@pytest.mark.parametrize("value", ["yaml", "JSONL"])
def test_an_unknown_format_logs_as_text_and_says_so(tmp_path: Path, value: str) -> None:
    done = hook(tmp_path, value)
    assert done.returncode == 2  # the hook's own verdict, not a crash over its logging
    first, second = done.stderr.splitlines()
    assert f"$ARCHANGEL_LOG_FORMAT='{value.lower()}' is not one of plain, text, json: logging as text" in first
    assert EXPECTED in second
