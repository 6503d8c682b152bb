"""The verify step's in-memory fake, the report lines, and the server-string parser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from arbiter.adapters.dns.authority import (
    Authority,
    DnsAuthority,
    MemoryAuthority,
    ServerOutcome,
    render,
    split_server,
)
from arbiter.adapters.dns.memory import MemoryDns
from arbiter.core.errors import ProviderError
from arbiter.core.records import RecordSet, RecordType

ZONE = "example.com"


class Clock:
    """A clock that only sleeping moves."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rs(name: str, rtype: str, *values: str, ttl: int = 60) -> RecordSet:
    return RecordSet(name, RecordType(rtype), ttl, values)


OLD = [rs("www.example.com.", "A", "192.0.2.1"), rs("example.com.", "MX", "10 old.example.com.")]
NEW = [
    rs("www.example.com.", "A", "192.0.2.10", "192.0.2.11"),
    rs("example.com.", "MX", "10 mail.example.com."),
]
BEFORE = {("www.example.com.", "A"): ["192.0.2.1"], ("example.com.", "MX"): ["10 old.example.com."]}


def provider(clock: Clock, records: list[RecordSet] = OLD) -> MemoryDns:
    dns = MemoryDns("primary", [ZONE], clock=clock, sleep=clock.sleep)
    dns.upsert(ZONE, records, "before")
    return dns


def fake(clock: Clock, dns: MemoryDns, *servers: str) -> MemoryAuthority:
    return MemoryAuthority(
        {s: (dns, ZONE) for s in servers}, poll=1.0, clock=clock, sleep=clock.sleep
    )


def test_the_fake_and_the_real_one_are_authorities() -> None:
    clock = Clock()
    authorities: list[Authority] = [fake(clock, provider(clock), "ns1"), DnsAuthority()]
    assert len(authorities) == 2


def test_servers_serving_the_new_values_are_ok_at_once() -> None:
    clock = Clock()
    dns = provider(clock)
    authority = fake(clock, dns, "ns1", "ns2")
    dns.upsert(ZONE, NEW, "switch")
    outcomes = authority.verify(["ns1", "ns2"], NEW, clock() + 10, BEFORE)
    assert [(o.server, o.ok, o.seconds, o.old) for o in outcomes] == [
        ("ns1", True, 0.0, False),
        ("ns2", True, 0.0, False),
    ]
    assert outcomes[0].answer == (
        "www.example.com A: 192.0.2.10, 192.0.2.11; example.com MX: 10 mail.example.com."
    )
    assert clock() == 100.0  # nobody waited
    assert authority.nameservers("www.example.com", clock() + 1) == ["ns1", "ns2"]


def test_a_lagging_server_serves_what_its_provider_held_until_it_catches_up() -> None:
    clock = Clock()
    dns = provider(clock)
    authority = fake(clock, dns, "ns1", "ns2")
    authority.lag("ns2", until=clock() + 3)  # a snapshot of the old contents
    dns.upsert(ZONE, NEW, "switch")
    ns1, ns2 = authority.verify(["ns1", "ns2"], NEW, clock() + 10, BEFORE)
    assert (ns1.ok, ns1.seconds) == (True, 0.0)
    assert (ns2.ok, ns2.seconds, ns2.old) == (True, 3.0, False)
    assert clock() == 103.0  # stopped once every server was new


def test_a_server_still_lagging_at_the_deadline_is_old_with_its_answer() -> None:
    clock = Clock()
    dns = provider(clock)
    authority = fake(clock, dns, "ns1", "ns2")
    authority.lag("ns2", until=clock() + 60)
    dns.upsert(ZONE, NEW, "switch")
    ns1, ns2 = authority.verify(["ns1", "ns2"], NEW, clock() + 5, BEFORE)
    assert ns1.ok
    assert (ns2.ok, ns2.seconds, ns2.old, ns2.answered) == (False, None, True, True)
    assert ns2.answer == "www.example.com A: 192.0.2.1; example.com MX: 10 old.example.com."
    assert clock() == 105.0
    # Without the old values it is not new, but nobody can say it is old.
    [ns2] = authority.verify(["ns2"], NEW, clock() + 2)
    assert (ns2.ok, ns2.old) == (False, False)


