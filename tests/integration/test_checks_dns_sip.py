"""The DNS and SIP check adapters against real ``named`` and ``sipp`` on loopback, and the
HTTPS certificate expiry report against certificates made by ``openssl``."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import arbiter
from arbiter.adapters.checks import run_all, run_check
from arbiter.adapters.checks.dns import answer_has
from arbiter.adapters.checks.http import cert_not_after, expiry_warning
from arbiter.core.config import DnsCheck, HttpCheck, SipCheck
from tests.integration.servers import (
    HttpSite,
    NamedServer,
    SippServer,
    refused_port,
    self_signed_cert,
    silent_udp_port,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(30),
]

HANG_BOUND = 1.5
"""Seconds past a check's timeout within which a silent server must be reported."""

ZONE = """\
$TTL 60
@        IN SOA   ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60
@        IN NS    ns1.example.test.
@        IN MX    10 mail.example.test.
@        IN TXT   "v=spf1 -all"
ns1      IN A     127.0.0.1
www      IN A     203.0.113.10
www      IN A     203.0.113.11
v6       IN AAAA  2001:db8::10
alias    IN CNAME www.example.test.
_sip._udp IN SRV  10 60 5060 sip.example.test.
"""
BIG = "".join(f'big IN TXT "record {i:02d} {"x" * 40}"\n' for i in range(30))
"""About 1.5 kB of TXT records: more than a 512-byte UDP answer holds."""


def dns_check(port: int, query: str, **fields: Any) -> DnsCheck:
    return DnsCheck(type="dns", name="ns", query=query, server="127.0.0.1", port=port, **fields)


def sip(port: int, **fields: Any) -> SipCheck:
    return SipCheck(type="sip", name="sbc", host="127.0.0.1", port=port, **fields)


def need(binary: str, package: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"the {binary} command is not installed (Debian package {package})")


# --- DNS against named -------------------------------------------------------------------


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamedServer]:
    need("named", "bind9")
    zones = {"example.test": ZONE + BIG, "broken.test": "this is not a zone file\n"}
    with NamedServer(tmp_path_factory.mktemp("named"), zones).start() as server:
        yield server


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dns_answer_has_every_expected_value(named: NamedServer, transport: str) -> None:
    check = dns_check(
        named.port,
        "www.example.test",
        transport=transport,
        expect_answer=["203.0.113.10", "203.0.113.11"],
    )
    result = run_check(check)
    assert (result.ok, result.reason, result.kind, result.name) == (True, "ok", "dns", "ns")
    assert result.latency_ms > 0


def test_dns_answer_lacks_an_expected_value(named: NamedServer) -> None:
    result = run_check(dns_check(named.port, "www.example.test", expect_answer=["203.0.113.99"]))
    assert (result.ok, result.reason) == (False, 'answer lacks "203.0.113.99"')


def test_dns_expected_value_is_a_whole_value_not_a_prefix(named: NamedServer) -> None:
    result = run_check(dns_check(named.port, "www.example.test", expect_answer=["203.0.113.1"]))
    assert result.reason == 'answer lacks "203.0.113.1"'


@pytest.mark.parametrize(
    ("query", "record_type", "expected"),
    [
        ("example.test", "mx", "mail.example.test"),
        ("example.test", "TXT", "v=spf1"),
        ("example.test", "NS", "ns1.example.test."),
        ("example.test", "SOA", "hostmaster.example.test."),
        ("v6.example.test", "AAAA", "2001:db8::10"),
        ("alias.example.test", "CNAME", "www.example.test"),
        ("_sip._udp.example.test", "SRV", "sip.example.test"),
    ],
)
def test_dns_record_types(named: NamedServer, query: str, record_type: str, expected: str) -> None:
    check = dns_check(named.port, query, record_type=record_type, expect_answer=[expected])
    assert run_check(check).reason == "ok"


def test_dns_nxdomain_expected_or_not(named: NamedServer) -> None:
    # A name that must not exist (e.g. the old site's record after a switch)
    gone = run_check(dns_check(named.port, "nope.example.test", expect_rcode="NXDOMAIN"))
    assert (gone.ok, gone.reason) == (True, "ok")
    # The same name with the default expectation
    missing = run_check(dns_check(named.port, "nope.example.test"))
    assert (missing.ok, missing.reason) == (False, "rcode NXDOMAIN")
    # NXDOMAIN expected, but the name exists
    present = run_check(dns_check(named.port, "www.example.test", expect_rcode="nxdomain"))
    assert (present.ok, present.reason) == (False, "rcode NOERROR")


