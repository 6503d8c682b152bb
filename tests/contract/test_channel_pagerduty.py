"""The PagerDuty channel against a local stand-in of the Events API v2: a condition's alert
opens an incident under its dedup key and the alert that says it cleared closes it; alerts
without an incident go as change events (or not at all); PagerDuty's 400/429/5xx answers as
documented; the routing key never in an error or a log line."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from arbiter.adapters.channels import ChannelDeps
from arbiter.adapters.channels.pagerduty import PagerDutyChannelSender, dedup_key
from arbiter.core.config import PagerDutyChannel
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.local.standins.pagerduty import PagerDutyStandIn
from tests.contract.channel_helpers import cleared, degraded, switched
from tests.contract.injected import Pauses, Secrets, not_leaked

KEY = "R0123456789ABCDEF0123456789ABCDE"
SECRET = "arbiter/pagerduty-routing-key"


@pytest.fixture
def pd() -> Iterator[PagerDutyStandIn]:
    with PagerDutyStandIn(KEY) as standin:
        standin.recording = True
        yield standin


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


def make(
    url: str, pauses: Pauses, *, key: str = KEY, changes: bool = True, timeout: float = 5.0
) -> PagerDutyChannelSender:
    settings = PagerDutyChannel(type="pagerduty", name="oncall", routing_key_secret=SECRET,
                                base_url=url, changes=changes, call_timeout=timeout)  # fmt: skip
    return PagerDutyChannelSender(settings, ChannelDeps(secret=Secrets(key), sleep=pauses))


def test_a_condition_opens_an_incident_and_its_clearing_closes_it(
    pd: PagerDutyStandIn, pauses: Pauses
) -> None:
    channel = make(pd.url, pauses)
    sent = channel.send(degraded())
    assert sent.detail == "HTTP 202, trigger dedup_key arbiter/web/degraded"
    assert list(pd.open_incidents()) == ["arbiter/web/degraded"]
    trigger = pd.requests[0].json
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == KEY
    assert trigger["payload"] == {
        "summary": degraded().subject,
        "source": "arbiter/web",
        "severity": "error",
        "timestamp": "2025-06-05T18:30:00+00:00",
        "component": "web",
        "group": "arbiter",
        "custom_details": {"text": degraded().body, "kind": "condition", "key": degraded().key},
    }
    channel.send(cleared())
    assert pd.open_incidents() == {}
    (incident,) = pd.incidents_for("arbiter/web/degraded")
    assert incident.status == "resolved"
    assert pd.requests[1].json == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": "arbiter/web/degraded",
    }


def test_a_repeated_trigger_joins_the_open_incident(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    channel = make(pd.url, pauses)
    channel.send(degraded())
    channel.send(degraded())  # a redelivery
    assert len(pd.incidents_for("arbiter/web/degraded")) == 1


def test_an_alert_without_incident_is_a_change_event(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    assert make(pd.url, pauses).send(switched()).detail == "HTTP 202, change event"
    assert pd.requests[0].path == "/v2/change/enqueue"
    assert pd.changes[0]["payload"]["summary"] == switched().subject
    assert pd.open_incidents() == {}


def test_change_events_off_skips_them(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    sent = make(pd.url, pauses, changes=False).send(switched())
    assert sent.skipped and pd.requests == []


def test_a_wrong_routing_key_is_refused_with_pagerdutys_words(
    pd: PagerDutyStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    wrong = "RWRONG6789ABCDEF0123456789ABCDE0"
    with pytest.raises(ProviderRejected) as caught:
        make(pd.url, pauses, key=wrong).send(degraded())
    assert str(caught.value) == (
        "oncall (pagerduty) trigger: HTTP 400: invalid event: Event object is invalid "
        "(Invalid routing key)"
    )
    assert len(pd.requests) == 1
    not_leaked(caught.value, logs(), wrong, KEY)


def test_a_short_routing_key_is_refused_as_documented(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    with pytest.raises(ProviderRejected, match=r"Length of 'routing_key' is incorrect"):
        make(pd.url, pauses, key="short-key").send(degraded())


def test_429_waits_for_retry_after(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    pd.throttle(1, retry_after="3")
    make(pd.url, pauses).send(degraded())
    assert pauses == [3.0] and list(pd.open_incidents()) == ["arbiter/web/degraded"]


def test_429_that_lasts_is_retryable_and_says_so(
    pd: PagerDutyStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    pd.throttle(5)
    with pytest.raises(ProviderError) as caught:
        make(pd.url, pauses).send(degraded())
    assert str(caught.value).startswith("oncall (pagerduty) trigger: HTTP 429: throttle event")
    assert pauses == [0.5, 1.0]
    not_leaked(caught.value, logs(), KEY)


def test_5xx_is_retried_then_succeeds(pd: PagerDutyStandIn, pauses: Pauses) -> None:
    pd.fail_json(2, status=502)
    make(pd.url, pauses).send(degraded())
    assert pauses == [0.5, 1.0] and "arbiter/web/degraded" in pd.open_incidents()


def test_a_silent_api_times_out_within_call_timeout(
    pd: PagerDutyStandIn, pauses: Pauses, logs: Callable[[], str]
) -> None:
    pd.stall(3, seconds=5)
    with pytest.raises(ProviderError, match=r"no answer within 0.5 s") as caught:
        make(pd.url, pauses, timeout=0.5).send(degraded())
    not_leaked(caught.value, logs(), KEY)


def test_a_dedup_key_longer_than_pagerduty_keeps_stays_unique() -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(dedup_key(long_a)) == 255
    assert dedup_key(long_a) != dedup_key(long_b)
    assert dedup_key("arbiter/web/degraded") == "arbiter/web/degraded"
