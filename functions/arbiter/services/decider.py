"""One decide pass for one service: read, decide (pure core), write conditionally, then act.

The write is one DynamoDB transaction conditional on the state's version, with the alerts it
causes (the outbox), so when two deciders race only one of them records a transition and
starts the act function; the other re-reads, finds the rounds already applied, and decides
nothing new. Once written, the runbook is started first, and only then are alerts delivered:
a notification failure never blocks or delays a switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arbiter.adapters.hooks import ask_gate
from arbiter.core.alerts import state_alerts
from arbiter.core.errors import ArbiterError, ConflictError
from arbiter.core.ledger import adopt, with_adoption
from arbiter.core.machine import Outcome, decide
from arbiter.core.model import Alert, ServiceState
from arbiter.observability import logger
from arbiter.runtime import Runtime
from arbiter.services.outbox import Delivery, deliver

MAX_ATTEMPTS = 5


@dataclass
class Pass:
    outcome: Outcome
    written: bool
    attempts: int
    invoke_failed: bool = False
    """The act function could not be started: the next pass starts it again."""
    delivery: Delivery = field(default_factory=Delivery)


def rounds_window_start(rt: Runtime, state: ServiceState, now: datetime) -> datetime:
    """The oldest round that can still matter: after each region's last applied round,
    but never older than what fall/rise and staleness can look back on."""
    cfg = rt.config
    floor = now - timedelta(seconds=cfg.lookback)
    seen = [
        state.regions[r].last_round_at
        for r in cfg.probe_regions
        if r in state.regions and state.regions[r].last_round_at is not None
    ]
    if len(seen) < len(cfg.probe_regions):
        return floor
    return max(floor, min(t for t in seen if t is not None))


def decide_service(rt: Runtime, name: str, now: datetime) -> Pass:
    service = rt.config.service(name)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        snap = rt.store.load(name)
        loaded = snap.state
        # With standby regions: a switch another region decided, that this region's copy of
        # the table has not received, is taken from the ledger first (core/ledger.py).
        state, adopted = adopt(loaded, rt.leadership.entries().get(name))
        rounds = rt.store.rounds_since(name, rounds_window_start(rt, state, now))
        live = snap.runbook_live(now)
        outcome = decide(rt.config, service, state, rounds, now, runbook_live=live)
        if outcome.needs_gate and service.failback.gate is not None:
            is_open, why = ask_gate(rt.hooks, service.failback.gate, name)
            outcome = decide(
                rt.config, service, state, rounds, now, gate_open=is_open, runbook_live=live
            )
            if not is_open:
                logger.info("failback gate closed", service=name, reason=why)
        if adopted is not None:
            outcome = with_adoption(outcome, adopted, state.version)
        if outcome.state.version == loaded.version:
            delivery = deliver(rt, name, snap.outbox, now) if snap.outbox else Delivery()
            return Pass(outcome, written=False, attempts=attempt, delivery=delivery)
        if outcome.transition is not None:
            # In the ledger before anywhere else: no region can decide another switch in its
            # place, and none acts on one that is not there. Raises LostLeadership.
            rt.leadership.record(name, outcome.transition, now)
        alerts = state_alerts(rt.config.app, service, outcome.state.version, outcome.events)
        try:
            rt.store.save_state(outcome.state, loaded.version, outcome.events, alerts)
        except ConflictError:
            continue
        invoke_failed, delivery = after_write(rt, name, outcome, [*snap.outbox, *alerts], now)
        return Pass(outcome, True, attempt, invoke_failed, delivery)
    raise ConflictError(f"{name}: state kept changing under {MAX_ATTEMPTS} attempts")


def after_write(
    rt: Runtime, name: str, outcome: Outcome, alerts: Sequence[Alert], now: datetime
) -> tuple[bool, Delivery]:
    """Once the state is written: start the runbook first, then deliver the alerts. Returns
    whether starting the runbook failed (the next pass starts it again)."""
    tid = outcome.transition.id if outcome.transition else outcome.restart_runbook
    invoke_failed = False
    if tid is not None:
        try:
            rt.invoker.start(name, tid)
        except ArbiterError as exc:
            invoke_failed = True
            logger.error("act function not started", service=name, transition=tid, error=str(exc))
    return invoke_failed, deliver(rt, name, alerts, now)
