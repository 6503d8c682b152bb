"""TCP check: connect to host:port, and optionally compare the start of the server's banner.

Also holds the socket-level failure vocabulary (``connection refused``, ``timeout after 3.0 s``,
``DNS lookup failed``...) that the HTTP check shares, so both speak the same short reasons.
"""

from __future__ import annotations

import errno
import socket
import time

from arbiter.adapters.checks.result import result
from arbiter.core.config import TcpCheck
from arbiter.core.model import CheckResult

BANNER_SHOWN = 40
"""Characters of an unexpected banner shown in the reason."""
_RECV_SIZE = 4096


def timeout_reason(timeout: float) -> str:
    return f"timeout after {timeout:.1f} s"


def os_error_reason(exc: BaseException, timeout: float) -> str | None:
    """The short reason for a socket-level failure, or None when ``exc`` is not one."""
    if isinstance(exc, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return timeout_reason(timeout)
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno == errno.ENETUNREACH:
        return "network unreachable"
    if isinstance(exc, OSError) and exc.errno == errno.EHOSTUNREACH:
        return "host unreachable"
    return None


def shown(text: str, limit: int = BANNER_SHOWN) -> str:
    """``text`` made safe for a one-line reason: printable characters only, at most ``limit``."""
    text = text.rstrip("\r\n")
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def check_tcp(check: TcpCheck) -> CheckResult:
    start = time.perf_counter()
    return result(check, _probe(check, start + check.timeout), start)


def _probe(check: TcpCheck, deadline: float) -> str:
    try:
        with socket.create_connection((check.host, check.port), timeout=check.timeout) as sock:
            if check.expect_banner is None:
                return "ok"
            return _compare_banner(sock, check, deadline)
    except OSError as exc:
        reason = os_error_reason(exc, check.timeout)
        return reason or f"error: {type(exc).__name__}"


def _compare_banner(sock: socket.socket, check: TcpCheck, deadline: float) -> str:
    assert check.expect_banner is not None
    prefix = check.expect_banner.encode()
    received = b""
    # Each pass either grows `received`, ends on EOF or a mismatch, or spends the remaining
    # time: the loop ends by the deadline.
    while len(received) < len(prefix):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return timeout_reason(check.timeout)
        sock.settimeout(remaining)
        chunk = sock.recv(_RECV_SIZE)
        if not chunk:
            break  # the server closed before sending enough
        received += chunk
        if not prefix.startswith(received[: len(prefix)]):
            break  # already differs: no need to wait for more
    if received.startswith(prefix):
        return "ok"
    banner = shown(received.decode("utf-8", errors="replace"))
    return f'banner "{banner}" lacks prefix "{check.expect_banner}"'
