"""A local stand-in for Qdrant's snapshot API, for tests only.

Qdrant's server binary cannot be installed on this machine, so the vector-store backup path is exercised
against this small HTTP server, which follows the documented endpoints and semantics the backups depend on
(https://qdrant.tech/documentation/concepts/snapshots/): create, list, download and delete collection
snapshots; recover by upload with `priority`; and, as in Qdrant, the default priority "replica" keeps an
existing collection's (possibly empty) data. It is not Qdrant: its snapshot is a tar of the collection as
JSON. The cluster tests run the same backup path against the real Qdrant image.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import json
import ssl
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

VERSION = "1.16.3-standin"
OPEN_PATHS = {"/healthz", "/livez", "/readyz"}


@dataclass
class State:
    api_key: str
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def snapshot_bytes(collection: str, points: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    payload = json.dumps({"collection": collection, "points": points}, sort_keys=True).encode()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("collection.json")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def points_from_snapshot(data: bytes) -> list[dict[str, Any]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        member = archive.extractfile("collection.json")
        assert member is not None
        points: list[dict[str, Any]] = json.loads(member.read())["points"]
        return points


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
        data = (
            raw
            if raw is not None
            else json.dumps({"result": body, "status": "ok" if status < 400 else "error", "time": 0.001}).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self, path: str) -> bool:
        if path in OPEN_PATHS or self.headers.get("api-key") == self.state.api_key:
            return True
        self._reply(401, {"error": "Must provide an API key or an Authorization bearer token"})
        return False

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            self.state.requests.append((method, url.path))
        if not self._authorised(url.path):
            return
        if method == "GET" and not parts:
            self._reply(200, raw=json.dumps({"title": "qdrant - vector search engine", "version": VERSION}).encode())
        elif url.path in OPEN_PATHS:
            self._reply(200, raw=b"ok")
        elif method == "GET" and parts == ["cluster"]:
            self._reply(200, {"status": "disabled"})  # a single node, as Qdrant without cluster.enabled
        elif method == "GET" and parts == ["collections"]:
            self._reply(200, {"collections": [{"name": n} for n in sorted(self.state.collections)]})
        elif len(parts) == 2 and parts[0] == "collections":
            self._collection(method, parts[1])
        elif len(parts) >= 3 and parts[0] == "collections" and parts[2] == "snapshots":
            self._snapshots(method, parts[1], parts[3:], query)
        else:
            self._reply(404, {"error": f"no route {method} {url.path}"})

    def _collection(self, method: str, name: str) -> None:
        if name not in self.state.collections:
            self._reply(404, {"error": f"Collection `{name}` doesn't exist!"})
        elif method == "GET":
            self._reply(200, {"status": "green", "points_count": len(self.state.collections[name])})
        elif method == "DELETE":
            del self.state.collections[name]
            self._reply(200, True)
        else:
            self._reply(405, {"error": method})

    def _snapshots(self, method: str, collection: str, rest: list[str], query: dict[str, str]) -> None:
        if rest == ["upload"] and method == "POST":
            self._upload(collection, query.get("priority", "replica"))
            return
        if collection not in self.state.collections:
            self._reply(404, {"error": f"Collection `{collection}` doesn't exist!"})
            return
        stored = self.state.snapshots.setdefault(collection, {})
        if method == "POST" and not rest:
            data = snapshot_bytes(collection, self.state.collections[collection])
            name = f"{collection}-{len(stored)}-{time.strftime('%Y-%m-%d-%H-%M-%S')}.snapshot"
            stored[name] = data
            self._reply(200, {"name": name, "size": len(data), "checksum": hashlib.sha256(data).hexdigest()})
        elif method == "GET" and not rest:
            self._reply(200, [{"name": n, "size": len(d)} for n, d in stored.items()])
        else:
            self._stored_snapshot(method, rest, stored)

    def _stored_snapshot(self, method: str, rest: list[str], stored: dict[str, bytes]) -> None:
        """GET (download) or DELETE one snapshot of `stored`, by its name."""
        if method == "GET" and len(rest) == 1 and rest[0] in stored:
            self._reply(200, raw=stored[rest[0]])
        elif method == "DELETE" and len(rest) == 1 and rest[0] in stored:
            del stored[rest[0]]
            self._reply(200, True)
        else:
            self._reply(404, {"error": "Snapshot not found"})

    def _uploaded_snapshot(self) -> bytes | None:
        """The multipart field `snapshot` of the request's body, as Qdrant's upload endpoints take it."""
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        parts = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "snapshot"]
        payload = parts[0].get_payload(decode=True) if parts else None
        return payload if isinstance(payload, bytes) else None

    def _upload(self, collection: str, priority: str) -> None:
        data = self._uploaded_snapshot()
        if data is None:
            self._reply(400, {"error": "multipart field 'snapshot' is missing"})
            return
        points = points_from_snapshot(data)
        if collection in self.state.collections and priority != "snapshot":
            pass  # Qdrant's default (replica) prefers the data already there: the snapshot's points are ignored
        else:
            self.state.collections[collection] = points
        self._reply(200, True)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class QdrantStandIn:
    """With `tls` (certificate and key files), it serves https as Qdrant does with service.enable_tls, under
    the name `host` (which must be in the certificate and resolve to 127.0.0.1: localhost)."""

    def __init__(self, api_key: str, tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1") -> None:
        self.state = State(api_key)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> QdrantStandIn:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.shutdown()
        self.server.server_close()
