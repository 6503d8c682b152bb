"""The PowerDNS adapter keeps the DNS port's contract against a real ``pdns_server`` (gsqlite3
backend) on loopback, reached through a fault proxy that can answer 429 or 5xx first.

Every error test also checks that the API key is in no exception text and no log record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from arbiter.adapters.dns.powerdns import PowerDns, zone_id
from arbiter.core.config import PowerDnsProvider
from arbiter.core.errors import FatalError, ProviderError, ProviderRejected, RetryableError
from arbiter.core.records import RecordSet, RecordType
from tests.contract.dns_contract import DnsContract, Throttle, rs
from tests.contract.fault_proxy import FaultProxy
from tests.integration.pdns import PdnsServer, pdns_missing
from tests.integration.servers import refused_port

pytestmark = pytest.mark.integration

KEY_SECRET = "arbiter/powerdns-api-key"


@pytest.fixture(scope="module")
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PdnsServer]:
    reason = pdns_missing()
    if reason is not None:
        pytest.skip(reason)
    with PdnsServer(tmp_path_factory.mktemp("pdns")).start() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(pdns: PdnsServer) -> Iterator[FaultProxy]:
    with FaultProxy(pdns.api_url) as proxy:
        yield proxy


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[FaultProxy]:
    proxy.clear()
    yield proxy
    proxy.clear()


@pytest.fixture
def fresh_zone(pdns: PdnsServer) -> Iterator[str]:
    """A zone of its own for each test (``z1a2b3c4.example.test.``)."""
    name = pdns.create_zone(f"z{uuid.uuid4().hex[:8]}.example.test")
    yield name
    pdns.delete_zone(name)


class Secrets:
    """The Secrets Manager stand-in: the key by name, and how often it was asked."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.asked: list[str] = []

    def __call__(self, name: str) -> str:
        self.asked.append(name)
        if name != KEY_SECRET:
            raise KeyError(name)
        return self.value


def make(
    url: str, key: str, sleeps: list[float] | None = None, **settings: object
) -> tuple[PowerDns, Secrets]:
    secret = Secrets(key)
    config = PowerDnsProvider.model_validate(
        {"type": "powerdns", "url": url, "api_key_secret": KEY_SECRET, "timeout": 5, **settings}
    )
    sleep: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    return PowerDns("pdns", config, secret, sleep=sleep), secret


@pytest.fixture
def sleeps() -> list[float]:
    """What the adapter slept (injected: no test waits for real)."""
    return []


@pytest.fixture
def provider(pdns: PdnsServer, faults: FaultProxy, sleeps: list[float]) -> PowerDns:
    return make(faults.url, pdns.api_key, sleeps)[0]


def no_key_anywhere(key: str, caplog: pytest.LogCaptureFixture, *errors: BaseException) -> None:
    for error in errors:
        assert key not in str(error) and key not in repr(error)
        assert key not in str(error.__cause__ or "") and key not in str(error.__context__ or "")
    for record in caplog.records:
        assert key not in record.getMessage()


class TestPowerDns(DnsContract):
    @pytest.fixture
    def zone(self, fresh_zone: str) -> str:
        return fresh_zone.rstrip(".")  # as a config names it

    @pytest.fixture
    def zone_name(self, fresh_zone: str) -> str:
        return fresh_zone

    @pytest.fixture
    def missing_zone(self) -> str:
        return "missing.example.test"

    @pytest.fixture
    def throttle(self, faults: FaultProxy) -> Throttle:
        def throttle(n: int) -> None:
            faults.fail(n, 429, {"Retry-After": "1"})

        return throttle


# --- What the adapter sends ---------------------------------------------------------------


