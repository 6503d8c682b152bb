"""Act function: invoked asynchronously with {"service", "transition"}; runs the runbook."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from arbiter import runtime
from arbiter.core.config import validation_messages
from arbiter.handlers.events import ActEvent
from arbiter.observability import MetricUnit, logger, metrics
from arbiter.services.actor import run_transition


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        request = ActEvent.model_validate(event)
    except ValidationError as exc:
        # Not raised: Lambda would retry a malformed event twice more, to the same end.
        problems = validation_messages(exc)
        logger.error("malformed act event refused", problems=problems)
        return {"ok": False, "error": "malformed act event", "problems": problems}
    rt = runtime.current()
    if request.service not in {s.name for s in rt.config.services}:
        logger.error("act event for a service not in the config", service=request.service)
        return {"ok": False, "error": "unknown service", "problems": [
            f"service: unknown service {request.service!r}"
        ]}  # fmt: skip
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    result = run_transition(
        rt, request.service, request.transition, rt.clock, deadline, sleep=rt.sleep
    )
    metrics.add_metric(name=f"Runbooks{result.outcome.title().replace(' ', '')}",
                       unit=MetricUnit.Count, value=1)  # fmt: skip
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
        "ok": True,
        "service": result.service,
        "transition": result.transition,
        "outcome": result.outcome,
        "ran": result.ran,
    }
