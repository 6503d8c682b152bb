"""The VoIP.ms adapter keeps the VoIP port's contract, against a local stand-in of the API.

Besides the contract: the requests on the wire carry the documented parameters
(``api_username``, ``api_password``, ``method``, ``did``, ``routing``) in a POST body, never in
the URL; VoIP.ms's status words become fatal or retryable errors that say what to do; and the
API password never reaches an error or a log, even when a server prints it back.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from arbiter.adapters.dns import Deps
from arbiter.adapters.voip import PROVIDER_TYPES
from arbiter.adapters.voip.voipms import VoipMs
from arbiter.core.config import VoipMsProvider
from arbiter.core.errors import ProviderError, ProviderRejected, RetryableError
from arbiter.core.runbook import VoipItem
from arbiter.local.standins.http import Seen
from arbiter.services.actor import _voip
from tests.contract.injected import Pauses, Secrets, not_leaked
from tests.contract.voip_contract import KEY, VoipContract, step_to
from tests.contract.voipms_standin import VoipMsStandIn

USERNAME = "ops@example.com"
PASSWORD = "vm-TEST-pa55word-9c1e"
SECRET_NAME = "arbiter/voipms-api-password"
PRIMARY = "account:100001_siteA"
SECONDARY = "account:100001_siteB"
DIDS = ["5551230001", "5551230002", "5551230003"]
ROUTE: dict[str, Any] = {
    "type": "voipms_did",
    "provider": "vm",
    "numbers": DIDS,
    "routing": {"primary": PRIMARY, "secondary": SECONDARY},
}
ABSENT = "5559990000"


def make(
    url: str,
    *,
    password: str = PASSWORD,
    timeout: float = 5.0,
    pauses: Pauses | None = None,
    secrets: Secrets | None = None,
) -> VoipMs:
    settings = VoipMsProvider(
        type="voipms",
        username=USERNAME,
        api_password_secret=SECRET_NAME,
        base_url=url,
        timeout=timeout,
    )
    return VoipMs(
        "vm",
        settings,
        secrets or Secrets(password),
        sleep=pauses if pauses is not None else Pauses(),
    )


@pytest.fixture
def standin() -> Iterator[VoipMsStandIn]:
    with VoipMsStandIn(USERNAME, PASSWORD, dict.fromkeys(DIDS, PRIMARY)) as vm:
        yield vm


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
def voipms(standin: VoipMsStandIn, pauses: Pauses) -> VoipMs:
    return make(standin.url, pauses=pauses)


def no_password_in(exc: BaseException, logged: str, *passwords: str) -> None:
    not_leaked(exc, logged, PASSWORD, *passwords)


# --- the contract -------------------------------------------------------------------------


class TestVoipMs(VoipContract):
    @pytest.fixture
    def provider(self, voipms: VoipMs) -> VoipMs:
        return voipms

    @pytest.fixture
    def route(self) -> dict[str, Any]:
        return ROUTE

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**ROUTE, "numbers": [*DIDS, ABSENT]}

    @pytest.fixture
    def bad_credentials(self, standin: VoipMsStandIn) -> tuple[VoipMs, str]:
        wrong = "vm-WRONG-pa55word-0000"
        return make(standin.url, password=wrong), wrong

    @pytest.fixture
    def throttle(self, standin: VoipMsStandIn) -> Callable[[int], None]:
        return standin.throttle


# --- the wire -----------------------------------------------------------------------------


def calls(standin: VoipMsStandIn, method: str) -> list[Seen]:
    return [r for r in standin.requests if r.form.get("method") == [method]]


def test_a_read_posts_the_documented_parameters_and_nothing_in_the_url(
    standin: VoipMsStandIn, voipms: VoipMs, logs: Callable[[], str]
) -> None:
    standin.recording = True
    one = {**ROUTE, "numbers": DIDS[:1]}
    assert voipms.read(step_to(one, "primary")) == {DIDS[0]: {"routing": PRIMARY}}
    (sent,) = standin.requests
    assert (sent.method, sent.path, sent.query) == ("POST", "/api/v1/rest.php", {})
    assert sent.header("Content-Type") == "application/x-www-form-urlencoded"
    assert sent.form == {
        "api_username": [USERNAME],
        "api_password": [PASSWORD],
        "method": ["getDIDsInfo"],
        "did": [DIDS[0]],
    }
    assert sent.header("Authorization") == ""
    assert PASSWORD not in logs()  # urllib3 logs the request line (the URL) at DEBUG


def test_apply_sets_the_routing_of_each_given_did(standin: VoipMsStandIn, voipms: VoipMs) -> None:
    secondary = step_to(ROUTE, "secondary")
    standin.recording = True
    voipms.apply(secondary, secondary.items[:2], KEY)
    assert [r.form for r in standin.requests] == [
        {
            "api_username": [USERNAME],
            "api_password": [PASSWORD],
            "method": ["setDIDRouting"],
            "did": [did],
            "routing": [SECONDARY],
        }
        for did in DIDS[:2]
    ]
    assert [standin.routing_of(d) for d in DIDS] == [SECONDARY, SECONDARY, PRIMARY]


def test_the_executor_changes_only_the_dids_that_differ(
    standin: VoipMsStandIn, voipms: VoipMs
) -> None:
    """Through the actor's VoIP executor: read, set what differs, read back."""
    secondary = step_to(ROUTE, "secondary")
    make(standin.url).apply(secondary, secondary.items[2:], KEY)
    standin.recording = True
    run = SimpleNamespace(
        rt=SimpleNamespace(voip={"vm": voipms}),
        service=SimpleNamespace(name="web"),
        transition=SimpleNamespace(id=7),
    )
    outcome = _voip(run, secondary)  # type: ignore[arg-type]
    sets = calls(standin, "setDIDRouting")
    assert [r.form["did"] for r in sets] == [[DIDS[0]], [DIDS[1]]]
    assert len(calls(standin, "getDIDsInfo")) == 2 * len(DIDS)  # read, then read back
    assert outcome.summary == "vm (voipms): 2 changed, 1 already right; read back"
    assert f"changed {DIDS[0]} routing={SECONDARY} (was routing={PRIMARY})" in outcome.lines
    assert [standin.routing_of(d) for d in DIDS] == [SECONDARY] * 3


