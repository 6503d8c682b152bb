"""The verify step's adapter against real BIND servers on loopback.

Four ``named`` serve the zone example.test: three its new contents and one its old contents
(a secondary that has not caught up). A silent UDP port plays a dead server; a fifth
``named`` reloads new contents (SIGHUP) while a verify step is asking it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.resolver
import pytest

from arbiter.adapters.dns.authority import DnsAuthority, ServerOutcome
from arbiter.core.errors import RetryableError
from arbiter.core.records import RecordSet, RecordType
from tests.integration.servers import NamedServer, silent_udp_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(30),
]

POLL = 0.05
MARGIN = 0.5
"""Seconds past the deadline within which verify must return."""

HEAD = """\
$TTL 60
@         IN SOA   ns1.example.test. hostmaster.example.test. {serial} 3600 600 86400 60
@         IN NS    ns1.example.test.
@         IN NS    ns2.example.test.
@         IN NS    ns3.elsewhere.test.
ns1       IN A     127.0.0.1
ns1       IN AAAA  ::1
ns2       IN A     127.0.0.2
ns2       IN A     127.0.0.1
"""
NEW = (
    HEAD.format(serial=2)
    + """\
www       IN A     192.0.2.10
www       IN A     192.0.2.11
www       IN AAAA  2001:db8::10
alias     IN CNAME web.example.net.
@         IN MX    10 mail.example.test.
@         IN TXT   "v=spf1 -all"
_sip._udp IN SRV   10 5 5060 sip.example.test.
added     IN A     192.0.2.20
"""
    + "".join(f'big IN TXT "record {i:02d} {"x" * 40}"\n' for i in range(30))
)
OLD = (
    HEAD.format(serial=1)
    + """\
