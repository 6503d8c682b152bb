"""The generic webhook channel against a local receiver that checks Arbiter's signature: the
documented JSON body, signed afresh on each attempt; any 2xx accepted; 429 and 5xx retried;
a refusal and a timeout named without the URL or the key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from arbiter.adapters.channels import ChannelDeps
from arbiter.adapters.channels.webhook import WebhookChannelSender
from arbiter.adapters.hooks import sign
from arbiter.core.config import WebhookChannel
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.local.standins.http import Canned, HttpStandIn, Seen, as_json
from tests.contract.channel_helpers import degraded
from tests.contract.injected import Pauses, Secrets, not_leaked

KEY = "whsec-0123456789abcdef-signing"


class Receiver(HttpStandIn):
    """Accepts a call signed with KEY whose signature it has not seen (202), as the reference
    receiver does; anything else is 401."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.accepted: list[dict[str, object]] = []

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        stamp, signature = seen.header("X-Arbiter-Timestamp"), seen.header("X-Arbiter-Signature")
        if signature != sign(KEY.encode(), stamp, seen.raw) or signature in self.seen:
            return as_json(401, {"error": "bad or replayed signature"})
        self.seen.add(signature)
        self.accepted.append(json.loads(seen.raw))
        return as_json(202, {"ok": True})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as standin:
        standin.recording = True
        yield standin


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


def make(url: str, pauses: Pauses, timeout: float = 5.0) -> WebhookChannelSender:
    settings = WebhookChannel(type="webhook", name="hook", url=url, secret="arbiter/hook-key",
                              call_timeout=timeout)  # fmt: skip
    return WebhookChannelSender(settings, ChannelDeps(secret=Secrets(KEY), sleep=pauses))


def test_an_alert_is_one_signed_post_of_the_documented_body(
    receiver: Receiver, pauses: Pauses
) -> None:
    assert make(receiver.url + "/alerts", pauses).send(degraded()).detail == "HTTP 202"
    assert receiver.accepted == [
        {
            "service": "web",
            "kind": "condition",
            "severity": "error",
            "action": "trigger",
            "incident": "arbiter/web/degraded",
            "subject": degraded().subject,
            "text": degraded().body,
            "at": "2025-06-05T18:30:00+00:00",
            "key": "web/v00000012/00",
        }
    ]
    assert receiver.requests[0].header("X-Arbiter-Idempotency-Key") == "web/v00000012/00"


def test_a_retry_after_5xx_is_signed_afresh(receiver: Receiver, pauses: Pauses) -> None:
    receiver.fail(1, status=503)
    make(receiver.url, pauses).send(degraded())
    first, second = receiver.requests
    assert first.header("X-Arbiter-Signature") != second.header("X-Arbiter-Signature")
    assert len(receiver.accepted) == 1 and pauses == [0.5]


def test_429_waits_for_retry_after(receiver: Receiver, pauses: Pauses) -> None:
    receiver._set_faults([as_json(429, {"error": "slow down"}, {"Retry-After": "4"})])
    make(receiver.url, pauses).send(degraded())
    assert pauses == [4.0] and len(receiver.accepted) == 1


def test_a_refusal_is_named_without_url_or_key(
    receiver: Receiver, pauses: Pauses, logs: Callable[[], str]
) -> None:
    receiver._set_faults([as_json(403, {"error": "tenant disabled"})])
    url = receiver.url + "/alerts?token=s3cr3t-in-url"
    with pytest.raises(ProviderRejected) as caught:
        make(url, pauses).send(degraded())
    assert str(caught.value) == 'hook (webhook): HTTP 403: {"error": "tenant disabled"}'
    not_leaked(caught.value, logs(), KEY, "s3cr3t-in-url")


def test_5xx_that_lasts_is_retryable(receiver: Receiver, pauses: Pauses) -> None:
    receiver.fail(5, status=502)
    with pytest.raises(ProviderError, match=r"hook \(webhook\): HTTP 502"):
        make(receiver.url, pauses).send(degraded())
    assert len(receiver.requests) == 3  # bounded


def test_a_silent_receiver_times_out(receiver: Receiver, pauses: Pauses) -> None:
    receiver.stall(3, seconds=5)
    with pytest.raises(ProviderError, match=r"timed out after 0.5 s"):
        make(receiver.url, pauses, timeout=0.5).send(degraded())
