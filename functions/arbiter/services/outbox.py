"""Deliver the outbox: alerts written with the change that caused them, sent until sent.

Whoever runs next delivers (the decider after its write and on its schedule, the act
function after its runbook, the override function): each alert is claimed first, so two
deliverers never send it twice, and deleted once published. A failed publish leaves it for
the next pass; a failure to notify never blocks or fails anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arbiter.core.errors import ArbiterError
from arbiter.core.model import Alert
from arbiter.observability import logger
from arbiter.runtime import Runtime

CLAIM = 60.0
"""Seconds a deliverer holds an alert: if it dies after publishing and before deleting it,
another sends it again after this (the message's dedupe key lets a receiver drop it)."""


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Keys left in the outbox for the next pass."""


def deliver(rt: Runtime, service: str, alerts: Iterable[Alert], now: datetime) -> Delivery:
    """Send each pending alert once, oldest first; stop at the first failure (the rest wait
    for the next pass). Never raises for a notification problem."""
    done = Delivery()
    pending = sorted({a.key: a for a in alerts}.values(), key=lambda a: (a.at, a.key))
    for alert in pending:
        if done.failed:
            done.failed.append(alert.key)
            continue
        try:
            if not rt.store.claim_alert(service, alert.key, now, now + timedelta(seconds=CLAIM)):
                continue  # another deliverer has it, or it was sent already
            rt.notifier.publish(alert.subject, alert.body, alert.key, alert.attributes())
        except ArbiterError as exc:
            logger.warning(
                "alert not delivered yet", service=service, key=alert.key, error=str(exc)
            )
            done.failed.append(alert.key)
            _release(rt, service, alert.key)
            continue
        try:
            rt.store.delete_alert(service, alert.key)
        except ArbiterError as exc:
            # Sent; its claim keeps others off it for CLAIM seconds, then it may go again.
            logger.warning("delivered alert not removed", service=service, key=alert.key,
                           error=str(exc))  # fmt: skip
        done.sent.append(alert.key)
    return done


def _release(rt: Runtime, service: str, key: str) -> None:
    try:
        rt.store.release_alert(service, key)
    except ArbiterError:
        pass  # its claim lapses on its own
