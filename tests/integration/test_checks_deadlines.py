"""A check's timeout is a total deadline, whatever a tarpit on loopback does.

Each server here answers one byte at a time (``DripSite``): per socket call every read
succeeds quickly, so only a deadline over the whole exchange ends the check. At the deadline
the check reports ``timeout after N s`` and gives back its thread and its socket.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rrset
import pytest

from arbiter.adapters.checks import live_workers, run_all, run_check
from arbiter.core.config import Check, DnsCheck, HttpCheck, SipCheck, TcpCheck
from tests.integration.servers import (
    DripSite,
    HttpSite,
    byte_by_byte,
    read_dns_query,
    read_nothing,
    self_signed_cert,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(60),
]

TIMEOUT = 0.5
MARGIN = 0.5
"""Seconds past the deadline within which a check must have returned (a generous bound: the
watchdog fires at the deadline itself)."""
SETTLE = 5.0
"""Seconds that threads and sockets get to wind down after the last round."""

SLOW_HEADERS = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 4000 + b"\r\n\r\nOK"
"""A response whose head alone, at one byte per 50 ms, takes minutes."""
BODY_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n"


Answer = tuple[bytes, Iterator[bytes]]


def headers_dripped(request: bytes) -> Answer:
    return b"", byte_by_byte(SLOW_HEADERS)


def body_dripped(request: bytes) -> Answer:
    return BODY_HEAD, byte_by_byte(b"x" * 4000)


def banner_dripped(request: bytes) -> Answer:
    return b"", byte_by_byte(b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n")


def sip_dripped(request: bytes) -> Answer:
    """A whole, matching 200 OK to the OPTIONS request, sent one byte at a time."""
    text = request.decode()
    echoed = [
        line for line in text.split("\r\n") if re.match(r"(?i)(via|from|to|call-id|cseq):", line)
    ]
    response = "\r\n".join(["SIP/2.0 200 OK", *echoed, "Content-Length: 0", "", ""])
    return b"", byte_by_byte(response.encode())


def dns_dripped(request: bytes) -> Answer:
    """A whole, matching answer to the query, length-prefixed, sent one byte at a time."""
    query = dns.message.from_wire(request)
    answer = dns.message.make_response(query)
    answer.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1"))
    wire = answer.to_wire()
    return b"", byte_by_byte(len(wire).to_bytes(2, "big") + wire)


def elapsed(run: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    outcome = run()
    return outcome, time.perf_counter() - start


def http(url: str, name: str = "web", timeout: float = TIMEOUT, **fields: Any) -> HttpCheck:
    return HttpCheck(type="http", name=name, url=url, timeout=timeout, **fields)


def tcp(port: int, name: str = "ssh", timeout: float = TIMEOUT, **fields: Any) -> TcpCheck:
    return TcpCheck(type="tcp", name=name, host="127.0.0.1", port=port, timeout=timeout, **fields)


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    made = self_signed_cert(tmp_path)
    if made is None:
        pytest.skip("the openssl command is not available")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*made)
    return context


# --- One check against one tarpit ------------------------------------------------------


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_http_headers_dripped_time_out_at_the_deadline(
    scheme: str, request: pytest.FixtureRequest
) -> None:
    # Given a server that sends its status line and headers one byte every 50 ms
    tls = request.getfixturevalue("tls_context") if scheme == "https" else None
    with DripSite(headers_dripped, tls=tls) as tarpit:
        check = http(tarpit.url + "/health", verify_tls=False)
        # When the check runs
        result, took = elapsed(lambda: run_check(check))
    # Then it ends at its deadline, not at the server's pace
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert took < TIMEOUT + MARGIN
    assert tarpit.connections == 1


def test_http_body_dripped_times_out_at_the_deadline() -> None:
    with DripSite(body_dripped) as tarpit:
        result, took = elapsed(lambda: run_check(http(tarpit.url + "/", expect_body="OK")))
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert took < TIMEOUT + MARGIN


def test_http_body_dripped_without_a_body_string_times_out_too() -> None:
    with DripSite(body_dripped) as tarpit:
        result, took = elapsed(lambda: run_check(http(tarpit.url + "/")))
    assert result.reason == "timeout after 0.5 s"
    assert took < TIMEOUT + MARGIN


def test_tcp_banner_dripped_times_out_at_the_deadline() -> None:
    with DripSite(banner_dripped, read=read_nothing, interval=0.1) as tarpit:
        check = tcp(tarpit.port, expect_banner="SSH-2.0-OpenSSH")
        result, took = elapsed(lambda: run_check(check))
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert took < TIMEOUT + MARGIN


def test_sip_over_tcp_response_dripped_times_out_at_the_deadline() -> None:
    with DripSite(sip_dripped, interval=0.02) as tarpit:
        check = SipCheck(
            type="sip", name="sbc", host="127.0.0.1", port=tarpit.port, transport="tcp"
        )
        result, took = elapsed(lambda: run_check(check.model_copy(update={"timeout": TIMEOUT})))
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert took < TIMEOUT + MARGIN


def test_dns_over_tcp_answer_dripped_times_out_at_the_deadline() -> None:
    with DripSite(dns_dripped, read=read_dns_query, interval=0.05) as tarpit:
        check = DnsCheck(
            type="dns",
            name="ns",
            query="www.example.test",
            server="127.0.0.1",
            port=tarpit.port,
            transport="tcp",
            timeout=TIMEOUT,
        )
        result, took = elapsed(lambda: run_check(check))
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert took < TIMEOUT + MARGIN


# --- Many rounds against tarpits ---------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled(baseline: tuple[int, int]) -> tuple[int, int]:
    """(threads, open descriptors), once they are back to ``baseline`` or SETTLE has passed."""
    give_up = time.monotonic() + SETTLE
    # Each pass sleeps 50 ms; SETTLE bounds the loop.
    while True:
        now = (threading.active_count() + live_workers(), open_fds())
        if now <= baseline or time.monotonic() > give_up:
            return now
        time.sleep(0.05)


def banner_at_once(request: bytes) -> Answer:
    return b"SSH-2.0-x\r\n", iter([])


@pytest.fixture
def healthy() -> Iterator[tuple[HttpSite, DripSite]]:
    """A healthy site; its TCP server hangs up after the banner (TcpSite would hold every
    connection until stop(), which would count as descriptors left over)."""
    with HttpSite() as web, DripSite(banner_at_once, read=read_nothing) as ssh:
        web.set_response("/health", body="all OK")
        yield web, ssh


def test_rounds_against_a_tarpit_leak_nothing_and_spare_the_healthy_site(
    healthy: tuple[HttpSite, DripSite],
) -> None:
    """The primary drips its headers, its body and its banner; the secondary is healthy.
    Twenty rounds later no thread or socket is left over, and the secondary never failed."""
    web, ssh = healthy
    with (
        DripSite(headers_dripped) as headers,
        DripSite(body_dripped) as body,
        DripSite(banner_dripped, read=read_nothing, interval=0.1) as banner,
    ):
        primary: list[Check] = [
            http(headers.url + "/health", name="p-headers", timeout=0.3),
            http(body.url + "/health", name="p-body", timeout=0.3, expect_body="OK"),
            tcp(banner.port, name="p-banner", timeout=0.3, expect_banner="SSH-2.0-OpenSSH"),
        ]
        secondary: list[Check] = [
            http(web.url_for("/health"), name="s-web", expect_body="OK"),
            tcp(ssh.port, name="s-ssh", expect_banner="SSH-"),
        ]
        baseline = (threading.active_count() + live_workers(), open_fds())

        rounds = [run_all([*primary, *secondary]) for _ in range(20)]

        after = settled(baseline)
        seen = (headers.connections, body.connections, banner.connections)
    for results in rounds:
        assert [r.reason for r in results[:3]] == ["timeout after 0.3 s"] * 3
        assert [(r.name, r.reason) for r in results[3:]] == [("s-web", "ok"), ("s-ssh", "ok")]
    assert seen == (20, 20, 20)
    assert after <= baseline, f"threads and descriptors: {after}, before the rounds {baseline}"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_rounds_against_a_tls_tarpit_leak_nothing(tls_context: ssl.SSLContext) -> None:
    """Inside TLS the watchdog cuts the connection under the TLS layer just the same."""
    with DripSite(headers_dripped, tls=tls_context) as tarpit:
        check = http(tarpit.url + "/", timeout=0.3, verify_tls=False)
        baseline = (threading.active_count() + live_workers(), open_fds())
        rounds, took = elapsed(lambda: [run_all([check]) for _ in range(5)])
        after = settled(baseline)
    assert [r.reason for (r,) in rounds] == ["timeout after 0.3 s"] * 5
    assert took < 5 * (0.3 + MARGIN)
    assert after <= baseline, f"threads and descriptors: {after}, before the rounds {baseline}"
