"""When probe rounds run: shared by the probe function, the ticker and the CDK app.

From a 60 s interval up, an EventBridge rule invokes the probe once per interval, one round per
invocation. Below 60 s nothing sleeps: a rule invokes the ticker once a minute, and the ticker
queues one SQS message per round boundary of the *next* minute, each delayed until its
boundary; the queue invokes the probe, one round per message, stamped with its boundary.

Everything here is pure (``now`` is an argument), so the rules below are unit-tested:

- The tick of scheduled minute M owns the boundaries M+60+k*interval, k = 0..60/interval-1,
  and no other tick owns them: rounds of two ticks never overlap, even when a tick is late.
- A boundary more than ``late_after(interval)`` in the past is dropped (the ticker never
  sends a negative delay; the probe never runs a round that arrives that late).
- A delay is the boundary minus now, rounded to a whole second (SQS's unit), 0..900 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the ticker imports this module; it never loads the config model
    from arbiter.core.config import Config

MINUTE = 60.0
MAX_DELAY = 900
"""SQS's longest message timer (DelaySeconds), in seconds."""
LATE_FLOOR = 1.0
"""The least lateness tolerated (seconds): delays are whole seconds, so a message may become
visible up to half a second after its boundary from rounding alone, before any delivery
latency. Only a 1 s interval (half of it: 0.5 s) is raised to this."""


def queued(interval: float) -> bool:
    """Whether rounds come from the ticker's queue (below a minute) or straight from the
    EventBridge schedule (one round per scheduled invocation)."""
    return interval < MINUTE


def late_after(interval: float) -> float:
    """How late (seconds after its boundary) a round may still start: half an interval, so a
    late round is nearer its own boundary than the next one's, and never under
    ``LATE_FLOOR``."""
    return max(interval / 2, LATE_FLOOR)


def rounds_per_minute(interval: float) -> int:
    return round(MINUTE / interval)


def scheduled_minute(at: datetime) -> datetime:
    """The whole UTC minute of a schedule event's ``time`` (seconds, if any, are cut off)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def owned_boundaries(scheduled: datetime, interval: float) -> list[datetime]:
    """The round boundaries the tick of ``scheduled`` (an event's ``time``) sends: every
    ``interval`` through the minute after its scheduled minute. Why the minute *after*: the
    rule fires within its minute, so each boundary is still ahead when the tick runs, and
    the next tick owns the next minute (boundaries never overlap)."""
    start = scheduled_minute(scheduled) + timedelta(seconds=MINUTE)
    return [start + timedelta(seconds=k * interval) for k in range(rounds_per_minute(interval))]


def stamp(boundary: datetime) -> str:
    """A boundary as a round message names it: ISO 8601 in UTC with ``Z`` (microseconds only
    when it has them: a 7.5 s interval has half-second boundaries)."""
    return boundary.astimezone(UTC).isoformat().replace("+00:00", "Z")


def delay_for(boundary: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` until ``boundary``, never negative (a boundary up to
    ``late_after`` in the past is sent at once)."""
    return max(0, math.floor((boundary - now).total_seconds() + 0.5))


def is_late(boundary: datetime, now: datetime, interval: float) -> bool:
    """More than ``late_after(interval)`` has passed since ``boundary``: too late to run."""
    return (now - boundary).total_seconds() > late_after(interval)


@dataclass(frozen=True)
class TickPlan:
    """What one tick sends (boundary, delay), and what it drops."""

    send: list[tuple[datetime, int]] = field(default_factory=list)
    late: list[datetime] = field(default_factory=list)
    """Already more than ``late_after`` in the past: a tick that ran that late."""
    too_far: list[datetime] = field(default_factory=list)
    """More than SQS's 900 s timer ahead: an event stamped far in the future (a bogus
    ``time``), never a normal tick."""


def plan_tick(scheduled: datetime, now: datetime, interval: float) -> TickPlan:
    """The tick of ``scheduled`` (its event's ``time``) run at ``now``: each owned boundary
    with its delay, the late and the too-far ones apart."""
    plan = TickPlan()
    for boundary in owned_boundaries(scheduled, interval):
        if is_late(boundary, now, interval):
            plan.late.append(boundary)
            continue
        delay = delay_for(boundary, now)
        if delay > MAX_DELAY:
            plan.too_far.append(boundary)
        else:
            plan.send.append((boundary, delay))
    return plan


def round_budget(config: Config) -> float:
    """How long one round may take: the slowest check, plus a margin for the writes."""
    slowest = max(
        check.timeout
        for service in config.services
        for check in (*service.primary.checks, *service.secondary.checks)
    )
    return slowest + 5.0
