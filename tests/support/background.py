"""What runs beside a test: a socket server in a thread, a child process; started and stopped the same way."""

from __future__ import annotations

import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve `server` (bound to 127.0.0.1, port 0) from a daemon thread; yields its port; shuts it down after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate a child process; kill it if it has not exited 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