www       IN A     192.0.2.1
www       IN AAAA  2001:db8::1
alias     IN CNAME old.example.net.
@         IN MX    10 oldmail.example.test.
@         IN TXT   "v=spf1 ip4:192.0.2.1 -all"
_sip._udp IN SRV   10 5 5060 oldsip.example.test.
"""
)

ORPHAN = """\
$TTL 60
@         IN SOA   ns.elsewhere.test. hostmaster.orphan.test. 1 3600 600 86400 60
@         IN NS    ns.elsewhere.test.
www       IN A     192.0.2.30
"""
"""A zone whose only name server is in a zone the test servers do not serve."""
ZONES = {"example.test": NEW, "orphan.test": ORPHAN}


def rs(name: str, rtype: str, *values: str) -> RecordSet:
    return RecordSet(name, RecordType(rtype), 60, values)


# The new values as a config would give them: other case, other order, other spelling.
RECORDS = [
    rs("WWW.Example.TEST.", "A", "192.0.2.11", "192.0.2.10"),
    rs("www.example.test.", "AAAA", "2001:0db8:0:0::10"),
    rs("alias.example.test.", "CNAME", "WEB.example.NET."),
    rs("example.test.", "MX", "10 Mail.Example.Test."),
    rs("example.test.", "TXT", '"v=spf1 -all"'),
    rs("_sip._udp.example.test.", "SRV", "10 5 5060 SIP.example.test."),
]
BEFORE = {
    ("www.example.test.", "A"): ["192.0.2.1"],
    ("www.example.test.", "AAAA"): ["2001:db8::1"],
    ("alias.example.test.", "CNAME"): ["old.example.net."],
    ("example.test.", "MX"): ["10 oldmail.example.test."],
    ("example.test.", "TXT"): ['"v=spf1 ip4:192.0.2.1 -all"'],
    ("_sip._udp.example.test.", "SRV"): ["10 5 5060 oldsip.example.test."],
}
WWW = [RECORDS[0]]
WWW_BEFORE = {("www.example.test.", "A"): ["192.0.2.1"]}


def need(binary: str, package: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"the {binary} command is not installed (Debian package {package})")


def address(server: NamedServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def new(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NamedServer]]:
    need("named", "bind9")
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(NamedServer(tmp_path_factory.mktemp(f"new{i}"), ZONES).start())
            for i in range(3)
        ]


@pytest.fixture(scope="module")
def lagging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamedServer]:
    need("named", "bind9")
    with NamedServer(tmp_path_factory.mktemp("old"), {"example.test": OLD}).start() as server:
        yield server


def timed(call: Callable[[], list[ServerOutcome]]) -> tuple[list[ServerOutcome], float]:
    start = time.monotonic()
    outcomes = call()
    return outcomes, time.monotonic() - start


def test_every_server_serving_the_new_values_is_ok(new: list[NamedServer]) -> None:
    servers = [address(s) for s in new]
    deadline = time.monotonic() + 5
    outcomes, elapsed = timed(lambda: DnsAuthority(poll=POLL).verify(servers, RECORDS, deadline))
    assert [o.server for o in outcomes] == servers
    for o in outcomes:
        assert (o.ok, o.old, o.answered) == (True, False, True), o
        assert o.seconds is not None and 0 < o.seconds < 1
        assert "www.example.test A: 192.0.2.10, 192.0.2.11" in o.answer
        assert "example.test MX: 10 mail.example.test." in o.answer
    assert elapsed < 1  # each server stops being asked once it serves the new values


def test_a_lagging_server_is_reported_old_with_its_answer(
    new: list[NamedServer], lagging: NamedServer
) -> None:
    servers = [address(new[0]), address(lagging)]
    deadline = time.monotonic() + 1.0
    outcomes, elapsed = timed(
        lambda: DnsAuthority(poll=POLL).verify(servers, WWW, deadline, WWW_BEFORE)
    )
    fresh, stale = outcomes
    assert fresh.ok and fresh.answer == "192.0.2.10, 192.0.2.11"
    assert (stale.ok, stale.old, stale.seconds, stale.answer) == (False, True, None, "192.0.2.1")
    assert 0.9 < elapsed < 1.0 + MARGIN  # asked again until the deadline


def test_a_lagging_server_is_old_for_every_record_set(lagging: NamedServer) -> None:
    deadline = time.monotonic() + 0.5
    [stale] = DnsAuthority(poll=POLL).verify([address(lagging)], RECORDS, deadline, BEFORE)
    assert (stale.ok, stale.old) == (False, True)
    assert "www.example.test A: 192.0.2.1;" in stale.answer
    assert "example.test MX: 10 oldmail.example.test." in stale.answer


def test_without_the_old_values_a_lagging_server_is_not_new_but_not_called_old(
    lagging: NamedServer,
) -> None:
    [stale] = DnsAuthority(poll=POLL).verify([address(lagging)], WWW, time.monotonic() + 0.3)
    assert (stale.ok, stale.old, stale.answer) == (False, False, "192.0.2.1")


def test_a_silent_server_times_out_within_the_deadline_without_delaying_the_others(
    new: list[NamedServer],
) -> None:
    with silent_udp_port() as port:
        servers = [address(new[0]), f"127.0.0.1:{port}", address(new[1])]
        deadline = time.monotonic() + 1.0
        outcomes, elapsed = timed(
            lambda: DnsAuthority(poll=POLL).verify(servers, RECORDS, deadline, BEFORE)
        )
    first, dead, last = outcomes
    assert (dead.ok, dead.old, dead.answered, dead.answer, dead.seconds) == (
        False,
        False,
        False,
        "timeout",
        None,
    )
    assert first.ok and last.ok
    assert first.seconds is not None and last.seconds is not None
    assert max(first.seconds, last.seconds) < 0.5
    assert elapsed < 1.0 + MARGIN


def test_more_servers_than_threads_are_each_asked_even_when_many_are_silent(
    new: list[NamedServer],
) -> None:
    with contextlib.ExitStack() as stack:
        silent = [f"127.0.0.1:{stack.enter_context(silent_udp_port())}" for _ in range(9)]
        servers = [*silent, address(new[0])]  # the live one queued behind nine silent ones
        deadline = time.monotonic() + 1.5
        outcomes, elapsed = timed(
            lambda: DnsAuthority(poll=POLL, per_query=0.3).verify(servers, WWW, deadline)
        )
    *dead, live = outcomes
    assert [o.answer for o in dead] == ["timeout"] * 9
    assert live.ok and live.seconds is not None and live.seconds < 1.0
    assert elapsed < 1.5 + MARGIN


def test_a_silent_server_is_asked_again_each_query_waiting_at_most_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = []
    udp = dns.query.udp

    def counting(*args: Any, **kwargs: Any) -> dns.message.Message:
        asked.append(kwargs["timeout"])
        return udp(*args, **kwargs)

    monkeypatch.setattr(dns.query, "udp", counting)
    with silent_udp_port() as port:
        deadline = time.monotonic() + 1.0
        outcomes, elapsed = timed(
            lambda: DnsAuthority(poll=POLL, per_query=0.2).verify(
                [f"127.0.0.1:{port}"], RECORDS, deadline
            )
        )
    assert outcomes[0].answer == "timeout"
    assert 0.9 < elapsed < 1.0 + MARGIN
    # One question a pass (the others would only time out too), each given 0.2 s at most.
    assert 3 <= len(asked) <= 5
    assert max(asked) <= 0.2


def test_refused_and_nxdomain_are_not_ok(new: list[NamedServer]) -> None:
    server = address(new[0])
    outside = [rs("www.example.org.", "A", "192.0.2.10")]
    missing = [rs("nope.example.test.", "A", "192.0.2.10")]
    authority = DnsAuthority(poll=POLL)
    [refused] = authority.verify([server], outside, time.monotonic() + 0.3)
    [nxdomain] = authority.verify([server], missing, time.monotonic() + 0.3)
    assert (refused.ok, refused.answered, refused.answer, refused.old) == (
        False,
        True,
        "REFUSED",
        False,
    )
    assert (nxdomain.ok, nxdomain.answered, nxdomain.answer) == (False, True, "NXDOMAIN")


def test_a_new_name_still_missing_on_a_server_is_old(
    new: list[NamedServer], lagging: NamedServer
) -> None:
    added = [rs("added.example.test.", "A", "192.0.2.20")]
    before: dict[tuple[str, str], list[str]] = {
        ("added.example.test.", "A"): []
    }  # the record did not exist before
    servers = [address(new[0]), address(lagging)]
    fresh, stale = DnsAuthority(poll=POLL).verify(servers, added, time.monotonic() + 0.3, before)
    assert fresh.ok
    assert (stale.ok, stale.old, stale.answer) == (False, True, "NXDOMAIN")


def test_a_server_that_reloads_the_new_zone_mid_verify_is_ok_from_then(
    tmp_path: Path,
) -> None:
    need("named", "bind9")
    with NamedServer(tmp_path, {"example.test": OLD}).start() as server:
        zone_file = tmp_path / "example.test.zone"

        def catch_up() -> None:
            zone_file.write_text(NEW)
            os.kill(int((tmp_path / "named.pid").read_text()), signal.SIGHUP)  # reload zones

        switch = threading.Timer(0.4, catch_up)
        switch.start()
        try:
            deadline = time.monotonic() + 5
            [outcome] = DnsAuthority(poll=POLL).verify([address(server)], RECORDS, deadline, BEFORE)
        finally:
            switch.cancel()
            switch.join(timeout=5)
    assert (outcome.ok, outcome.old) == (True, False), outcome
    assert outcome.seconds is not None and 0.4 <= outcome.seconds < 3


WRONG = [
    rs("www.example.test.", "A", "192.0.2.10"),  # one of a round robin's two
    rs("www.example.test.", "A", "192.0.2.10", "192.0.2.11", "192.0.2.12"),
    rs("www.example.test.", "AAAA", "2001:db8::11"),
    rs("alias.example.test.", "CNAME", "web.example.org."),
    rs("example.test.", "MX", "20 mail.example.test."),
    rs("example.test.", "TXT", '"v=spf1 ~all"'),
    rs("_sip._udp.example.test.", "SRV", "10 5 5061 sip.example.test."),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.type.value)
def test_each_record_type_matches_its_new_values_whatever_their_spelling(
    new: list[NamedServer], record: RecordSet
) -> None:
    [outcome] = DnsAuthority(poll=POLL).verify([address(new[0])], [record], time.monotonic() + 2)
    assert outcome.ok, outcome


@pytest.mark.parametrize("record", WRONG, ids=lambda r: f"{r.type.value}-{len(r.values)}")
def test_each_record_type_tells_other_values_apart(
    new: list[NamedServer], record: RecordSet
) -> None:
    [outcome] = DnsAuthority(poll=POLL).verify([address(new[0])], [record], time.monotonic() + 0.2)
    assert (outcome.ok, outcome.answered) == (False, True), outcome


def test_a_name_that_became_a_cname_is_shown_as_one(new: list[NamedServer]) -> None:
    asked = [rs("alias.example.test.", "A", "192.0.2.10")]
    [outcome] = DnsAuthority(poll=POLL).verify([address(new[0])], asked, time.monotonic() + 0.2)
    assert (outcome.ok, outcome.answer) == (False, "CNAME web.example.net.")


def test_a_truncated_answer_is_asked_again_over_tcp(
    new: list[NamedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    over_tcp = []
    tcp = dns.query.tcp

    def counting(*args: Any, **kwargs: Any) -> dns.message.Message:
        over_tcp.append(args[0])
        return tcp(*args, **kwargs)

    monkeypatch.setattr(dns.query, "tcp", counting)
    big = rs("big.example.test.", "TXT", *(f'"record {i:02d} {"x" * 40}"' for i in range(30)))
    [outcome] = DnsAuthority(poll=POLL).verify([address(new[0])], [big], time.monotonic() + 2)
    assert outcome.ok, outcome
    assert len(over_tcp) == 1


def test_questions_are_authoritative_ones_without_recursion_desired(
    new: list[NamedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = []
    udp = dns.query.udp

    def watching(query: dns.message.Message, *args: Any, **kwargs: Any) -> dns.message.Message:
        flags.append(query.flags)
        return udp(query, *args, **kwargs)

    monkeypatch.setattr(dns.query, "udp", watching)
    [outcome] = DnsAuthority(poll=POLL).verify([address(new[0])], RECORDS, time.monotonic() + 2)
    assert outcome.ok
    assert len(flags) == len(RECORDS)
    assert not any(f & dns.flags.RD for f in flags)


# --- nameservers: the zone's NS records and their addresses, through a resolver ------------


def resolver_at(port: int) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.timeout = 0.5
    return resolver


def test_nameservers_are_the_addresses_of_the_zones_ns_hosts(new: list[NamedServer]) -> None:
    authority = DnsAuthority(resolver=resolver_at(new[0].port))
    found = authority.nameservers("www.example.test", time.monotonic() + 5)
    # ns1 (A and AAAA) and ns2 (two A, one shared with ns1); ns3 is in a zone the server
    # refuses, so it has no address and is left out.
    assert found == ["127.0.0.1", "127.0.0.2", "::1"]
    assert authority.nameservers("example.test.", time.monotonic() + 5) == found


def test_nameservers_of_a_zone_nobody_serves_is_a_retryable_error(
    new: list[NamedServer],
) -> None:
    authority = DnsAuthority(resolver=resolver_at(new[0].port))
    with pytest.raises(RetryableError, match=r"no authoritative servers found for www\.example"):
        authority.nameservers("www.example.org", time.monotonic() + 5)


def test_nameservers_without_an_address_is_a_retryable_error(new: list[NamedServer]) -> None:
    authority = DnsAuthority(resolver=resolver_at(new[0].port))
    with pytest.raises(RetryableError, match=r"names ns\.elsewhere\.test\. .* none has an address"):
        authority.nameservers("www.orphan.test", time.monotonic() + 5)


def test_nameservers_through_a_silent_resolver_fail_by_the_deadline() -> None:
    with silent_udp_port() as port:
        authority = DnsAuthority(resolver=resolver_at(port))
        start = time.monotonic()
        with pytest.raises(RetryableError, match="timeout"):
            authority.nameservers("www.example.test", start + 1.0)
        assert time.monotonic() - start < 1.0 + MARGIN
