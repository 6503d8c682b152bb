"""DNS check: ask one server directly, then compare the rcode and the answer's records.

The system resolver is never used: the probe asks the configured server (an authoritative
server of the zone, or a resolver the site runs) over UDP or TCP with dnspython, so the
answer is that server's and not a cache's. The check's ``timeout`` is a total budget; a
truncated UDP answer is asked again over TCP within what is left of it.
"""

from __future__ import annotations

import re
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from arbiter.adapters.checks.result import result
from arbiter.adapters.checks.tcp import os_error_reason, shown, timeout_reason
from arbiter.core.config import DnsCheck
from arbiter.core.model import CheckResult

_EDGE = r"[A-Za-z0-9_:.-]"
"""Characters that continue a value: an expected string must not be bordered by one."""


def check_dns(check: DnsCheck) -> CheckResult:
    start = time.perf_counter()
    try:
        reason = _probe(check, start + check.timeout)
    except dns.exception.Timeout:
        reason = timeout_reason(check.timeout)
    except (dns.query.BadResponse, dns.query.UnexpectedSource, dns.exception.FormError):
        reason = "bad response"
    except EOFError:
        reason = "connection closed"  # over TCP, before a whole answer
    except OSError as exc:
        reason = os_error_reason(exc, check.timeout) or f"error: {type(exc).__name__}"
    except dns.exception.DNSException as exc:
        reason = f"error: {type(exc).__name__}"
    return result(check, reason, start)


def _probe(check: DnsCheck, deadline: float) -> str:
    query = dns.message.make_query(check.query, dns.rdatatype.from_text(check.record_type))
    response = ask(query, check.server, check.port, check.transport, deadline)
    rcode = dns.rcode.to_text(response.rcode())
    if rcode != check.expect_rcode:
        return f"rcode {rcode}"
    values = [rdata.to_text() for rrset in response.answer for rdata in rrset]
    if not values and (check.expect_answer or check.expect_rcode == "NOERROR"):
        return "no answer"
    for expected in check.expect_answer or []:
        if not any(answer_has(value, expected) for value in values):
            return f'answer lacks "{shown(expected)}"'
    return "ok"


def ask(
    query: dns.message.Message, server: str, port: int, transport: str, deadline: float
) -> dns.message.Message:
    """``query``'s answer from ``server`` itself, by ``deadline`` (on ``time.perf_counter``).

    ``transport`` ``udp``: over UDP, asked again over TCP if the answer comes truncated;
    ``tcp``: over TCP only. A TSIG-signed query's answer is checked against its key. Raises
    dnspython's exceptions (``Timeout`` at the deadline, TSIG errors) and ``OSError``.
    """
    if transport == "udp":
        try:
            return dns.query.udp(
                query,
                server,
                timeout=_left(deadline),
                port=port,
                ignore_unexpected=True,
                raise_on_truncation=True,
            )
        except dns.message.Truncated:
            pass  # the answer did not fit in a datagram: ask again over TCP, as a resolver would
    return dns.query.tcp(query, server, timeout=_left(deadline), port=port)


def _left(deadline: float) -> float:
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise dns.exception.Timeout
    return remaining


def answer_has(value: str, expected: str) -> bool:
    """Whether ``expected`` is a whole value or word of one record's text, case-insensitively.

    ``203.0.113.1`` is not in ``203.0.113.10``, nor ``example.com.`` in ``mail.example.com.``;
    ``mail.example.com`` is in the MX ``10 mail.example.com.`` and ``v=spf1`` in a TXT record.
    """
    pattern = rf"(?<!{_EDGE}){re.escape(expected)}(?![A-Za-z0-9_:-]|\.{_EDGE})"
    return re.search(pattern, value, re.IGNORECASE) is not None
