"""The state machine: given what the decider remembers and the new rounds, what happens now.

Pure: ``decide`` and ``apply_override`` take the state, the data and ``now`` and return the
next state, the events to log (some of them alerts) and at most one transition. The handler
writes the new state with one conditional write on its version, so two deciders that race
can never both start a runbook.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from arbiter.core.config import Config, Service, SiteName
from arbiter.core.model import (
    Event,
    Health,
    Observation,
    ServiceState,
    SiteVerdict,
    Transition,
    failing_checks,
)
from arbiter.core.vote import Tally, apply_rounds, tally


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: ServiceState
    events: list[Event] = Field(default_factory=list)
    transition: Transition | None = None
    """Set when this step decided a switch: the act function must carry it out."""
    restart_runbook: int | None = None
    """The id of a transition whose runbook must be started again (its act invocation was
    lost): the caller starts the act function for it once the state is written."""
    needs_gate: bool = False
    """An automatic failback is due but the service has a gate: ask it, then decide again
    with its answer as ``gate_open``. Nothing was decided and nothing needs writing."""

    @property
    def alerts(self) -> list[Event]:
        return [e for e in self.events if e.alert]


def _fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


class _Conditions:
    """Alert once when a condition starts and once when it clears, not every round."""

    def __init__(self, held: Sequence[str], now: datetime) -> None:
        self.before = set(held)
        self.now_held: set[str] = set()
        self.events: list[Event] = []
        self._now = now

    def hold(self, name: str, kind: str, message: str, **detail: object) -> None:
        self.now_held.add(name)
        if name not in self.before:
            self.events.append(
                Event(at=self._now, kind=kind, message=message, alert=True, detail=dict(detail))
            )

    def keep(self, name: str) -> None:
        """The condition cannot be judged this pass (e.g. while degraded): leave it as it was."""
        if name in self.before:
            self.now_held.add(name)

    def cleared(self, name: str, kind: str, message: str) -> None:
        if name in self.before and name not in self.now_held:
            self.events.append(Event(at=self._now, kind=kind, message=message, alert=True))


def decide(
    config: Config,
    service: Service,
    state: ServiceState,
    rounds: Sequence[Observation],
    now: datetime,
    gate_open: bool | None = None,
) -> Outcome:
    """``gate_open`` is the failback gate's answer, when the caller has asked it."""
    rule = config.decision
    regions = apply_rounds(state.regions, rounds, rule.fall, rule.rise)
    vote = tally(regions, config.probe_regions, now, config.stale_after, config.quorum)
    events: list[Event] = []

    verdicts = dict(state.verdicts)
    for site in SiteName:
        health = vote.verdict[site]
        if health is not state.verdicts[site].health:
            verdicts[site] = SiteVerdict(health=health, since=now)
            events.append(
                Event(
                    at=now,
                    kind="verdict",
                    message=f"{service.site_label(site)} ({vote.describe(site)})",
                    detail={"site": site.value, "health": health.value},
                )
            )

    cond = _Conditions(state.conditions, now)
    first_seen = state.first_seen or now
    warming_up = not state.quorate_once and (now - first_seen).total_seconds() < config.stale_after
    if vote.degraded and not warming_up:
        cond.hold(
            "degraded",
            "monitor_degraded",
            f"monitor degraded: {len(vote.fresh)} of {len(config.probe_regions)} regions "
            f"report fresh rounds, quorum is {vote.quorum}; no automatic action "
            f"(stale: {', '.join(vote.stale) or 'none'})",
            stale=vote.stale,
        )
    cond.cleared(
        "degraded",
        "monitor_recovered",
        f"monitor recovered: {len(vote.fresh)} of {len(config.probe_regions)} regions fresh",
    )
    for region in vote.abstained:
        cond.hold(
            f"impaired:{region}",
            "impaired_vantage",
            f"{region} sees both sites DOWN while the quorum sees one UP: "
            "treated as an impaired vantage point, its votes are abstentions",
            region=region,
        )
    for name in sorted(cond.before - cond.now_held):
        if name.startswith("impaired:"):
            cond.cleared(name, "vantage_recovered", f"{name.split(':', 1)[1]} votes again")

    _check_warnings(service, rounds, cond)

    new = state.model_copy(
        update={
            "regions": regions,
            "verdicts": verdicts,
            "first_seen": first_seen,
            "quorate_once": state.quorate_once or not vote.degraded,
        }
    )
    cond.keep("flapping")  # cleared only by an operator's resume
    transition: Transition | None = None
    if vote.degraded:
        for name in ("both_down", "no_target", "awaiting_operator", "awaiting_sync"):
            cond.keep(name)
    else:
        try:
            transition, new = _automatic(config, service, new, vote, cond, now, gate_open)
        except _AskGate:
            return Outcome(state=state, needs_gate=True)

    cond.cleared("both_down", "both_recovered", "at least one site is UP again")
    events.extend(cond.events)
    new = new.model_copy(update={"conditions": sorted(cond.now_held)})
    if transition is not None:
        events.append(
            Event(
                at=now,
                kind="switch",
                message=f"switch {transition.from_site.value} -> {transition.to_site.value}: "
                f"{transition.reason}",
                alert=False,  # the act function's notification reports it with its steps
                detail={"transition": transition.id},
            )
        )
    restart = None
    if transition is None:
        restart, new = _overdue_runbook(config, new, now, events)
    if new != state:
        new = new.model_copy(update={"version": state.version + 1})
    return Outcome(state=new, events=events, transition=transition, restart_runbook=restart)


