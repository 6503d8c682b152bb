"""Carry out a transition's runbook, step by step, with stored progress.

At most one runbook per service runs at a time: the act invocation holds the service's
runbook lease. Before every external change it claims the step in one transaction that
checks the transition is still the service's current one and renews the lease, so a
superseded runbook stops before its next change. Progress is stored, so a retried or
duplicated invocation resumes instead of repeating or skipping a step. The report goes to the
outbox in the same write that closes the runbook: a notification failure never fails a
switch, and a superseded runbook sends none.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from arbiter.adapters.actions import ActionCall, ActionDone
from arbiter.adapters.leadership import LostLeadership
from arbiter.core.config import Action, Service, step_seconds
from arbiter.core.errors import (
    ArbiterError,
    DeadlineExceeded,
    FatalError,
    ProviderError,
    ProviderRejected,
    RetryableError,
    Superseded,
)
from arbiter.core.model import Event, Transition
from arbiter.core.runbook import (
    DnsStep,
    FenceStep,
    HookStep,
    Plan,
    Step,
    StepResult,
    StepStatus,
    VerifyStep,
    VoipStep,
    plan,
    report_alert,
)
from arbiter.runtime import Runtime
from arbiter.services.outbox import deliver

STEP_ATTEMPTS = 3
SAFETY_MARGIN = 30.0
"""Seconds of the Lambda's time no step may use: room to record the outcome."""
LEASE_WAIT = 60.0
"""How long an invocation waits for another one's runbook of the same service to end."""
LEASE_POLL = 1.0


@dataclass
class ActResult:
    service: str
    transition: int
    outcome: str
    """``done``, ``nothing to do``, ``superseded``, ``busy`` or ``failed``."""
    ran: list[str] = field(default_factory=list)
    failed_step: str | None = None


@dataclass
class Budget:
    """The time a runbook may use: the Lambda's deadline less a margin, and a total wait for
    DNS changes to apply across all attempts (``dns.verify_timeout``)."""

    deadline: float
    """On ``time.monotonic``: past it no step starts, no wait continues."""
    wait_left: float
    waited: float = 0.0

    def wait_until(self) -> float:
        return min(self.deadline, time.monotonic() + max(0.0, self.wait_left))

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the time inside as waited, however the wait ends."""
        began = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - began
            self.waited += spent
            self.wait_left -= spent


@dataclass
class Run:
    """What an executor needs to carry out one step."""

    rt: Runtime
    service: Service
    transition: Transition
    budget: Budget
    claims: dict[str, StepResult] = field(default_factory=dict)
    """Each step's current claim (its attempt's stored progress)."""

    def pending_change(self, step: str) -> str | None:
        claim = self.claims.get(step)
        return claim.change if claim else None

    def remember_change(self, step: str, change: str | None) -> None:
        """Store (or clear) a change not yet confirmed live, so that a retry, in this
        invocation or the next, waits on it."""
        claim = self.claims.get(step)
        if claim is None or claim.change == change:
            return
        self.claims[step] = claim.model_copy(update={"change": change})
        self.rt.store.finish_step(self.service.name, self.transition.id, step, self.claims[step])


@dataclass
class StepOutcome:
    """What an executor reports: one summary line, its report lines, and whether it found
    something the operator should look at (the step is then WARNED, not DONE)."""

    summary: str
    lines: list[str] = field(default_factory=list)
    warning: bool = False


class StepError(FatalError):
    """A step failed in a way its report lines explain (a verify under the ``fail``
    policy)."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def _dns(run: Run, step: DnsStep) -> StepOutcome:
    try:
        provider = run.rt.dns[step.provider]
    except KeyError:
        raise ProviderRejected(
            f"DNS provider {step.provider!r} is no longer in the config (dns_providers); the "
            "plan was frozen when this runbook started"
        ) from None
    t = run.transition
    comment = f"arbiter: {run.service.name} switch #{t.id} to {t.to_site.value}"
    change = provider.upsert(step.zone, step.records, comment)
    if change.id is None:
        # Nothing differs now; but if an earlier attempt's change was never confirmed live,
        # "already right" only means it was accepted: wait for that change.
        change.id = run.pending_change(step.name)
    else:
        run.remember_change(step.name, change.id)
    try:
        with run.budget.waiting():
            waited = provider.wait_applied(change, run.budget.wait_until())
    except DeadlineExceeded as exc:
        raise DeadlineExceeded(f"{exc}; {_total_wait(run)}") from exc
    run.remember_change(step.name, None)
    changed = set(change.changed)
    lines = [f"{'changed' if r.label in changed else 'already'} {r.shown()}" for r in step.records]
    lines += change.notes
    summary = (
        f"{provider.label}: {len(change.changed)} changed, {len(change.unchanged)} already "
        f"right; live after {waited:.1f} s ({_total_wait(run)})"
    )
    return StepOutcome(summary, lines)


