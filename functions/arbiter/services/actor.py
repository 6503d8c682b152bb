"""Carry out a transition's runbook, step by step, with stored progress.

Every step is claimed before it runs and recorded when it ends, so a retried or duplicated
act invocation resumes where the last one stopped instead of repeating or skipping a step,
and the notification is sent once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from arbiter.core.config import Service
from arbiter.core.errors import ArbiterError, RetryableError
from arbiter.core.model import Event, Transition
from arbiter.core.runbook import Step, StepResult, StepStatus, plan, render_report
from arbiter.runtime import Runtime

STEP_ATTEMPTS = 3


@dataclass
class ActResult:
    service: str
    transition: int
    outcome: str
    """``done``, ``nothing to do``, ``superseded``, ``busy`` or ``failed``."""
    ran: list[str] = field(default_factory=list)
    failed_step: str | None = None


def run_transition(
    rt: Runtime,
    name: str,
    transition_id: int,
    now: Callable[[], datetime],
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> ActResult:
    """``deadline`` is on ``time.monotonic``: the Lambda's remaining time."""
    service = rt.config.service(name)
    state = rt.store.load_state(name)
    transition = state.transition
    if transition is None or transition.id != transition_id:
        newer = transition is not None and transition.id > transition_id
        return ActResult(name, transition_id, "superseded" if newer else "nothing to do")
    if state.runbook_done == transition_id:
        return ActResult(name, transition_id, "nothing to do")

    steps = plan(service, transition)
    results: dict[str, StepResult] = rt.store.load_steps(name, transition_id)
    ran: list[str] = []
    for step in steps:
        previous = results.get(step.name)
        if previous is not None and previous.status is StepStatus.DONE:
            continue
        claim = rt.store.claim_step(name, transition_id, step.name, now(), rt.act_lease)
        if claim is None:
            return ActResult(name, transition_id, "busy", ran)
        started = time.perf_counter()
        try:
            detail = _with_retries(
                partial(_execute, rt, service, transition, step, steps, results, deadline),
                deadline,
                sleep,
            )
        except ArbiterError as exc:
            failed = claim.model_copy(
                update={
                    "status": StepStatus.FAILED,
                    "duration_ms": (time.perf_counter() - started) * 1000,
                    "detail": str(exc),
                }
            )
            rt.store.finish_step(name, transition_id, step.name, failed)
            results[step.name] = failed
            # FAILED: no automatic action until an operator acknowledges (override `ack`).
            rt.store.mark_failed(name, transition_id)
            _report_failure(rt, service, transition, steps, results, step, now())
            return ActResult(name, transition_id, "failed", ran, failed_step=step.name)
        result = claim.model_copy(
            update={
                "status": StepStatus.DONE,
                "duration_ms": (time.perf_counter() - started) * 1000,
                "detail": detail,
            }
        )
        rt.store.finish_step(name, transition_id, step.name, result)
        rt.store.append_events(
            name,
            [
                Event(
                    at=now(),
                    kind="runbook_step",
                    message=f"#{transition_id} {step.name}: {detail}",
                    detail={"transition": transition_id, "step": step.name},
                )
            ],
        )
        results[step.name] = result
        ran.append(step.name)
    rt.store.mark_runbook_done(name, transition_id)
    return ActResult(name, transition_id, "done", ran)


def _with_retries(run: Callable[[], str], deadline: float, sleep: Callable[[float], None]) -> str:
    for attempt in range(1, STEP_ATTEMPTS + 1):
        try:
            return run()
        except RetryableError:
            pause = 2.0**attempt
            if attempt == STEP_ATTEMPTS or time.monotonic() + pause >= deadline:
                raise
            sleep(pause)
    raise AssertionError("unreachable")


def _execute(
    rt: Runtime,
    service: Service,
    transition: Transition,
    step: Step,
    steps: list[Step],
    results: dict[str, StepResult],
    deadline: float,
) -> str:
    if step.kind == "route53":
        provider = rt.dns["route53"]
        assert step.zone_id is not None
        change = provider.upsert(step.zone_id, step.records, transition.to_site)
        wait_until = min(deadline - 5.0, time.monotonic() + service.dns.verify_timeout)
        waited = provider.wait_applied(change, wait_until)
        names = ", ".join(r.name.rstrip(".") for r in step.records)
        return f"UPSERT {names}; INSYNC after {waited:.1f} s"
    if step.kind == "notify":
        report = [(s, results.get(s.name)) for s in steps]
        subject, body = render_report(rt.config.app, service, transition, report)
        message_id = rt.notifier.publish(subject, body)
        return f"sent ({message_id})"
    raise ArbiterError(f"unknown step kind {step.kind!r}")


def _report_failure(
    rt: Runtime,
    service: Service,
    transition: Transition,
    steps: list[Step],
    results: dict[str, StepResult],
    step: Step,
    at: datetime,
) -> None:
    """Alert now: a failed step must never end silently."""
    subject, body = render_report(
        rt.config.app, service, transition, [(s, results.get(s.name)) for s in steps]
    )
    event = Event(
        at=at,
        kind="runbook_failed",
        message=f"#{transition.id} step {step.name} failed: {results[step.name].detail}; "
        "the service is FAILED: no automatic action until an operator sends `ack`",
        alert=True,
        detail={"transition": transition.id, "step": step.name},
    )
    rt.store.append_events(service.name, [event])
    try:
        rt.notifier.publish(subject, body)
    except ArbiterError:
        pass  # the event is logged; the function's error alarm reports the rest