def test_lag_with_explicit_values_and_a_missing_set_is_nxdomain() -> None:
    clock = Clock()
    authority = MemoryAuthority(
        {"ns1": lambda name, rtype: ["192.0.2.10"] if rtype == "A" else None},
        clock=clock,
        sleep=clock.sleep,
    )
    authority.lag("ns1", until=clock() + 2, serving={("WWW.example.com", "a"): ["192.0.2.1"]})
    www = [rs("www.example.com.", "A", "192.0.2.10")]
    [outcome] = authority.verify(
        ["ns1"], www, clock() + 1, {("www.example.com.", "A"): ["192.0.2.1"]}
    )
    assert (outcome.ok, outcome.old, outcome.answer) == (False, True, "192.0.2.1")
    [outcome] = authority.verify(["ns1"], www, clock() + 5)
    assert (outcome.ok, outcome.seconds) == (True, 1.0)
    mx = [rs("example.com.", "MX", "10 mail.example.com.")]
    [outcome] = authority.verify(["ns1"], mx, clock() + 1)
    assert (outcome.ok, outcome.answer) == (False, "NXDOMAIN")


def test_lag_without_values_needs_a_memory_dns() -> None:
    authority = MemoryAuthority({"ns1": lambda name, rtype: None})
    with pytest.raises(ValueError, match="give `serving`"):
        authority.lag("ns1", until=1.0)


def test_a_record_set_that_did_not_exist_before_is_old_while_missing() -> None:
    clock = Clock()
    dns = provider(clock)
    authority = fake(clock, dns, "ns1")
    authority.lag("ns1", until=clock() + 60)
    added = [rs("new.example.com.", "A", "192.0.2.20")]
    dns.upsert(ZONE, added, "add")
    [outcome] = authority.verify(["ns1"], added, clock() + 2, {("new.example.com.", "A"): []})
    assert (outcome.ok, outcome.old, outcome.answer) == (False, True, "NXDOMAIN")


def test_a_silent_server_times_out_and_others_are_not_held_back() -> None:
    clock = Clock()
    dns = provider(clock, NEW)
    authority = fake(clock, dns, "ns1", "ns2")
    authority.silence("ns2")
    ns1, ns2, ghost = authority.verify(["ns1", "ns2", "ns9"], NEW, clock() + 3, BEFORE)
    assert (ns1.ok, ns1.seconds) == (True, 0.0)
    assert (ns2.ok, ns2.answered, ns2.answer, ns2.old, ns2.seconds) == (
        False,
        False,
        "timeout",
        False,
        None,
    )
    assert (ghost.ok, ghost.answered, ghost.answer) == (False, False, "timeout")
    # A silent server is asked one question a round, not one per record set.
    assert [a for a in authority.asked if a[0] == "ns2"] == [("ns2", "www.example.com.", "A")] * 4


@pytest.mark.parametrize(
    ("answer", "answered"),
    [("REFUSED", True), ("SERVFAIL", True), ("NXDOMAIN", True), ("connection refused", False)],
)
def test_a_server_can_answer_only_an_error(answer: str, answered: bool) -> None:
    clock = Clock()
    authority = fake(clock, provider(clock, NEW), "ns1")
    authority.silence("ns1", answer=answer)
    [outcome] = authority.verify(["ns1"], NEW, clock() + 1, BEFORE)
    assert (outcome.ok, outcome.answer, outcome.answered, outcome.old) == (
        False,
        answer,
        answered,
        False,
    )


def test_a_silence_that_ends_mid_verify() -> None:
    clock = Clock()
    authority = fake(clock, provider(clock, NEW), "ns1")
    authority.silence("ns1", until=clock() + 2.5)
    [outcome] = authority.verify(["ns1"], NEW, clock() + 10)
    assert (outcome.ok, outcome.seconds) == (True, 3.0)


def test_a_zone_the_server_does_not_hold_is_refused() -> None:
    clock = Clock()
    authority = MemoryAuthority({"ns1": (provider(clock, NEW), "example.org")}, clock=clock)
    [outcome] = authority.verify(["ns1"], NEW, clock())
    assert (outcome.ok, outcome.answer, outcome.answered) == (False, "REFUSED", True)


def test_values_compare_as_records_in_any_case_and_order() -> None:
    clock = Clock()
    authority = fake(clock, provider(clock, NEW), "ns1")
    spelled = [
        rs("WWW.Example.COM", "A", "192.0.2.11", "192.0.2.10"),
        rs("example.com.", "MX", "10 MAIL.example.com"),
    ]
    [outcome] = authority.verify(["ns1"], spelled, clock())
    assert outcome.ok
    [outcome] = authority.verify(["ns1"], [rs("www.example.com.", "A", "192.0.2.10")], clock())
    assert (outcome.ok, outcome.answer) == (False, "192.0.2.10, 192.0.2.11")


