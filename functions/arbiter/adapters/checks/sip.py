"""SIP check: an OPTIONS request (the "SIP ping" of RFC 3261 section 11), then its status.

Over UDP the request is one datagram, retransmitted like a non-INVITE client transaction
(Timer E: 0.5 s, doubling, at most 4 s apart) until a final response or the check's timeout.
The socket is connected, so an ICMP port unreachable ends the check as ``connection refused``
(a transport error, which RFC 3261 section 18.4 treats as a failure); a silent server is a
timeout. Over TCP the request is sent once and the stream read message by message.

Provisional (1xx) responses are skipped; only a response whose Call-ID and CSeq are the
request's counts. Its status passes when listed in ``expect_status`` (default 200 only, so a
``503 Service Unavailable`` from a proxy whose back end is down is a failure).
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass
from typing import Any

from arbiter.adapters.checks.http import USER_AGENT
from arbiter.adapters.checks.result import result
from arbiter.adapters.checks.tcp import os_error_reason, timeout_reason
from arbiter.core.config import SipCheck
from arbiter.core.model import CheckResult

T1 = 0.5
"""RFC 3261's round-trip estimate: the first retransmission interval."""
T2 = 4.0
"""RFC 3261's longest retransmission interval for non-INVITE requests."""
MESSAGE_LIMIT = 64 * 1024
"""Bytes buffered for one response over TCP; a larger header block is a bad response."""
_DATAGRAM = 65535
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: .*)?$")
_COMPACT = {"i": "call-id", "l": "content-length", "v": "via", "f": "from", "t": "to"}
"""RFC 3261's compact header names that the check reads."""


class _BadResponse(Exception):
    """The server sent something that is not a SIP response."""


class _Closed(Exception):
    """The server closed the TCP connection before a final response."""


@dataclass(frozen=True)
class SipResponse:
    status: int
    headers: dict[str, str]
    """Lower-case full header names (compact forms expanded) -> the first value."""


def check_sip(check: SipCheck) -> CheckResult:
    start = time.perf_counter()
    try:
        reason = _probe(check, start + check.timeout)
    except _BadResponse:
        reason = "bad response"
    except _Closed:
        reason = "connection closed"
    except OSError as exc:
        reason = os_error_reason(exc, check.timeout) or f"error: {type(exc).__name__}"
    return result(check, reason, start)


def _probe(check: SipCheck, deadline: float) -> str:
    socktype = socket.SOCK_DGRAM if check.transport == "udp" else socket.SOCK_STREAM
    family, _, _, _, address = socket.getaddrinfo(check.host, check.port, type=socktype)[0]
    with socket.socket(family, socktype) as sock:
        sock.settimeout(_left(deadline))
        sock.connect(address)
        call_id = secrets.token_hex(16)
        request = options_request(check, sock.getsockname(), call_id)
        if check.transport == "udp":
            response = _udp_exchange(sock, request, call_id, deadline)
        else:
            response = _tcp_exchange(sock, request, call_id, deadline)
    if response is None:
        return timeout_reason(check.timeout)
    return "ok" if response.status in check.expect_status else f"status {response.status}"


def options_request(check: SipCheck, local: tuple[Any, ...], call_id: str) -> bytes:
    """The OPTIONS request, with fresh branch and tag, from the socket's ``local`` address."""
    host, port = _uri_host(str(local[0])), int(local[1])
    uri = check.uri or f"sip:{_uri_host(check.host)}:{check.port}"
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{check.transport.upper()} {host}:{port}"
        f";branch=z9hG4bK{secrets.token_hex(8)};rport",
        "Max-Forwards: 70",
        f"To: <{uri}>",
        f"From: <sip:{check.from_user}@{host}>;tag={secrets.token_hex(6)}",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:{check.from_user}@{host}:{port};transport={check.transport}>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _udp_exchange(
    sock: socket.socket, request: bytes, call_id: str, deadline: float
) -> SipResponse | None:
    interval = T1
    next_send = time.perf_counter()
    # Each pass sends (at most every T1 s), or waits until the next send or the deadline, or
    # takes one datagram: the loop ends by the deadline.
    while (now := time.perf_counter()) < deadline:
        if now >= next_send:
            sock.send(request)
            next_send = now + interval
            interval = min(interval * 2, T2)
        sock.settimeout(max(min(next_send, deadline) - now, 0.001))
        try:
            datagram = sock.recv(_DATAGRAM)
        except TimeoutError:
            continue
        head = datagram.split(b"\r\n\r\n", 1)[0]
        response = parse_response(head)
        if not _answers(response, call_id):
            continue  # a late answer to someone else's request
        if response.status >= 200:
            return response
        interval = T2  # Proceeding: keep retransmitting, but only every T2
    return None


def _tcp_exchange(
    sock: socket.socket, request: bytes, call_id: str, deadline: float
) -> SipResponse | None:
    sock.settimeout(_left(deadline))
    sock.sendall(request)
    buffer = b""
    # Each pass takes the complete messages in the buffer, then reads more or ends: on a
    # final response, EOF, an oversized message, or the deadline.
    while True:
        while (message := _next_message(buffer)) is not None:
            response, buffer = message
            if _answers(response, call_id) and response.status >= 200:
                return response
        if len(buffer) > MESSAGE_LIMIT:
            raise _BadResponse
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(_DATAGRAM)
        except TimeoutError:
            return None
        if not chunk:
            raise _Closed
        buffer += chunk


def _next_message(buffer: bytes) -> tuple[SipResponse, bytes] | None:
    """The first whole message in ``buffer`` and what follows it, or None if incomplete."""
    buffer = buffer.lstrip(b"\r\n")  # CRLF keep-alives (RFC 5626) between messages
    head, found, rest = buffer.partition(b"\r\n\r\n")
    if not found:
        return None
    response = parse_response(head)
    try:
        length = int(response.headers.get("content-length", "0"))
    except ValueError:
        raise _BadResponse from None
    if length < 0:
        raise _BadResponse
    if len(rest) < length:
        return None
    return response, rest[length:]


def parse_response(head: bytes) -> SipResponse:
    """The status and headers of a response's header block (without the blank line)."""
    lines = head.decode("utf-8", errors="replace").splitlines()
    match = _STATUS_LINE.match(lines[0]) if lines else None
    if match is None:
        raise _BadResponse
    headers: dict[str, str] = {}
    last = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip()  # a folded continuation line
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _BadResponse
        key = name.strip().lower()
        key = _COMPACT.get(key, key)
        if key not in headers:
            headers[key] = value.strip()
            last = key
        else:
            last = ""
    return SipResponse(int(match.group(1)), headers)


def _answers(response: SipResponse, call_id: str) -> bool:
    cseq = response.headers.get("cseq", "").split()
    return (
        response.headers.get("call-id") == call_id
        and len(cseq) == 2
        and cseq[0] == "1"
        and cseq[1].upper() == "OPTIONS"
    )


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _left(deadline: float) -> float:
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise TimeoutError
    return remaining
