"""Ticker function: once a minute, queue the next minute's probe rounds as delayed messages.

Invoked by an EventBridge rule (``rate(1 minute)``) in each probe region whose interval is
below 60 s. It sends, and never waits: each round starts when its message becomes visible
(``core/schedule.py`` has the timing rules, ``services/tick.py`` the sending).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from arbiter import ticker
from arbiter.core.schedule import scheduled_minute, stamp
from arbiter.handlers.round_events import TickEvent
from arbiter.observability import MetricUnit, lambda_context, logger, metrics
from arbiter.services.tick import tick


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        scheduled = TickEvent.model_validate(event).time
    except ValidationError as exc:
        from arbiter.handlers.events import refused  # the config model: only on this path

        return refused("tick", exc)
    t = ticker.current()
    report = tick(t.queue, scheduled, t.interval, t.clock)
    minute = stamp(scheduled_minute(scheduled))
    # Metrics only for what went wrong: an EMF metric is billed per metric-month once it
    # appears, and a ticker that stops is already caught by the home region's RegionSilent
    # alarm (its region records no rounds).
    if report.late:
        metrics.add_metric(name="RoundsLate", unit=MetricUnit.Count, value=len(report.late))
        logger.warning(
            "late tick: rounds already past dropped",
            scheduled=minute,
            dropped=[stamp(b) for b in report.late],
        )
    unqueued = {stamp(b): why for b, why in report.unsent.items()}
    unqueued.update(
        {stamp(b): "more than 900 s ahead (SQS's longest timer)" for b in report.too_far}
    )
    if unqueued:
        metrics.add_metric(name="RoundsUnqueued", unit=MetricUnit.Count, value=len(unqueued))
        logger.error("rounds not queued", scheduled=minute, rounds=unqueued)
    logger.info(
        "rounds queued",
        scheduled=minute,
        queued=len(report.queued),
        retried=report.retried,
        first=stamp(min(report.queued)) if report.queued else None,
    )
    return {
        "scheduled": minute,
        "queued": len(report.queued),
        "late": len(report.late),
        "unqueued": len(unqueued),
    }
