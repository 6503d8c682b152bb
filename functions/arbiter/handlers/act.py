"""Act function: invoked asynchronously with {"service", "transition"}; runs the runbook.
Invoked with {"drill": {...}} (by the drill schedule, or synchronously by the override
function): rehearses the switch of one service or of all, and answers the checklists."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from arbiter import runtime
from arbiter.handlers.events import ActEvent, DrillEvent, refused
from arbiter.observability import MetricUnit, lambda_context, logger, metrics
from arbiter.services.actor import run_transition
from arbiter.services.drill import run_drills


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "drill" in event:
        return _drill(event, context)
    try:
        request = ActEvent.model_validate(event)
    except ValidationError as exc:
        return refused("act", exc)
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


def _drill(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read-only: writes no state, only one event per service in its log. ``ok`` is whether
    every item of every drill passed."""
    try:
        request = DrillEvent.model_validate(event).drill
    except ValidationError as exc:
        return refused("drill", exc)
    rt = runtime.current()
    names = [s.name for s in rt.config.services]
    if request.service is not None and request.service not in names:
        logger.error("drill event for a service not in the config", service=request.service)
        return {"ok": False, "error": "unknown service", "problems": [
            f"drill.service: unknown service {request.service!r}; known: {', '.join(names)}"
        ]}  # fmt: skip
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    chosen = [request.service] if request.service is not None else names
    runs = run_drills(rt, chosen, request.notify, deadline, rt.clock())
    # Failing items of all the drills, 0 included: an alarm on it also sees that drills run.
    failures = sum(run.report.failures for run in runs)
    metrics.add_metric(name="DrillFailures", unit=MetricUnit.Count, value=failures)
    for run in runs:
        report = run.report
        log = logger.info if report.ok else logger.error
        log(
            "drill",
            service=report.service,
            active=report.active.value,
            failures=report.failures,
            failed=[i.name for i in report.items if i.status.value == "fail"],
            notified=run.notified,
        )
    return {
        "ok": all(run.report.ok for run in runs),
        "drills": [
            {**run.report.model_dump(mode="json"), "notified": run.notified} for run in runs
        ],
    }
