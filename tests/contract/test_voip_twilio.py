"""The Twilio adapter keeps the VoIP port's contract, for phone numbers (by voice URL and by
trunk) and for a trunk's origination URLs, against a local stand-in of both APIs.

Besides the contract: the requests on the wire have the shapes Twilio documents (paths, form
parameter names, basic auth with the account SID or an API key), every page of a list is read,
each failure says what went wrong in Twilio's words and never carries the secret.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests

from arbiter.adapters.dns import Deps
from arbiter.adapters.voip import PROVIDER_TYPES
from arbiter.adapters.voip.twilio import MAX_PAGES, Twilio
from arbiter.core.config import TwilioProvider
from arbiter.core.errors import ProviderError, ProviderRejected, RetryableError
from arbiter.services.actor import _voip
from tests.contract.injected import Pauses, Secrets, not_leaked
from tests.contract.twilio_standin import STANDIN_INVALID, Seen, TwilioStandIn
from tests.contract.voip_contract import KEY, VoipContract, read_fields, step_to

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "tw-TEST-auth-token-5e1f0c7a"
KEY_SID = "SK" + "fedcba9876543210" * 2
KEY_SECRET = "tw-TEST-key-secret-9a8b7c6d"
SECRET_NAME = "arbiter/twilio-auth-token"
TRUNK_A = "TK" + "a" * 32
TRUNK_B = "TK" + "b" * 32
NUMBERS = ["+15551230001", "+15551230002", "+15551230003"]
PBX1, PBX2 = "https://pbx1.example.com/voice", "https://pbx2.example.com/voice"
BY_URL: dict[str, Any] = {
    "type": "twilio_number",
    "provider": "tw",
    "numbers": NUMBERS,
    "voice_url": {"primary": PBX1, "secondary": PBX2},
}
BY_TRUNK: dict[str, Any] = {
    "type": "twilio_number",
    "provider": "tw",
    "numbers": NUMBERS[:2],
    "trunk": {"primary": TRUNK_A, "secondary": TRUNK_B},
}
ORIGINATION = {
    "primary": ["sip:pbx1.example.com", "sip:pbx1b.example.com:5080"],
    "secondary": ["sip:pbx2.example.com"],
}
TRUNK_ROUTE: dict[str, Any] = {
    "type": "twilio_trunk",
    "provider": "tw",
    "trunk": TRUNK_A,
    "origination": ORIGINATION,
}


def make(
    standin: TwilioStandIn,
    *,
    secret: str = TOKEN,
    api_key_sid: str | None = None,
    timeout: float = 5.0,
    pauses: Pauses | None = None,
    secrets: Secrets | None = None,
    base_url: str | None = None,
) -> Twilio:
    settings = TwilioProvider(
        type="twilio",
        account_sid=ACCOUNT,
        auth_token_secret=SECRET_NAME,
        api_key_sid=api_key_sid,
        base_url=base_url or standin.url,
        trunking_base_url=standin.trunking_url,
        timeout=timeout,
    )
    return Twilio(
        "tw", settings, secrets or Secrets(secret), sleep=pauses if pauses is not None else Pauses()
    )


def populate(standin: TwilioStandIn, route: dict[str, Any]) -> None:
    """The account as ``route`` has it at the primary site, plus items no route names."""
    standin.add_trunk(TRUNK_A)
    standin.add_trunk(TRUNK_B)
    standin.add_number("+15559870000", voice_url="https://other.example.com/")
    standin.add_origination_url(TRUNK_A, "sip:other.example.com", priority=5)
    for item in step_to(route, "primary").items:
        if route["type"] == "twilio_trunk":
            priority = item.fields.get("priority", 30)
            standin.add_origination_url(
                TRUNK_A, item.item, enabled=bool(item.fields["enabled"]), priority=int(priority)
            )
        else:
            standin.add_number(item.item, **item.fields)


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(ACCOUNT, TOKEN, api_keys={KEY_SID: KEY_SECRET}) as tw:
        yield tw


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def no_secret_in(exc: BaseException, logged: str, *secrets: str) -> None:
    not_leaked(exc, logged, TOKEN, KEY_SECRET, basic(ACCOUNT, TOKEN).split()[1], *secrets)


# --- the contract -------------------------------------------------------------------------


class _TwilioContract(VoipContract):
    ROUTE: dict[str, Any]

    @pytest.fixture
    def route(self) -> dict[str, Any]:
        return self.ROUTE

    @pytest.fixture
    def provider(self, standin: TwilioStandIn, pauses: Pauses) -> Twilio:
        populate(standin, self.ROUTE)
        return make(standin, pauses=pauses)

    @pytest.fixture
    def bad_credentials(self, standin: TwilioStandIn) -> tuple[Twilio, str]:
        populate(standin, self.ROUTE)
        wrong = "wrong-auth-token-0123456789"
        return make(standin, secret=wrong), wrong

    @pytest.fixture
    def throttle(self, standin: TwilioStandIn) -> Callable[[int], None]:
        return standin.throttle


class TestTwilioNumbersByVoiceUrl(_TwilioContract):
    ROUTE = BY_URL

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**BY_URL, "numbers": [*NUMBERS, "+15559990000"]}


class TestTwilioNumbersByTrunk(_TwilioContract):
    ROUTE = BY_TRUNK

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**BY_TRUNK, "numbers": [*NUMBERS[:2], "+15559990000"]}


class TestTwilioTrunkOrigination(_TwilioContract):
    """``standby: disable``: the other site's URLs are disabled."""

    ROUTE = TRUNK_ROUTE

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        primary = [*ORIGINATION["primary"], "sip:pbx9.example.com"]
        return {**TRUNK_ROUTE, "origination": {**ORIGINATION, "primary": primary}}


