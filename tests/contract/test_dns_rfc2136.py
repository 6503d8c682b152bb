"""The rfc2136 adapter keeps the DNS port's contract against a real BIND ``named`` that takes
updates signed with a TSIG key; its errors are clear and never carry the key; and a
``BindFleet`` carries an update at the primary to every secondary."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import pytest

from arbiter.adapters.dns import rfc2136
from arbiter.adapters.dns.rfc2136 import Rfc2136
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.core.records import RecordSet
from arbiter.local.bind import (
    SECRET_NAME,
    BindFleet,
    DnsRelay,
    TsigKey,
    UpdatableNamed,
    lookup,
    need_named,
    zone_file,
)
from tests.contract.dns_contract import DnsContract, Throttle, applied, rs
from tests.integration.servers import refused_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(30),
]

ZONES = [f"z{n:02d}.test" for n in range(40)]
"""Every test takes a zone of its own, so that each starts without the records of others."""
LOCKED = "locked"
"""The update-policy denies the key this name in every zone: an update touching it is
answered REFUSED."""
TIMEOUT = 1.0
"""The providers' ``timeout``: how long an unanswered exchange holds a call."""


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpdatableNamed]:
    need_named()
    zones = {zone: zone_file(zone) for zone in ZONES}
    directory = tmp_path_factory.mktemp("named-rfc2136")
    with UpdatableNamed(directory, zones, locked=[LOCKED]).start() as server:
        yield server


@pytest.fixture(scope="module")
def relay(named: UpdatableNamed) -> Iterator[DnsRelay]:
    with DnsRelay(named.port, keyring=named.key.dnspython()) as started:
        yield started


