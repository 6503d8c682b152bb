"""Real servers on loopback for integration tests and the demo.

- ``HttpSite``: a threaded HTTP(S) server whose answer (status, body, delay, headers, a stall
  mid-body) is set per path at run time, and which records the requests it saw.
- ``TcpSite``: a TCP server that sends an optional banner and then holds the connection.
- ``DripSite``: a tarpit that reads a request, then answers one byte at a time (TLS optional).
- ``refused_port()``: a port on which a connection is refused, held so nobody else takes it.
- ``self_signed_cert()``: a throwaway certificate made with the ``openssl`` command.
- ``NamedServer``: a real BIND ``named`` serving zone files on a free loopback port.
- ``SippServer``: a real ``sipp`` UAS (built-in ``uas -aa``, or a scenario file).
- ``free_port()``, ``silent_udp_port()``: a port for a server to take, and one that never answers.

Every wait in here is bounded and ends early on ``stop()``, so a test cannot hang on a server.

    with HttpSite() as site:
        site.set_response("/health", status=503, body="maintenance", delay=0.2)
        requests.get(site.url + "/health", timeout=2)
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from arbiter.local.peers import MAX_HOLD, NamedServer, free_port
from arbiter.local.peers import ChildServer as _ChildServer

__all__ = ["MAX_HOLD", "NamedServer", "free_port"]


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b"OK"
    delay: float = 0.0
    """Seconds to wait before sending anything."""
    headers: Mapping[str, str] = field(default_factory=dict)
    stall: bool = False
    """Send the headers and half the body, then hang (until stop() or MAX_HOLD)."""


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: Mapping[str, str]


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that connects and sends nothing does not hold a thread for ever

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        site = self.server.site
        path = self.path.split("?", 1)[0]
        site._record(SeenRequest(self.command, path, dict(self.headers.items())))
        response = site.response_for(path)
        if response.delay and site._stopping.wait(response.delay):
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not with_body:
            return
        if response.stall:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            site._stopping.wait(MAX_HOLD)
            return
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: HttpSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up or fail the TLS handshake are part of the tests


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpSite:
    """A loopback HTTP server; answers are set per path with ``set_response``.

    Unknown paths answer 404 ``not found``; ``/`` answers 200 ``OK`` until told otherwise.
    Pass ``certfile``/``keyfile`` (see ``self_signed_cert``) to serve HTTPS.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
        request_queue_size: int = 128,
    ) -> None:
        self.host = host
        self._tls: ssl.SSLContext | None = None
        if certfile is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(certfile, keyfile)
        self._queue = request_queue_size
        self._responses: dict[str, Response] = {"/": Response()}
        self._seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def set_response(
        self,
        path: str = "/",
        *,
        status: int = 200,
        body: str | bytes = "OK",
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
        stall: bool = False,
    ) -> str:
        """Set what ``path`` answers from now on; returns the full URL of ``path``."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._responses[path] = Response(status, data, delay, dict(headers or {}), stall)
        return self.url_for(path)

    def response_for(self, path: str) -> Response:
        with self._lock:
            return self._responses.get(path) or Response(status=404, body=b"not found")

    @property
    def requests(self) -> list[SeenRequest]:
        """The requests received so far, oldest first."""
        with self._lock:
            return list(self._seen)

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the site is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash: ``http://127.0.0.1:PORT``."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    def start(self) -> Self:
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, 0), _Handler, bind_and_activate=False)
        server.request_queue_size = self._queue  # listen()'s backlog, read by server_activate
        server.site = self
        try:
            server.server_bind()
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        if self._tls is not None:
            # The handshake happens in the handler's thread (see _Handler.setup), so a client
            # that never completes it cannot block the accept loop.
            server.socket = self._tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _TcpServer:
    """A loopback TCP listener whose accept loop hands each connection to ``_accepted``."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the site is not started")
        return int(self._listener.getsockname()[1])

    def start(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(128)
        listener.settimeout(0.05)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        # Each pass waits at most the accept timeout; stop() ends the loop.
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpSite(_TcpServer):
    """A loopback TCP server: on each connection it sends ``banner`` (if any), then holds the
    connection open, silent, until the client closes, ``stop()`` or MAX_HOLD."""

    def __init__(self, host: str = "127.0.0.1", *, banner: str | bytes | None = None) -> None:
        super().__init__(host)
        self._banner = banner.encode() if isinstance(banner, str) else banner
        self._held: list[socket.socket] = []

    def set_banner(self, banner: str | bytes | None) -> None:
        """What the next connections receive; None sends nothing."""
        with self._lock:
            self._banner = banner.encode() if isinstance(banner, str) else banner

    def _accepted(self, conn: socket.socket) -> None:
        with self._lock:
            banner = self._banner
            self._held.append(conn)
        if banner:
            with contextlib.suppress(OSError):
                conn.sendall(banner)

    def stop(self) -> None:
        super().stop()
        with self._lock:
            for conn in self._held:
                conn.close()
            self._held.clear()


def read_request(conn: socket.socket) -> bytes:
    """An HTTP or SIP request: its head, up to the blank line, and the body its Content-Length
    announces (at most 64 KiB in all; less on EOF)."""
    data = b""
    # Each pass grows `data` or ends on EOF; the size bound ends the rest.
    while len(data) < _request_size(data) and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _request_size(data: bytes) -> float:
    head, found, _ = data.partition(b"\r\n\r\n")
    if not found:
        return float("inf")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return len(head) + 4 + (int(length.group(1)) if length else 0)


def read_dns_query(conn: socket.socket) -> bytes:
    """One DNS query over TCP (RFC 1035 4.2.2: a two-byte length, then the message)."""
    data = b""
    # Each pass grows `data` or ends on EOF; a length field caps the total at 64 KiB + 2.
    while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data[2:]


def read_nothing(conn: socket.socket) -> bytes:
    """For servers that speak first (a banner)."""
    return b""


def byte_by_byte(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


class DripSite(_TcpServer):
    """A tarpit on loopback. On each connection it reads the request with ``read``, then sends
    what ``answer(request)`` gives: ``head`` at once, then each piece of ``drip`` with
    ``interval`` seconds between them, until all is sent, the client hangs up, ``stop()`` or
    MAX_HOLD. With ``tls`` (a server-side SSLContext) it drips inside TLS, one record a piece.

        status = b"HTTP/1.1 200 OK\r\n"
        with DripSite(lambda request: (b"", byte_by_byte(status))) as tarpit:
            ...  # http://127.0.0.1:{tarpit.port}/ sends its status line over 0.85 s
    """

    def __init__(
        self,
        answer: Callable[[bytes], tuple[bytes, Iterable[bytes]]],
        *,
        read: Callable[[socket.socket], bytes] = read_request,
        interval: float = 0.05,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self._answer = answer
        self._read = read
        self._interval = interval
        self._tls = tls
        self._connections = 0
        self._sent = 0

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{_url_host(self.host)}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def sent(self) -> int:
        """Bytes of ``drip`` that the kernel took so far, over every connection."""
        with self._lock:
            return self._sent

    def _accepted(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections += 1
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        # A client that hangs up ends this thread at the next byte (EPIPE or a reset).
        with contextlib.suppress(OSError):
            conn.settimeout(MAX_HOLD)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)  # closes conn if it fails
            with conn:
                head, drip = self._answer(self._read(conn))
                conn.sendall(head)
                self._drip(conn, drip)

    def _drip(self, conn: socket.socket, drip: Iterable[bytes]) -> None:
        give_up = time.monotonic() + MAX_HOLD
        # Each pass sends one piece and waits `interval`: the end of `drip`, stop() or MAX_HOLD
        # ends the loop.
        for piece in drip:
            if time.monotonic() > give_up:
                return
            conn.sendall(piece)
            with self._lock:
                self._sent += len(piece)
            if self._stopping.wait(self._interval):
                return


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port where connections are refused: bound (so nobody else takes it) but not listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.bind((host, 0))
        yield int(holder.getsockname()[1])


def self_signed_cert(
    directory: Path, host: str = "127.0.0.1", *, days: int = 1
) -> tuple[Path, Path] | None:
    """(cert, key) for ``host`` and localhost, valid for ``days`` from now, made by the
    ``openssl`` command; None without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / f"cert-{days}d.pem", directory / f"key-{days}d.pem"
    san = f"IP:{host},DNS:localhost" if _is_ip(host) else f"DNS:{host},DNS:localhost"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", str(days), "-subj", "/CN=arbiter-test",
        "-addext", f"subjectAltName={san}", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    return (cert, key) if done.returncode == 0 else None


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


# --- Real DNS and SIP servers run as child processes --------------------------------------


@contextlib.contextmanager
def silent_udp_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A UDP port that receives datagrams and never answers: no reply, no ICMP error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as holder:
        holder.bind((host, 0))
        yield int(holder.getsockname()[1])


class SippServer(_ChildServer):
    """A ``sipp`` UAS on 127.0.0.1: the built-in ``uas`` with ``-aa`` (it answers OPTIONS with
    200 OK), or the scenario file ``scenario``. ``transport`` is ``udp`` or ``tcp``.

    Without ``-aa`` the built-in uas ignores OPTIONS: it waits for an INVITE.
    """

    name = "sipp"

    def __init__(
        self, directory: Path, *, transport: str = "udp", scenario: Path | None = None
    ) -> None:
        super().__init__(directory)
        self.transport = transport
        self.scenario = scenario
        self.port = 0

    def start(self) -> Self:
        binary = shutil.which("sipp")
        if binary is None:
            raise RuntimeError("the sipp command is not installed (Debian: sip-tester)")
        self.port = free_port()
        mode = {"udp": "u1", "tcp": "t1"}[self.transport]
        what = ["-sn", "uas", "-aa"] if self.scenario is None else ["-sf", str(self.scenario)]
        self._spawn(
            [binary, *what, "-i", "127.0.0.1", "-p", str(self.port), "-t", mode, "-nostdin"]
        )
        self._wait_ready(self._answers)
        return self

    def _answers(self) -> bool:
        """TCP: it accepts a connection. UDP: it answers an OPTIONS request with anything."""
        if self.transport == "tcp":
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return False
            return True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            try:
                sock.connect(("127.0.0.1", self.port))
                sock.send(_ping(self.port, int(sock.getsockname()[1])))
                return bool(sock.recv(65535))
            except OSError:
                return False


def _ping(port: int, local_port: int) -> bytes:
    """A minimal OPTIONS request, made here so that readiness does not rest on the checker."""
    token = secrets.token_hex(8)
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{token};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"From: <sip:ready@127.0.0.1>;tag={token}\r\n"
        f"Call-ID: ready-{token}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
