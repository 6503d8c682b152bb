"""Fences and hooks as signed webhooks (``WebhookActions``) against endpoints on 127.0.0.1.

The runner's clock and sleep are fake (``FakeTime``): polls and Retry-After waits take no real
time, while each HTTP call is real."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from arbiter.adapters.actions import (
    ActionCall,
    ActionDone,
    ActionRefused,
    Actions,
    ActionTimedOut,
)
from arbiter.adapters.actions.webhook import WebhookActions
from arbiter.adapters.hooks import encode
from arbiter.core.config import SiteName, WebhookFence, WebhookHook
from tests.integration.endpoint import Answer, Endpoint, FakeTime, signature
from tests.integration.servers import refused_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(60),
]
KEY = b"fence-signing-key-0123456789"
CALL = ActionCall(
    phase="fence",
    service="web",
    transition=12,
    from_site=SiteName.PRIMARY,
    to_site=SiteName.SECONDARY,
    site=SiteName.PRIMARY,
    step="fence:primary",
    reason="primary down in 3 of 3 regions",
)
PENDING = Answer(200, {"ok": True, "status": "pending", "detail": "draining"})
DONE = Answer(200, {"ok": True, "status": "done", "detail": "stopped app.service"})


@pytest.fixture
def site() -> Iterator[Endpoint]:
    with Endpoint(KEY) as endpoint:
        yield endpoint


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def fence(url: str, **fields: Any) -> WebhookFence:
    return WebhookFence.model_validate(
        {"type": "webhook", "url": url, "secret": "arbiter/fence", **fields}
    )


def runner(fake: FakeTime, key: bytes = KEY) -> WebhookActions:
    asked: list[str] = []

    def secret(name: str) -> bytes:
        asked.append(name)
        return key

    return WebhookActions(secret, sleep=fake.sleep, clock=fake.clock, wall=fake.wall)


def run(
    fake: FakeTime,
    action: WebhookFence,
    timeout: float = 60.0,
    call: ActionCall = CALL,
    deadline: float | None = None,
) -> ActionDone:
    until = fake.now + 900 if deadline is None else deadline
    return runner(fake).run(action, call, timeout, until)


def test_a_confirmation_is_done_at_the_first_call(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(200, {**DONE.body, "lines": ["unit stopped", "no sessions left"]}))
    done = run(fake, fence(site.url))
    assert done.detail == "stopped app.service"
    assert done.lines == ["unit stopped", "no sessions left"]
    assert len(site.requests) == 1 and fake.slept == []


def test_the_call_is_signed_as_documented(site: Endpoint, fake: FakeTime) -> None:
    run(fake, fence(site.url))
    (request,) = site.requests
    headers = request.headers
    assert request.signed
    assert headers["X-Arbiter-Signature"] == signature(
        KEY, headers["X-Arbiter-Timestamp"], request.body
    )
    assert request.body == encode(CALL.payload())
    assert request.json["transition"] == 12 and request.json["dry_run"] is False
    assert headers["X-Arbiter-Idempotency-Key"] == "web/12/fence:primary"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "arbiter/0.1.0"
    assert headers["X-Arbiter-Timestamp"].isdigit()


def test_pending_is_polled_with_the_same_key_until_done(site: Endpoint, fake: FakeTime) -> None:
    site.answer(PENDING, PENDING, DONE)
    done = run(fake, fence(site.url))
    assert done.detail == "stopped app.service"
    assert done.seconds == pytest.approx(4.0)
    assert fake.slept == [2.0, 2.0]
    keys = {r.headers["X-Arbiter-Idempotency-Key"] for r in site.requests}
    assert keys == {"web/12/fence:primary"}
    assert len({r.headers["X-Arbiter-Signature"] for r in site.requests}) == 3
    stamps = [int(r.headers["X-Arbiter-Timestamp"]) for r in site.requests]
    assert stamps == sorted(set(stamps))  # each later: the receiver refuses a replay
    assert all(r.signed for r in site.requests)


def test_pending_until_the_timeout_is_a_timeout_with_the_last_answer(
    site: Endpoint, fake: FakeTime
) -> None:
    site.answer(PENDING)
    with pytest.raises(ActionTimedOut) as caught:
        run(fake, fence(site.url), timeout=10)
    message = str(caught.value)
    assert "no confirmation within 10 s" in message
    assert message.endswith("last: pending: draining")
    assert 4 <= len(site.requests) <= 6
    assert fake.now - 1000.0 <= 10


def test_the_runbook_deadline_ends_the_wait_before_the_timeout(
    site: Endpoint, fake: FakeTime
) -> None:
    site.answer(PENDING)
    with pytest.raises(ActionTimedOut):
        run(fake, fence(site.url), timeout=600, deadline=fake.now + 5)
    assert len(site.requests) <= 3


def test_a_failed_status_is_refused_at_once(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(200, {"ok": False, "status": "failed", "detail": "3 sessions", "exit": 2}))
    with pytest.raises(ActionRefused) as caught:
        run(fake, fence(site.url))
    port = site.url.split(":")[2].split("/")[0]
    assert str(caught.value) == f"webhook at 127.0.0.1:{port} answered failed: 3 sessions (exit 2)"
    assert len(site.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_4xx_is_refused_at_once_with_its_reason(
    site: Endpoint, fake: FakeTime, status: int
) -> None:
    site.answer(Answer(status, {"ok": False, "error": "bad signature"}))
    with pytest.raises(ActionRefused) as caught:
        run(fake, fence(site.url))
    assert f"answered HTTP {status}: bad signature" in str(caught.value)
    assert len(site.requests) == 1


def test_a_redirect_is_refused_not_followed(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}))
    with pytest.raises(ActionRefused, match="redirect, not followed"):
        run(fake, fence(site.url))
    assert len(site.requests) == 1


def test_5xx_and_429_are_retried_after_retry_after_then_done(
    site: Endpoint, fake: FakeTime
) -> None:
    site.answer(
        Answer(503, {"error": "restarting"}),
        Answer(429, {"error": "slow down"}, {"Retry-After": "7"}),
        Answer(429, {}, {"Retry-After": "1"}),
        DONE,
    )
    done = run(fake, fence(site.url))
    assert done.detail == "stopped app.service"
    assert fake.slept == [2.0, 7.0, 2.0]  # never sooner than POLL
    assert {r.headers["X-Arbiter-Idempotency-Key"] for r in site.requests} == {
        "web/12/fence:primary"
    }


def test_lasting_5xx_is_a_timeout_naming_the_last_status(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(502, {"error": "bad gateway"}))
    with pytest.raises(ActionTimedOut) as caught:
        run(fake, fence(site.url), timeout=8)
    assert str(caught.value).endswith("last: HTTP 502: bad gateway")


def test_a_retry_after_past_the_timeout_ends_the_wait_at_once(
    site: Endpoint, fake: FakeTime
) -> None:
    site.answer(Answer(429, {}, {"Retry-After": "120"}))
    with pytest.raises(ActionTimedOut, match=r"HTTP 429 \(Retry-After 120 s\)"):
        run(fake, fence(site.url), timeout=30)
    assert len(site.requests) == 1 and fake.slept == []


def test_an_unreachable_site_is_tried_until_the_timeout(fake: FakeTime) -> None:
    with refused_port() as port, pytest.raises(ActionTimedOut) as caught:
        run(fake, fence(f"http://127.0.0.1:{port}/fence"), timeout=10)
    message = str(caught.value)
    assert f"webhook at 127.0.0.1:{port}: no confirmation within 10 s (5 calls)" in message
    assert "unreachable: ConnectionError" in message


def test_a_call_is_cut_at_the_time_left_then_tried_again(site: Endpoint) -> None:
    """Real time here: the first call's answer comes after the 1 s the call is given."""
    site.answer(Answer(200, DONE.body, delay=5), DONE)
    runner = WebhookActions(lambda _: KEY, poll=0.1)
    done = runner.run(fence(site.url, call_timeout=1), CALL, 30, time.monotonic() + 60)
    assert done.detail == "stopped app.service"
    assert len(site.requests) == 2


