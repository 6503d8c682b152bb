"""A small HTTP proxy on 127.0.0.1 in front of a real provider API, for fault tests.

It forwards each request (method, path, query, headers, body) to ``upstream`` and relays the
answer, unless faults are queued: ``fail(n, 429, {"Retry-After": "2"})`` makes the next ``n``
requests get that status (with a JSON ``{"error": ...}`` body) without reaching the upstream.
It records every request it saw, so a test can count calls.

    with FaultProxy("http://127.0.0.1:8081") as proxy:
        proxy.fail(1, 503)
        ...  # point the adapter at proxy.url
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

UPSTREAM_TIMEOUT = 10.0
"""Seconds the proxy waits for the upstream's answer."""
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    """With its query string."""
    headers: Mapping[str, str]
    faulted: int | None
    """The status the proxy answered itself, or None: forwarded."""


@dataclass
class _Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = proxy._take_fault()
        status = None if fault is None else fault.status
        proxy._record(Seen(self.command, self.path, dict(self.headers.items()), status))
        if fault is not None:
            data = json.dumps({"error": f"fault proxy: HTTP {fault.status}"}).encode()
            self._send(fault.status, list(fault.headers.items()), data, "application/json")
            return
        upstream = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            relayed = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
            self._send(answer.status, relayed, data, None)
        except (OSError, http.client.HTTPException) as exc:
            data = json.dumps({"error": f"fault proxy: upstream failed: {exc}"}).encode()
            self._send(502, [], data, "application/json")
        finally:
            upstream.close()

    def _send(
        self, status: int, headers: list[tuple[str, str]], data: bytes, content_type: str | None
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError("the upstream must be http://host:port")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._seen: list[Seen] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def fail(self, n: int, status: int = 429, headers: Mapping[str, str] | None = None) -> None:
        """The next ``n`` requests get ``status`` (and ``headers``); 0 clears the queue."""
        with self._lock:
            self._faults = [_Fault(status, dict(headers or {})) for _ in range(n)]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._seen.clear()

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
