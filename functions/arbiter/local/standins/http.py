"""What every local stand-in of a vendor's HTTP API needs: a threaded server on 127.0.0.1,
requests recorded, answers held back on demand, and a queue of canned faults.

A stand-in subclasses ``HttpStandIn`` and implements ``_route(seen)`` (the vendor's API);
queued faults (``_set_faults``) answer the next requests instead, first in first out. A
vendor whose API lives on several hosts (Twilio's REST and Trunking APIs) names them in
``servers``: one server each, one record and one fault queue for all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as it arrived: the body parsed as JSON or as a form when it says so."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    json: Any = None
    """The body as JSON (None when empty or not JSON)."""
    malformed: bool = False
    """The body claimed to be JSON but is not."""
    form: dict[str, list[str]] = field(default_factory=dict)
    """The body as ``application/x-www-form-urlencoded`` fields (empty otherwise)."""
    server: str = "api"
    """Which of the stand-in's ``servers`` it reached."""

    def header(self, name: str) -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return ""

    @property
    def content_type(self) -> str:
        return self.header("Content-Type")


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    """Seconds to hold the answer back (cut short by ``stop()``)."""


def as_json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Canned:
    return Canned(status, json.dumps(body).encode(), dict(headers or {}))


def html_page(status: int) -> Canned:
    """What an edge in front of an API answers when the API behind it fails."""
    page = f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
    return Canned(status, page, content_type="text/html")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a client that connects and sends nothing does not hold a thread for ever

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
        standin = self.server.standin
        parts = urlsplit(self.path)
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        if size > BODY_LIMIT:
            self._send(standin._too_large())
            return
        raw = self.rfile.read(size) if size else b""
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        parsed, malformed, form = None, False, {}
        if kind == "application/x-www-form-urlencoded":
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        elif raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError:
                malformed = True
        seen = Seen(
            self.command,
            parts.path,
            parse_qs(parts.query, keep_blank_values=True),
            dict(self.headers.items()),
            raw,
            parsed,
            malformed,
            form,
            self.server.name,
        )
        self._send(standin._receive(seen))

    def _send(self, canned: Canned) -> None:
        if canned.delay and self.server.standin._stopping.wait(canned.delay):
            return
        self.send_response(canned.status)
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", canned.content_type)
        self.send_header("Content-Length", str(len(canned.body)))
        self.end_headers()
        self.wfile.write(canned.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: HttpStandIn
    name: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up are part of the tests


class HttpStandIn:
    """The server, the record of requests and the fault queue; ``_route`` is the vendor's."""

    prefix = ""
    """The API's path on the server; ``url`` ends with it."""
    servers: tuple[str, ...] = ("api",)
    """The hosts the API lives on, one loopback server each; ``url`` is the first's."""

    def __init__(self) -> None:
        self.recording = False
        self.requests: list[Seen] = []
        self._faults: list[Canned | str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    # --- life -------------------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        for name in self.servers:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.standin, server.name = self, name
            self._servers[name] = server
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def base(self, name: str) -> str:
        """The base URL of one of ``servers`` (without ``prefix``)."""
        if name not in self._servers:
            raise RuntimeError("the stand-in is not started")
        return f"http://127.0.0.1:{self._servers[name].server_address[1]}"

    @property
    def url(self) -> str:
        """The API base, as the provider's ``base_url`` takes it."""
        return self.base(self.servers[0]) + self.prefix

    # --- faults and the record --------------------------------------------------------------

    def _set_faults(self, faults: list[Canned | str]) -> None:
        """The next requests get these answers (a string: a fault the subclass makes itself);
        an empty list clears the queue."""
        with self._lock:
            self._faults = list(faults)

    def fail(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` with an HTML error page."""
        self._set_faults([html_page(status)] * n)

    def stall(self, n: int, seconds: float, status: int = 503) -> None:
        """The next ``n`` requests get their answer (``status``) only after ``seconds``."""
        page = html_page(status)
        self._set_faults([Canned(page.status, page.body, {}, page.content_type, seconds)] * n)

    def redirect(self, n: int, location: str = "https://elsewhere.invalid/") -> None:
        self._set_faults([Canned(302, b"", {"Location": location})] * n)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _receive(self, seen: Seen) -> Canned:
        with self._lock:
            if self.recording:
                self.requests.append(seen)
            fault = self._faults.pop(0) if self._faults else None
            if isinstance(fault, Canned):
                return fault
            return self._route(seen, fault)

    def _too_large(self) -> Canned:
        """The answer to a body over BODY_LIMIT, in the vendor's error shape."""
        return as_json(413, {"error": "request too large"})

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        """The vendor's answer to ``seen`` (called with the lock held); ``fault`` is a queued
        fault the subclass names itself, if any."""
        raise NotImplementedError
