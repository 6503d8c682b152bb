"""The Telnyx adapter keeps the VoIP port's contract, against a local stand-in of the API v2.

Besides the contract: the requests on the wire have the shapes Telnyx documents (the
``filter[phone_number]`` lookup, the PATCH body, the Bearer key); each failure renders
Telnyx's ``errors`` and never carries the key; throttling and 5xx are retried as Telnyx asks.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from arbiter.adapters.dns import Deps
from arbiter.adapters.http import Answer
from arbiter.adapters.voip import PROVIDER_TYPES
from arbiter.adapters.voip.telnyx import Telnyx, describe
from arbiter.core.config import TelnyxProvider
from arbiter.core.errors import ProviderError, ProviderRejected, RetryableError
from arbiter.local.standins.http import Seen
from arbiter.local.standins.telnyx import TelnyxStandIn
from arbiter.services.actor import _voip
from tests.contract.injected import Pauses, Secrets, not_leaked
from tests.contract.voip_contract import KEY, VoipContract, step_to

API_KEY = "KEY0199TEST5b1e9c_telnyx7Fq2"
SECRET_NAME = "arbiter/telnyx-api-key"
PRIMARY = "1684641123236054244"
SECONDARY = "1684641123236054255"
NUMBERS = ["+15551230001", "+15551230002", "+15551230003"]
ROUTE: dict[str, Any] = {
    "type": "telnyx_number",
    "provider": "tx",
    "numbers": NUMBERS,
    "connection_id": {"primary": PRIMARY, "secondary": SECONDARY},
}
ABSENT = "+15559990000"


def make(
    url: str,
    *,
    key: str = API_KEY,
    timeout: float = 5.0,
    pauses: Pauses | None = None,
    secrets: Secrets | None = None,
) -> Telnyx:
    settings = TelnyxProvider(
        type="telnyx", api_key_secret=SECRET_NAME, base_url=url, timeout=timeout
    )
    return Telnyx(
        "tx", settings, secrets or Secrets(key), sleep=pauses if pauses is not None else Pauses()
    )


@pytest.fixture
def standin() -> Iterator[TelnyxStandIn]:
    numbers = dict.fromkeys(NUMBERS, PRIMARY)
    with TelnyxStandIn(API_KEY, numbers, connections={PRIMARY, SECONDARY}) as tx:
        yield tx


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
def telnyx(standin: TelnyxStandIn, pauses: Pauses) -> Telnyx:
    return make(standin.url, pauses=pauses)


def no_key_in(exc: BaseException, logged: str, *keys: str) -> None:
    not_leaked(exc, logged, API_KEY, *keys)


# --- the contract -------------------------------------------------------------------------


class TestTelnyx(VoipContract):
    @pytest.fixture
    def provider(self, telnyx: Telnyx) -> Telnyx:
        return telnyx

    @pytest.fixture
    def route(self) -> dict[str, Any]:
        return ROUTE

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**ROUTE, "numbers": [*NUMBERS, ABSENT]}

    @pytest.fixture
    def bad_credentials(self, standin: TelnyxStandIn) -> tuple[Telnyx, str]:
        wrong = "KEY0199WRONG_0123456789abcdef"
        return make(standin.url, key=wrong), wrong

    @pytest.fixture
    def throttle(self, standin: TelnyxStandIn) -> Callable[[int], None]:
        return standin.throttle


# --- the wire -----------------------------------------------------------------------------


def patches(standin: TelnyxStandIn) -> list[Seen]:
    return [r for r in standin.requests if r.method == "PATCH"]


def test_a_number_is_found_by_its_digits_with_the_documented_filter(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    standin.recording = True
    one = {**ROUTE, "numbers": NUMBERS[:1]}
    assert telnyx.read(step_to(one, "primary")) == {NUMBERS[0]: {"connection_id": PRIMARY}}
    (sent,) = standin.requests
    assert (sent.method, sent.path) == ("GET", "/v2/phone_numbers")
    # Telnyx: "Non-numerical characters will result in no values being returned" — no "+".
    assert sent.query == {
        "filter[phone_number]": ["15551230001"],
        "page[number]": ["1"],
        "page[size]": ["100"],
    }
    assert sent.header("Authorization") == f"Bearer {API_KEY}"
    assert sent.header("Accept") == "application/json"
    assert sent.raw == b""


def test_the_exact_number_is_picked_among_the_filters_partial_matches(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    longer = NUMBERS[0] + "7"  # contains the digits of NUMBERS[0]
    standin.add_number(longer, "999")
    both = {**ROUTE, "numbers": [NUMBERS[0], longer]}
    assert telnyx.read(step_to(both, "primary")) == {
        NUMBERS[0]: {"connection_id": PRIMARY},
        longer: {"connection_id": "999"},
    }


def test_a_number_beyond_the_first_page_is_found(standin: TelnyxStandIn, telnyx: Telnyx) -> None:
    for n in range(150):  # all of them contain the digits 15551230001
        standin.add_number(f"+4{n:03d}15551230001", "777")
    standin.recording = True
    one = {**ROUTE, "numbers": NUMBERS[:1]}
    assert telnyx.read(step_to(one, "primary")) == {NUMBERS[0]: {"connection_id": PRIMARY}}
    assert [r.query["page[number]"] for r in standin.requests] == [["1"], ["2"]]


def test_apply_patches_only_the_connection_of_each_given_number(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    secondary = step_to(ROUTE, "secondary")
    ids = {n: standin.number(n)["id"] for n in NUMBERS}
    standin.recording = True
    telnyx.apply(secondary, secondary.items[:2], KEY)
    sent = patches(standin)
    assert [(r.path, r.json) for r in sent] == [
        (f"/v2/phone_numbers/{ids[n]}", {"connection_id": SECONDARY}) for n in NUMBERS[:2]
    ]
    assert all(r.header("Content-Type") == "application/json" for r in sent)
    assert all(r.header("Authorization") == f"Bearer {API_KEY}" for r in sent)
    assert [standin.connection_of(n) for n in NUMBERS] == [SECONDARY, SECONDARY, PRIMARY]


def test_a_number_read_before_is_patched_without_a_second_lookup(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    secondary = step_to(ROUTE, "secondary")
    telnyx.read(secondary)
    standin.recording = True
    telnyx.apply(secondary, secondary.items, KEY)
    assert [r.method for r in standin.requests] == ["PATCH"] * len(NUMBERS)


def test_the_executor_changes_only_the_numbers_that_differ(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    """Through the actor's VoIP executor: read, patch what differs, read back."""
    done = make(standin.url)
    done.apply(step_to(ROUTE, "secondary"), step_to(ROUTE, "secondary").items[1:2], KEY)
    standin.recording = True
    run = SimpleNamespace(
        rt=SimpleNamespace(voip={"tx": telnyx}),
        service=SimpleNamespace(name="web"),
        transition=SimpleNamespace(id=7),
    )
    outcome = _voip(run, step_to(ROUTE, "secondary"))  # type: ignore[arg-type]
    assert [r.json for r in patches(standin)] == [{"connection_id": SECONDARY}] * 2
    assert outcome.summary == "tx (telnyx): 2 changed, 1 already right; read back"
    assert f"already {NUMBERS[1]} connection_id={SECONDARY}" in outcome.lines
    assert [standin.connection_of(n) for n in NUMBERS] == [SECONDARY] * 3