class TestTwilioTrunkOriginationLower(TestTwilioTrunkOrigination):
    """``standby: lower``: the other site's URLs stay enabled at a lower priority."""

    ROUTE = {**TRUNK_ROUTE, "standby": "lower", "standby_priority": 20}


# --- the wire -----------------------------------------------------------------------------


def writes(standin: TwilioStandIn) -> list[Seen]:
    return [r for r in standin.requests if r.method == "POST"]


def test_a_number_is_found_by_its_e164_and_changed_with_voiceurl_and_voicemethod(
    standin: TwilioStandIn,
) -> None:
    populate(standin, BY_URL)
    twilio = make(standin)
    standin.recording = True
    step = step_to(BY_URL, "secondary")
    twilio.read(step)
    gets = [r for r in standin.requests if r.method == "GET"]
    assert [(r.server, r.path) for r in gets] == [
        ("api", f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json")
    ] * 3
    assert [r.query for r in gets] == [{"PhoneNumber": [n], "PageSize": ["50"]} for n in NUMBERS]
    assert all(r.headers["Authorization"] == basic(ACCOUNT, TOKEN) for r in gets)
    standin.clear()
    twilio.apply(step, step.items, KEY)
    sent = writes(standin)
    assert standin.requests == sent  # the read's SIDs were used: no lookup before the POSTs
    sids = [standin.number(n)["sid"] for n in NUMBERS]
    assert [r.path for r in sent] == [
        f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{s}.json" for s in sids
    ]
    for request in sent:
        assert request.server == "api"
        assert request.content_type == "application/x-www-form-urlencoded"
        assert request.query == {}
        assert request.form == {"VoiceUrl": [PBX2], "VoiceMethod": ["POST"]}
        assert request.headers["Authorization"] == basic(ACCOUNT, TOKEN)
        assert "I-Twilio-Idempotency-Token" not in request.headers
    assert standin.number(NUMBERS[0])["voice_url"] == PBX2
    assert standin.number("+15559870000")["voice_url"] == "https://other.example.com/"


def test_a_number_is_moved_to_a_trunk_with_trunksid_only(standin: TwilioStandIn) -> None:
    populate(standin, {**BY_TRUNK, "numbers": NUMBERS[:2]})
    standin.add_number(NUMBERS[2], voice_application_sid="AP" + "c" * 32)
    twilio = make(standin)
    standin.recording = True
    route = {**BY_TRUNK, "numbers": NUMBERS}
    step = step_to(route, "secondary")
    twilio.apply(step, step.items, KEY)
    assert [r.form for r in writes(standin)] == [{"TrunkSid": [TRUNK_B]}] * 3
    moved = standin.number(NUMBERS[2])
    assert (moved["trunk_sid"], moved["voice_application_sid"]) == (TRUNK_B, "")
    assert read_fields(twilio, step) == {n: {"trunk_sid": TRUNK_B} for n in NUMBERS}


def test_apply_without_a_read_looks_each_number_up_first(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    standin.recording = True
    step = step_to(BY_URL, "secondary")
    make(standin).apply(step, step.items[:1], KEY)
    assert [(r.method, r.query.get("PhoneNumber")) for r in standin.requests] == [
        ("GET", [NUMBERS[0]]),
        ("POST", None),
    ]


def test_origination_urls_are_listed_once_and_changed_with_enabled_and_priority(
    standin: TwilioStandIn,
) -> None:
    populate(standin, TRUNK_ROUTE)
    twilio = make(standin)
    standin.recording = True
    step = step_to(TRUNK_ROUTE, "secondary")
    # Only the fields the step sets: the standby URLs' priority is not asked for.
    assert read_fields(twilio, step) == {
        "sip:pbx2.example.com": {"enabled": False, "priority": 30},
        "sip:pbx1.example.com": {"enabled": True},
        "sip:pbx1b.example.com:5080": {"enabled": True},
    }
    (listing,) = standin.requests
    assert (listing.server, listing.method, listing.path) == (
        "trunking",
        "GET",
        f"/v1/Trunks/{TRUNK_A}/OriginationUrls",
    )
    assert listing.query == {"PageSize": ["50"]}
    assert listing.headers["Authorization"] == basic(ACCOUNT, TOKEN)
    standin.clear()
    twilio.apply(step, step.items, KEY)
    sent = writes(standin)
    assert standin.requests == sent
    ids = {url: standin.origination_url(TRUNK_A, url)["sid"] for url in [*ORIGINATION["primary"]]}
    ids["sip:pbx2.example.com"] = standin.origination_url(TRUNK_A, "sip:pbx2.example.com")["sid"]
    assert [(r.server, r.path, r.form) for r in sent] == [
        (
            "trunking",
            f"/v1/Trunks/{TRUNK_A}/OriginationUrls/{ids['sip:pbx2.example.com']}",
            {"Enabled": ["true"], "Priority": ["10"]},
        ),
        (
            "trunking",
            f"/v1/Trunks/{TRUNK_A}/OriginationUrls/{ids['sip:pbx1.example.com']}",
            {"Enabled": ["false"]},
        ),
        (
            "trunking",
            f"/v1/Trunks/{TRUNK_A}/OriginationUrls/{ids['sip:pbx1b.example.com:5080']}",
            {"Enabled": ["false"]},
        ),
    ]
    assert all(r.content_type == "application/x-www-form-urlencoded" for r in sent)
    other = standin.origination_url(TRUNK_A, "sip:other.example.com")
    assert (other["enabled"], other["priority"]) == (True, 5)


def test_standby_disable_keeps_the_priority_and_lower_keeps_it_enabled(
    standin: TwilioStandIn,
) -> None:
    populate(standin, TRUNK_ROUTE)
    twilio = make(standin)
    disable = step_to(TRUNK_ROUTE, "secondary")
    twilio.apply(disable, disable.items, KEY)
    old = standin.origination_url(TRUNK_A, "sip:pbx1.example.com")
    assert (old["enabled"], old["priority"]) == (False, 10)  # disabled, priority left alone
    lower_route = {**TRUNK_ROUTE, "standby": "lower", "standby_priority": 20}
    lower = step_to(lower_route, "secondary")
    standin.recording = True
    twilio.apply(lower, lower.items, KEY)
    assert [r.form for r in writes(standin)][1:] == [{"Enabled": ["true"], "Priority": ["20"]}] * 2
    old = standin.origination_url(TRUNK_A, "sip:pbx1.example.com")
    new = standin.origination_url(TRUNK_A, "sip:pbx2.example.com")
    assert (old["enabled"], old["priority"]) == (True, 20)
    assert (new["enabled"], new["priority"]) == (True, 10)  # Twilio tries the lowest first


def test_an_api_key_authenticates_with_its_sid_and_the_account_stays_in_the_path(
    standin: TwilioStandIn,
) -> None:
    populate(standin, BY_URL)
    twilio = make(standin, api_key_sid=KEY_SID, secret=KEY_SECRET)
    standin.recording = True
    step = step_to(BY_URL, "secondary")
    twilio.apply(step, step.items[:1], KEY)
    assert {r.headers["Authorization"] for r in standin.requests} == {basic(KEY_SID, KEY_SECRET)}
    assert all(r.path.startswith(f"/2010-04-01/Accounts/{ACCOUNT}/") for r in standin.requests)
    with pytest.raises(ProviderRejected) as caught:
        make(standin, api_key_sid=KEY_SID, secret=TOKEN).read(step)  # the token is not its secret
    assert "HTTP 401: 20003: Authenticate" in str(caught.value)


def test_every_page_of_numbers_is_read_following_next_page_uri(standin: TwilioStandIn) -> None:
    for n in range(7):
        standin.add_number(f"+1555000000{n}")
    standin.add_number(NUMBERS[0], voice_url=PBX1)
    standin.filters = False  # a server that ignores PhoneNumber: the adapter must check
    standin.page_size = 3
    standin.recording = True
    step = step_to({**BY_URL, "numbers": NUMBERS[:1]}, "primary")
    assert read_fields(make(standin), step) == {
        NUMBERS[0]: {"voice_url": PBX1, "voice_method": "POST"}
    }
    queries = [r.query for r in standin.requests]
    assert len(queries) == 3
    assert queries[0] == {"PhoneNumber": [NUMBERS[0]], "PageSize": ["50"]}
    assert [q["Page"] for q in queries[1:]] == [["1"], ["2"]]
    assert all(q["PageToken"][0].startswith("PA") for q in queries[1:])
    assert {r.path for r in standin.requests} == {
        f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
    }


def test_a_partial_match_of_the_filter_is_not_the_number(standin: TwilioStandIn) -> None:
    standin.add_number(NUMBERS[0] + "9", voice_url=PBX1)  # Twilio's filter matches it too
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to({**BY_URL, "numbers": NUMBERS[:1]}, "primary"))
    assert f"{NUMBERS[0]} is not a phone number of account {ACCOUNT}" in str(caught.value)


def test_paging_stops_after_max_pages(standin: TwilioStandIn) -> None:
    for n in range(MAX_PAGES + 1):
        standin.add_number(f"+1555100{n:04d}")
    standin.filters = False
    standin.page_size = 1
    standin.recording = True
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to({**BY_URL, "numbers": NUMBERS[:1]}, "primary"))
    assert f"more than {MAX_PAGES} pages" in str(caught.value)
    assert len(standin.requests) == MAX_PAGES


