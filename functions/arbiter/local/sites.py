"""Two tiny "data centers" on loopback for the demo and the chaos suite: an HTTP health page
and a TCP banner, each of which can be broken in the ways real sites break.

Modes (``site.mode = ...``):

- ``ok``: ``/health`` answers 200 "OK", the TCP port sends an SSH banner;
- ``error``: ``/health`` answers 503 "maintenance" (the TCP port still answers);
- ``slow``: both answer, but only after ``slow_delay`` seconds;
- ``tarpit``: the HTTP status line comes at once, then the headers drip one byte every
  ``drip_every`` seconds (the TCP banner likewise) for up to ``tarpit_for`` seconds;
- ``refused``: both ports closed (connection refused); the same ports open again when the
  mode changes back.

Every server thread is bounded: a sleeping or dripping connection ends when its time is up,
when the mode changes, or when the site stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["ok", "error", "slow", "tarpit", "refused"]
MODES: tuple[Mode, ...] = ("ok", "error", "slow", "tarpit", "refused")
BANNER = b"SSH-2.0-arbiter-demo\r\n"
_TICK = 0.05


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:
        site = self.server.site
        mode = site.mode
        if mode == "tarpit":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            site.drip(self.wfile.write, b"X-Tarpit: " + b"." * 4096, "tarpit")
            return
        if mode == "slow" and not site.pause(site.slow_delay, "slow"):
            return
        status, body = (200, b"OK\n") if mode in ("ok", "slow") else (503, b"maintenance\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            pass  # the prober gave up and closed its end: nothing to answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: LocalSite, port: int) -> None:
        self.site = site
        super().__init__(("127.0.0.1", port), _Handler)


class LocalSite:
    """A data center you can break: set ``mode`` (see the module's docstring). ``healthy``
    is the demo's shorthand: False is ``error``, True is ``ok``."""

    def __init__(
        self,
        name: str,
        slow_delay: float = 2.0,
        drip_every: float = 0.5,
        tarpit_for: float = 60.0,
    ) -> None:
        self.name = name
        self.slow_delay = slow_delay
        self.drip_every = drip_every
        self.tarpit_for = tarpit_for
        self._mode: Mode = "ok"
        self._http: _HealthServer | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.http_port = 0
        self.tcp_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/health"

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode == self._mode:
            return
        if mode == "refused":
            self._close()
        elif self._mode == "refused":
            self._open()
        self._mode = mode

    @property
    def healthy(self) -> bool:
        return self._mode == "ok"

    @healthy.setter
    def healthy(self, value: bool) -> None:
        self.mode = "ok" if value else "error"

    def start(self) -> LocalSite:
        self._stopping.clear()
        if self._mode != "refused":
            self._open()
        return self

    def _open(self) -> None:
        """Listen on the site's ports (the same ones again after a ``refused`` spell)."""
        self._http = _HealthServer(self, self.http_port)
        self.http_port = self._http.server_address[1]
        http = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": _TICK}, daemon=True
        )
        tcp_sock = socket.create_server(("127.0.0.1", self.tcp_port))
        tcp_sock.settimeout(_TICK)
        self._tcp = tcp_sock
        self.tcp_port = tcp_sock.getsockname()[1]
        tcp = threading.Thread(target=self._serve_banner, args=(tcp_sock,), daemon=True)
        self._threads = [http, tcp]
        for thread in self._threads:
            thread.start()

    def _serve_banner(self, sock: socket.socket) -> None:
        while self._tcp is sock:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            if self._mode in ("ok", "error"):
                self._banner(conn)
            else:  # one thread per held connection: a stalled one never blocks the next
                threading.Thread(target=self._banner, args=(conn,), daemon=True).start()

    def _banner(self, conn: socket.socket) -> None:
        with conn:
            try:
                mode = self._mode
                if mode == "tarpit":
                    self.drip(conn.sendall, BANNER, "tarpit")
                    return
                if mode == "slow" and not self.pause(self.slow_delay, "slow"):
                    return
                conn.sendall(BANNER)
            except OSError:
                pass

    def pause(self, seconds: float, mode: Mode) -> bool:
        """Sleep up to ``seconds``; False if the site stopped or left ``mode`` meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._stopping.is_set() or self._mode != mode:
                return False
            time.sleep(min(_TICK, max(0.0, end - time.monotonic())))
        return True

    def drip(self, write: Callable[[bytes], object], data: bytes, mode: Mode) -> None:
        """Send ``data`` one byte every ``drip_every`` seconds, for at most ``tarpit_for``."""
        end = time.monotonic() + self.tarpit_for
        for i in range(len(data)):
            if i and (time.monotonic() >= end or not self.pause(self.drip_every, mode)):
                return
            try:
                write(data[i : i + 1])
            except OSError:
                return  # the prober hung up

    def _close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._tcp is not None:
            sock, self._tcp = self._tcp, None
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []

    def stop(self) -> None:
        self._stopping.set()
        self._close()

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
