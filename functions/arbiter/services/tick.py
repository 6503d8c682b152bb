"""One tick: queue the next minute's round boundaries, each delayed until it is due.

The timing rules live in ``core/schedule.py``; this module sends what they plan, in batches
of ten, tries each failed entry once more (with its delay computed again), and reports the
rest: nothing is silently lost, and no loop here waits for anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from arbiter.adapters.queue import BATCH_LIMIT, Delayed, RoundQueue
from arbiter.core.schedule import delay_for, is_late, plan_tick, stamp


def round_body(boundary: datetime) -> str:
    """A round message's body: the boundary, and nothing else (nothing secret)."""
    return json.dumps({"round_at": stamp(boundary)})


@dataclass
class TickReport:
    queued: list[datetime] = field(default_factory=list)
    late: list[datetime] = field(default_factory=list)
    """Dropped: more than ``late_after`` in the past when their turn to be sent came."""
    too_far: list[datetime] = field(default_factory=list)
    unsent: dict[datetime, str] = field(default_factory=dict)
    """Not sent after the second try, with SQS's reason."""
    retried: int = 0


def tick(
    queue: RoundQueue,
    scheduled: datetime,
    interval: float,
    clock: Callable[[], datetime],
) -> TickReport:
    """Queue the boundaries owned by the tick of ``scheduled`` (its event's ``time``)."""
    plan = plan_tick(scheduled, clock(), interval)
    report = TickReport(late=list(plan.late), too_far=list(plan.too_far))
    failed = _send(queue, plan.send, report)
    if not failed:
        return report
    report.retried = len(failed)
    now = clock()  # delays again from now: the first try took time
    again = []
    for boundary in failed:
        if is_late(boundary, now, interval):
            report.late.append(boundary)
        else:
            again.append((boundary, delay_for(boundary, now)))
    report.unsent = _send(queue, again, report)
    return report


def _send(
    queue: RoundQueue, entries: Sequence[tuple[datetime, int]], report: TickReport
) -> dict[datetime, str]:
    """Send ``entries`` in batches of ten; record the sent ones, return the failed ones."""
    failed: dict[datetime, str] = {}
    for start in range(0, len(entries), BATCH_LIMIT):
        chunk = entries[start : start + BATCH_LIMIT]
        by_id = {f"r{start + i}": boundary for i, (boundary, _) in enumerate(chunk)}
        messages = [
            Delayed(id=f"r{start + i}", body=round_body(boundary), delay=delay)
            for i, (boundary, delay) in enumerate(chunk)
        ]
        why = queue.send_batch(messages)
        for entry_id, boundary in by_id.items():
            if entry_id in why:
                failed[boundary] = why[entry_id]
            else:
                report.queued.append(boundary)
    return failed