def test_every_page_of_origination_urls_is_read_following_meta_next_page_url(
    standin: TwilioStandIn,
) -> None:
    standin.add_trunk(TRUNK_A)
    for n in range(4):
        standin.add_origination_url(TRUNK_A, f"sip:spare{n}.example.com")
    populate(standin, TRUNK_ROUTE)
    standin.page_size = 2
    standin.recording = True
    twilio = make(standin)
    step = step_to(TRUNK_ROUTE, "secondary")
    assert set(read_fields(twilio, step)) == {*ORIGINATION["primary"], *ORIGINATION["secondary"]}
    assert [r.query.get("Page") for r in standin.requests] == [None, ["1"], ["2"], ["3"]]
    assert {r.path for r in standin.requests} == {f"/v1/Trunks/{TRUNK_A}/OriginationUrls"}


def test_only_items_that_differ_are_posted_by_the_voip_executor(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    twilio = make(standin)
    secondary = step_to(BY_URL, "secondary")
    twilio.apply(secondary, secondary.items[:1], KEY)  # the first number is already moved
    standin.recording = True
    run = SimpleNamespace(
        rt=SimpleNamespace(voip={"tw": twilio}),
        service=SimpleNamespace(name="web"),
        transition=SimpleNamespace(id=7),
    )
    outcome = _voip(cast(Any, run), secondary)
    posted = [r.path for r in writes(standin)]
    assert posted == [
        f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{standin.number(n)['sid']}.json"
        for n in NUMBERS[1:]
    ]
    assert outcome.summary == "tw (twilio): 2 changed, 1 already right; read back"
    standin.clear()
    again = _voip(cast(Any, run), secondary)
    assert writes(standin) == [] and again.summary == "tw (twilio): 0 changed, 3 already right"


def test_a_paging_link_is_followed_on_the_configured_host_only(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    path = f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
    elsewhere = f"https://attacker.invalid{path}?PhoneNumber=%2B15551230001&Page=1&PageToken=PAx"
    standin.answer(1, 200, {"incoming_phone_numbers": [], "next_page_uri": elsewhere})
    standin.recording = True
    twilio = make(standin)
    with pytest.raises(ProviderRejected):  # the stand-in does not know the token PAx
        twilio.read(step_to({**BY_URL, "numbers": NUMBERS[:1]}, "primary"))
    first, second = standin.requests
    assert (second.server, second.path) == ("api", path)  # the link's path, on our own base
    assert second.query == {"PhoneNumber": [NUMBERS[0]], "Page": ["1"], "PageToken": ["PAx"]}
    assert second.headers["Authorization"] == first.headers["Authorization"]


def test_a_paging_link_to_another_list_is_refused(standin: TwilioStandIn) -> None:
    populate(standin, TRUNK_ROUTE)
    other = f"{standin.trunking_url}/v1/Trunks/{TRUNK_B}/OriginationUrls?Page=1&PageToken=PAx"
    standin.answer(1, 200, {"origination_urls": [], "meta": {"next_page_url": other}})
    standin.recording = True
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(TRUNK_ROUTE, "primary"))
    assert f"leads to '/v1/Trunks/{TRUNK_B}/OriginationUrls', not to the same list" in str(
        caught.value
    )
    assert len(standin.requests) == 1


# --- failures -----------------------------------------------------------------------------


def test_bad_credentials_are_fatal_with_twilios_error_and_a_hint(
    standin: TwilioStandIn, logs: Callable[[], str]
) -> None:
    populate(standin, BY_URL)
    wrong = "wrong-auth-token-0123456789"
    with pytest.raises(ProviderRejected) as caught:
        make(standin, secret=wrong).read(step_to(BY_URL, "secondary"))
    message = str(caught.value)
    assert message.startswith(f"tw (twilio) find {NUMBERS[0]}: HTTP 401: 20003: Authenticate")
    assert "(https://www.twilio.com/docs/errors/20003)" in message
    assert "check account_sid, api_key_sid and the secret named by auth_token_secret" in message
    no_secret_in(caught.value, logs(), wrong, basic(ACCOUNT, wrong).split()[1])


def test_a_secret_quoted_back_by_twilio_is_masked(
    standin: TwilioStandIn, logs: Callable[[], str]
) -> None:
    populate(standin, BY_URL)
    standin.quote_secret(1)
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(BY_URL, "secondary"))
    assert f"HTTP 400: {STANDIN_INVALID}: Bad credential '***'" in str(caught.value)
    no_secret_in(caught.value, logs())