def test_dns_servfail_from_a_zone_that_did_not_load(named: NamedServer) -> None:
    result = run_check(dns_check(named.port, "www.broken.test", transport="tcp"))
    assert (result.ok, result.reason) == (False, "rcode SERVFAIL")


def test_dns_refused_outside_its_zones(named: NamedServer) -> None:
    assert run_check(dns_check(named.port, "www.example.org")).reason == "rcode REFUSED"


def test_dns_name_without_the_record_type_has_no_answer(named: NamedServer) -> None:
    result = run_check(dns_check(named.port, "www.example.test", record_type="AAAA"))
    assert (result.ok, result.reason) == (False, "no answer")


def test_dns_truncated_udp_answer_is_asked_again_over_tcp(named: NamedServer) -> None:
    check = dns_check(
        named.port, "big.example.test", record_type="TXT", expect_answer=["record 29"]
    )
    assert run_check(check).reason == "ok"


def test_dns_udp_server_that_never_answers_times_out() -> None:
    with silent_udp_port() as port:
        start = time.perf_counter()
        result = run_check(dns_check(port, "www.example.test", timeout=0.5))
        elapsed = time.perf_counter() - start
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert 0.4 < elapsed < 0.5 + HANG_BOUND


def test_dns_tcp_connection_refused() -> None:
    with refused_port() as port:
        result = run_check(dns_check(port, "www.example.test", transport="tcp"))
    assert (result.ok, result.reason) == (False, "connection refused")


def test_answer_matching_is_by_whole_value_or_word() -> None:
    assert answer_has("203.0.113.10", "203.0.113.10")
    assert not answer_has("203.0.113.10", "203.0.113.1")
    assert not answer_has("2001:db8::10", "2001:db8::1")
    assert answer_has("10 mail.example.com.", "mail.example.com")
    assert answer_has("10 mail.example.com.", "MAIL.example.com.")
    assert not answer_has("mail.example.com.", "example.com")
    assert answer_has('"v=spf1 include:_spf.example.com -all"', "v=spf1")


# --- SIP against sipp --------------------------------------------------------------------

