"""Decide function: triggered by new observations on the table's stream, and by a schedule
so that regions going silent are noticed too."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from arbiter import runtime
from arbiter.handlers.events import ScheduleEvent, StreamEvent, stream_services
from arbiter.observability import MetricUnit, logger, metrics
from arbiter.services.decider import decide_service


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    rt = runtime.current()
    if "Records" in event:
        services = stream_services(parse(event=event, model=StreamEvent))
    else:
        parse(event=event, model=ScheduleEvent)
        services = [s.name for s in rt.config.services]
    known = {s.name for s in rt.config.services}
    results = {}
    for name in services:
        if name not in known:
            logger.warning("observation for a service not in the config", service=name)
            continue
        done = decide_service(rt, name, rt.clock())
        outcome = done.outcome
        results[name] = {
            "status": outcome.state.status.value,
            "version": outcome.state.version,
            "transition": outcome.transition.id if outcome.transition else None,
            "events": [e.kind for e in outcome.events],
        }
        logger.info("decided", extra={"service": name, "attempts": done.attempts, **results[name]})
        metrics.add_metric(name="DecidePasses", unit=MetricUnit.Count, value=1)
        if outcome.transition is not None:
            metrics.add_metric(name="Switches", unit=MetricUnit.Count, value=1)
    return results
