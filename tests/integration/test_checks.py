"""The HTTP and TCP check adapters against real servers on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arbiter
from arbiter.adapters.checks import CHECKERS, live_workers, run_all, run_check
from arbiter.adapters.checks.http import BODY_LIMIT
from arbiter.core.config import HttpCheck, TcpCheck
from tests.integration.servers import HttpSite, TcpSite, has_ipv6, refused_port, self_signed_cert

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(30),
]

HANG_BOUND = 1.5
"""Seconds past a check's timeout within which a stalled check must be reported."""


def http(url: str, name: str = "web", **fields: Any) -> HttpCheck:
    return HttpCheck(type="http", name=name, url=url, **fields)


def tcp(port: int, name: str = "port", host: str = "127.0.0.1", **fields: Any) -> TcpCheck:
    return TcpCheck(type="tcp", name=name, host=host, port=port, **fields)


@pytest.fixture
def site() -> Iterator[HttpSite]:
    with HttpSite() as running:
        yield running


# --- HTTP: status and body ---------------------------------------------------------------


def test_http_ok_sends_user_agent_and_custom_headers(site: HttpSite) -> None:
    url = site.set_response("/health", status=200, body="all good")
    result = run_check(http(url, headers={"X-Probe": "eu-west-1"}))
    assert (result.ok, result.reason, result.kind, result.name) == (True, "ok", "http", "web")
    assert result.latency_ms > 0
    (seen,) = site.requests
    assert (seen.method, seen.path) == ("GET", "/health")
    assert seen.headers["User-Agent"] == f"arbiter-probe/{arbiter.__version__}"
    assert seen.headers["X-Probe"] == "eu-west-1"


def test_http_unexpected_status_fails(site: HttpSite) -> None:
    url = site.set_response("/health", status=503, body="down")
    result = run_check(http(url))
    assert (result.ok, result.reason) == (False, "status 503")


def test_http_any_listed_status_passes(site: HttpSite) -> None:
    url = site.set_response("/health", status=204, body="")
    assert run_check(http(url, expect_status=[200, 204])).reason == "ok"


def test_http_expected_body_string(site: HttpSite) -> None:
    url = site.set_response("/health", body="status: OK\n")
    assert run_check(http(url, expect_body="OK")).reason == "ok"
    site.set_response("/health", body="status: degraded\n")
    result = run_check(http(url, expect_body="OK"))
    assert (result.ok, result.reason) == (False, 'body lacks "OK"')


def test_http_forbidden_body_string(site: HttpSite) -> None:
    url = site.set_response("/health", body="<h1>Down for maintenance</h1>")
    result = run_check(http(url, expect_body_not="maintenance"))
    assert (result.ok, result.reason) == (False, 'body contains "maintenance"')
    site.set_response("/health", body="<h1>Welcome</h1>")
    assert run_check(http(url, expect_body_not="maintenance")).reason == "ok"


def test_http_body_is_matched_on_its_first_mebibyte_only(site: HttpSite) -> None:
    url = site.set_response("/big", body=b"x" * BODY_LIMIT + b"MARKER")
    assert run_check(http(url, expect_body="xxx")).ok
    assert run_check(http(url, expect_body="MARKER")).reason == 'body lacks "MARKER"'


def test_http_body_that_is_not_utf8_is_still_matched(site: HttpSite) -> None:
    url = site.set_response("/bin", body=b"\xff\xfe\x00OK\xc3")
    assert run_check(http(url, expect_body="OK")).reason == "ok"


def test_http_head(site: HttpSite) -> None:
    url = site.set_response("/health", status=200, body="ignored")
    assert run_check(http(url, method="HEAD")).reason == "ok"
    assert [r.method for r in site.requests] == ["HEAD"]


def test_http_redirect_is_a_status_not_followed(site: HttpSite) -> None:
    site.set_response("/new", body="OK")
    url = site.set_response("/old", status=301, headers={"Location": site.url_for("/new")})
    assert run_check(http(url)).reason == "status 301"
    assert run_check(http(url, expect_status=[301])).reason == "ok"
    assert [r.path for r in site.requests] == ["/old", "/old"]


# --- HTTP: failures ----------------------------------------------------------------------


def test_http_slow_response_times_out(site: HttpSite) -> None:
    url = site.set_response("/slow", delay=5.0)
    start = time.perf_counter()
    (result,) = run_all([http(url, timeout=0.5)])
    elapsed = time.perf_counter() - start
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert elapsed < 0.5 + HANG_BOUND