@pytest.fixture(autouse=True)
def _relay_behaves(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "relay" in request.fixturenames:
        relay: DnsRelay = request.getfixturevalue("relay")
        relay.release()


@pytest.fixture(scope="module")
def zone_pool() -> Iterator[str]:
    return iter(ZONES)


@pytest.fixture
def zone_name(zone_pool: Iterator[str]) -> str:
    zone = next(zone_pool, None)
    if zone is None:
        pytest.fail(f"more tests than zones: add to ZONES ({len(ZONES)})")
    return zone + "."


@pytest.fixture
def zone(zone_name: str) -> str:
    return zone_name.rstrip(".")


def make(
    named: UpdatableNamed,
    port: int | None = None,
    secret: Callable[[str], str] | None = None,
    **settings: Any,
) -> Rfc2136:
    fields = {"port": port or named.port, "timeout": TIMEOUT, **settings}
    return Rfc2136("bind", named.settings(**fields), secret or named.secret)


class TestRfc2136(DnsContract):
    @pytest.fixture
    def provider(self, named: UpdatableNamed, relay: DnsRelay) -> Rfc2136:
        return make(named, relay.port)

    @pytest.fixture
    def missing_zone(self) -> str:
        return "nowhere.test"

    @pytest.fixture
    def throttle(self, relay: DnsRelay) -> Throttle:
        """A DNS server has no "slow down" answer: one that is overloaded, or rate-limits a
        client (BIND's response rate limiting), drops queries, so the client sees no answer.
        ``throttle(n)``: the next ``n`` exchanges (TCP connections) reach a relay in front of
        named that takes the query and never answers, until the adapter's timeout."""

        def throttle(n: int) -> None:
            relay.fail(n, "drop")

        return throttle


# --- Errors ----------------------------------------------------------------------------------


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(exc: BaseException, logs: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No secret in the exception, its causes, its traceback, or any log record."""
    texts = ["".join(traceback.format_exception(exc)), repr(exc), logs.text]
    texts += [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in logs.records]
    for secret in secrets:
        assert not any(secret in text for text in texts), "a secret leaked"


def test_a_wrong_secret_is_refused_as_fatal_naming_the_key(
    named: UpdatableNamed, zone: str, zone_name: str, logs: pytest.LogCaptureFixture
) -> None:
    wrong = TsigKey.generate(named.key.name)
    provider = make(named, secret=lambda name: wrong.secret)
    for call in (
        lambda: provider.read(zone, f"www.{zone_name}", "A"),
        lambda: provider.upsert(zone, [rs(zone_name, "www", "A", "192.0.2.1")], "x"),
    ):
        with pytest.raises(ProviderRejected) as caught:
            call()
        message = str(caught.value)
        assert f"refused the TSIG key {named.key.name}" in message and "BADSIG" in message
        assert_no_secret(caught.value, logs, wrong.secret, named.key.secret)


@pytest.mark.parametrize(
    "fields", [{"key_name": "nobody"}, {"key_algorithm": "hmac-sha512"}], ids=["name", "algorithm"]
)
def test_a_key_the_server_does_not_know_is_refused_as_fatal(
    named: UpdatableNamed,
    zone: str,
    zone_name: str,
    logs: pytest.LogCaptureFixture,
    fields: dict[str, str],
) -> None:
    provider = make(named, None, None, **fields)
    with pytest.raises(ProviderRejected) as caught:
        provider.upsert(zone, [rs(zone_name, "www", "A", "192.0.2.1")], "x")
    message = str(caught.value)
    assert "refused the TSIG key" in message and "BADKEY" in message
    assert fields.get("key_name", named.key.name) in message
    assert_no_secret(caught.value, logs, named.key.secret)


def test_a_secret_that_is_not_base64_is_fatal_and_never_echoed(
    named: UpdatableNamed, zone: str, zone_name: str, logs: pytest.LogCaptureFixture
) -> None:
    pasted = 'key "arbiter-key" { secret "s3cr3t-pasted-whole"; };'
    asked: list[str] = []

    def secret(name: str) -> str:
        asked.append(name)
        return pasted

    provider = make(named, secret=secret)
    assert asked == []  # not read until first use
    with pytest.raises(ProviderRejected) as caught:
        provider.read(zone, f"www.{zone_name}", "A")
    assert asked == [SECRET_NAME]
    assert "does not hold a TSIG key in base64" in str(caught.value)
    assert SECRET_NAME in str(caught.value)
    assert_no_secret(caught.value, logs, pasted, "s3cr3t")


def test_the_key_is_read_once(named: UpdatableNamed, zone: str, zone_name: str) -> None:
    asked: list[str] = []

    def secret(name: str) -> str:
        asked.append(name)
        return named.secret(name)

    provider = make(named, secret=secret)
    applied(provider, zone, [rs(zone_name, "www", "A", "192.0.2.1")])
    provider.read(zone, f"www.{zone_name}", "A")
    assert asked == [SECRET_NAME]


def test_an_unknown_zone_is_fatal_naming_the_rcode_and_zone(
    named: UpdatableNamed, zone_name: str, logs: pytest.LogCaptureFixture
) -> None:
    provider = make(named)
    with pytest.raises(ProviderRejected) as caught:
        provider.read("nowhere.test", "www.nowhere.test.", "A")
    assert "REFUSED" in str(caught.value) and "nowhere.test" in str(caught.value)
    with pytest.raises(ProviderRejected) as caught:
        provider.upsert("nowhere.test", [rs("nowhere.test.", "www", "A", "192.0.2.1")], "x")
    assert "REFUSED" in str(caught.value) and "does not serve zone nowhere.test" in str(
        caught.value
    )
    assert_no_secret(caught.value, logs, named.key.secret)


def test_a_name_outside_the_zone_is_fatal(named: UpdatableNamed, zone: str) -> None:
    provider = make(named)
    with pytest.raises(ProviderRejected, match="is not in zone"):
        provider.upsert(zone, [rs("elsewhere.test.", "www", "A", "192.0.2.1")], "x")
    with pytest.raises(ProviderRejected, match="is not in zone"):
        provider.read(zone, "www.elsewhere.test.", "A")


def test_a_missing_record_reads_as_none(named: UpdatableNamed, zone: str, zone_name: str) -> None:
    provider = make(named)
    applied(provider, zone, [rs(zone_name, "alias", "CNAME", f"ns1.{zone_name}")])
    assert provider.read(zone, f"nothing.{zone_name}", "A") is None  # NXDOMAIN
    assert provider.read(zone, f"ns1.{zone_name}", "TXT") is None  # the name, not the type
    assert provider.read(zone, f"alias.{zone_name}", "A") is None  # a CNAME is no A set
    got = provider.read(zone, f"alias.{zone_name}", "CNAME")
    assert got is not None and got.values == (f"ns1.{zone_name}",) and got.ttl == 60


@pytest.mark.parametrize("after", [0, 1], ids=["on-the-read", "on-the-update"])
def test_servfail_is_retryable_then_it_works(
    named: UpdatableNamed,
    relay: DnsRelay,
    zone: str,
    zone_name: str,
    logs: pytest.LogCaptureFixture,
    after: int,
) -> None:
    provider = make(named, relay.port)
    record = rs(zone_name, "www", "A", "192.0.2.7")
    relay.fail(1, "SERVFAIL", after=after)
    with pytest.raises(ProviderError) as caught:
        provider.upsert(zone, [record], "x")
    assert "SERVFAIL" in str(caught.value) and not isinstance(caught.value, ProviderRejected)
    assert_no_secret(caught.value, logs, named.key.secret)
    assert provider.read(zone, record.name, "A") is None  # nothing changed
    applied(provider, zone, [record])
    assert record.same_as(provider.read(zone, record.name, "A"))


def test_an_unanswered_update_is_retryable_within_the_timeout(
    named: UpdatableNamed, relay: DnsRelay, zone: str, zone_name: str
) -> None:
    provider = make(named, relay.port)
    relay.fail(1, "drop", after=1)  # the read passes, the update is never answered
    began = time.monotonic()
    with pytest.raises(ProviderError, match=f"did not answer .* within {TIMEOUT:g} s"):
        provider.upsert(zone, [rs(zone_name, "www", "A", "192.0.2.8")], "x")
    assert TIMEOUT * 0.9 <= time.monotonic() - began < TIMEOUT + 1.0  # the whole call's budget


def test_an_unreachable_server_is_retryable(
    named: UpdatableNamed, zone: str, zone_name: str
) -> None:
    with refused_port() as port:
        provider = make(named, port)
        with pytest.raises(ProviderError, match="refused the connection"):
            provider.upsert(zone, [rs(zone_name, "www", "A", "192.0.2.1")], "x")
        with pytest.raises(ProviderError):
            provider.read(zone, f"www.{zone_name}", "A")


def test_a_change_the_update_policy_refuses_is_fatal_and_changes_nothing(
    named: UpdatableNamed, zone: str, zone_name: str, logs: pytest.LogCaptureFixture
) -> None:
    provider = make(named)
    allowed = rs(zone_name, "www", "A", "192.0.2.1")
    with pytest.raises(ProviderRejected) as caught:
        provider.upsert(zone, [allowed, rs(zone_name, LOCKED, "A", "192.0.2.2")], "x")
    message = str(caught.value)
    assert "REFUSED" in message and f"zone {zone_name}" in message and "update-policy" in message
    assert provider.read(zone, allowed.name, "A") is None  # one message: all or nothing
    assert_no_secret(caught.value, logs, named.key.secret)


def test_an_update_answered_notzone_is_fatal_with_the_rcode(
    named: UpdatableNamed, relay: DnsRelay, zone: str, zone_name: str
) -> None:
    provider = make(named, relay.port)
    relay.fail(1, "NOTZONE", after=1)
    with pytest.raises(ProviderRejected, match=f"NOTZONE to the update of zone {zone_name}"):
        provider.upsert(zone, [rs(zone_name, "www", "A", "192.0.2.1")], "x")


def test_a_change_the_server_ignores_is_fatal(
    named: UpdatableNamed, zone: str, zone_name: str
) -> None:
    """RFC 2136 3.4.2.2: BIND answers NOERROR to a CNAME beside other data, and ignores it."""
    provider = make(named)
    applied(provider, zone, [rs(zone_name, "host", "A", "192.0.2.1")])
    with pytest.raises(ProviderRejected, match=rf"does not serve host\.{zone_name} CNAME"):
        provider.upsert(zone, [rs(zone_name, "host", "CNAME", f"ns1.{zone_name}")], "x")


def test_an_unsigned_answer_is_not_trusted(
    named: UpdatableNamed, zone: str, zone_name: str
) -> None:
    with DnsRelay(named.port) as keyless:  # answers, but cannot sign
        keyless.fail(1, "SERVFAIL")
        provider = make(named, keyless.port)
        with pytest.raises(ProviderRejected, match="not signed with the TSIG key"):
            provider.read(zone, f"www.{zone_name}", "A")


def test_an_unsigned_answer_is_not_trusted_whatever_dnspython_checks(
    named: UpdatableNamed, zone: str, zone_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dnspython before 2.8 hands over an unsigned answer to a signed query as it is."""

    def unsigned(query: dns.message.Message, *args: Any) -> dns.message.Message:
        response = dns.message.make_response(dns.message.from_wire(query.to_wire(), keyring=False))
        response.flags |= dns.flags.AA
        return response

    monkeypatch.setattr(rfc2136, "ask", unsigned)
    with pytest.raises(ProviderRejected, match="not signed with the TSIG key"):
        make(named).read(zone, f"www.{zone_name}", "A")


def test_one_signed_message_updates_every_set_that_differs(
    named: UpdatableNamed, relay: DnsRelay, zone: str, zone_name: str
) -> None:
    provider = make(named, relay.port)
    same = rs(zone_name, "same", "A", "192.0.2.1")
    applied(provider, zone, [same])
    relay.opcodes.clear()
    records = [same, rs(zone_name, "www", "AAAA", "2001:db8::1"), rs(zone_name, "t", "TXT", "x")]
    change = provider.upsert(zone, records, "x")
    assert relay.opcodes.count("UPDATE") == 1
    assert change.unchanged == [f"same.{zone_name} A"] and len(change.changed) == 2
    assert change.id is not None and change.id.startswith(f"{zone_name} serial ")
    assert provider.wait_applied(change, time.monotonic() - 1) == 0.0


# --- A primary and its secondaries -------------------------------------------------------------

FLEET_ZONE = "fleet.test"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindFleet]:
    need_named()
    directory: Path = tmp_path_factory.mktemp("bind-fleet")
    zones = {FLEET_ZONE: zone_file(FLEET_ZONE)}
    with BindFleet(directory, zones, secondaries=2).start() as started:
        yield started


def serving(name: str, record: RecordSet) -> Callable[[str], bool]:
    return lambda server: lookup(server, name, record.type.value) == sorted(record.values)


def test_an_update_at_the_primary_reaches_every_secondary(fleet: BindFleet) -> None:
    provider = Rfc2136("bind", fleet.primary.settings(), fleet.primary.secret)
    record = rs(FLEET_ZONE + ".", "www", "A", "192.0.2.10", "192.0.2.11")
    applied(provider, FLEET_ZONE, [record])
    assert len(fleet.servers) == 3 and fleet.servers[0] == fleet.primary.server
    took = fleet.wait_for(serving(record.name, record), timeout=10.0)
    assert took < 10.0
    assert len(set(fleet.serials(FLEET_ZONE).values())) == 1


def test_a_lagging_secondary_serves_the_old_values_until_it_catches_up(fleet: BindFleet) -> None:
    provider = Rfc2136("bind", fleet.primary.settings(), fleet.primary.secret)
    old = rs(FLEET_ZONE + ".", "lag", "A", "192.0.2.20")
    new = rs(FLEET_ZONE + ".", "lag", "A", "192.0.2.21")
    applied(provider, FLEET_ZONE, [old])
    fleet.wait_for(serving(old.name, old))
    behind = fleet.secondaries[1]
    behind.lag()
    applied(provider, FLEET_ZONE, [new])
    with pytest.raises(TimeoutError, match=behind.server):
        fleet.wait_for(serving(new.name, new), timeout=1.5)
    assert lookup(behind.server, old.name, "A") == ["192.0.2.20"]  # answers, out of date
    behind.catch_up()
    fleet.wait_synced(FLEET_ZONE, timeout=10.0)
    assert lookup(behind.server, new.name, "A") == ["192.0.2.21"]


def test_a_paused_secondary_answers_nothing_until_resumed(fleet: BindFleet) -> None:
    paused = fleet.secondaries[0]
    paused.pause()
    try:
        assert lookup(paused.server, f"ns1.{FLEET_ZONE}", "A") is None
    finally:
        paused.resume()
    fleet.wait_for(lambda server: lookup(server, f"ns1.{FLEET_ZONE}", "A") == ["127.0.0.1"], 5.0)
