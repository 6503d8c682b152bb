"""HTTP check: an haproxy-style ``http-check expect``: status codes, then body strings.

One request on a fresh connection, as the standard library's ``http.client`` writes it and
reads its answer (no session, pool or redirects: a probe round runs hundreds of them at once,
and ``requests`` costs several times the request itself). The request's bytes are built once
per check and process (``_plan``), the socket is the check's own. Redirects are not followed
(a 301 is a status like any other), and the check's ``timeout`` is a total deadline: connect,
TLS handshake, headers and body. Socket timeouts bound each call, not the request, so the
connection is also watched (``watchdog.py``): at the deadline its socket is shut down, and a
server that drips its headers or body a byte at a time cannot hold the check, its thread or
its socket past the deadline.

For https the server certificate's notAfter is read from the same connection (the TLS socket
gives the peer certificate in DER, so it works with ``verify_tls: false`` too; it is parsed
here, since the Lambda asset carries no ``cryptography``) and reported in ``cert_expires_at``,
with a ``warning`` when it is within ``cert_warning_days``. An expiring certificate never fails
the check.
"""

from __future__ import annotations

import base64
import functools
import http.client
import math
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import arbiter
from arbiter.adapters.checks.result import result
from arbiter.adapters.checks.tcp import os_error_reason, shown, timeout_reason
from arbiter.adapters.checks.watchdog import Deadline
from arbiter.core.config import HttpCheck
from arbiter.core.model import CheckResult

BODY_LIMIT = 1 << 20
"""Bytes of the body read for matching; a longer body is matched on its start."""
USER_AGENT = f"arbiter-probe/{arbiter.__version__}"
_READ_SIZE = 64 * 1024
_CHAIN_LIMIT = 16
_URL_SAFE = "/?#[]@!$&'()*+,;=:%~"
"""Characters left as they are when a URL's path and query are sent: an already
percent-encoded URL goes out unchanged, a space or a non-ASCII letter is encoded."""

FAILURES = (http.client.HTTPException, OSError, ValueError)
"""What a request can raise, including one whose connection the deadline cut mid-read."""


class _OutOfTime(TimeoutError):
    """The check's total budget ran out while reading the body."""


