"""The notify function's work: deliver one alert to every channel, each on its own, once; and
``arbiter notify-test``.

Delivery (``deliver``): each configured channel that wants the alert (``core/ops.py::wants``)
is sent it on its own, so one failing never holds another back. Before a send the channel's
delivery marker is claimed in the store (``<alert key>/<channel>``, expiring after a day);
after it, the marker is settled: delivered, or released for the next attempt. The notify
function raises when a channel failed, Lambda's asynchronous retry redelivers the message, and
the channels already marked delivered are not sent it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from arbiter.adapters.channels import AlertChannel
from arbiter.adapters.store import Store
from arbiter.core.config import Config
from arbiter.core.errors import ArbiterError
from arbiter.core.model import Alert
from arbiter.core.ops import trial_alerts, wants
from arbiter.observability import emit, logger

MARKER_TTL = timedelta(days=1)
"""How long a delivered marker is kept: far longer than Lambda's asynchronous retries."""
Outcome = Literal["sent", "skipped", "filtered", "already", "failed"]


@dataclass
class ChannelResult:
    channel: str
    type: str
    outcome: Outcome
    detail: str
    """What the channel answered, or the error (one line, no secret)."""
    latency_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def deliver(
    config: Config,
    channels: Mapping[str, AlertChannel],
    store: Store,
    alert: Alert,
    now: datetime,
    until: datetime,
    timer: Callable[[], float] = time.monotonic,
) -> list[ChannelResult]:
    """Send ``alert`` to every channel that wants it; never raises for a channel's failure.
    ``until``: how long this invocation may hold a channel's marker (its remaining time)."""
    results = []
    for settings in config.notifications.channels:
        name, kind = settings.name, settings.type
        if not wants(settings.min_severity, alert):
            results.append(ChannelResult(name, kind, "filtered", f"below {settings.min_severity}"))
            continue
        marker = f"{alert.key}/{name}"
        try:
            claim = store.claim_delivery(marker, now, until, now + MARKER_TTL)
        except ArbiterError as exc:
            results.append(ChannelResult(name, kind, "failed", f"delivery marker: {exc}"))
            continue
        if claim != "claimed":
            outcome: Outcome = "already" if claim == "delivered" else "failed"
            detail = "sent before" if claim == "delivered" else "another attempt is sending it"
            results.append(ChannelResult(name, kind, outcome, detail))
            continue
        started = timer()
        try:
            sent = channels[name].send(alert)
        except ArbiterError as exc:
            result = ChannelResult(name, kind, "failed", str(exc), (timer() - started) * 1000)
        else:
            outcome = "skipped" if sent.skipped else "sent"
            result = ChannelResult(name, kind, outcome, sent.detail, (timer() - started) * 1000)
        results.append(result)
        _settle(store, marker, result.ok)
        emit({"ChannelFailures" if not result.ok else "ChannelDeliveries": 1}, channel=name)
        log = logger.info if result.ok else logger.warning
        log("channel", channel=name, key=alert.key, outcome=result.outcome, detail=result.detail)
    return results


def _settle(store: Store, marker: str, delivered: bool) -> None:
    try:
        store.settle_delivery(marker, delivered)
    except ArbiterError as exc:
        # Sent but unmarked: a redelivery may send it again (its key lets a receiver drop it).
        logger.warning("delivery marker not settled", marker=marker, error=str(exc))


def test_channels(
    config: Config,
    channels: Mapping[str, AlertChannel],
    operator: str,
    now: datetime,
    timer: Callable[[], float] = time.monotonic,
) -> list[ChannelResult]:
    """One clearly marked test alert through every channel, whatever its ``min_severity``;
    a PagerDuty channel gets a trigger and, at once, its resolve (no incident stays open)."""
    results = []
    for settings in config.notifications.channels:
        alerts = trial_alerts(config.app, operator, now, incident=settings.type == "pagerduty")
        started = timer()
        details = []
        try:
            for alert in alerts:
                details.append(channels[settings.name].send(alert).detail)
        except ArbiterError as exc:
            outcome: Outcome = "failed"
            details.append(str(exc))
        else:
            outcome = "sent"
        elapsed = (timer() - started) * 1000
        results.append(
            ChannelResult(settings.name, settings.type, outcome, "; ".join(details), elapsed)
        )
    return results