def test_the_api_password_is_fetched_once_on_first_use(standin: VoipMsStandIn) -> None:
    secrets = Secrets(PASSWORD)
    provider = make(standin.url, secrets=secrets)
    assert secrets.asked == []
    step = step_to(ROUTE, "secondary")
    provider.read(step)
    provider.apply(step, step.items, KEY)
    assert secrets.asked == [SECRET_NAME]


# --- VoIP.ms's status words ---------------------------------------------------------------


def test_a_did_not_on_the_account_is_fatal_and_named(
    voipms: VoipMs, logs: Callable[[], str]
) -> None:
    step = step_to({**ROUTE, "numbers": [ABSENT]}, "secondary")
    with pytest.raises(ProviderRejected) as read:
        voipms.read(step)
    assert str(read.value) == (
        "vm (voipms): DID 5559990000 is not on this account (getDIDsInfo answered status "
        "'no_did': this account holds no such DID)"
    )
    with pytest.raises(ProviderRejected) as applied:
        voipms.apply(step, step.items, KEY)
    assert str(applied.value) == (
        "vm (voipms): DID 5559990000 is not on this account (setDIDRouting answered status "
        "'invalid_did': this is not a DID of this account)"
    )
    no_password_in(read.value, logs())
    no_password_in(applied.value, logs())


def test_a_success_that_does_not_list_the_did_is_fatal_and_named(
    standin: VoipMsStandIn, voipms: VoipMs
) -> None:
    standin.status(1, "success", note="no dids key at all")
    with pytest.raises(ProviderRejected) as caught:
        voipms.read(step_to({**ROUTE, "numbers": DIDS[:1]}, "primary"))
    assert str(caught.value) == (
        "vm (voipms): DID 5551230001 is not on this account (getDIDsInfo did not list it)"
    )


def test_wrong_credentials_are_fatal_and_say_which_secret(
    standin: VoipMsStandIn, logs: Callable[[], str]
) -> None:
    wrong = "vm-WRONG-pa55word-0000"
    with pytest.raises(ProviderRejected) as caught:
        make(standin.url, password=wrong).read(step_to(ROUTE, "primary"))
    assert str(caught.value) == (
        "vm (voipms) read DID 5551230001: status 'invalid_credentials': the username or the "
        "API password is incorrect (the API password is the one set on the portal's SOAP and "
        "REST/JSON API page, not the login password) (username ops@example.com, API password "
        "from secret 'arbiter/voipms-api-password')"
    )
    no_password_in(caught.value, logs(), wrong)


@pytest.mark.parametrize(
    ("knob", "said"),
    [
        ("ip_allowed", "status 'ip_not_enabled': the IP address arbiter calls from is not allowed"),
        ("api_enabled", "status 'api_not_enabled': the API is not enabled for this account"),
    ],
)
def test_an_api_closed_to_arbiter_is_fatal_and_says_what_to_do(
    standin: VoipMsStandIn, voipms: VoipMs, knob: str, said: str
) -> None:
    setattr(standin, knob, False)
    with pytest.raises(ProviderRejected) as caught:
        voipms.read(step_to(ROUTE, "primary"))
    assert str(caught.value).startswith(f"vm (voipms) read DID 5551230001: {said}")


