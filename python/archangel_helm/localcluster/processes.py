"""Processes the local cluster starts: started detached with their logs in the cluster directory, stopped only
by the PID recorded at start and only while that PID still runs the command we started (a PID reused by
another program after a crash is left alone), and ports checked before anything starts."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Started:
    name: str
    pid: int
    marker: str  # a string in the process's command line that only our process has (its data directory)


def start(name: str, command: list[str], log_file: Path, marker: str, env: dict[str, str] | None = None) -> Started:
    if not any(marker in part for part in command):
        raise ValueError(f"{name}: the marker {marker!r} must appear in its command line, or it cannot be stopped")
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `cluster up`; a Ctrl-C in the caller's terminal does not reach it
            env=env,
        )
    started = Started(name, process.pid, marker)
    # Popen returns once exec has begun, and the kernel fills /proc/PID/cmdline a moment later: until then the
    # process would look like one that is not ours (or gone). Wait for its command line, or for it to exit.
    deadline = time.monotonic() + 5
    while not is_running(started) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return started


def command_line(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None


def is_running(started: Started) -> bool:
    """True while the PID runs the process we started (not merely any process with that PID)."""
    line = command_line(started.pid)
    if line is None or started.marker not in line:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{started.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":  # exited, not yet reaped by its parent
            return False
    return True


def stop(started: Started, grace: float = STOP_GRACE_SECONDS) -> bool:
    """SIGTERM, then SIGKILL after `grace` seconds. Returns whether it had been running."""
    if not is_running(started):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(started.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_running(started):
            _reap(started.pid)
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(started.pid, signal.SIGKILL)
    while is_running(started):
        time.sleep(0.05)
    _reap(started.pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent (a cluster started and stopped in one process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _decode_address(hex_address: str) -> str:
    """`0100007F:3F0B` (/proc/net/tcp's little-endian words) -> `127.0.0.1:16139`; IPv6 in brackets."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    text = str(address) if address.version == 4 else f"[{address}]"
    return f"{text}:{int(port, 16)}"


def listening_sockets() -> list[tuple[int, str]]:
    """(pid, address:port) of every listening TCP socket whose process /proc lets us see."""
    addresses: dict[str, str] = {}  # socket inode link -> address
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    addresses[f"socket:[{fields[9]}]"] = _decode_address(fields[1])
    found = []
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (process / "fd").iterdir():
                with contextlib.suppress(OSError):
                    address = addresses.get(str(fd.readlink()))
                    if address is not None:
                        found.append((int(process.name), address))
    return found


def port_owner(port: int) -> str | None:
    """`PID N (command line)` of the process listening on a local TCP port, when /proc lets us see it."""
    for pid, address in listening_sockets():
        if address.endswith(f":{port}"):
            return f"PID {pid} ({(command_line(pid) or '?')[:160]})"
    return None
