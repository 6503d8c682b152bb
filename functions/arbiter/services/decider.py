"""One decide pass for one service: read, decide (pure core), write conditionally, then act.

The write is one DynamoDB transaction conditional on the state's version, so when two
deciders race only one of them records a transition and starts the act function; the other
re-reads, finds the rounds already applied, and decides nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from arbiter.adapters.hooks import ask_gate
from arbiter.core.errors import ConflictError
from arbiter.core.machine import Outcome, decide
from arbiter.core.model import Event, ServiceState
from arbiter.observability import logger
from arbiter.runtime import Runtime

MAX_ATTEMPTS = 5


@dataclass
class Pass:
    outcome: Outcome
    written: bool
    attempts: int


def rounds_window_start(rt: Runtime, state: ServiceState, now: datetime) -> datetime:
    """The oldest round that can still matter: after each region's last applied round,
    but never older than what fall/rise and staleness can look back on."""
    cfg = rt.config
    lookback = cfg.stale_after + max(cfg.decision.fall, cfg.decision.rise) * cfg.probe.interval
    floor = now - timedelta(seconds=lookback)
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
        state = rt.store.load_state(name)
        rounds = rt.store.rounds_since(name, rounds_window_start(rt, state, now))
        outcome = decide(rt.config, service, state, rounds, now)
        if outcome.needs_gate and service.failback.gate is not None:
            is_open, why = ask_gate(rt.hooks, service.failback.gate, name)
            outcome = decide(rt.config, service, state, rounds, now, gate_open=is_open)
            if not is_open:
                logger.info("failback gate closed", service=name, reason=why)
        if outcome.state.version == state.version:
            return Pass(outcome, written=False, attempts=attempt)
        try:
            rt.store.save_state(outcome.state, state.version, outcome.events)
        except ConflictError:
            continue
        after_write(rt, name, outcome)
        return Pass(outcome, written=True, attempts=attempt)
    raise ConflictError(f"{name}: state kept changing under {MAX_ATTEMPTS} attempts")


def after_write(rt: Runtime, name: str, outcome: Outcome) -> None:
    """Once the state is written: send the alerts, start the runbook."""
    for event in outcome.alerts:
        send_alert(rt, name, event)
    if outcome.transition is not None:
        rt.invoker.start(name, outcome.transition.id)
    elif outcome.restart_runbook is not None:
        rt.invoker.start(name, outcome.restart_runbook)


def send_alert(rt: Runtime, service: str, event: Event) -> None:
    subject = f"[{rt.config.app}] {service}: {event.kind.replace('_', ' ')}"
    rt.notifier.publish(subject, f"{event.message}\n\nat {event.at.isoformat()}\n")