# --- failures -----------------------------------------------------------------------------


def test_a_number_not_on_the_account_is_fatal_and_named(
    telnyx: Telnyx, logs: Callable[[], str]
) -> None:
    step = step_to({**ROUTE, "numbers": [ABSENT]}, "secondary")
    with pytest.raises(ProviderRejected) as caught:
        telnyx.read(step)
    assert str(caught.value) == (
        "tx (telnyx): +15559990000 is not on this account (no phone number +15559990000 "
        "among those filter[phone_number]=15559990000 lists)"
    )
    with pytest.raises(ProviderRejected, match=r"\+15559990000 is not on this account"):
        telnyx.apply(step, step.items, KEY)
    no_key_in(caught.value, logs())


def test_a_wrong_key_is_fatal_with_telnyxs_error_rendered(
    standin: TelnyxStandIn, logs: Callable[[], str]
) -> None:
    wrong = "KEY0199WRONG_0123456789abcdef"
    with pytest.raises(ProviderRejected) as caught:
        make(standin.url, key=wrong).read(step_to(ROUTE, "primary"))
    assert str(caught.value) == (
        "tx (telnyx) find +15551230001: HTTP 401: 10009 Authentication failed: The required "
        "authentication headers were either invalid or not included in the request. (check "
        "the API key in secret 'arbiter/telnyx-api-key')"
    )
    no_key_in(caught.value, logs(), wrong)