def test_the_secret_is_fetched_once_on_first_use(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    secrets = Secrets(TOKEN)
    twilio = make(standin, secrets=secrets)
    assert secrets.asked == []
    step = step_to(BY_URL, "secondary")
    twilio.read(step)
    twilio.apply(step, step.items, KEY)
    assert secrets.asked == [SECRET_NAME]


def test_missing_numbers_are_named_together(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    route = {**BY_URL, "numbers": [*NUMBERS, "+15559990000", "+15559990001"]}
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(route, "primary"))
    assert str(caught.value) == (
        f"tw (twilio): +15559990000, +15559990001 are not phone numbers of account {ACCOUNT}"
    )


def test_a_missing_origination_url_is_named_with_what_the_trunk_has(
    standin: TwilioStandIn,
) -> None:
    populate(standin, TRUNK_ROUTE)
    route = {**TRUNK_ROUTE, "origination": {**ORIGINATION, "secondary": ["sip:pbx9.example.com"]}}
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(route, "secondary"))
    assert str(caught.value).startswith(
        f"tw (twilio): sip:pbx9.example.com is not an origination URL of trunk {TRUNK_A} "
        "(it has: sip:other.example.com, sip:pbx1.example.com, sip:pbx1b.example.com:5080, "
    )


def test_an_unknown_trunk_is_fatal_with_twilios_20404(standin: TwilioStandIn) -> None:
    other = "TK" + "9" * 32
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to({**TRUNK_ROUTE, "trunk": other}, "primary"))
    assert str(caught.value) == (
        f"tw (twilio) list origination URLs of trunk {other}: HTTP 404: 20404: The requested "
        f"resource /Trunks/{other}/OriginationUrls was not found "
        "(https://www.twilio.com/docs/errors/20404)"
    )


