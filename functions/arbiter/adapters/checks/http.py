"""HTTP check: an haproxy-style ``http-check expect``: status codes, then body strings.

Redirects are not followed (a 301 is a status like any other), and the check's ``timeout`` is a
total budget: urllib3's ``Timeout(total=...)`` covers connect plus response headers, and each
body read gets only what is left of it.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from urllib3.util import Timeout

import arbiter
from arbiter.adapters.checks.tcp import os_error_reason, shown, timeout_reason
from arbiter.core.config import HttpCheck
from arbiter.core.model import CheckResult

BODY_LIMIT = 1 << 20
"""Bytes of the body read for matching; a longer body is matched on its start."""
USER_AGENT = f"arbiter-probe/{arbiter.__version__}"
_READ_SIZE = 64 * 1024
_CHAIN_LIMIT = 16


class _Deadline(TimeoutError):
    """The check's total budget ran out while reading the body."""


def check_http(check: HttpCheck) -> CheckResult:
    start = time.perf_counter()
    try:
        reason = _probe(check, start + check.timeout)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        reason = failure_reason(exc, check.timeout)
    latency_ms = (time.perf_counter() - start) * 1000
    return CheckResult(
        name=check.name,
        kind=check.type,
        ok=reason == "ok",
        latency_ms=round(latency_ms, 1),
        reason=reason,
        required=check.required,
    )


def _probe(check: HttpCheck, deadline: float) -> str:
    headers = {"User-Agent": USER_AGENT, **check.headers}
    # requests hands a urllib3 Timeout through as is; its stubs only name floats and tuples.
    timeout: Any = Timeout(total=check.timeout)
    # One Session per call: Session is not thread-safe, and a probe wants a fresh connection.
    with requests.Session() as session:
        # The probe measures the direct path from its region: no proxy or .netrc from the
        # environment (and no scan of os.environ on every request).
        session.trust_env = False
        response = session.request(
            check.method,
            check.url,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            verify=check.verify_tls,
            stream=True,
        )
        with response:
            if response.status_code not in check.expect_status:
                return f"status {response.status_code}"
            # Read the body even without a string to match: a site that sends its headers
            # and then stalls is not serving.
            body = b"" if check.method == "HEAD" else _read_body(response, deadline)
    text = body.decode("utf-8", errors="replace")
    if check.expect_body is not None and check.expect_body not in text:
        return f'body lacks "{shown(check.expect_body)}"'
    if check.expect_body_not is not None and check.expect_body_not in text:
        return f'body contains "{shown(check.expect_body_not)}"'
    return "ok"


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """Up to BODY_LIMIT bytes, each read bounded by what is left of the budget."""
    raw = response.raw
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    body = bytearray()
    # Every pass grows the body or ends on EOF; a read that stalls ends by the deadline.
    while len(body) < BODY_LIMIT:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise _Deadline
        if isinstance(sock, socket.socket):
            sock.settimeout(remaining)
        chunk = raw.read1(min(_READ_SIZE, BODY_LIMIT - len(body)), decode_content=True)
        if not chunk:
            break
        body += chunk
    return bytes(body)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """A short, secret-free reason for a failed request: never a message, URL or header."""
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return "DNS lookup failed"
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
    for cause in chain:
        if isinstance(cause, TimeoutError | urllib3.exceptions.TimeoutError | requests.Timeout):
            return timeout_reason(timeout)
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {_tls_detail(cause)}"
    for cause in chain:
        if isinstance(cause, requests.exceptions.SSLError):
            return "TLS error: handshake failed"
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
