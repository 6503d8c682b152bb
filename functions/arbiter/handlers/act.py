"""Act function: invoked asynchronously with {"service", "transition"}; runs the runbook."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from arbiter import runtime
from arbiter.handlers.events import ActEvent
from arbiter.observability import MetricUnit, logger, metrics
from arbiter.services.actor import run_transition


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=ActEvent)
    rt = runtime.current()
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    result = run_transition(rt, request.service, request.transition, rt.clock, deadline)
    if result.outcome == "failed":
        # Not raised: Lambda would retry on its own, and a FAILED service waits for `ack`.
        metrics.add_metric(name="RunbookStepFailures", unit=MetricUnit.Count, value=1)
        logger.error("runbook step failed", service=request.service, step=result.failed_step)
    logger.info(
        "runbook",
        service=result.service,
        transition=result.transition,
        outcome=result.outcome,
        ran=result.ran,
    )
    return {
        "service": result.service,
        "transition": result.transition,
        "outcome": result.outcome,
        "ran": result.ran,
    }