def _overdue_runbook(
    config: Config, state: ServiceState, now: datetime, events: list[Event]
) -> tuple[int | None, ServiceState]:
    t = state.transition
    if t is None or state.runbook_done == t.id or state.failed is not None:
        return None, state
    started = state.runbook_started_at or t.decided_at
    waited = (now - started).total_seconds()
    if waited < config.decision.runbook_timeout:
        return None, state
    events.append(
        Event(
            at=now,
            kind="runbook_restarted",
            message=f"switch #{t.id} to {t.to_site.value} has not finished after "
            f"{_fmt_duration(waited)}: starting its runbook again (finished steps are kept)",
            alert=True,
            detail={"transition": t.id},
        )
    )
    return t.id, state.model_copy(update={"runbook_started_at": now})


class _AskGate(Exception):
    """A failback is due and the gate has not been asked yet."""


def _check_warnings(service: Service, rounds: Sequence[Observation], cond: _Conditions) -> None:
    """Warnings of passing checks (a certificate about to expire): one alert when one starts,
    one when no region reports it any more. Never a reason to switch."""
    warned: dict[str, str] = {}
    clean: set[str] = set()
    for obs in rounds:
        for site, result in obs.sites.items():
            for check in result.checks:
                key = f"warning:{site.value}:{check.name}"
                if check.warning:
                    warned[key] = f"{service.site_label(site)} {check.name}: {check.warning}"
                else:
                    clean.add(key)
    for key, message in sorted(warned.items()):
        cond.hold(key, "check_warning", message)
    for key in sorted(cond.before):
        if key.startswith("warning:") and key not in warned:
            if key in clean:
                _, site_name, check_name = key.split(":", 2)
                cond.cleared(
                    key, "check_warning_cleared", f"{site_name} {check_name}: no warning any more"
                )
            else:
                cond.keep(key)  # not probed in this pass: no news


def _automatic(
    config: Config,
    service: Service,
    state: ServiceState,
    vote: Tally,
    cond: _Conditions,
    now: datetime,
    gate_open: bool | None,
) -> tuple[Transition | None, ServiceState]:
    active, other = state.active, state.active.other
    verdict = vote.verdict
    labels = {site: service.site_label(site) for site in SiteName}

    target: SiteName | None = None
    reason = ""
    if verdict[active] is Health.DOWN and verdict[other] is Health.DOWN:
        cond.hold(
            "both_down",
            "both_down",
            f"both sites are DOWN ({vote.describe(SiteName.PRIMARY)}; "
            f"{vote.describe(SiteName.SECONDARY)}): changing nothing",
        )
    elif verdict[active] is Health.DOWN and verdict[other] is Health.UP:
        target = other
        reason = (
            f"{labels[active]} ({vote.describe(active)}); {labels[other]} ({vote.describe(other)})"
        )
    elif verdict[active] is Health.DOWN:
        cond.hold(
            "no_target",
            "no_target",
            f"{labels[active]} is DOWN but {labels[other]} is not UP "
            f"({vote.describe(other)}): not switching",
        )
    elif active is SiteName.SECONDARY and verdict[SiteName.PRIMARY] is Health.UP:
        up_since = state.verdicts[SiteName.PRIMARY].since or now
        held = (now - up_since).total_seconds()
        if service.failback.policy == "manual":
            cond.hold(
                "awaiting_operator",
                "awaiting_operator",
                f"{labels[SiteName.PRIMARY]} is healthy again "
                f"({vote.describe(SiteName.PRIMARY)}): awaiting an operator to switch back",
            )
        elif held >= service.failback.hold:
            reason = (
                f"failback: {labels[SiteName.PRIMARY]} UP for {_fmt_duration(held)} "
                f"(hold {_fmt_duration(service.failback.hold)})"
            )
            if service.failback.gate is None:
                target = SiteName.PRIMARY
            elif state.paused or state.failed is not None:
                pass  # no automatic action: don't bother the gate
            elif gate_open is None:
                raise _AskGate()
            elif gate_open:
                target = SiteName.PRIMARY
                reason += "; gate says data is synced back"
            else:
                cond.hold(
                    "awaiting_sync",
                    "awaiting_sync",
                    f"{labels[SiteName.PRIMARY]} is healthy again but the failback gate says "
                    "data is not synced back yet: staying on the secondary",
                )

    if target is None or state.paused or state.failed is not None:
        # PAUSED or FAILED: votes and alerts go on, but nothing switches by itself.
        return None, state

    window_start = now - timedelta(seconds=config.decision.switch_window)
    recent = [t for t in state.switches if t > window_start]
    if len(recent) >= config.decision.max_switches:
        cond.hold(
            "flapping",
            "flap_damped",
            f"flap damping: {len(recent)} automatic switches in the last "
            f"{_fmt_duration(config.decision.switch_window)} (max "
            f"{config.decision.max_switches}); automatic actions paused. Would have switched "
            f"to {labels[target]}: {reason}. Resume with the override function.",
        )
        return None, state.model_copy(
            update={"paused": True, "reason": "flap damping", "since": now}
        )

    transition = Transition(
        id=state.version + 1,
        from_site=active,
        to_site=target,
        reason=reason,
        decided_at=now,
        by="decider",
        votes=vote.matrix,
        failing=failing_checks(state.regions),
    )
    return transition, state.model_copy(
        update={
            "active": target,
            "since": now,
            "reason": reason,
            "transition": transition,
            "runbook_started_at": now,
            "switches": [*recent, now],
        }
    )