def test_a_key_quoted_back_by_the_provider_is_masked(
    standin: TelnyxStandIn, telnyx: Telnyx, logs: Callable[[], str]
) -> None:
    standin.quote_key(1)
    with pytest.raises(ProviderRejected) as caught:
        telnyx.read(step_to(ROUTE, "primary"))
    assert "10009 Authentication failed: API key '***' is not valid." in str(caught.value)
    no_key_in(caught.value, logs())


def test_the_key_is_fetched_once_on_first_use(standin: TelnyxStandIn) -> None:
    secrets = Secrets(API_KEY)
    provider = make(standin.url, secrets=secrets)
    assert secrets.asked == []
    step = step_to(ROUTE, "secondary")
    provider.read(step)
    provider.apply(step, step.items, KEY)
    assert secrets.asked == [SECRET_NAME]


def test_a_refused_connection_is_fatal_with_the_field_pointed_at(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    unknown = {**ROUTE, "connection_id": {"primary": PRIMARY, "secondary": "4242"}}
    step = step_to(unknown, "secondary")
    with pytest.raises(ProviderRejected) as caught:
        telnyx.apply(step, step.items, KEY)
    assert str(caught.value) == (
        "tx (telnyx) route +15551230001 to connection 4242: HTTP 422: 10013 Missing "
        "association: One of the associated fields does not exist. (at /connection_id)"
    )
    assert standin.connection_of(NUMBERS[0]) == PRIMARY


def test_a_field_other_than_connection_id_is_refused_before_any_call(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    from arbiter.core.runbook import VoipItem

    step = step_to(ROUTE, "secondary")
    standin.recording = True
    with pytest.raises(ProviderRejected, match="cannot set voice_url"):
        telnyx.apply(step, [VoipItem(item=NUMBERS[0], fields={"voice_url": "x"})], KEY)
    assert standin.requests == []


def test_429_waits_for_retry_after_when_given(
    standin: TelnyxStandIn, telnyx: Telnyx, pauses: Pauses
) -> None:
    standin.throttle(1, reset="7", retry_after="3")
    telnyx.read(step_to(ROUTE, "primary"))
    assert pauses == [3.0]


def test_429_waits_for_telnyxs_x_ratelimit_reset(
    standin: TelnyxStandIn, telnyx: Telnyx, pauses: Pauses
) -> None:
    standin.throttle(2, reset="4")
    step = step_to(ROUTE, "secondary")
    telnyx.apply(step, step.items[:1], KEY)
    assert pauses == [4.0, 4.0]
    assert standin.connection_of(NUMBERS[0]) == SECONDARY


def test_an_x_ratelimit_reset_that_is_no_wait_in_seconds_is_ignored(
    standin: TelnyxStandIn, telnyx: Telnyx, pauses: Pauses
) -> None:
    standin.throttle(1, reset="1767225600")  # an epoch time, not seconds to wait
    telnyx.read(step_to(ROUTE, "primary"))
    assert pauses == [0.5]  # HttpApi's own backoff


def test_a_reset_past_the_deadline_is_retryable_and_says_how_long(
    standin: TelnyxStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    provider = make(standin.url, timeout=2.0, pauses=pauses)
    standin.throttle(1, reset="30")
    with pytest.raises(ProviderError) as caught:
        provider.read(step_to(ROUTE, "primary"))
    assert pauses == []
    assert getattr(caught.value, "retry_after", None) == 30.0
    assert str(caught.value) == (
        "tx (telnyx) find +15551230001: HTTP 429 (asked to wait 30 s): 10011 Too many "
        "requests: You have exceeded the maximum number of allowed requests."
    )
    no_key_in(caught.value, logs())


def test_5xx_is_retried_then_succeeds(
    standin: TelnyxStandIn, telnyx: Telnyx, pauses: Pauses
) -> None:
    standin.fail(2, status=503)
    step = step_to(ROUTE, "secondary")
    telnyx.apply(step, step.items[:1], KEY)
    assert pauses == [0.5, 1.0]
    assert standin.connection_of(NUMBERS[0]) == SECONDARY


def test_5xx_that_lasts_is_retryable_with_telnyxs_words(
    standin: TelnyxStandIn, telnyx: Telnyx
) -> None:
    standin.fail_json(10, status=500)
    with pytest.raises(RetryableError) as caught:
        telnyx.read(step_to(ROUTE, "primary"))
    assert str(caught.value) == (
        "tx (telnyx) find +15551230001: HTTP 500: 10007 Unexpected error: An unexpected error "
        "occured."
    )


def test_a_redirect_is_not_followed(standin: TelnyxStandIn, telnyx: Telnyx) -> None:
    standin.recording = True
    standin.redirect(1, location=f"{standin.url}/phone_numbers")
    with pytest.raises(ProviderRejected) as caught:
        telnyx.read(step_to(ROUTE, "primary"))
    assert "HTTP 302 redirect, not followed" in str(caught.value)
    assert len(standin.requests) == 1  # the Location was never asked


def test_an_unreachable_api_is_retryable(logs: Callable[[], str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        provider = make(f"http://127.0.0.1:{holder.getsockname()[1]}/v2")
        with pytest.raises(ProviderError) as caught:
            provider.read(step_to(ROUTE, "primary"))
    assert "tx (telnyx) unreachable" in str(caught.value)
    no_key_in(caught.value, logs())


def test_a_base_url_that_is_not_the_api_is_fatal_and_says_so(standin: TelnyxStandIn) -> None:
    provider = make(standin.url.removesuffix("/v2") + "/v1")
    with pytest.raises(ProviderRejected) as caught:
        provider.read(step_to(ROUTE, "primary"))
    assert "HTTP 404: 10005 Resource not found" in str(caught.value)


# --- the pieces ---------------------------------------------------------------------------


def test_describe_renders_every_error_with_its_pointer() -> None:
    body = {
        "errors": [
            {"code": "10015", "title": "Bad Request", "detail": "tags must be a list."},
            {
                "code": "10013",
                "title": "Missing association",
                "detail": "One of the associated fields does not exist.",
                "source": {"pointer": "/connection_id"},
            },
        ]
    }
    assert describe(Answer(422, body, {})) == (
        "10015 Bad Request: tags must be a list.; 10013 Missing association: One of the "
        "associated fields does not exist. (at /connection_id)"
    )
    assert describe(Answer(502, "<html>\n<h1>Bad   gateway</h1></html>", {})) == (
        "<html> <h1>Bad gateway</h1></html>"
    )
    assert describe(Answer(500, None, {})) == ""


def test_the_registry_builds_it_lazily() -> None:
    secrets = Secrets(API_KEY)
    settings = TelnyxProvider(type="telnyx", api_key_secret=SECRET_NAME)
    built = PROVIDER_TYPES["telnyx"]("tx", settings, Deps(aws=lambda _: None, secret=secrets))
    assert isinstance(built, Telnyx)
    assert built.label == "tx (telnyx)"
    assert built.api.base_url == "https://api.telnyx.com/v2"
    assert secrets.asked == []


def test_the_standin_lists_nothing_for_a_plus_sign_as_documented(standin: TelnyxStandIn) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{standin.url}/phone_numbers"
    plus = requests.get(url, params={"filter[phone_number]": NUMBERS[0]}, headers=auth, timeout=5)
    assert plus.status_code == 200 and plus.json()["data"] == []
    digits = requests.get(
        url, params={"filter[phone_number]": NUMBERS[0][1:]}, headers=auth, timeout=5
    ).json()
    assert [r["phone_number"] for r in digits["data"]] == NUMBERS[:1]
    assert digits["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 1,
        "total_results": 1,
    }