def _verify(run: Run, step: VerifyStep) -> StepOutcome:
    from arbiter.adapters.dns.authority import render

    authority = run.rt.dns_authority()
    until = run.budget.wait_until()
    started = run.rt.clock().timestamp()
    with run.budget.waiting():
        servers = step.servers or authority.nameservers(step.records[0].name, until)
        old = {(r.name, r.type.value): r.values for r in step.old}
        outcomes = authority.verify(servers, step.records, until, old=old)
    ttl = max(r.ttl for r in step.old)
    lines = render(outcomes, started=started, ttl=ttl, now=run.rt.clock())
    lagging = [o.server for o in outcomes if not o.ok]
    if not lagging:
        slowest = max((o.seconds or 0.0 for o in outcomes), default=0.0)
        return StepOutcome(
            f"all {len(outcomes)} authoritative servers serve the new values "
            f"(the last after {slowest:.1f} s)",
            lines,
        )
    summary = (
        f"{len(lagging)} of {len(outcomes)} authoritative servers do not serve the new values "
        f"at the deadline: {', '.join(lagging)}"
    )
    if step.on_failure == "stop":
        raise StepError(summary + " (dns.verify.policy: fail)", lines)
    return StepOutcome(summary + " (dns.verify.policy: warn)", lines, warning=True)


def _call(run: Run, step: HookStep | FenceStep, phase: str) -> ActionCall:
    t = run.transition
    return ActionCall(
        phase=phase,
        service=run.service.name,
        transition=t.id,
        from_site=t.from_site,
        to_site=t.to_site,
        site=step.site,
        step=step.name,
        reason=t.reason,
    )


def _act(
    run: Run, step: HookStep | FenceStep, phase: str, action: Action, timeout: float
) -> ActionDone:
    return run.rt.action_runner().run(
        action,
        _call(run, step, phase),
        timeout,
        run.budget.deadline,
        pending=run.pending_change(step.name),
        remember=lambda command: run.remember_change(step.name, command),
    )


def _hook(run: Run, step: HookStep) -> StepOutcome:
    done = _act(run, step, step.phase, step.hook, step.hook.timeout)
    return StepOutcome(f"{step.hook.type}: {done.detail} ({done.seconds:.1f} s)", done.lines)


def _fence(run: Run, step: FenceStep) -> StepOutcome:
    """A fence that is not confirmed (refused, unreachable, timed out) aborts the switch
    under ``required`` and is reported, the switch going on, under ``best_effort``."""
    try:
        done = _act(run, step, "fence", step.fence, step.fence.timeout)
    except ArbiterError as exc:
        site = run.service.site_label(step.site)
        if step.policy == "required":
            raise StepError(
                f"the {step.site.value} site ({site}) did NOT confirm it stopped: {exc}; "
                "fence_policy required: the switch is aborted before the other site is "
                "promoted",
                [],
            ) from exc
        return StepOutcome(
            f"NOT confirmed: {exc}; fence_policy best_effort: the switch goes on (the "
            f"{step.site.value} site ({site}) may still be serving)",
            warning=True,
        )
    return StepOutcome(
        f"the {step.site.value} site confirmed it stopped after {done.seconds:.1f} s: "
        f"{done.detail}",
        done.lines,
    )


def _voip(run: Run, step: VoipStep) -> StepOutcome:
    """Read every item, change only those that differ, read them back."""
    try:
        provider = run.rt.voip[step.provider]
    except KeyError:
        raise ProviderRejected(
            f"VoIP provider {step.provider!r} is no longer in the config (voip_providers); "
            "the plan was frozen when this runbook started"
        ) from None
    before = provider.read(step)
    changes = [item for item in step.items if not item.served_by(before.get(item.item))]
    if changes:
        key = f"{run.service.name}/{run.transition.id}/{step.name}"
        provider.apply(step, changes, key)
        after = provider.read(step)
        still = [c.item for c in changes if c.item in after and not c.served_by(after[c.item])]
        if still:
            raise ProviderError(
                f"{provider.label}: {', '.join(still[:5])} still not routed to the new site "
                "after the change was accepted"
            )
    changed = {c.item for c in changes}
    lines = []
    for item in step.items:
        if item.item not in changed:
            lines.append(f"already {item.shown()}")
            continue
        was = before.get(item.item)
        old = item.seen_in(was) if was else "unknown"
        lines.append(f"changed {item.shown()} (was {old})")
    summary = (
        f"{provider.label}: {len(changes)} changed, {len(step.items) - len(changes)} already "
        "right" + ("; read back" if changes else "")
    )
    return StepOutcome(summary, lines)


