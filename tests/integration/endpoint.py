"""A webhook endpoint on 127.0.0.1 whose answers a test scripts, one per request.

    with Endpoint() as site:
        site.answer(Answer(200, {"status": "pending"}), Answer(200, {"ok": True}))
        ...  # the third and later requests get the last answer again

It records each request (headers, raw body) and checks its signature with ``key``, so a test
can assert what was sent and that it verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    """A JSON value, or bytes sent as they are."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (bounded by the server's stop)."""


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: bytes
    signed: bool
    """The signature verifies with the endpoint's key over ``<timestamp>.<body>``."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        site = self.server.site
        expected = signature(site.key, headers.get("X-Arbiter-Timestamp", ""), body)
        signed = hmac.compare_digest(expected, headers.get("X-Arbiter-Signature", ""))
        answer = site._next(Request(headers, body, signed))
        if answer.delay:
            site._stopping.wait(answer.delay)
        data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Endpoint


class Endpoint:
    def __init__(self, key: bytes = b"") -> None:
        self.key = key
        self._answers: list[Answer] = [Answer()]
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.site = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/arbiter"

    def answer(self, *answers: Answer) -> None:
        """The next requests' answers, in order; the last one repeats."""
        with self._lock:
            self._answers = list(answers)

    def _next(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class FakeTime:
    """``time.monotonic`` and ``time.sleep`` for a runner: sleeping moves the clock, at once."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def wall(self) -> float:
        """A Unix time that moves with the fake clock (for the signature's timestamp)."""
        return time.time() + (self.now - 1000.0)