def test_each_call_gets_at_most_the_time_left(site: Endpoint) -> None:
    site.answer(Answer(200, DONE.body, delay=5))
    runner = WebhookActions(lambda _: KEY, poll=0.1)
    with pytest.raises(ActionTimedOut) as caught:
        runner.run(fence(site.url, call_timeout=10), CALL, 1.0, time.monotonic() + 60)
    # the call_timeout is 10 s, but the action had 1 s left
    assert "webhook timed out after 1.0 s" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"ok": True, "stopped": False}, "stopped is false (expected true)"),
        ({"ok": True}, "stopped is missing (expected true)"),
        ({"ok": 1, "stopped": True}, "ok is 1 (expected true)"),
        (["ok"], "the answer is not a JSON object"),
        (b"stopped", "the answer is not a JSON object"),
    ],
)
def test_an_answer_without_what_expect_asks_is_refused(
    site: Endpoint, fake: FakeTime, answer: Any, why: str
) -> None:
    site.answer(Answer(200, answer))
    with pytest.raises(ActionRefused) as caught:
        run(fake, fence(site.url, expect={"ok": True, "stopped": True}))
    assert why in str(caught.value)
    assert len(site.requests) == 1


def test_expect_matches_a_subset_of_keys_and_values(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(200, {"ok": True, "node": "db-fra", "count": 3.0, "extra": [1]}))
    done = run(fake, fence(site.url, expect={"node": "db-fra", "count": 3}))
    assert done.detail == "confirmed (HTTP 200)"