def test_one_patch_replaces_only_the_sets_that_differ(
    provider: PowerDns, fresh_zone: str, faults: FaultProxy, pdns: PdnsServer
) -> None:
    keep = rs(fresh_zone, "keep", "A", "192.0.2.1")
    provider.upsert(fresh_zone, [keep, rs(fresh_zone, "www", "A", "192.0.2.2")], "setup")
    serial = pdns.serial(fresh_zone)
    faults.clear()
    change = provider.upsert(
        fresh_zone,
        [
            keep,
            rs(fresh_zone, "www", "A", "198.51.100.2"),
            rs(fresh_zone, "www", "TXT", "moved"),
            rs(fresh_zone, "mail", "MX", f"10 mx.{fresh_zone}"),
        ],
        "switch",
    )
    assert change.changed == [
        f"www.{fresh_zone} A",
        f"www.{fresh_zone} TXT",
        f"mail.{fresh_zone} MX",
    ]
    assert change.unchanged == [f"keep.{fresh_zone} A"]
    methods = [seen.method for seen in faults.requests]
    assert methods.count("PATCH") == 1
    assert methods.count("GET") == 3  # one per name: keep, www, mail
    assert all(seen.headers.get("X-API-Key") == pdns.api_key for seen in faults.requests)
    # SOA-EDIT-API (DEFAULT on zones made through the API) raised the serial, which the
    # change's id reports
    assert pdns.serial(fresh_zone) > serial
    assert change.id == f"{fresh_zone} serial {pdns.serial(fresh_zone)}"


def test_a_name_in_other_case_and_a_zone_with_its_dot_are_the_same(
    provider: PowerDns, fresh_zone: str
) -> None:
    provider.upsert(fresh_zone.rstrip("."), [rs(fresh_zone, "www", "A", "192.0.2.1")], "x")
    shouted = RecordSet(f"WWW.{fresh_zone.upper()}", RecordType.A, 60, ("192.0.2.1",))
    again = provider.upsert(fresh_zone, [shouted], "x")
    assert again.id is None and again.changed == []
    assert shouted.same_as(provider.read(fresh_zone.upper(), shouted.name, "A"))


def test_the_url_may_already_end_in_api_v1(
    pdns: PdnsServer, fresh_zone: str, faults: FaultProxy
) -> None:
    provider, _ = make(faults.url + "/api/v1/", pdns.api_key)
    assert provider.read(fresh_zone, f"nothing.{fresh_zone}", "A") is None
    assert faults.requests[-1].path.startswith(f"/api/v1/servers/localhost/zones/{fresh_zone}?")


def test_a_disabled_record_is_not_served_so_not_read(
    provider: PowerDns, pdns: PdnsServer, fresh_zone: str
) -> None:
    name = f"half.{fresh_zone}"
    answer = pdns.api(
        "PATCH",
        f"/zones/{fresh_zone}",
        {
            "rrsets": [
                {
                    "name": name,
                    "type": "A",
                    "ttl": 60,
                    "changetype": "REPLACE",
                    "records": [
                        {"content": "192.0.2.1", "disabled": False},
                        {"content": "192.0.2.2", "disabled": True},
                    ],
                }
            ]
        },
    )
    assert answer.status_code == 204
    got = provider.read(fresh_zone, name, "A")
    assert got is not None and got.values == ("192.0.2.1",)


def test_the_key_is_read_once_and_only_when_first_needed(
    pdns: PdnsServer, fresh_zone: str, faults: FaultProxy
) -> None:
    provider, secret = make(faults.url, pdns.api_key)
    assert secret.asked == []
    provider.read(fresh_zone, f"www.{fresh_zone}", "A")
    provider.upsert(fresh_zone, [rs(fresh_zone, "www", "A", "192.0.2.9")], "x")
    assert secret.asked == [KEY_SECRET]


def test_zone_ids_follow_powerdns() -> None:
    assert zone_id("example.com") == "example.com."
    assert zone_id("example.com.") == "example.com."
    assert zone_id("_sip.example.com") == "=5Fsip.example.com."
    assert zone_id(".") == "=2E"


# --- Errors -------------------------------------------------------------------------------