def test_a_voice_url_route_on_a_number_on_a_trunk_is_refused_by_name(
    standin: TwilioStandIn,
) -> None:
    standin.add_trunk(TRUNK_A)
    standin.add_number(NUMBERS[0], voice_url=PBX1, trunk_sid=TRUNK_A)
    standin.recording = True
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to({**BY_URL, "numbers": NUMBERS[:1]}, "primary"))
    assert f"{NUMBERS[0]} is routed by its trunk {TRUNK_A}" in str(caught.value)
    assert "instead of its voice_url" in str(caught.value)
    assert writes(standin) == []


def test_a_url_twice_on_the_trunk_is_refused(standin: TwilioStandIn) -> None:
    populate(standin, TRUNK_ROUTE)
    standin.add_origination_url(TRUNK_A, "sip:pbx2.example.com", priority=40)
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(TRUNK_ROUTE, "secondary"))
    assert f"sip:pbx2.example.com is on trunk {TRUNK_A} 2 times" in str(caught.value)


def test_429_waits_as_long_as_retry_after_says_then_succeeds(
    standin: TwilioStandIn, pauses: Pauses
) -> None:
    populate(standin, BY_URL)
    standin.throttle(1, retry_after="3")
    step = step_to(BY_URL, "secondary")
    make(standin, pauses=pauses).apply(step, step.items, KEY)
    assert pauses == [3.0]
    assert standin.number(NUMBERS[0])["voice_url"] == PBX2