def test_the_fake_reads_its_provider_without_touching_its_calls_or_faults() -> None:
    clock = Clock()
    dns = provider(clock, NEW)
    calls = list(dns.calls)
    dns.faults.append(ProviderError("throttled"))
    [outcome] = fake(clock, dns, "ns1").verify(["ns1"], NEW, clock())
    assert outcome.ok
    assert dns.calls == calls and len(dns.faults) == 1


def test_a_clock_that_never_moves_still_ends_the_verify() -> None:
    clock = Clock()
    authority = MemoryAuthority(
        {"ns1": (provider(clock), ZONE)}, poll=1.0, clock=clock, sleep=lambda s: None
    )
    [outcome] = authority.verify(["ns1"], NEW, clock() + 5)
    assert not outcome.ok
    assert len(authority.asked) <= 2 * 7  # two record sets, at most deadline/poll + 1 rounds


def test_poll_must_be_positive() -> None:
    with pytest.raises(ValueError, match="poll"):
        MemoryAuthority({}, poll=0)
    with pytest.raises(ValueError, match="poll"):
        DnsAuthority(poll=-1)


# --- The real one, without a network: what it does before asking anyone -----------------


def test_the_real_one_reports_a_bad_server_string_without_raising() -> None:
    [outcome] = DnsAuthority().verify(["ns1.example.com"], NEW, 0.0)
    assert (outcome.ok, outcome.answered) == (False, False)
    assert outcome.answer.startswith("bad address: 'ns1.example.com'")
    assert DnsAuthority().verify([], NEW, 0.0) == []


@pytest.mark.parametrize(
    ("server", "parsed"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5300", ("192.0.2.53", 5300)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
        ("[2001:DB8::53]", ("2001:db8::53", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("::1", ("::1", 53)),
    ],
)
def test_server_strings(server: str, parsed: tuple[str, int]) -> None:
    assert split_server(server) == parsed


@pytest.mark.parametrize(
    "server",
    ["ns1.example.com", "192.0.2.53:", "192.0.2.53:x", "192.0.2.53:0", "[2001:db8::53", "[::1]x"],
)
def test_bad_server_strings(server: str) -> None:
    with pytest.raises(ValueError, match=r"192\.0\.2\.53|ns1|::1|2001"):
        split_server(server)


# --- The report ---------------------------------------------------------------------------

STARTED = datetime(2024, 5, 1, 12, 34, 0, tzinfo=UTC).timestamp()


def test_render_one_line_a_server_then_when_caches_let_go() -> None:
    outcomes = [
        ServerOutcome("127.0.0.1:5301", True, 0.31, "192.0.2.10", False),
        ServerOutcome("127.0.0.1:5302", False, None, "192.0.2.1", True),
        ServerOutcome("127.0.0.1:5303", False, None, "timeout", False, answered=False),
        ServerOutcome("[2001:db8::53]:53", False, None, "REFUSED", False),
    ]
    lines = render(outcomes, started=STARTED, ttl=60, now=datetime(2024, 5, 1, 12, 34, 30))
    assert lines == [
        "  127.0.0.1:5301     new after 0.3 s",
        "  127.0.0.1:5302     STILL OLD at the deadline: 192.0.2.1",
        "  127.0.0.1:5303     no answer (timeout)",
        "  [2001:db8::53]:53  NOT NEW at the deadline: REFUSED",
        "resolvers may serve the old answer until at least 12:35:30 UTC "
        "(TTL 60 s; 3 servers not serving the new values yet)",
    ]


def test_render_when_every_server_is_new_counts_the_ttl_from_the_last_switch() -> None:
    outcomes = [
        ServerOutcome("127.0.0.1:5301", True, 0.3, "192.0.2.10", False),
        ServerOutcome("127.0.0.1:5302", True, 26.0, "192.0.2.10", False),
    ]
    now = datetime(2024, 5, 1, 14, 35, 0, tzinfo=UTC).astimezone()  # any zone: shown in UTC
    lines = render(outcomes, started=STARTED, ttl=30, now=now)
    assert lines == [
        "  127.0.0.1:5301  new after 0.3 s",
        "  127.0.0.1:5302  new after 26.0 s",
        "resolvers may serve the old answer until 12:34:56 UTC (TTL 30 s)",
    ]


def test_render_one_server_behind_is_singular() -> None:
    outcomes = [ServerOutcome("ns", False, None, "timeout", False, answered=False)]
    lines = render(outcomes, started=STARTED, ttl=60, now=datetime(2024, 5, 1, 23, 59, 30))
    assert lines[-1] == (
        "resolvers may serve the old answer until at least 00:00:30 UTC "
        "(TTL 60 s; 1 server not serving the new values yet)"
    )