# -- operator overrides ---------------------------------------------------------------


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = Field(default=None, min_length=1)
    """Which service; may be left out when the config has only one."""
    operator: str = Field(default="operator", min_length=1, max_length=128)
    """Who sent it, for the event log."""


class StatusCommand(_Command):
    command: Literal["status"]


class SwitchCommand(_Command):
    command: Literal["switch"]
    to: SiteName
    reason: str = Field(min_length=1, max_length=500)
    force: bool = False
    """Skip the health gate: switch even if the target is not UP."""


class PauseCommand(_Command):
    command: Literal["pause"]
    reason: str = Field(default="paused by operator", min_length=1, max_length=500)


class ResumeCommand(_Command):
    command: Literal["resume"]


class AckCommand(_Command):
    """Acknowledge a FAILED runbook: automatic actions may resume."""

    command: Literal["ack"]
    reason: str = Field(default="acknowledged", min_length=1, max_length=500)


Command = Annotated[
    StatusCommand | SwitchCommand | PauseCommand | ResumeCommand | AckCommand,
    Field(discriminator="command"),
]
COMMAND_NAMES = ("status", "switch", "pause", "resume", "ack")


class Refused(Exception):
    """The command is well-formed but not allowed in this state; nothing changed."""


def apply_override(
    state: ServiceState, command: Command, service: Service, now: datetime
) -> Outcome:
    who = command.operator
    if isinstance(command, StatusCommand):
        return Outcome(state=state)
    if isinstance(command, PauseCommand):
        if state.paused:
            return Outcome(state=state)
        new = state.model_copy(
            update={"paused": True, "reason": command.reason, "version": state.version + 1}
        )
        event = Event(
            at=now, kind="override", message=f"{who} paused: {command.reason}", alert=True
        )
        return Outcome(state=new, events=[event])
    if isinstance(command, AckCommand):
        if state.failed is None:
            return Outcome(state=state)
        new = state.model_copy(
            update={
                "failed": None,
                "reason": f"failure of #{state.failed} acknowledged by {who}: {command.reason}",
                "version": state.version + 1,
            }
        )
        event = Event(
            at=now,
            kind="override",
            message=f"{who} acknowledged the failed switch #{state.failed}: {command.reason}",
            alert=True,
        )
        return Outcome(state=new, events=[event])
    if isinstance(command, ResumeCommand):
        if not state.paused:
            return Outcome(state=state)
        conditions = [c for c in state.conditions if c != "flapping"]
        new = state.model_copy(
            update={
                "paused": False,
                "reason": f"resumed by {who}",
                "conditions": conditions,
                "switches": [],
                "version": state.version + 1,
            }
        )
        event = Event(at=now, kind="override", message=f"{who} resumed", alert=True)
        return Outcome(state=new, events=[event])

    target = command.to
    health = state.verdicts[target].health
    if target is state.active and not command.force:
        raise Refused(f"{target.value} is already active (use force to re-run the runbook)")
    if health is not Health.UP and not command.force:
        raise Refused(
            f"{target.value} is {health.value}, not UP: refusing to switch "
            "(set force: true to override the health gate)"
        )
    transition = Transition(
        id=state.version + 1,
        from_site=state.active,
        to_site=target,
        reason=f"operator {who}: {command.reason}",
        decided_at=now,
        by="operator",
        votes={
            region: {site: t.health for site, t in track.sites.items()}
            for region, track in state.regions.items()
        },
        failing=failing_checks(state.regions),
        forced=command.force,
    )
    new = state.model_copy(
        update={
            "active": target,
            "since": now,
            "reason": transition.reason,
            "transition": transition,
            "runbook_started_at": now,
            "conditions": [c for c in state.conditions if c != "awaiting_operator"],
            "failed": None,
            "version": state.version + 1,
        }
    )
    event = Event(
        at=now,
        kind="override",
        message=f"{who} switched to {target.value}"
        + (" (forced past the health gate)" if command.force else "")
        + f": {command.reason}",
        detail={"transition": transition.id},
    )
    return Outcome(state=new, events=[event], transition=transition)