def test_http_stall_mid_body_times_out_within_the_total_budget(site: HttpSite) -> None:
    # Given a server that sends its headers and half the body, then hangs
    url = site.set_response("/stall", body="A" * 1000, stall=True)
    check = http(url, timeout=0.5)
    # When the check runs alone and in a round
    start = time.perf_counter()
    alone = run_check(check)
    alone_elapsed = time.perf_counter() - start
    start = time.perf_counter()
    (in_round,) = run_all([check])
    round_elapsed = time.perf_counter() - start
    # Then both report the timeout, within the budget (not a per-read timeout)
    assert alone.reason == in_round.reason == "timeout after 0.5 s"
    assert alone_elapsed < 0.5 + HANG_BOUND
    assert round_elapsed < 0.5 + HANG_BOUND


def test_http_stall_without_a_body_string_still_fails(site: HttpSite) -> None:
    url = site.set_response("/stall", body="A" * 1000, stall=True)
    assert run_check(http(url, timeout=0.3)).reason == "timeout after 0.3 s"


def test_http_connection_refused() -> None:
    with refused_port() as port:
        result = run_check(http(f"http://127.0.0.1:{port}/"))
    assert (result.ok, result.reason) == (False, "connection refused")


def test_http_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    result = run_check(http("http://site.invalid/health"))
    assert (result.ok, result.reason) == (False, "DNS lookup failed")


def test_http_failure_reason_carries_no_url_or_header(site: HttpSite) -> None:
    with refused_port() as port:
        # The config refuses credentials in a URL; the checker must not leak one either.
        check = HttpCheck.model_construct(
            type="http",
            name="web",
            url=f"http://user:s3cret@127.0.0.1:{port}/?token=s3cret",
            headers={"Authorization": "Bearer s3cret"},
        )
        result = run_check(check)
    assert "s3cret" not in result.reason
    assert result.reason == "connection refused"