_contexts: dict[bool, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(verify: bool) -> ssl.SSLContext:
    """One client context per ``verify_tls`` value for the process: loading the CA store costs
    more than a whole loopback request, so it is done once, not per check. Read without the
    lock once made: 200 checks starting at once would queue on it."""
    context = _contexts.get(verify)
    if context is not None:
        return context
    with _contexts_lock:
        context = _contexts.get(verify)
        if context is None:
            context = ssl.create_default_context()
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            _contexts[verify] = context
        return context


class _Request(http.client.HTTPConnection):
    """Builds the bytes http.client would send for a request (its request line, ``Host``,
    ``Accept-Encoding: identity`` and its checks of every header) without connecting:
    ``send`` keeps them. A check sends them on a socket of its own."""

    def __init__(self, host: str, port: int, default_port: int) -> None:
        super().__init__(host, port)
        self.default_port = default_port
        self.sent = b""

    def send(self, data: Any) -> None:
        self.sent += bytes(data)


@dataclass(frozen=True)
class _Plan:
    host: str
    port: int
    tls: bool
    request: bytes


@functools.lru_cache(maxsize=4096)
def _plan(url: str, method: str, headers: tuple[tuple[str, str], ...]) -> _Plan:
    """Where a check connects and what it sends, worked out once per process: a probe runs
    the same checks every round, and parsing the URL and building the request cost more than
    sending it on loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    sent = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        sent["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    sent.update(headers)
    target = quote(parts.path or "/", safe=_URL_SAFE) + (
        f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
    )
    port = parts.port or default_port
    request = _Request(host, port, default_port)
    request.request(method, target, headers=sent)
    return _Plan(host, port, tls, request.sent)


@dataclass
class _Seen:
    """What the probe learned on the way, kept even when it then fails."""

    cert_expires_at: datetime | None = None


def check_http(check: HttpCheck) -> CheckResult:
    start = time.perf_counter()
    seen = _Seen()
    with Deadline(check.timeout, start) as deadline:
        try:
            reason = _probe(check, deadline, seen)
        except FAILURES as exc:
            reason = failure_reason(exc, check.timeout)
    if deadline.expired:
        # The watchdog cut the connection; what the library made of that (a short read, a
        # bad status line, even a truncated "ok") is not the site's answer.
        reason = timeout_reason(check.timeout)
    expires = seen.cert_expires_at
    return result(
        check,
        reason,
        start,
        cert_expires_at=expires,
        warning=expiry_warning(expires, check.cert_warning_days, datetime.now(UTC)),
    )


def _probe(check: HttpCheck, deadline: Deadline, seen: _Seen) -> str:
    """One request on a fresh connection: the socket is watched by ``deadline`` from the
    moment it is connected (before any TLS handshake, which happens on it), the request is
    http.client's, and so is the parsing of the response."""
    plan = _plan(check.url, check.method, tuple(check.headers.items()))
    sock = socket.create_connection((plan.host, plan.port), check.timeout)
    try:
        deadline.watch(sock)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer_cert = None
        if plan.tls:
            sock = tls_context(check.verify_tls).wrap_socket(sock, server_hostname=plan.host)
            # The certificate its server presented (DER), verified or not.
            peer_cert = sock.getpeercert(binary_form=True)
        sock.sendall(plan.request)
        response = http.client.HTTPResponse(sock, method=check.method)
        try:
            response.begin()
            if peer_cert:
                seen.cert_expires_at = _not_after(peer_cert)
            if response.status not in check.expect_status:
                return f"status {response.status}"
            # Read the body even without a string to match: a site that sends its headers
            # and then stalls is not serving.
            body = b"" if check.method == "HEAD" else _read_body(response, deadline)
        finally:
            response.close()
    finally:
        sock.close()
    text = body.decode("utf-8", errors="replace")
    if check.expect_body is not None and check.expect_body not in text:
        return f'body lacks "{shown(check.expect_body)}"'
    if check.expect_body_not is not None and check.expect_body_not in text:
        return f'body contains "{shown(check.expect_body_not)}"'
    return "ok"


def _read_body(response: http.client.HTTPResponse, deadline: Deadline) -> bytes:
    """Up to BODY_LIMIT bytes (decompressed when the server sent gzip or deflate because the
    check's headers asked for it), read until the deadline."""
    encoding = (response.getheader("Content-Encoding") or "").strip().lower()
    inflate = zlib.decompressobj(47) if encoding in ("gzip", "x-gzip", "deflate") else None
    body = bytearray()
    # Every pass grows the body or ends on EOF; a read that stalls is cut at the deadline,
    # and a body that trickles in ends there too.
    while len(body) < BODY_LIMIT:
        if deadline.remaining() <= 0:
            raise _OutOfTime
        chunk = response.read1(_READ_SIZE)
        if not chunk:
            break
        if inflate is not None:
            chunk = inflate.decompress(chunk, BODY_LIMIT - len(body))
        body += chunk
    return bytes(body[:BODY_LIMIT])


def _not_after(der: bytes) -> datetime | None:
    try:
        return cert_not_after(der)
    except ValueError:
        return None


def expiry_warning(not_after: datetime | None, warn_days: int, now: datetime) -> str | None:
    """``certificate expires in 5 days (2026-11-27)`` when within ``warn_days``; else None."""
    if not_after is None:
        return None
    left = (not_after - now).total_seconds()
    day = f"{not_after:%Y-%m-%d}"
    if left <= 0:
        return f"certificate expired on {day}"
    if left >= warn_days * 86400:
        return None
    days = math.ceil(left / 86400)
    return f"certificate expires in {days} day{'' if days == 1 else 's'} ({day})"


def cert_not_after(der: bytes) -> datetime:
    """notAfter of a DER X.509 certificate (RFC 5280 section 4.1); ValueError if malformed.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }
    """
    (certificate,) = _der_items(der, 0, len(der))
    tbs = _der_items(der, *_constructed(certificate))[0]
    fields = _der_items(der, *_constructed(tbs))
    if fields and fields[0][0] == _EXPLICIT_VERSION:
        fields = fields[1:]
    if len(fields) < 4:
        raise ValueError("no validity")
    times = _der_items(der, *_constructed(fields[3]))
    if len(times) != 2:
        raise ValueError("no notAfter")
    tag, start, end = times[1]
    return _der_time(tag, der[start:end].decode("ascii"))


_SEQUENCE = 0x30
_EXPLICIT_VERSION = 0xA0
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


def _der_items(data: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, content start, content end) of each item in ``data[pos:end]``."""
    items = []
    # Each pass moves ``pos`` past one item's header at least: the loop ends at ``end``.
    while pos < end:
        if pos + 2 > end:
            raise ValueError("truncated")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            if not 1 <= size <= 4 or pos + size > end:
                raise ValueError("bad length")
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        if pos + length > end:
            raise ValueError("truncated")
        items.append((tag, pos, pos + length))
        pos += length
    return items


def _constructed(item: tuple[int, int, int]) -> tuple[int, int]:
    tag, start, end = item
    if tag not in (_SEQUENCE, _EXPLICIT_VERSION):
        raise ValueError("not a sequence")
    return start, end


def _der_time(tag: int, text: str) -> datetime:
    if tag == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif not (tag == _GENERALIZED_TIME and len(text) == 15 and text.endswith("Z")):
        raise ValueError("unsupported time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for a failed request: never a message, URL or header."""
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed"
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    for cause in chain:
        if isinstance(cause, TimeoutError):
            return timeout_reason(timeout)
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {_tls_detail(cause)}"
    for cause in chain:
        reason = os_error_reason(cause, timeout)
        if reason is not None:
            return reason
    return f"error: {type(exc).__name__}"


def _tls_detail(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return shown(exc.verify_message, 60)
    return shown(exc.reason or type(exc).__name__, 60)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: ``__cause__``, ``__context__``, urllib3's ``reason``, args."""
    queue = [exc]
    seen: set[int] = set()
    while queue and len(seen) < _CHAIN_LIMIT:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [getattr(current, "reason", None), current.__cause__, current.__context__]
        queue.extend(e for e in [*linked, *current.args] if isinstance(e, BaseException))