def _total_wait(run: Run) -> str:
    return (
        f"DNS waits in total {run.budget.waited:.1f} s of "
        f"{run.service.dns.verify_timeout:g} s allowed"
    )


EXECUTORS: dict[str, Callable[[Run, Any], StepOutcome]] = {
    "dns": _dns,
    "verify": _verify,
    "hook": _hook,
    "fence": _fence,
    "voip": _voip,
}
"""The executor of each step kind; each returns its own report lines."""


def run_transition(
    rt: Runtime,
    name: str,
    transition_id: int,
    now: Callable[[], datetime],
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> ActResult:
    """``deadline`` is on ``time.monotonic``: the end of the Lambda's time."""
    service = rt.config.service(name)
    state = rt.store.load_state(name)
    transition = state.transition
    if state.open_runbook != transition_id or transition is None:
        newer = transition is not None and transition.id > transition_id
        return ActResult(name, transition_id, "superseded" if newer else "nothing to do")
    owner = uuid.uuid4().hex
    lease_until = _lease_until(now, deadline)
    fresh = plan(rt.config, service, transition)
    outcome = _acquire(rt, name, transition_id, owner, now, lease_until, deadline, sleep, fresh)
    if outcome is not None:
        return ActResult(name, transition_id, outcome)
    budget = Budget(deadline=deadline - SAFETY_MARGIN, wait_left=service.dns.verify_timeout)
    try:
        return _run_steps(Run(rt, service, transition, budget), owner, now, deadline, sleep)
    except LostLeadership as exc:
        rt.store.append_events(name, [_lost_lease(transition_id, str(exc), now())])
        return ActResult(name, transition_id, "lost leadership")
    except Superseded:
        rt.store.append_events(name, [_superseded(transition_id, now())])
        return ActResult(name, transition_id, "superseded")
    finally:
        rt.store.release_runbook(name, owner)


def _lease_until(now: Callable[[], datetime], deadline: float) -> datetime:
    """The lease lasts as long as this invocation can: a crashed one frees it at its end."""
    return now() + timedelta(seconds=max(0.0, deadline - time.monotonic()) + 5.0)


def _acquire(
    rt: Runtime,
    name: str,
    tid: int,
    owner: str,
    now: Callable[[], datetime],
    until: datetime,
    deadline: float,
    sleep: Callable[[float], None],
    fresh: Plan,
) -> str | None:
    """Take the service's runbook lease (freezing ``fresh`` as the plan, unless an earlier
    invocation froze one); wait (bounded) while another runbook ends. Returns None once held,
    else the outcome to report."""
    give_up = min(time.monotonic() + LEASE_WAIT, deadline - SAFETY_MARGIN)
    for _ in range(int(LEASE_WAIT / LEASE_POLL) + 1):  # bounded
        try:
            rt.store.acquire_runbook(name, tid, owner, now(), until, fresh)
            return None
        except Superseded:
            # No longer open: a newer switch, or (for a duplicate invocation that waited)
            # this very runbook finished by the other one.
            latest = rt.store.load_state(name).transition
            return "superseded" if latest is not None and latest.id > tid else "nothing to do"
        except RetryableError:  # busy, or the table throttled us
            if time.monotonic() + LEASE_POLL >= give_up:
                return "busy"  # the decider starts it again at its next pass
            sleep(LEASE_POLL)
    return "busy"


def _run_steps(
    run: Run,
    owner: str,
    now: Callable[[], datetime],
    deadline: float,
    sleep: Callable[[float], None],
) -> ActResult:
    rt, name, tid = run.rt, run.service.name, run.transition.id
    record = rt.store.load_run(name, tid)
    if record.plan is None:  # acquire_runbook writes it: only a store that lost it
        raise FatalError(f"runbook #{tid} has no stored plan")
    steps = record.plan.steps
    results = record.steps
    ran: list[str] = []
    failed: Step | None = None
    for step in steps:
        previous = results.get(step.name)
        if previous is not None and previous.status in (StepStatus.DONE, StepStatus.WARNED):
            continue

        def claim(step: Step = step) -> StepResult:
            # With standby regions: no attempt starts unless this region's lease covers the
            # longest step whole (raises LostLeadership): a region that lost the lease has
            # stopped before another can take it.
            rt.leadership.cover(now(), step_seconds(run.service))
            until = _lease_until(now, deadline)
            return rt.store.claim_step(name, tid, step.name, owner, now(), until)

        started = time.perf_counter()
        try:
            done = _attempts(run, step, claim, sleep)
        except _StepFailed as failure:
            results[step.name] = _finish(run, step, started, failure.error)
            _step_event(rt, name, tid, step, f"failed: {failure.error}", now())
            if step.on_failure == "stop":
                failed = step
                break
            continue
        results[step.name] = _finish(run, step, started, done)
        _step_event(rt, name, tid, step, done.summary, now())
        ran.append(step.name)
    _close(run, owner, steps, results, now(), failed_step=failed)
    if failed is not None:
        return ActResult(name, tid, "failed", ran, failed_step=failed.name)
    return ActResult(name, tid, "done", ran)


def _step_event(rt: Runtime, name: str, tid: int, step: Step, message: str, at: datetime) -> None:
    rt.store.append_events(
        name,
        [
            Event(
                at=at,
                kind="runbook_step",
                message=f"#{tid} {step.name}: {message}",
                detail={"transition": tid, "step": step.name},
            )
        ],
    )


def _finish(run: Run, step: Step, started: float, done: StepOutcome | ArbiterError) -> StepResult:
    """Record the step's end on its last attempt's claim."""
    if isinstance(done, StepOutcome):
        status = StepStatus.WARNED if done.warning else StepStatus.DONE
        detail, lines = done.summary, done.lines
    else:
        status, detail, lines = StepStatus.FAILED, str(done), list(getattr(done, "lines", []))
    result = run.claims[step.name].model_copy(
        update={
            "status": status,
            "duration_ms": (time.perf_counter() - started) * 1000,
            "detail": detail,
            "lines": lines,
        }
    )
    run.rt.store.finish_step(run.service.name, run.transition.id, step.name, result)
    return result


class _StepFailed(Exception):
    def __init__(self, error: ArbiterError) -> None:
        self.error = error


def _attempts(
    run: Run,
    step: Step,
    claim: Callable[[], StepResult],
    sleep: Callable[[float], None],
) -> StepOutcome:
    """Run a step, retrying what may pass (after the pause the provider asked for, if it
    did). Each attempt is an external change, so each is claimed first: a superseded runbook
    (Superseded) stops before its next attempt."""
    executor = EXECUTORS[step.kind]
    for attempt in range(1, STEP_ATTEMPTS + 1):
        run.claims[step.name] = claim()
        try:
            return executor(run, step)
        except RetryableError as exc:
            asked = getattr(exc, "retry_after", None) or 0.0
            pause = max(2.0**attempt, asked)
            if attempt == STEP_ATTEMPTS or time.monotonic() + pause >= run.budget.deadline:
                raise _StepFailed(exc) from exc
            sleep(pause)
        except ArbiterError as exc:
            raise _StepFailed(exc) from exc
    raise AssertionError("unreachable")


def _close(
    run: Run,
    owner: str,
    steps: Sequence[Step],
    results: dict[str, StepResult],
    at: datetime,
    failed_step: Step | None,
) -> None:
    """Record the outcome, give the lease up and put the report in the outbox, in one
    write that only lands while the transition is current; then try to deliver it."""
    rt, tid = run.rt, run.transition.id
    report = report_alert(
        rt.config.app, run.service, run.transition, [(s, results.get(s.name)) for s in steps], at
    )
    if failed_step is None:
        event = Event(
            at=at,
            kind="runbook_done",
            message=f"#{tid} switched to {run.transition.to_site.value}",
            detail={"transition": tid},
        )
    else:
        event = Event(
            at=at,
            kind="runbook_failed",
            message=f"#{tid} step {failed_step.name} failed: {results[failed_step.name].detail}; "
            "the service is FAILED: no automatic action until an operator sends `ack`",
            alert=False,  # the report below is the alert
            detail={"transition": tid, "step": failed_step.name},
        )
    rt.store.close_runbook(run.service.name, tid, owner, failed_step is not None, [event], [report])
    rt.leadership.close(run.service.name, tid, "failed" if failed_step else "done", at)
    deliver(rt, run.service.name, [report], at)


def _superseded(tid: int, at: datetime) -> Event:
    return Event(
        at=at,
        kind="runbook_superseded",
        message=f"#{tid}: a newer switch superseded this runbook; it stopped before its next "
        "change and sends no report",
        detail={"transition": tid},
    )


def _lost_lease(tid: int, why: str, at: datetime) -> Event:
    return Event(
        at=at,
        kind="runbook_lost_lease",
        message=f"#{tid}: stopped before its next change: {why}; the leading region carries "
        "the switch on (finished steps are kept)",
        detail={"transition": tid},
    )