def test_a_checker_that_raises_becomes_a_failed_result(
    site: HttpSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(check: Any) -> Any:
        raise RuntimeError("boom with a secret")

    monkeypatch.setitem(CHECKERS, "http", broken)
    result = run_check(http(site.url_for("/")))
    assert (result.ok, result.reason, result.kind) == (False, "error: RuntimeError", "http")


# --- HTTPS -------------------------------------------------------------------------------


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[HttpSite]:
    made = self_signed_cert(tmp_path)
    if made is None:
        pytest.skip("the openssl command is not available")
    cert, key = made
    with HttpSite(certfile=cert, keyfile=key) as running:
        running.set_response("/health", body="secure OK")
        yield running


def test_https_self_signed_fails_verification(tls_site: HttpSite) -> None:
    result = run_check(http(tls_site.url_for("/health"), verify_tls=True))
    assert not result.ok
    assert result.reason.startswith("TLS error: ")
    assert "self-signed" in result.reason or "self signed" in result.reason


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_https_without_verification_passes(tls_site: HttpSite) -> None:
    result = run_check(http(tls_site.url_for("/health"), verify_tls=False, expect_body="OK"))
    assert (result.ok, result.reason) == (True, "ok")


# --- TCP ---------------------------------------------------------------------------------


def test_tcp_connect_without_banner() -> None:
    with TcpSite() as server:
        result = run_check(tcp(server.port))
    assert (result.ok, result.reason, result.kind) == (True, "ok", "tcp")


def test_tcp_banner_prefix_matches() -> None:
    with TcpSite(banner="SSH-2.0-OpenSSH_9.6\r\n") as server:
        assert run_check(tcp(server.port, expect_banner="SSH-")).reason == "ok"


def test_tcp_banner_prefix_mismatch() -> None:
    with TcpSite(banner="220 smtp.example.com ESMTP ready\r\n") as server:
        result = run_check(tcp(server.port, expect_banner="SSH-"))
    assert (result.ok, result.reason) == (
        False,
        'banner "220 smtp.example.com ESMTP ready" lacks prefix "SSH-"',
    )


def test_tcp_banner_shown_truncated_and_printable() -> None:
    with TcpSite(banner=b"\x00\x01" + b"Z" * 100) as server:
        result = run_check(tcp(server.port, expect_banner="SSH-"))
    assert result.reason == f'banner "??{"Z" * 38}" lacks prefix "SSH-"'


def test_tcp_server_that_never_sends_its_banner_times_out() -> None:
    with TcpSite(banner=None) as server:
        start = time.perf_counter()
        result = run_check(tcp(server.port, expect_banner="SSH-", timeout=0.5))
        elapsed = time.perf_counter() - start
    assert (result.ok, result.reason) == (False, "timeout after 0.5 s")
    assert elapsed < 0.5 + HANG_BOUND


def test_tcp_connection_refused() -> None:
    with refused_port() as port:
        result = run_check(tcp(port))
    assert (result.ok, result.reason) == (False, "connection refused")


def test_tcp_host_may_be_a_name() -> None:
    with TcpSite(banner="SSH-2.0-x\r\n") as server:
        assert run_check(tcp(server.port, host="localhost", expect_banner="SSH-")).ok


# --- IPv6 --------------------------------------------------------------------------------


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback here")
def test_http_and_tcp_over_ipv6() -> None:
    with HttpSite("::1") as web, TcpSite("::1", banner="SSH-2.0-x\r\n") as ssh:
        url = web.set_response("/health", body="OK6")
        assert url.startswith("http://[::1]:")
        results = run_all(
            [http(url, expect_body="OK6"), tcp(ssh.port, host="::1", expect_banner="SSH-")]
        )
    assert [r.reason for r in results] == ["ok", "ok"]


# --- Rounds ------------------------------------------------------------------------------


def test_required_flag_is_kept_on_every_path(site: HttpSite) -> None:
    ok_url = site.set_response("/ok")
    stall_url = site.set_response("/stall", body="A" * 100, stall=True)
    with refused_port() as port:
        results = run_all(
            [
                http(ok_url, name="a", required=False),
                http(stall_url, name="b", required=False, timeout=0.3),
                tcp(port, name="c", required=False),
                http(ok_url, name="d"),
            ]
        )
    assert [(r.name, r.ok, r.required) for r in results] == [
        ("a", True, False),
        ("b", False, False),
        ("c", False, False),
        ("d", True, True),
    ]


def test_run_all_mixed_checks_in_input_order(site: HttpSite) -> None:
    # Given checks that finish in the reverse of their order
    slow = site.set_response("/slow", body="slow OK", delay=0.4)
    medium = site.set_response("/medium", status=503, delay=0.2)
    fast = site.set_response("/fast", body="fast OK")
    with TcpSite(banner="SSH-2.0-x\r\n") as ssh, refused_port() as closed:
        checks = [
            http(slow, name="slow", expect_body="slow"),
            http(medium, name="medium"),
            tcp(ssh.port, name="ssh", expect_banner="SSH-"),
            http(fast, name="fast", expect_body_not="slow"),
            tcp(closed, name="closed"),
        ]
        start = time.perf_counter()
        results = run_all(checks)
        elapsed = time.perf_counter() - start
    assert [(r.name, r.reason) for r in results] == [
        ("slow", "ok"),
        ("medium", "status 503"),
        ("ssh", "ok"),
        ("fast", "ok"),
        ("closed", "connection refused"),
    ]
    assert elapsed < 0.4 + HANG_BOUND  # concurrent, not 0.6 s in series at least


def test_run_all_returns_despite_stalled_servers(site: HttpSite) -> None:
    stall = site.set_response("/stall", body="A" * 100, stall=True)
    slow = site.set_response("/slow", delay=10.0)
    with TcpSite(banner=None) as mute:
        checks = [
            http(stall, name="stall", timeout=0.5),
            http(slow, name="slow", timeout=0.5),
            tcp(mute.port, name="mute", expect_banner="SSH-", timeout=0.5),
            http(site.url_for("/"), name="fine"),
        ]
        start = time.perf_counter()
        results = run_all(checks)
        elapsed = time.perf_counter() - start
    assert [r.reason for r in results] == ["timeout after 0.5 s"] * 3 + ["ok"]
    assert elapsed < 0.5 + HANG_BOUND


def test_run_all_with_fewer_workers_than_checks(site: HttpSite) -> None:
    urls = [site.set_response(f"/p{i}", body=f"page {i}", delay=0.05) for i in range(6)]
    checks = [http(url, name=f"p{i}", expect_body=f"page {i}") for i, url in enumerate(urls)]
    results = run_all(checks, max_workers=2)
    assert [(r.name, r.reason) for r in results] == [(f"p{i}", "ok") for i in range(6)]


def test_run_all_of_nothing() -> None:
    assert run_all([]) == []


def test_a_round_leaves_no_worker_running(site: HttpSite) -> None:
    """Workers are bare threads (no threading.Thread): live_workers() is how they are seen."""
    urls = [site.set_response(f"/w{i}", body="OK") for i in range(20)]
    seen: list[int] = []
    original = CHECKERS["http"]

    def counting(check: Any) -> Any:
        seen.append(live_workers())
        return original(check)

    CHECKERS["http"] = counting
    try:
        results = run_all([http(url, name=f"w{i}") for i, url in enumerate(urls)])
    finally:
        CHECKERS["http"] = original
    assert [r.reason for r in results] == ["ok"] * 20
    assert max(seen) >= 1
    give_up = time.monotonic() + 2.0
    # Each pass sleeps 20 ms; give_up bounds the loop (a worker exits right after its check).
    while live_workers() and time.monotonic() < give_up:
        time.sleep(0.02)
    assert live_workers() == 0