@pytest.mark.parametrize("body", [b"", b"done", b"[]"])
def test_empty_expect_takes_any_2xx_even_an_empty_body(
    site: Endpoint, fake: FakeTime, body: bytes
) -> None:
    site.answer(Answer(204 if not body else 200, body))
    done = run(fake, fence(site.url, expect={}))
    assert done.detail.startswith("confirmed (HTTP 20")


def test_empty_expect_still_polls_pending_and_refuses_failed(
    site: Endpoint, fake: FakeTime
) -> None:
    site.answer(PENDING, Answer(200, {"status": "failed", "detail": "disk full"}))
    with pytest.raises(ActionRefused, match="answered failed: disk full"):
        run(fake, fence(site.url, expect={}))
    assert len(site.requests) == 2


def test_an_answer_over_64_kib_is_refused(site: Endpoint, fake: FakeTime) -> None:
    site.answer(Answer(200, {"ok": True, "detail": "x" * 70_000}))
    with pytest.raises(ActionRefused, match="more than 64 KiB"):
        run(fake, fence(site.url))


def test_a_dry_run_is_the_same_signed_call_marked_dry(site: Endpoint, fake: FakeTime) -> None:
    drill = ActionCall(**{**CALL.__dict__, "dry_run": True, "transition": None})
    site.answer(Answer(200, {"ok": True, "status": "done", "dry_run": True, "detail": "would run"}))
    done = run(fake, fence(site.url), call=drill)
    (request,) = site.requests
    assert request.signed
    assert request.json["dry_run"] is True
    assert request.json["idempotency_key"] == "web/drill/fence:primary"
    assert request.headers["X-Arbiter-Idempotency-Key"] == "web/drill/fence:primary"
    assert done.detail == "would run"


def test_the_key_never_reaches_an_error_or_a_log(
    site: Endpoint, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leak = f"your key is {KEY.decode()}"
    errors: list[str] = []
    for answers in (
        [Answer(401, {"error": leak})],
        [Answer(200, {"status": "failed", "detail": leak})],
        [Answer(200, {"ok": False, "detail": leak})],
        [Answer(503, {"error": leak})],
        [Answer(200, {"status": "pending", "detail": leak})],
    ):
        site.answer(*answers)
        with pytest.raises((ActionRefused, ActionTimedOut)) as caught:
            run(fake, fence(site.url), timeout=5)
        errors.append(str(caught.value))
    site.answer(Answer(200, {"ok": True, "detail": leak, "lines": [leak]}))
    done = run(fake, fence(site.url))
    assert all("your key is" in e for e in errors)  # the site's words are kept ...
    texts = [*errors, done.detail, *done.lines, caplog.text]
    assert not any(KEY.decode() in text for text in texts)  # ... but not the key


def test_a_hook_goes_through_the_actions_dispatcher(site: Endpoint) -> None:
    """``Actions`` (the runtime's runner) sends a webhook action to WebhookActions."""
    hook = WebhookHook.model_validate(
        {"type": "webhook", "name": "promote", "url": site.url, "secret": "arbiter/hooks"}
    )
    asked: list[str] = []

    def secret(name: str) -> bytes:
        asked.append(name)
        return KEY

    actions = Actions(secret, aws=lambda *_: None, region="eu-west-1")
    call = ActionCall(**{**CALL.__dict__, "phase": "pre_acquire", "step": "pre_acquire:x:p"})
    done = actions.run(hook, call, 10, time.monotonic() + 30)
    assert done.detail == "confirmed (HTTP 200)"
    assert asked == ["arbiter/hooks"]
    assert site.requests[0].json["phase"] == "pre_acquire" and site.requests[0].signed