def test_a_refused_routing_is_fatal_and_changes_nothing(
    standin: VoipMsStandIn, voipms: VoipMs
) -> None:
    gone = {**ROUTE, "routing": {"primary": PRIMARY, "secondary": "account:100001_gone"}}
    standin.refuse["account:100001_gone"] = "invalid_account"
    step = step_to(gone, "secondary")
    with pytest.raises(ProviderRejected) as caught:
        voipms.apply(step, step.items, KEY)
    assert str(caught.value) == (
        "vm (voipms) route DID 5551230001 to account:100001_gone: status 'invalid_account': "
        "no such (sub)account for an account: routing"
    )
    assert [standin.routing_of(d) for d in DIDS] == [PRIMARY] * 3


@pytest.mark.parametrize(
    ("code", "kind", "said"),
    [
        ("missing_credentials", ProviderRejected, "the username or the API password was not sent"),
        ("invalid_routing_header", ProviderRejected, "VoIP.ms does not take this routing type"),
        ("invalid_method", ProviderRejected, "VoIP.ms does not know this API method"),
        ("api_limit_exceeded", ProviderError, "the API's requests-per-minute limit is reached"),
        ("method_maintenance", ProviderError, "this API method is under maintenance"),
        ("unavailable_info", ProviderError, "the information is unavailable at the moment"),
        ("no_such_word_yet", ProviderRejected, "(a VoIP.ms error code arbiter does not know;"),
    ],
)
def test_status_words_map_to_fatal_or_retryable(
    standin: VoipMsStandIn, voipms: VoipMs, code: str, kind: type[Exception], said: str
) -> None:
    standin.status(1, code)
    with pytest.raises(kind) as caught:
        voipms.read(step_to(ROUTE, "primary"))
    assert str(caught.value).startswith(f"vm (voipms) read DID 5551230001: status {code!r}")
    assert said in str(caught.value)
    if kind is ProviderRejected:
        assert not isinstance(caught.value, RetryableError)


def test_words_voipms_adds_beside_the_status_are_shown_with_the_password_masked(
    standin: VoipMsStandIn, voipms: VoipMs
) -> None:
    standin.status(1, "no_such_word_yet", message=f"rejected for password {PASSWORD}")
    with pytest.raises(ProviderRejected) as caught:
        voipms.read(step_to(ROUTE, "primary"))
    assert str(caught.value).endswith("; VoIP.ms says: rejected for password ***")


# --- HTTP faults and secrets --------------------------------------------------------------


def test_a_page_that_prints_the_password_back_is_masked(
    standin: VoipMsStandIn, voipms: VoipMs, logs: Callable[[], str]
) -> None:
    standin.echo(10, status=500)
    with pytest.raises(RetryableError) as lasting:
        voipms.read(step_to(ROUTE, "primary"))
    assert "HTTP 500" in str(lasting.value)
    assert f"api_username={USERNAME}&api_password=***&method=getDIDsInfo" in str(lasting.value)
    standin.echo(1, status=400)
    with pytest.raises(ProviderRejected) as refused:
        voipms.read(step_to(ROUTE, "primary"))
    assert "HTTP 400" in str(refused.value) and "api_password=***" in str(refused.value)
    no_password_in(lasting.value, logs())
    no_password_in(refused.value, logs())


def test_429_waits_as_long_as_retry_after_says_then_succeeds(
    standin: VoipMsStandIn, voipms: VoipMs, pauses: Pauses
) -> None:
    standin.throttle(1, retry_after="3")
    step = step_to(ROUTE, "secondary")
    voipms.apply(step, step.items[:1], KEY)
    assert pauses == [3.0]
    assert standin.routing_of(DIDS[0]) == SECONDARY


def test_a_retry_after_past_the_deadline_is_retryable_and_says_how_long(
    standin: VoipMsStandIn, pauses: Pauses
) -> None:
    provider = make(standin.url, timeout=2.0, pauses=pauses)
    standin.throttle(1, retry_after="30")
    with pytest.raises(ProviderError) as caught:
        provider.read(step_to(ROUTE, "primary"))
    assert pauses == []
    assert getattr(caught.value, "retry_after", None) == 30.0
    assert "HTTP 429 (Retry-After 30 s)" in str(caught.value)