def test_bad_credentials_are_fatal_and_say_so(
    pdns: PdnsServer, fresh_zone: str, faults: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + pdns.api_key[::-1]
    provider, _ = make(faults.url, wrong)
    with pytest.raises(ProviderRejected) as upsert:
        provider.upsert(fresh_zone, [rs(fresh_zone, "www", "A", "192.0.2.1")], "x")
    with pytest.raises(ProviderRejected) as read:
        provider.read(fresh_zone, f"www.{fresh_zone}", "A")
    for error in (upsert.value, read.value):
        assert "HTTP 401" in str(error) and "API key was refused" in str(error)
        assert "api_key_secret" in str(error)
    assert len(faults.requests) == 2  # fatal: not retried
    no_key_anywhere(wrong, caplog, upsert.value, read.value)
    no_key_anywhere(pdns.api_key, caplog, upsert.value, read.value)


def test_an_empty_secret_is_fatal(pdns: PdnsServer, faults: FaultProxy, fresh_zone: str) -> None:
    provider, _ = make(faults.url, " \n")
    with pytest.raises(ProviderRejected, match="api_key_secret is empty"):
        provider.read(fresh_zone, f"www.{fresh_zone}", "A")
    assert faults.requests == []


def test_a_missing_zone_is_fatal_and_names_it(
    provider: PowerDns, pdns: PdnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderRejected) as upsert:
        provider.upsert("nowhere.test", [rs("nowhere.test.", "www", "A", "192.0.2.1")], "x")
    with pytest.raises(ProviderRejected) as read:
        provider.read("nowhere.test", "www.nowhere.test.", "A")
    for error in (upsert.value, read.value):
        assert "HTTP 404" in str(error) and "no zone nowhere.test." in str(error)
        assert "server_id" in str(error)
    no_key_anywhere(pdns.api_key, caplog, upsert.value, read.value)


def test_a_missing_server_id_is_fatal(
    pdns: PdnsServer, faults: FaultProxy, fresh_zone: str
) -> None:
    provider, _ = make(faults.url, pdns.api_key, server_id="elsewhere")
    with pytest.raises(ProviderRejected, match="on server 'elsewhere'"):
        provider.read(fresh_zone, f"www.{fresh_zone}", "A")


def test_a_missing_record_reads_as_none(provider: PowerDns, fresh_zone: str) -> None:
    provider.upsert(fresh_zone, [rs(fresh_zone, "www", "TXT", "only text here")], "x")
    assert provider.read(fresh_zone, f"www.{fresh_zone}", "A") is None  # other type, same name
    assert provider.read(fresh_zone, f"absent.{fresh_zone}", "A") is None


def test_429_then_success_honours_retry_after(
    provider: PowerDns,
    fresh_zone: str,
    faults: FaultProxy,
    sleeps: list[float],
    pdns: PdnsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    record = rs(fresh_zone, "www", "A", "192.0.2.33")
    # header names are case-insensitive (RFC 9110 5.1): a lower-case one counts too
    faults.fail(1, 429, {"retry-after": "2"})
    change = provider.upsert(fresh_zone, [record], "x")
    assert change.changed == [f"www.{fresh_zone} A"]
    assert sleeps == [2.0]
    assert [seen.faulted for seen in faults.requests] == [429, None, None]  # GET, GET, PATCH
    assert record.same_as(provider.read(fresh_zone, record.name, "A"))
    no_key_anywhere(pdns.api_key, caplog)


def test_a_5xx_then_success_backs_off_and_succeeds(
    provider: PowerDns, fresh_zone: str, faults: FaultProxy, sleeps: list[float]
) -> None:
    record = rs(fresh_zone, "www", "A", "192.0.2.44")
    faults.fail(2, 503)
    provider.upsert(fresh_zone, [record], "x")
    assert sleeps == [0.5, 1.0]
    assert record.same_as(provider.read(fresh_zone, record.name, "A"))


def test_5xx_that_lasts_is_retryable_with_the_status(
    provider: PowerDns,
    fresh_zone: str,
    faults: FaultProxy,
    pdns: PdnsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    faults.fail(100, 500)
    with pytest.raises(ProviderError) as raised:
        provider.read(fresh_zone, f"www.{fresh_zone}", "A")
    assert not isinstance(raised.value, FatalError)
    assert "HTTP 500" in str(raised.value)
    assert len(faults.requests) == 3
    no_key_anywhere(pdns.api_key, caplog, raised.value)


def test_an_unreachable_server_is_retryable(
    pdns: PdnsServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with refused_port() as port:
        provider, _ = make(f"http://127.0.0.1:{port}", pdns.api_key, sleeps)
        with pytest.raises(RetryableError) as raised:
            provider.upsert("example.test", [rs("example.test.", "www", "A", "192.0.2.1")], "x")
    assert "unreachable" in str(raised.value)
    assert len(sleeps) == 2  # three attempts
    no_key_anywhere(pdns.api_key, caplog, raised.value)


def test_a_change_powerdns_refuses_is_fatal_with_its_words(
    provider: PowerDns, fresh_zone: str, caplog: pytest.LogCaptureFixture, pdns: PdnsServer
) -> None:
    caplog.set_level(logging.DEBUG)
    provider.upsert(fresh_zone, [rs(fresh_zone, "alias", "CNAME", f"target.{fresh_zone}")], "x")
    with pytest.raises(ProviderRejected) as conflict:
        provider.upsert(fresh_zone, [rs(fresh_zone, "alias", "A", "192.0.2.1")], "x")
    assert "HTTP 422" in str(conflict.value)
    assert f"alias.{fresh_zone} IN A: Conflicts with pre-existing RRset" in str(conflict.value)
    no_key_anywhere(pdns.api_key, caplog, conflict.value)


def test_a_refused_batch_changes_nothing(provider: PowerDns, fresh_zone: str) -> None:
    before = rs(fresh_zone, "www", "A", "192.0.2.1")
    provider.upsert(fresh_zone, [before], "x")
    bad = RecordSet(f"txt.{fresh_zone}", RecordType.TXT, 60, ("not quoted",))
    with pytest.raises(ProviderRejected, match="should start with quote"):
        provider.upsert(fresh_zone, [rs(fresh_zone, "www", "A", "198.51.100.1"), bad], "x")
    assert before.same_as(provider.read(fresh_zone, before.name, "A"))  # one transaction


# --- The DNS port serves what the API wrote ------------------------------------------------


def ask(pdns: PdnsServer, name: str, rtype: str) -> set[str]:
    query = dns.message.make_query(name, rtype)
    answer = dns.query.udp(query, "127.0.0.1", port=pdns.port, timeout=2.0)
    assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
    found = answer.find_rrset(
        answer.answer, query.question[0].name, dns.rdataclass.IN, dns.rdatatype.from_text(rtype)
    )
    return {rdata.to_text() for rdata in found}


def test_the_dns_port_serves_the_new_values_as_soon_as_upsert_returns(
    provider: PowerDns, pdns: PdnsServer, fresh_zone: str
) -> None:
    name = f"www.{fresh_zone}"
    first = rs(fresh_zone, "www", "A", "192.0.2.10", "192.0.2.11")
    provider.wait_applied(provider.upsert(fresh_zone, [first], "first"), 0.0)
    assert ask(pdns, name, "A") == {"192.0.2.10", "192.0.2.11"}  # now in its caches too
    moved = rs(fresh_zone, "www", "A", "198.51.100.10", ttl=30)
    change = provider.upsert(fresh_zone, [moved], "moved")
    assert provider.wait_applied(change, 0.0) == 0.0
    assert ask(pdns, name, "A") == {"198.51.100.10"}  # the PATCH purged the caches
