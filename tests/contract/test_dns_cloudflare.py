"""The Cloudflare adapter keeps the DNS port's contract, against a local stand-in of the API.

Besides the contract: each failure says what went wrong and never carries the token; and the
requests on the wire have the shapes Cloudflare documents (checked request by request).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from arbiter.adapters.dns import PROVIDER_TYPES, Deps
from arbiter.adapters.dns.cloudflare import Cloudflare, from_cloudflare, to_cloudflare
from arbiter.core.config import CloudflareProvider
from arbiter.core.errors import ProviderError, ProviderRejected, RetryableError
from arbiter.core.records import RecordType
from tests.contract.cloudflare_standin import CloudflareStandIn, Seen
from tests.contract.dns_contract import DnsContract, Throttle, rs
from tests.contract.injected import Pauses, Secrets, not_leaked

TOKEN = "cf-TEST-token-7f3a9c1e5b"
SECRET_NAME = "arbiter/cloudflare-api-token"
ZONE = "example.test."
ZONE_ID = "0123456789abcdef0123456789abcdef"
MISSING_ID = "fedcba9876543210fedcba9876543210"


def make(
    url: str,
    *,
    token: str = TOKEN,
    proxied: bool = False,
    timeout: float = 5.0,
    pauses: Pauses | None = None,
    secrets: Secrets | None = None,
) -> Cloudflare:
    settings = CloudflareProvider(
        type="cloudflare",
        token_secret=SECRET_NAME,
        base_url=url,
        timeout=timeout,
        proxied=proxied,
    )
    return Cloudflare(
        "cf", settings, secrets or Secrets(token), sleep=pauses if pauses is not None else Pauses()
    )


@pytest.fixture
def standin() -> Iterator[CloudflareStandIn]:
    with CloudflareStandIn(TOKEN, {"example.test": ZONE_ID}) as cf:
        yield cf


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
def cloudflare(standin: CloudflareStandIn, pauses: Pauses) -> Cloudflare:
    return make(standin.url, pauses=pauses)


# --- the contract -------------------------------------------------------------------------


class TestCloudflare(DnsContract):
    """The zone given by its id."""

    @pytest.fixture
    def provider(self, cloudflare: Cloudflare) -> Cloudflare:
        return cloudflare

    @pytest.fixture
    def zone(self) -> str:
        return ZONE_ID

    @pytest.fixture
    def zone_name(self) -> str:
        return ZONE

    @pytest.fixture
    def missing_zone(self) -> str:
        return MISSING_ID

    @pytest.fixture
    def throttle(self, standin: CloudflareStandIn) -> Throttle:
        return standin.throttle


class TestCloudflareZoneByName(TestCloudflare):
    """The zone given by its name, looked up once."""

    @pytest.fixture
    def zone(self) -> str:
        return "example.test"

    @pytest.fixture
    def missing_zone(self) -> str:
        return "nowhere.test"


# --- failures -----------------------------------------------------------------------------


def no_token_in(exc: BaseException, logged: str, *tokens: str) -> None:
    not_leaked(exc, logged, TOKEN, *tokens)


def test_bad_credentials_are_fatal_with_cloudflares_code(
    standin: CloudflareStandIn, logs: Callable[[], str]
) -> None:
    wrong = "wrong-token-0123456789"
    provider = make(standin.url, token=wrong)
    with pytest.raises(ProviderRejected) as caught:
        provider.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.1")], "x")
    assert "cf (cloudflare)" in str(caught.value)
    assert "HTTP 403" in str(caught.value) and "10000: Authentication error" in str(caught.value)
    no_token_in(caught.value, logs(), wrong)
    assert standin.records(ZONE_ID) == []


def test_a_token_quoted_back_by_the_provider_is_masked(
    standin: CloudflareStandIn, cloudflare: Cloudflare, logs: Callable[[], str]
) -> None:
    standin.quote_token(1)
    with pytest.raises(ProviderRejected) as caught:
        cloudflare.read(ZONE_ID, f"www.{ZONE}", "A")
    message = str(caught.value)
    assert "6003: Invalid request headers (6111: Invalid format for Authorization header" in message
    assert "***" in message
    no_token_in(caught.value, logs())


def test_the_token_is_fetched_once_on_first_use(standin: CloudflareStandIn) -> None:
    secrets = Secrets(TOKEN)
    provider = make(standin.url, secrets=secrets)
    assert secrets.asked == []
    provider.read(ZONE_ID, f"www.{ZONE}", "A")
    provider.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.1")], "x")
    assert secrets.asked == [SECRET_NAME]


def test_a_missing_zone_is_fatal_by_id_and_by_name(
    cloudflare: Cloudflare, logs: Callable[[], str]
) -> None:
    with pytest.raises(ProviderRejected) as by_id:
        cloudflare.read(MISSING_ID, f"www.{ZONE}", "A")
    assert "7003: Could not route to" in str(by_id.value)
    assert "perhaps your object identifier is invalid?" in str(by_id.value)
    with pytest.raises(ProviderRejected) as by_name:
        cloudflare.upsert("nowhere.test", [rs("nowhere.test.", "www", "A", "192.0.2.1")], "x")
    assert "no zone nowhere.test among the zones this API token can see" in str(by_name.value)
    assert "Zone → Zone → Read" in str(by_name.value)
    no_token_in(by_id.value, logs())
    no_token_in(by_name.value, logs())


def test_a_missing_record_reads_as_none(cloudflare: Cloudflare) -> None:
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.1")], "x")
    assert cloudflare.read(ZONE_ID, f"www.{ZONE}", "AAAA") is None
    assert cloudflare.read(ZONE_ID, f"other.{ZONE}", "A") is None


def test_429_waits_as_long_as_retry_after_says_then_succeeds(
    standin: CloudflareStandIn, cloudflare: Cloudflare, pauses: Pauses
) -> None:
    standin.throttle(1, retry_after="3")
    record = rs(ZONE, "www", "A", "192.0.2.1")
    change = cloudflare.upsert(ZONE_ID, [record], "x")
    assert pauses == [3.0]
    assert change.changed == [f"www.{ZONE} A"]
    assert record.same_as(cloudflare.read(ZONE_ID, record.name, "A"))


def test_a_retry_after_past_the_deadline_is_not_waited_for(
    standin: CloudflareStandIn, pauses: Pauses
) -> None:
    provider = make(standin.url, timeout=2.0, pauses=pauses)
    standin.throttle(1, retry_after="30")
    with pytest.raises(ProviderError) as caught:
        provider.read(ZONE_ID, f"www.{ZONE}", "A")
    assert pauses == []
    assert getattr(caught.value, "retry_after", None) == 30.0
    assert "HTTP 429 (Retry-After 30 s)" in str(caught.value)
    assert "971: Please wait and consider throttling your request speed" in str(caught.value)


def test_5xx_is_retried_then_succeeds(
    standin: CloudflareStandIn, cloudflare: Cloudflare, pauses: Pauses
) -> None:
    standin.fail(2, status=503)
    record = rs(ZONE, "www", "A", "192.0.2.1")
    cloudflare.upsert(ZONE_ID, [record], "x")
    assert pauses == [0.5, 1.0]
    assert record.same_as(cloudflare.read(ZONE_ID, record.name, "A"))


def test_5xx_that_lasts_is_retryable(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.fail(10, status=502)
    with pytest.raises(RetryableError) as caught:
        cloudflare.read(ZONE_ID, f"www.{ZONE}", "A")
    assert "HTTP 502" in str(caught.value) and "cf (cloudflare)" in str(caught.value)


def test_an_unreachable_server_is_retryable(logs: Callable[[], str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = holder.getsockname()[1]
        provider = make(f"http://127.0.0.1:{port}/client/v4")
        began = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            provider.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.1")], "x")
    assert time.monotonic() - began < 5.0
    assert "cf (cloudflare) unreachable" in str(caught.value)
    no_token_in(caught.value, logs())


def test_a_refused_change_is_fatal_with_its_code_and_changes_nothing(
    logs: Callable[[], str],
) -> None:
    with CloudflareStandIn(TOKEN, {"example.test": ZONE_ID}, min_ttl=60) as standin:
        provider = make(standin.url)  # a non-Enterprise zone: TTLs from 60 s
        good = rs(ZONE, "good", "A", "192.0.2.1", ttl=60)
        short = rs(ZONE, "short", "A", "192.0.2.2", ttl=30)
        with pytest.raises(ProviderRejected) as caught:
            provider.upsert(ZONE_ID, [good, short], "x")
        assert "HTTP 400" in str(caught.value)
        assert (
            "1004: DNS Validation Error (9021: TTL must be between 60 and 86400 seconds, or 1 "
            "for Automatic.)"
        ) in str(caught.value)
        assert standin.records(ZONE_ID) == []  # one batch: all of it or none
        no_token_in(caught.value, logs())


# --- the wire -----------------------------------------------------------------------------


def writes(standin: CloudflareStandIn) -> list[Seen]:
    return [r for r in standin.requests if r.method != "GET"]


def only_batch(standin: CloudflareStandIn) -> dict[str, Any]:
    (sent,) = writes(standin)
    assert (sent.method, sent.path) == ("POST", f"/client/v4/zones/{ZONE_ID}/dns_records/batch")
    assert sent.query == {}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert isinstance(sent.body, dict)
    return sent.body


def test_listing_asks_for_the_exact_name_and_type(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    standin.recording = True
    cloudflare.read(ZONE_ID, f"WWW.{ZONE}", "A")
    (sent,) = standin.requests
    assert (sent.method, sent.path) == ("GET", f"/client/v4/zones/{ZONE_ID}/dns_records")
    assert sent.query == {
        "name.exact": ["www.example.test"],
        "type": ["A"],
        "per_page": ["100"],
        "page": ["1"],
    }
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.body is None


def test_a_zone_name_is_looked_up_once(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.recording = True
    cloudflare.read("example.test.", f"www.{ZONE}", "A")
    cloudflare.read("example.test", f"www.{ZONE}", "AAAA")
    lookups = [r for r in standin.requests if r.path == "/client/v4/zones"]
    assert len(lookups) == 1
    assert lookups[0].query == {"name": ["example.test"], "per_page": ["50"]}
    assert all(r.path.startswith(f"/client/v4/zones/{ZONE_ID}/") for r in standin.requests[1:])


def test_creating_an_mx_set(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.recording = True
    record = rs(ZONE, "mail", "MX", f"10 mx1.{ZONE}", f"20 mx2.{ZONE}", ttl=300)
    cloudflare.upsert(ZONE_ID, [record], "failover to site B")
    assert only_batch(standin) == {
        "posts": [
            {
                "name": "mail.example.test",
                "type": "MX",
                "ttl": 300,
                "content": f"mx{n}.example.test",
                "priority": n * 10,
                "comment": "failover to site B",
            }
            for n in (1, 2)
        ]
    }
    assert record.same_as(cloudflare.read(ZONE_ID, record.name, "MX"))


def test_creating_a_txt_record(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.recording = True
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "txt", "TXT", 'v=spf1 -all "quoted"')], "x")
    assert only_batch(standin) == {
        "posts": [
            {
                "name": "txt.example.test",
                "type": "TXT",
                "ttl": 60,
                "content": '"v=spf1 -all \\"quoted\\""',
                "comment": "x",
            }
        ]
    }


def test_creating_an_srv_record(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.recording = True
    record = rs(ZONE, "_sip._udp", "SRV", f"10 5 5060 sip.{ZONE}", ttl=120)
    cloudflare.upsert(ZONE_ID, [record], "x")
    assert only_batch(standin) == {
        "posts": [
            {
                "name": "_sip._udp.example.test",
                "type": "SRV",
                "ttl": 120,
                "data": {"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.test"},
                "comment": "x",
            }
        ]
    }
    (stored,) = standin.records(ZONE_ID)
    assert (stored["content"], stored["priority"]) == ("5 5060 sip.example.test", 10)
    assert record.same_as(cloudflare.read(ZONE_ID, record.name, "SRV"))


def test_changing_one_address_of_a_round_robin_set_is_one_put(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    before = rs(ZONE, "rr", "A", "192.0.2.1", "192.0.2.2", "192.0.2.3")
    cloudflare.upsert(ZONE_ID, [before], "x")
    ids = {r["content"]: r["id"] for r in standin.records(ZONE_ID)}
    standin.recording = True
    after = rs(ZONE, "rr", "A", "192.0.2.1", "192.0.2.20", "192.0.2.3")
    change = cloudflare.upsert(ZONE_ID, [after], "move one")
    assert only_batch(standin) == {
        "puts": [
            {
                "id": ids["192.0.2.2"],
                "name": "rr.example.test",
                "type": "A",
                "ttl": 60,
                "content": "192.0.2.20",
                "proxied": False,
                "comment": "move one",
            }
        ]
    }
    assert change.changed == [f"rr.{ZONE} A"] and change.id == ids["192.0.2.2"]
    now = {r["content"]: r["id"] for r in standin.records(ZONE_ID)}
    assert now == {
        "192.0.2.1": ids["192.0.2.1"],
        "192.0.2.20": ids["192.0.2.2"],
        "192.0.2.3": ids["192.0.2.3"],
    }


def test_shrinking_a_set_deletes_only_the_extra_records(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "rr", "A", "192.0.2.1", "192.0.2.2", "192.0.2.3")], "x")
    ids = {r["content"]: r["id"] for r in standin.records(ZONE_ID)}
    standin.recording = True
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "rr", "A", "192.0.2.2")], "x")
    body = only_batch(standin)
    assert body.keys() == {"deletes"}
    assert sorted(d["id"] for d in body["deletes"]) == sorted([ids["192.0.2.1"], ids["192.0.2.3"]])
    assert [r["id"] for r in standin.records(ZONE_ID)] == [ids["192.0.2.2"]]


def test_a_record_with_the_right_value_but_another_ttl_is_overwritten_in_place(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    kept = standin.add_record(ZONE_ID, name="www", type="A", content="192.0.2.1", ttl=3600)
    standin.recording = True
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.1", ttl=60)], "x")
    assert only_batch(standin) == {
        "puts": [
            {
                "id": kept["id"],
                "name": "www.example.test",
                "type": "A",
                "ttl": 60,
                "content": "192.0.2.1",
                "proxied": False,
                "comment": "x",
            }
        ]
    }


def test_sets_of_one_upsert_go_in_one_batch_and_a_second_upsert_writes_nothing(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    records = [rs(ZONE, "a", "A", "192.0.2.1"), rs(ZONE, "b", "AAAA", "2001:db8::1")]
    standin.recording = True
    cloudflare.upsert(ZONE_ID, records, "x")
    assert [r["name"] for r in only_batch(standin)["posts"]] == ["a.example.test", "b.example.test"]
    standin.clear()
    change = cloudflare.upsert(ZONE_ID, records, "again")
    assert change.id is None and change.changed == []
    assert writes(standin) == [] and len(standin.requests) == 2  # one list per set


def test_a_redirect_is_not_followed(standin: CloudflareStandIn, cloudflare: Cloudflare) -> None:
    standin.recording = True
    standin.redirect(1, location=f"{standin.url}/zones/{ZONE_ID}/dns_records")
    with pytest.raises(ProviderRejected) as caught:
        cloudflare.read(ZONE_ID, f"www.{ZONE}", "A")
    assert "HTTP 302 redirect, not followed" in str(caught.value)
    assert len(standin.requests) == 1  # the Location was never asked


def test_proxied_is_sent_as_configured(standin: CloudflareStandIn) -> None:
    provider = make(standin.url, proxied=True)
    standin.recording = True
    www = rs(ZONE, "www", "A", "192.0.2.1")
    mail = rs(ZONE, "mail", "MX", f"10 mx.{ZONE}")
    provider.upsert(ZONE_ID, [www, mail], "x")
    a, mx = only_batch(standin)["posts"]
    assert (a["proxied"], a["ttl"]) == (True, 1)  # a proxied record's TTL is automatic
    assert "proxied" not in mx and mx["ttl"] == 60  # only A, AAAA and CNAME can be proxied
    standin.clear()
    assert provider.upsert(ZONE_ID, [www, mail], "x").changed == []
    assert writes(standin) == []
    got = provider.read(ZONE_ID, www.name, "A")
    assert got is not None and got.ttl == 300  # automatic, as Cloudflare serves it
    # The same records through a provider configured DNS-only: the proxy is turned off.
    standin.clear()
    assert make(standin.url).upsert(ZONE_ID, [www], "x").changed == [f"www.{ZONE} A"]
    (put,) = only_batch(standin)["puts"]
    assert (put["proxied"], put["ttl"]) == (False, 60)


# --- conversions and the stand-in's own checks --------------------------------------------


def test_cloudflare_values_convert_both_ways() -> None:
    assert to_cloudflare(RecordType.CNAME, "target.example.test.") == {
        "content": "target.example.test"
    }
    assert to_cloudflare(RecordType.MX, "0 .") == {"content": ".", "priority": 0}
    srv = {"content": "5 5060 sip.example.test", "priority": 10}
    assert from_cloudflare(RecordType.SRV, srv) == "10 5 5060 sip.example.test."
    assert from_cloudflare(RecordType.TXT, {"content": "v=spf1 -all"}) == '"v=spf1 -all"'
    assert from_cloudflare(RecordType.MX, {"content": "mx.example.test", "priority": 5}) == (
        "5 mx.example.test."
    )
    with pytest.raises(ValueError, match="is not a value arbiter reads"):
        from_cloudflare(RecordType.A, {"content": "not-an-address"})


def test_the_standin_validates_content_as_cloudflare_does(standin: CloudflareStandIn) -> None:
    url = f"{standin.url}/zones/{ZONE_ID}/dns_records"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad = requests.post(
        url, json={"type": "A", "name": "www", "content": "192.0.2.300"}, headers=auth, timeout=5
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "success": False,
        "errors": [{"code": 9005, "message": "Content for A record must be a valid IPv4 address."}],
        "messages": [],
        "result": None,
    }
    made = requests.post(
        url, json={"type": "A", "name": "www", "content": "192.0.2.3"}, headers=auth, timeout=5
    ).json()
    assert made["success"] is True and made["result"]["name"] == "www.example.test"
    assert made["result"]["ttl"] == 1 and made["result"]["proxied"] is False
    again = requests.post(
        url, json={"type": "A", "name": "www", "content": "192.0.2.3"}, headers=auth, timeout=5
    ).json()
    assert again["errors"] == [{"code": 81058, "message": "An identical record already exists."}]
    cname = requests.post(
        url, json={"type": "CNAME", "name": "www", "content": "x.test"}, headers=auth, timeout=5
    ).json()
    assert cname["errors"][0]["code"] == 81053
    none = requests.get(url, timeout=5)
    assert none.status_code == 400 and none.json()["errors"][0]["code"] == 6003


# --- guards -------------------------------------------------------------------------------


def test_only_records_of_the_exact_name_and_type_are_touched_on_every_page(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    for n in range(150):  # two pages of other records when the filter is not applied
        standin.add_record(ZONE_ID, name=f"host{n}", type="A", content=f"198.51.100.{n}")
    standin.add_record(ZONE_ID, name="www", type="TXT", content='"keep me"')
    kept = standin.add_record(ZONE_ID, name="www", type="A", content="192.0.2.9")
    standin.filters = False  # a server that ignores name.exact and type
    standin.recording = True
    assert cloudflare.read(ZONE_ID, f"www.{ZONE}", "A") == rs(
        ZONE, "www", "A", "192.0.2.9", ttl=300
    )
    assert [r.query["page"] for r in standin.requests] == [["1"], ["2"]]
    standin.clear()
    cloudflare.upsert(ZONE_ID, [rs(ZONE, "www", "A", "192.0.2.10")], "x")
    (put,) = only_batch(standin)["puts"]
    assert put["id"] == kept["id"]  # the www TXT and the 150 other records are left alone
    assert len(standin.records(ZONE_ID)) == 152


def test_an_answer_held_past_the_timeout_is_retryable(standin: CloudflareStandIn) -> None:
    provider = make(standin.url, timeout=0.5)
    standin.stall(1, seconds=10.0)
    began = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        provider.read(ZONE_ID, f"www.{ZONE}", "A")
    assert time.monotonic() - began < 2.0  # the call's total deadline, not the server's pace
    assert "no answer within 0.5 s" in str(caught.value)


def test_a_record_name_outside_the_zone_is_fatal(
    standin: CloudflareStandIn, cloudflare: Cloudflare
) -> None:
    with pytest.raises(ProviderRejected) as caught:
        cloudflare.upsert(ZONE_ID, [rs("example.com.", "www", "A", "192.0.2.1")], "x")
    assert "stored the record as www.example.com.example.test" in str(caught.value)
    assert "not inside zone example.test" in str(caught.value)


def test_the_registry_builds_the_adapter_from_its_config(standin: CloudflareStandIn) -> None:
    settings = CloudflareProvider(type="cloudflare", token_secret=SECRET_NAME, base_url=standin.url)
    secrets = Secrets(TOKEN)
    provider = PROVIDER_TYPES["cloudflare"](
        "edge", settings, Deps(aws=lambda _: None, secret=secrets)
    )
    assert isinstance(provider, Cloudflare) and provider.label == "edge (cloudflare)"
    assert provider.read(ZONE_ID, f"www.{ZONE}", "A") is None
    assert secrets.asked == [SECRET_NAME]