def test_5xx_is_retried_then_succeeds(
    standin: VoipMsStandIn, voipms: VoipMs, pauses: Pauses
) -> None:
    standin.fail(2, status=503)
    assert voipms.read(step_to({**ROUTE, "numbers": DIDS[:1]}, "primary")) == {
        DIDS[0]: {"routing": PRIMARY}
    }
    assert pauses == [0.5, 1.0]


def test_5xx_that_lasts_is_retryable(standin: VoipMsStandIn, voipms: VoipMs) -> None:
    standin.fail(10, status=502)
    with pytest.raises(RetryableError) as caught:
        voipms.read(step_to(ROUTE, "primary"))
    assert "vm (voipms) read DID 5551230001: HTTP 502" in str(caught.value)


def test_a_redirect_is_not_followed(standin: VoipMsStandIn, voipms: VoipMs) -> None:
    standin.recording = True
    standin.redirect(1, location=standin.url)
    with pytest.raises(ProviderRejected) as caught:
        voipms.read(step_to(ROUTE, "primary"))
    assert "HTTP 302 redirect, not followed" in str(caught.value)
    assert len(standin.requests) == 1  # the Location was never asked (nor the password sent)


def test_an_unreachable_api_is_retryable(logs: Callable[[], str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        provider = make(f"http://127.0.0.1:{holder.getsockname()[1]}/api/v1/rest.php")
        with pytest.raises(ProviderError) as caught:
            provider.read(step_to(ROUTE, "primary"))
    assert "vm (voipms) unreachable" in str(caught.value)
    no_password_in(caught.value, logs())


def test_a_base_url_that_is_not_the_api_is_fatal_and_says_so(standin: VoipMsStandIn) -> None:
    with pytest.raises(ProviderRejected) as wrong_path:
        make(standin.url + "/x").read(step_to(ROUTE, "primary"))
    assert "HTTP 404: <html><body><h1>404 Not Found</h1></body></html>" in str(wrong_path.value)
    standin.status(1, "")  # an answer whose status is no word at all still reads as one
    with pytest.raises(ProviderRejected, match="status ''"):
        make(standin.url).read(step_to(ROUTE, "primary"))


def test_an_answer_without_a_status_is_fatal_and_names_the_endpoint(
    standin: VoipMsStandIn,
) -> None:
    from arbiter.local.standins.http import as_json

    standin._set_faults([as_json(200, ["not", "an", "object"])])
    with pytest.raises(ProviderRejected) as caught:
        make(standin.url).read(step_to(ROUTE, "primary"))
    assert str(caught.value) == (
        "vm (voipms) read DID 5551230001: HTTP 200 without VoIP.ms's JSON status (is base_url "
        "the REST/JSON endpoint, such as https://voip.ms/api/v1/rest.php?)"
    )


def test_a_field_other_than_routing_is_refused_before_any_call(
    standin: VoipMsStandIn, voipms: VoipMs
) -> None:
    standin.recording = True
    with pytest.raises(ProviderRejected, match="cannot set target"):
        voipms.apply(
            step_to(ROUTE, "secondary"), [VoipItem(item=DIDS[0], fields={"target": "x"})], KEY
        )
    assert standin.requests == []


# --- the pieces ---------------------------------------------------------------------------


def test_the_registry_builds_it_lazily() -> None:
    secrets = Secrets(PASSWORD)
    settings = VoipMsProvider(type="voipms", username=USERNAME, api_password_secret=SECRET_NAME)
    built = PROVIDER_TYPES["voipms"]("vm", settings, Deps(aws=lambda _: None, secret=secrets))
    assert isinstance(built, VoipMs)
    assert built.label == "vm (voipms)"
    assert built.api.base_url == "https://voip.ms/api/v1/rest.php"
    assert secrets.asked == []


def test_the_standin_takes_the_documented_query_string_too(standin: VoipMsStandIn) -> None:
    params = {
        "api_username": USERNAME,
        "api_password": PASSWORD,
        "method": "getDIDsInfo",
        "did": DIDS[0],
    }
    got = requests.get(standin.url, params=params, timeout=5).json()
    assert got["status"] == "success"
    assert [(d["did"], d["routing"]) for d in got["dids"]] == [(DIDS[0], PRIMARY)]
    assert all(isinstance(v, str) for v in got["dids"][0].values())
    wrong = requests.get(standin.url, params={**params, "api_password": "x"}, timeout=5)
    assert (wrong.status_code, wrong.json()) == (200, {"status": "invalid_credentials"})
    bare = requests.get(standin.url, params={"method": "getDIDsInfo"}, timeout=5)
    assert bare.json() == {"status": "missing_credentials"}