def test_lasting_429_is_retryable_with_twilios_code(standin: TwilioStandIn) -> None:
    populate(standin, TRUNK_ROUTE)
    standin.throttle(10, retry_after="1")
    with pytest.raises(ProviderError) as caught:
        make(standin).read(step_to(TRUNK_ROUTE, "primary"))
    assert getattr(caught.value, "retry_after", None) == 1.0
    assert "HTTP 429 (Retry-After 1 s): 20429: Too Many Requests" in str(caught.value)


def test_5xx_is_retried_then_succeeds(standin: TwilioStandIn, pauses: Pauses) -> None:
    populate(standin, BY_URL)
    standin.fail(2, status=503)
    step = step_to(BY_URL, "secondary")
    make(standin, pauses=pauses).apply(step, step.items[:1], KEY)
    assert pauses == [0.5, 1.0]
    assert standin.number(NUMBERS[0])["voice_url"] == PBX2


def test_5xx_that_lasts_is_retryable(
    standin: TwilioStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    populate(standin, BY_URL)
    standin.fail(10, status=500)
    with pytest.raises(RetryableError) as caught:
        make(standin, pauses=pauses).read(step_to(BY_URL, "primary"))
    assert "HTTP 500: 20500: Internal Server Error" in str(caught.value)
    assert len(pauses) == 2  # three attempts in all
    no_secret_in(caught.value, logs())


def test_an_unreachable_api_is_retryable(standin: TwilioStandIn, logs: Callable[[], str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = holder.getsockname()[1]
        twilio = make(standin, base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(ProviderError) as caught:
            twilio.read(step_to(BY_URL, "primary"))
    assert "tw (twilio) unreachable" in str(caught.value)
    no_secret_in(caught.value, logs())


def test_an_answer_held_past_the_timeout_is_retryable(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    standin.stall(1, seconds=10.0)
    with pytest.raises(ProviderError) as caught:
        make(standin, timeout=0.5).read(step_to(BY_URL, "primary"))
    assert "no answer within 0.5 s" in str(caught.value)


def test_a_redirect_is_not_followed(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    standin.recording = True
    standin.redirect(1, location=f"{standin.url}/2010-04-01/Accounts/{ACCOUNT}/x.json")
    with pytest.raises(ProviderRejected) as caught:
        make(standin).read(step_to(BY_URL, "primary"))
    assert "HTTP 307 redirect, not followed" in str(caught.value)
    assert len(standin.requests) == 1


def test_a_trunking_url_that_is_not_the_trunking_api_is_named(standin: TwilioStandIn) -> None:
    populate(standin, TRUNK_ROUTE)
    settings = TwilioProvider(
        type="twilio",
        account_sid=ACCOUNT,
        auth_token_secret=SECRET_NAME,
        base_url=standin.url,
        trunking_base_url=standin.url,  # the REST API's host by mistake
    )
    with pytest.raises(ProviderRejected) as caught:
        Twilio("tw", settings, Secrets(TOKEN)).read(step_to(TRUNK_ROUTE, "primary"))
    assert "20404: The requested resource /v1/Trunks/" in str(caught.value)


def test_a_route_of_another_provider_is_refused(standin: TwilioStandIn) -> None:
    route = {**BY_URL, "type": "telnyx_number", "connection_id": {"primary": "1", "secondary": "2"}}
    del route["voice_url"]
    with pytest.raises(ProviderRejected, match="a telnyx_number route cannot use a Twilio"):
        make(standin).read(step_to(route, "primary"))


def test_the_registry_builds_the_adapter_from_its_config(standin: TwilioStandIn) -> None:
    populate(standin, BY_URL)
    settings = TwilioProvider(
        type="twilio",
        account_sid=ACCOUNT,
        auth_token_secret=SECRET_NAME,
        base_url=standin.url,
        trunking_base_url=standin.trunking_url,
    )
    secrets = Secrets(TOKEN)
    provider = PROVIDER_TYPES["twilio"]("tw", settings, Deps(aws=lambda _: None, secret=secrets))
    assert isinstance(provider, Twilio) and provider.label == "tw (twilio)"
    step = step_to(BY_URL, "primary")
    assert read_fields(provider, step) == {
        n: {"voice_url": PBX1, "voice_method": "POST"} for n in NUMBERS
    }
    assert secrets.asked == [SECRET_NAME]


# --- the stand-in's own checks ------------------------------------------------------------


def test_the_standin_answers_as_twilio_documents(standin: TwilioStandIn) -> None:
    record = standin.add_number(NUMBERS[0], voice_url=PBX1)
    auth = (ACCOUNT, TOKEN)
    numbers = f"{standin.url}/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers"
    one = f"{numbers}/{record['sid']}.json"
    denied = requests.get(f"{numbers}.json", auth=(ACCOUNT, "nope"), timeout=5)
    assert denied.status_code == 401
    assert denied.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    listed = requests.get(
        f"{numbers}.json", params={"PhoneNumber": "+1555*230001"}, auth=auth, timeout=5
    ).json()
    assert [r["sid"] for r in listed["incoming_phone_numbers"]] == [record["sid"]]
    assert {
        "uri",
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "page",
        "page_size",
        "start",
        "end",
    } <= listed.keys()
    misspelt = requests.post(one, data={"VoiceURL": PBX2}, auth=auth, timeout=5)
    assert misspelt.status_code == 400 and misspelt.json()["code"] == 20001
    method = requests.post(one, data={"VoiceMethod": "PUT"}, auth=auth, timeout=5)
    assert method.status_code == 400 and method.json()["code"] == 21403
    url = requests.post(one, data={"VoiceUrl": "ftp://x"}, auth=auth, timeout=5)
    assert url.status_code == 400 and url.json()["code"] == 21502
    as_json = requests.post(one, json={"VoiceUrl": PBX2}, auth=auth, timeout=5)
    assert as_json.status_code == 400
    gone = requests.get(f"{numbers}/PN{'0' * 32}.json", auth=auth, timeout=5)
    assert gone.status_code == 404 and gone.json()["code"] == 20404
    assert standin.number(NUMBERS[0])["voice_url"] == PBX1  # nothing refused was applied
    urls = f"{standin.trunking_url}/v1/Trunks/{standin.add_trunk()}/OriginationUrls"
    listing = requests.get(urls, auth=auth, timeout=5).json()
    assert listing["meta"]["key"] == "origination_urls" and listing["origination_urls"] == []
    wrong_host = requests.get(
        f"{standin.trunking_url}/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json",
        auth=auth,
        timeout=5,
    )
    assert wrong_host.status_code == 404