REPLY_503 = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="OPTIONS answered 503">
  <recv request="OPTIONS" />
  <send>
    <![CDATA[

      SIP/2.0 503 Service Unavailable
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Retry-After: 30
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

TRYING_THEN_200 = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="OPTIONS answered 100 then 200">
  <recv request="OPTIONS" />
  <send>
    <![CDATA[

      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="100" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


def sipp(directory: Path, transport: str, scenario: str | None = None) -> SippServer:
    need("sipp", "sip-tester")
    path = None
    if scenario is not None:
        path = directory / "scenario.xml"
        path.write_text(scenario)
    return SippServer(directory, transport=transport, scenario=path).start()


@pytest.fixture(scope="module", params=["udp", "tcp"])
def sipp_uas(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[SippServer]:
    with sipp(tmp_path_factory.mktemp("sipp"), request.param) as server:
        yield server


def test_sip_options_answered_200_by_sipp(sipp_uas: SippServer) -> None:
    result = run_check(sip(sipp_uas.port, transport=sipp_uas.transport))
    assert (result.ok, result.reason, result.kind, result.name) == (True, "ok", "sip", "sbc")
    assert result.latency_ms > 0


def test_sip_unexpected_status_is_down(sipp_uas: SippServer) -> None:
    result = run_check(sip(sipp_uas.port, transport=sipp_uas.transport, expect_status=[486]))
    assert (result.ok, result.reason) == (False, "status 200")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_503_is_down_unless_listed(tmp_path: Path, transport: str) -> None:
    with sipp(tmp_path, transport, REPLY_503) as server:
        down = run_check(sip(server.port, transport=transport))
        accepted = run_check(sip(server.port, transport=transport, expect_status=[200, 503]))
    assert (down.ok, down.reason) == (False, "status 503")
    assert (accepted.ok, accepted.reason) == (True, "ok")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sip_provisional_response_is_skipped(tmp_path: Path, transport: str) -> None:
    with sipp(tmp_path, transport, TRYING_THEN_200) as server:
        result = run_check(sip(server.port, transport=transport))
    assert (result.ok, result.reason) == (True, "ok")
    assert result.latency_ms >= 90  # it waited past the 100 Trying for the final 200


def test_sip_udp_silent_server_times_out() -> None:
    with silent_udp_port() as port:
        start = time.perf_counter()
        result = run_check(sip(port, timeout=0.6))
        elapsed = time.perf_counter() - start
    assert (result.ok, result.reason) == (False, "timeout after 0.6 s")
    assert 0.5 < elapsed < 0.6 + HANG_BOUND


def test_sip_udp_nothing_listening_is_refused() -> None:
    # The connected UDP socket sees the ICMP port unreachable that loopback sends back.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    result = run_check(sip(port, timeout=1.0))
    assert (result.ok, result.reason) == (False, "connection refused")


def test_sip_tcp_connection_refused() -> None:
    with refused_port() as port:
        result = run_check(sip(port, transport="tcp"))
    assert (result.ok, result.reason) == (False, "connection refused")


# --- SIP against a scripted UDP responder (for what sipp cannot be made to do) -------------


class Responder:
    """A loopback UDP server that answers each datagram with ``reply(request, n)``'s datagrams
    (n counts from 0) and records what it received."""

    def __init__(self, reply: Callable[[bytes, int], list[bytes]]) -> None:
        self._reply = reply
        self.received: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # Each pass waits at most the socket timeout; stop() ends the loop.
        while not self._stopping.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(data)
            for datagram in self._reply(data, len(self.received) - 1):
                self._sock.sendto(datagram, peer)

    def __enter__(self) -> Responder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()


def headers_of(request: bytes) -> dict[str, str]:
    lines = request.decode().split("\r\n\r\n")[0].split("\r\n")
    return dict(line.split(": ", 1) for line in lines[1:])


def answer(request: bytes, status: str = "200 OK", call_id: str | None = None) -> bytes:
    headers = headers_of(request)
    return (
        f"SIP/2.0 {status}\r\n"
        f"Via: {headers['Via']}\r\n"
        f"From: {headers['From']}\r\n"
        f"To: {headers['To']};tag=x\r\n"
        f"i: {call_id or headers['Call-ID']}\r\n"  # the compact form of Call-ID
        f"CSeq: {headers['CSeq']}\r\n"
        "l: 0\r\n\r\n"
    ).encode()


def test_sip_request_is_a_proper_options_request() -> None:
    with Responder(lambda request, n: [answer(request)]) as server:
        check = sip(server.port, uri="sip:ping@sbc.example.test", from_user="probe-eu")
        assert run_check(check).reason == "ok"
    (request,) = server.received
    text = request.decode()
    assert text.startswith("OPTIONS sip:ping@sbc.example.test SIP/2.0\r\n")
    assert text.endswith("\r\n\r\n")
    headers = headers_of(request)
    assert headers["Via"].startswith("SIP/2.0/UDP 127.0.0.1:")
    assert ";branch=z9hG4bK" in headers["Via"]
    assert headers["Max-Forwards"] == "70"
    assert headers["To"] == "<sip:ping@sbc.example.test>"
    assert headers["From"].startswith("<sip:probe-eu@127.0.0.1>;tag=")
    assert headers["CSeq"] == "1 OPTIONS"
    assert headers["Contact"].startswith("<sip:probe-eu@127.0.0.1:")
    assert headers["Accept"] == "application/sdp"
    assert headers["User-Agent"] == f"arbiter-probe/{arbiter.__version__}"
    assert headers["Content-Length"] == "0"
    assert len(headers["Call-ID"]) >= 16


def test_sip_default_uri_names_host_and_port() -> None:
    with Responder(lambda request, n: [answer(request)]) as server:
        run_check(sip(server.port))
    assert server.received[0].startswith(f"OPTIONS sip:127.0.0.1:{server.port} SIP/2.0".encode())


def test_sip_udp_request_is_retransmitted_unchanged_until_answered() -> None:
    # Given a server that loses the first request
    with Responder(lambda request, n: [answer(request)] if n >= 1 else []) as server:
        result = run_check(sip(server.port, timeout=2.0))
    assert (result.ok, result.reason) == (True, "ok")
    first, again = server.received
    assert first == again  # same branch, Call-ID and tag: one transaction
    assert result.latency_ms >= 450  # the first retransmission waits T1 = 0.5 s


def test_sip_response_to_another_call_is_ignored() -> None:
    def reply(request: bytes, n: int) -> list[bytes]:
        return [answer(request, "503 Service Unavailable", call_id="someone-else")]

    with Responder(reply) as server:
        result = run_check(sip(server.port, timeout=0.6))
    assert result.reason == "timeout after 0.6 s"


def test_sip_garbage_is_a_bad_response() -> None:
    with Responder(lambda request, n: [b"HTTP/1.1 200 OK\r\n\r\n"]) as server:
        result = run_check(sip(server.port))
    assert (result.ok, result.reason) == (False, "bad response")


def test_sip_tcp_server_that_hangs_up_without_answering() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def hang_up() -> None:
            conn, _ = listener.accept()
            conn.recv(65535)
            conn.close()

        closer = threading.Thread(target=hang_up, daemon=True)
        closer.start()
        result = run_check(sip(listener.getsockname()[1], transport="tcp", timeout=2.0))
        closer.join(timeout=5)
    assert (result.ok, result.reason) == (False, "connection closed")


# --- A mixed round -----------------------------------------------------------------------


def test_run_all_with_dns_and_sip(named: NamedServer, tmp_path: Path) -> None:
    with sipp(tmp_path, "udp") as uas, silent_udp_port() as silent:
        results = run_all(
            [
                dns_check(named.port, "www.example.test", expect_answer=["203.0.113.10"]),
                sip(uas.port),
                sip(silent, timeout=0.5, required=False),
            ]
        )
    assert [(r.kind, r.reason, r.required) for r in results] == [
        ("dns", "ok", True),
        ("sip", "ok", True),
        ("sip", "timeout after 0.5 s", False),
    ]


# --- HTTPS certificate expiry ------------------------------------------------------------


def tls_site(directory: Path, days: int) -> HttpSite:
    made = self_signed_cert(directory, days=days)
    if made is None:
        pytest.skip("the openssl command is not available")
    cert, key = made
    return HttpSite(certfile=cert, keyfile=key)


def https(url: str, **fields: Any) -> HttpCheck:
    return HttpCheck(type="http", name="web", url=url, verify_tls=False, **fields)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_certificate_about_to_expire_warns_but_passes(tmp_path: Path) -> None:
    with tls_site(tmp_path, days=3) as site:
        result = run_check(https(site.url_for("/")))
    assert (result.ok, result.reason) == (True, "ok")
    assert result.cert_expires_at is not None
    left = result.cert_expires_at - datetime.now(UTC)
    assert timedelta(days=2, hours=23) < left <= timedelta(days=3)
    assert result.warning == f"certificate expires in 3 days ({result.cert_expires_at:%Y-%m-%d})"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_certificate_far_from_expiry_has_no_warning(tmp_path: Path) -> None:
    with tls_site(tmp_path, days=400) as site:
        result = run_check(https(site.url_for("/")))
        quiet = run_check(https(site.url_for("/"), cert_warning_days=0))
    assert (result.ok, result.reason, result.warning) == (True, "ok", None)
    assert result.cert_expires_at is not None
    assert result.cert_expires_at - datetime.now(UTC) > timedelta(days=399)
    assert (quiet.ok, quiet.warning) == (True, None)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_expiry_is_reported_on_a_failing_check_too(tmp_path: Path) -> None:
    with tls_site(tmp_path, days=3) as site:
        url = site.set_response("/health", status=503, body="down")
        result = run_check(https(url, cert_warning_days=30))
    assert (result.ok, result.reason) == (False, "status 503")
    assert result.warning is not None and result.warning.startswith("certificate expires in 3")


def test_plain_http_has_no_certificate() -> None:
    with HttpSite() as site:
        result = run_check(HttpCheck(type="http", name="web", url=site.url_for("/")))
    assert (result.ok, result.cert_expires_at, result.warning) == (True, None, None)


def test_certificate_not_after_is_read_from_der(tmp_path: Path) -> None:
    made = self_signed_cert(tmp_path, days=400)
    openssl = shutil.which("openssl")
    if made is None or openssl is None:
        pytest.skip("the openssl command is not available")
    der = ssl.PEM_cert_to_DER_cert(made[0].read_text())
    shown = subprocess.run(
        [openssl, "x509", "-noout", "-enddate", "-in", str(made[0])],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout  # notAfter=Dec 27 03:45:43 2027 GMT
    expected = ssl.cert_time_to_seconds(shown.strip().removeprefix("notAfter="))
    assert cert_not_after(der).timestamp() == expected
    for broken in (b"", der[:100], b"\x30\x84\xff\xff\xff\xff", b"not a certificate"):
        with pytest.raises(ValueError):
            cert_not_after(broken)


def test_expiry_warning_wording() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert expiry_warning(None, 14, now) is None
    assert expiry_warning(now + timedelta(days=20), 14, now) is None
    assert expiry_warning(now + timedelta(days=5), 14, now) == (
        "certificate expires in 5 days (2026-11-27)"
    )
    assert expiry_warning(now + timedelta(hours=3), 14, now) == (
        "certificate expires in 1 day (2026-11-22)"
    )
    assert expiry_warning(now - timedelta(days=1), 14, now) == "certificate expired on 2026-11-21"
    assert expiry_warning(now - timedelta(days=1), 0, now) == "certificate expired on 2026-11-21"
