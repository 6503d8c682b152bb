"""Two tiny "data centers" on loopback for the demo: an HTTP health page and a TCP banner."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:
        status, body = (200, b"OK\n") if self.server.site.healthy else (503, b"maintenance\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: LocalSite) -> None:
        self.site = site
        super().__init__(("127.0.0.1", 0), _Handler)


class LocalSite:
    """A data center you can break: ``healthy = False`` makes /health answer 503, and
    ``stop()`` closes both ports (connection refused)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.healthy = True
        self._http: _HealthServer | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.http_port = 0
        self.tcp_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/health"

    def start(self) -> LocalSite:
        self._http = _HealthServer(self)
        self.http_port = self._http.server_address[1]
        http = threading.Thread(target=self._http.serve_forever, daemon=True)
        tcp_sock = socket.create_server(("127.0.0.1", self.tcp_port or 0))
        tcp_sock.settimeout(0.2)
        self._tcp = tcp_sock
        self.tcp_port = tcp_sock.getsockname()[1]
        tcp = threading.Thread(target=self._serve_banner, args=(tcp_sock,), daemon=True)
        self._threads = [http, tcp]
        for thread in self._threads:
            thread.start()
        return self

    def _serve_banner(self, sock: socket.socket) -> None:
        while self._tcp is sock:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                try:
                    conn.sendall(b"SSH-2.0-arbiter-demo\r\n")
                except OSError:
                    pass

    def stop(self) -> None:
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

    def __enter__(self) -> LocalSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
