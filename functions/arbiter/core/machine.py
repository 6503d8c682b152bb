"""The state machine: given what the decider remembers and the new rounds, what happens now.

Pure: ``decide`` and ``apply_override`` take the state, the data and ``now`` and return the
next state, the events to log (some of them alerts) and at most one transition. The caller
writes the new state with one conditional write on its version (its alerts in the same
transaction), so two deciders that race can never both start a runbook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from arbiter.core.config import Config, Service, SiteName
from arbiter.core.deferred import DeferredModel
from arbiter.core.model import (
    Event,
    Health,
    Observation,
    ServiceState,
    SiteVerdict,
    Transition,
    failing_checks,
)
from arbiter.core.vote import Folded, Tally, apply_rounds, tally

ACT_START_GRACE = 10.0
"""Seconds after a runbook was started by which its act invocation must hold the runbook's
lease; past that, with no live lease, the next decide pass starts it again."""


class Outcome(DeferredModel):
    model_config = ConfigDict(frozen=True)

    state: ServiceState
    events: list[Event] = Field(default_factory=list)
    transition: Transition | None = None
    """Set when this step decided a switch: the act function must carry it out."""
    restart_runbook: int | None = None
    """The id of a transition whose runbook must be started again (no act invocation holds
    it): the caller starts the act function for it once the state is written."""
    needs_gate: bool = False
    """An automatic failback is due but the service has a gate: ask it, then decide again
    with its answer as ``gate_open``. Nothing was decided and nothing needs writing."""
    vote: Tally | None = None
    """The vote a decide pass judged by (None for an operator's command): what the dashboard
    graphs as regions voting each site UP."""

    @property
    def alerts(self) -> list[Event]:
        return [e for e in self.events if e.alert]


def fmt_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


# -- conditions: announced once when they start, once when they clear -----------------------


def _cleared(name: str, service: Service, state: ServiceState) -> tuple[str, str]:
    """The event kind and message that announce that condition ``name`` has cleared."""
    prefix, _, arg = name.partition(":")

    def seen(site: SiteName) -> str:
        return f"{service.site_label(site)} {state.verdicts[site].health.value}"

    sites = f"{seen(SiteName.PRIMARY)}, {seen(SiteName.SECONDARY)}"
    messages: dict[str, tuple[str, str]] = {
        "degraded": ("monitor_recovered", "monitor recovered: a quorum of regions reports again"),
        "both_down": ("both_recovered", f"at least one site is UP again ({sites})"),
        "impaired": ("vantage_recovered", f"{arg} votes again"),
        "skew": ("clock_skew_cleared", f"{arg}: rounds are stamped in time again"),
        "tie": ("tie_cleared", f"the vote on {arg} is no longer split ({sites})"),
        "no_target": ("no_target_cleared", f"no longer stuck without a target ({sites})"),
        "awaiting_operator": (
            "awaiting_operator_cleared",
            f"no longer awaiting an operator to switch back ({sites}; active: "
            f"{service.site_label(state.active)})",
        ),
        "awaiting_sync": (
            "awaiting_sync_cleared",
            f"no longer waiting for the failback gate ({sites}; active: "
            f"{service.site_label(state.active)})",
        ),
        "flapping": ("flap_cleared", "flap damping cleared: automatic actions resume"),
        "standby_down": (
            "standby_recovered",
            f"the standby is no longer DOWN: failover possible again ({sites})",
        ),
    }
    if prefix == "warning":
        site, _, check = arg.partition(":")
        return "check_warning_cleared", f"{site} {check}: no warning any more"
    return messages.get(prefix, (f"{prefix}_cleared", f"{name} cleared"))


def cleared_events(
    before: Sequence[str],
    after: Sequence[str],
    service: Service,
    state: ServiceState,
    now: datetime,
) -> list[Event]:
    """One alert for each condition held before and not after."""
    events = []
    for name in sorted(set(before) - set(after)):
        kind, message = _cleared(name, service, state)
        detail: dict[str, object] = {"condition": name}
        if name == "standby_down":
            detail["site"] = state.active.other.value
        elif name == "no_target":
            detail.update(site=state.active.value, standby=state.active.other.value)
        elif name in ("awaiting_operator", "awaiting_sync"):
            detail["site"] = SiteName.PRIMARY.value
        events.append(Event(at=now, kind=kind, message=message, alert=True, detail=detail))
    return events


class _Conditions:
    """The conditions held by this pass; the caller announces the new and the cleared."""

    def __init__(self, held: Sequence[str], now: datetime) -> None:
        self.before = set(held)
        self.now_held: set[str] = set()
        self.events: list[Event] = []
        self._now = now

    def hold(self, name: str, kind: str, message: str, **detail: object) -> None:
        self.now_held.add(name)
        if name not in self.before:
            self.events.append(
                Event(
                    at=self._now,
                    kind=kind,
                    message=message,
                    alert=True,
                    detail={"condition": name, **detail},
                )
            )

    def keep(self, name: str) -> None:
        """The condition cannot be judged this pass (e.g. while degraded): leave it as it was."""
        if name in self.before:
            self.now_held.add(name)

    def keep_prefixed(self, prefix: str) -> None:
        for name in self.before:
            if name.startswith(prefix):
                self.now_held.add(name)


# -- decide ------------------------------------------------------------------------------


def decide(
    config: Config,
    service: Service,
    state: ServiceState,
    rounds: Sequence[Observation],
    now: datetime,
    gate_open: bool | None = None,
    runbook_live: bool = False,
) -> Outcome:
    """``gate_open`` is the failback gate's answer, when the caller has asked it;
    ``runbook_live`` says an act invocation holds the service's runbook lease now."""
    rule = config.decision
    folded = apply_rounds(
        state.regions,
        rounds,
        rule.fall,
        rule.rise,
        now=now,
        stale_after=config.stale_after,
        skew=rule.clock_skew,
        refused=state.refused_rounds,
    )
    vote = tally(
        folded.tracks, config.probe_regions, now, config.stale_after, config.quorum, rule.clock_skew
    )
    verdicts, events = _verdicts(service, state, vote, now)
    cond = _Conditions(state.conditions, now)
    first_seen = state.first_seen or now
    new = state.model_copy(
        update={
            "regions": folded.tracks,
            "verdicts": verdicts,
            "first_seen": first_seen,
            "quorate_once": state.quorate_once or not vote.degraded,
            "abstaining_since": {r: state.abstaining_since.get(r, now) for r in vote.abstained},
            "refused_rounds": _refused(config, state, folded, now),
        }
    )
    _monitor_conditions(config, service, new, vote, folded, cond, now)
    _check_warnings(service, rounds, cond)

    transition: Transition | None = None
    cond.keep("flapping")  # cleared only by an operator's resume
    if vote.degraded or vote.ties:
        # No quorum, or a split vote: no automatic action, and no news on these conditions.
        for name in ("both_down", "no_target", "awaiting_operator", "awaiting_sync"):
            cond.keep(name)
        cond.keep("standby_down")
    else:
        try:
            transition, new = _automatic(config, service, new, vote, cond, now, gate_open)
        except _AskGate:
            return Outcome(state=state, needs_gate=True)

    events.extend(cond.events)
    events.extend(cleared_events(sorted(cond.before), sorted(cond.now_held), service, new, now))
    new = new.model_copy(update={"conditions": sorted(cond.now_held)})
    restart = None
    if transition is not None:
        events.append(
            Event(
                at=now,
                kind="switch",
                message=f"switch {transition.from_site.value} -> {transition.to_site.value}: "
                f"{transition.reason}",
                alert=False,  # the act function's report announces it with its steps
                detail={"transition": transition.id},
            )
        )
    else:
        restart, new = _restart_runbook(new, now, runbook_live, events)
    if new != state:
        new = new.model_copy(update={"version": state.version + 1})
    return Outcome(
        state=new, events=events, transition=transition, restart_runbook=restart, vote=vote
    )


def _refused(
    config: Config, state: ServiceState, folded: Folded, now: datetime
) -> dict[str, dict[str, datetime]]:
    """The rounds refused as future so far, less those no query can return any more."""
    floor = now - timedelta(seconds=config.lookback)
    refused: dict[str, dict[str, datetime]] = {}
    for region in sorted({*state.refused_rounds, *folded.future}):
        rounds = {**state.refused_rounds.get(region, {}), **folded.future.get(region, {})}
        kept = {rid: at for rid, at in sorted(rounds.items()) if at >= floor}
        if kept:
            refused[region] = kept
    return refused


def _verdicts(
    service: Service, state: ServiceState, vote: Tally, now: datetime
) -> tuple[dict[SiteName, SiteVerdict], list[Event]]:
    verdicts = dict(state.verdicts)
    events = []
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
    return verdicts, events


def _monitor_conditions(
    config: Config,
    service: Service,
    state: ServiceState,
    vote: Tally,
    folded: Folded,
    cond: _Conditions,
    now: datetime,
) -> None:
    """The monitor's own health: degraded, clocks ahead, impaired vantage points, ties."""
    warming_up = (
        not state.quorate_once
        and (now - (state.first_seen or now)).total_seconds() < config.stale_after
    )
    if vote.degraded and not warming_up:
        cond.hold(
            "degraded",
            "monitor_degraded",
            f"monitor degraded: {len(vote.fresh)} of {len(config.probe_regions)} regions "
            f"report fresh rounds, quorum is {vote.quorum}; no automatic action "
            f"(stale: {', '.join(vote.stale) or 'none'})",
            stale=vote.stale,
        )
    elif vote.degraded:
        cond.keep("degraded")

    for region, stamps in sorted(folded.future.items()):
        stamped = max(stamps.values())
        ahead = (stamped - now).total_seconds()
        cond.hold(
            f"skew:{region}",
            "clock_skew",
            f"{region}: a round stamped {stamped.isoformat()} is {fmt_duration(ahead)} ahead "
            f"of the decider's clock (allowance {fmt_duration(config.decision.clock_skew)}): "
            "ignored; its correctly stamped rounds still count",
            region=region,
        )
    for name in cond.before:
        region = name.removeprefix("skew:")
        if name.startswith("skew:") and region not in folded.in_time:
            cond.keep(name)  # no round in time from that region yet: no news about its clock
    for region in folded.restarted:
        cond.events.append(
            Event(
                at=now,
                kind="region_restarted",
                message=f"{region} reports again after a silence longer than "
                f"{fmt_duration(config.stale_after)}: it starts fresh (no health, no counts)",
                detail={"region": region},
            )
        )

    grace = (config.decision.fall + 1) * config.probe.interval
    for region, since in sorted(state.abstaining_since.items()):
        if (now - since).total_seconds() >= grace:
            cond.hold(
                f"impaired:{region}",
                "impaired_vantage",
                f"{region} sees both sites DOWN while the quorum sees one UP: treated as an "
                "impaired vantage point, its votes are abstentions",
                region=region,
            )
        else:
            cond.keep(f"impaired:{region}")

    if not vote.degraded:
        for site in vote.ties:
            cond.hold(
                f"tie:{site.value}",
                "tie",
                f"the vote on {service.site_label(site)} is split ({vote.describe(site)}): "
                "UNKNOWN, no automatic action",
                site=site.value,
            )
    else:
        cond.keep_prefixed("tie:")


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
        if key.startswith("warning:") and key not in warned and key not in clean:
            cond.keep(key)  # not probed in this pass: no news


def _restart_runbook(
    state: ServiceState, now: datetime, runbook_live: bool, events: list[Event]
) -> tuple[int | None, ServiceState]:
    """A decided runbook that no act invocation holds (its invocation was lost, or failed to
    start) is started again at the next pass: it resumes, so nothing runs twice."""
    tid = state.open_runbook
    if tid is None or runbook_live or state.transition is None:
        return None, state
    started = state.runbook_started_at or state.transition.decided_at
    waited = (now - started).total_seconds()
    if waited < ACT_START_GRACE:
        return None, state
    events.append(
        Event(
            at=now,
            kind="runbook_restarted",
            message=f"switch #{tid} to {state.transition.to_site.value}: no act invocation "
            f"has held its runbook for {fmt_duration(waited)}; starting it again "
            "(finished steps are kept)",
            detail={"transition": tid},
        )
    )
    return tid, state.model_copy(update={"runbook_started_at": now})


# -- automatic switching ---------------------------------------------------------------------


def _labels(service: Service) -> dict[SiteName, str]:
    return {site: service.site_label(site) for site in SiteName}


def _choose_target(
    service: Service,
    state: ServiceState,
    vote: Tally,
    cond: _Conditions,
    now: datetime,
    gate_open: bool | None,
) -> tuple[SiteName | None, str]:
    """Where the service should go now, and why; holds the conditions that stop it."""
    active, other = state.active, state.active.other
    verdict = vote.verdict
    labels = _labels(service)
    if verdict[active] is Health.DOWN and verdict[other] is Health.DOWN:
        cond.hold(
            "both_down",
            "both_down",
            f"both sites are DOWN ({vote.describe(SiteName.PRIMARY)}; "
            f"{vote.describe(SiteName.SECONDARY)}): changing nothing",
        )
        return None, ""
    if verdict[active] is Health.DOWN:
        if _forced_onto_down_site(state):
            return None, ""
        if verdict[other] is Health.UP:
            return other, (
                f"{labels[active]} ({vote.describe(active)}); "
                f"{labels[other]} ({vote.describe(other)})"
            )
        cond.hold(
            "no_target",
            "no_target",
            f"{labels[active]} is DOWN but {labels[other]} is not UP "
            f"({vote.describe(other)}): not switching",
            site=active.value,
            standby=other.value,
        )
        return None, ""
    if active is SiteName.PRIMARY and verdict[other] is Health.DOWN:
        cond.hold(
            "standby_down",
            "standby_down",
            f"no failover possible: the standby {labels[other]} is DOWN "
            f"({vote.describe(other)}) while {labels[active]} serves",
            site=other.value,
        )
    if active is SiteName.SECONDARY and verdict[SiteName.PRIMARY] is Health.UP:
        return _failback(service, state, vote, cond, now, gate_open)
    return None, ""


def _forced_onto_down_site(state: ServiceState) -> bool:
    """An operator forced the service onto a site the quorum already saw DOWN: the pin holds
    until that site has been seen UP again; a DOWN that starts after the pin fails over."""
    if state.pinned is not state.active or state.pinned_at is None:
        return False
    since = state.verdicts[state.active].since
    return since is not None and since <= state.pinned_at


def _failback(
    service: Service,
    state: ServiceState,
    vote: Tally,
    cond: _Conditions,
    now: datetime,
    gate_open: bool | None,
) -> tuple[SiteName | None, str]:
    if state.pinned is not None:
        return None, ""  # an operator put it here: no automatic failback until `resume`
    label = service.site_label(SiteName.PRIMARY)
    if service.failback.policy == "manual":
        cond.hold(
            "awaiting_operator",
            "awaiting_operator",
            f"{label} is healthy again ({vote.describe(SiteName.PRIMARY)}): awaiting an "
            "operator to switch back",
            site=SiteName.PRIMARY.value,
        )
        return None, ""
    up_since = state.verdicts[SiteName.PRIMARY].since or now
    held = (now - up_since).total_seconds()
    if held < service.failback.hold:
        return None, ""
    reason = (
        f"failback: {label} UP for {fmt_duration(held)} "
        f"(hold {fmt_duration(service.failback.hold)})"
    )
    if service.failback.gate is None:
        return SiteName.PRIMARY, reason
    if state.paused or state.failed is not None:
        return None, ""  # no automatic action: don't bother the gate
    if gate_open is None:
        raise _AskGate()
    if gate_open:
        return SiteName.PRIMARY, reason + "; gate says data is synced back"
    cond.hold(
        "awaiting_sync",
        "awaiting_sync",
        f"{label} is healthy again but the failback gate says data is not synced back yet: "
        "staying on the secondary",
        site=SiteName.PRIMARY.value,
    )
    return None, ""


def _automatic(
    config: Config,
    service: Service,
    state: ServiceState,
    vote: Tally,
    cond: _Conditions,
    now: datetime,
    gate_open: bool | None,
) -> tuple[Transition | None, ServiceState]:
    target, reason = _choose_target(service, state, vote, cond, now, gate_open)
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
            f"{fmt_duration(config.decision.switch_window)} (max "
            f"{config.decision.max_switches}); automatic actions paused. Would have switched "
            f"to {_labels(service)[target]}: {reason}. Resume with the override function.",
        )
        return None, state.model_copy(
            update={"paused": True, "reason": "flap damping", "since": now}
        )

    transition = Transition(
        id=state.version + 1,
        from_site=state.active,
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
            "pinned": None,  # failing away from a pinned site ends the pin
            "pinned_at": None,
        }
    )


# -- operator overrides ---------------------------------------------------------------

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[StrictStr, Field(min_length=1, max_length=500, pattern=_NO_CONTROL)]


class _Command(DeferredModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    service: StrictStr | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9-]*$"
    )
    """Which service; may be left out when the config has only one."""
    operator: StrictStr = Field(
        default="operator", min_length=1, max_length=128, pattern=_NO_CONTROL
    )
    """Who sent it, for the event log."""


class StatusCommand(_Command):
    """Read the state: writes nothing."""

    command: Literal["status"]


class SwitchCommand(_Command):
    """Switch to a site and pin the service there until ``resume``."""

    command: Literal["switch"]
    to: SiteName
    reason: Text
    force: StrictBool = False
    """Skip the health gate: switch even if the target is not UP."""


class PauseCommand(_Command):
    command: Literal["pause"]
    reason: Text = "paused by operator"


class ResumeCommand(_Command):
    """Automatic actions resume: ends a pause, flap damping and an operator's pin."""

    command: Literal["resume"]


class AckCommand(_Command):
    """Acknowledge a FAILED runbook: it is settled as the operator left it."""

    command: Literal["ack"]
    reason: Text = "acknowledged"


class DrillCommand(_Command):
    """Rehearse the service's switch without making it (``services/drill.py``). Not a state
    change: the override function runs it through the act function and never passes it to
    ``apply_override``."""

    command: Literal["drill"]


HISTORY_KINDS = ("switches", "conditions", "overrides", "all")


class HistoryCommand(_Command):
    """Read the service's event log, newest first, one page at a time: writes nothing. Not
    a state change: the override function reads the log and never passes it to
    ``apply_override``."""

    command: Literal["history"]
    limit: StrictInt = Field(default=50, ge=1, le=200)
    """Events per page."""
    before: StrictStr | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$"
    )
    """The cursor the previous page returned as ``next``: the page after it."""
    kinds: Literal["switches", "conditions", "overrides", "all"] = "all"
    """Only switches (decided, carried out, failed), conditions (and the sites' verdicts),
    or the operators' overrides."""


Command = Annotated[
    StatusCommand
    | SwitchCommand
    | PauseCommand
    | ResumeCommand
    | AckCommand
    | DrillCommand
    | HistoryCommand,
    Field(discriminator="command"),
]
COMMAND_NAMES = ("status", "switch", "pause", "resume", "ack", "drill", "history")
READ_ONLY = ("status", "drill", "history")
"""Commands that change no state: ``apply_override`` never sees them."""


class Refused(Exception):
    """The command is well-formed but not allowed in this state; nothing changed."""


def _changed(state: ServiceState, event: Event, **update: Any) -> Outcome:
    new = state.model_copy(update={**update, "version": state.version + 1})
    return Outcome(state=new, events=[event])


def _status(state: ServiceState, command: Any, service: Service, now: datetime) -> Outcome:
    return Outcome(state=state)


def _pause(state: ServiceState, command: Any, service: Service, now: datetime) -> Outcome:
    if state.paused:
        return Outcome(state=state)
    who = command.operator
    event = Event(
        at=now,
        kind="paused",
        message=f"paused by {who}: {command.reason}",
        alert=True,
        detail={"operator": who, "reason": command.reason},
    )
    return _changed(state, event, paused=True, reason=command.reason, since=now)


def _resume(state: ServiceState, command: Any, service: Service, now: datetime) -> Outcome:
    if not state.paused and state.pinned is None:
        return Outcome(state=state)
    what = []
    if state.paused:
        what.append("automatic actions resume")
    if state.pinned is not None:
        what.append(f"the pin on {service.site_label(state.pinned)} is lifted")
    event = Event(
        at=now,
        kind="resumed",
        message=f"resumed by {command.operator}: {'; '.join(what)}",
        alert=True,
        detail={"operator": command.operator},
    )
    conditions = [c for c in state.conditions if c != "flapping"]
    new = state.model_copy(
        update={
            "paused": False,
            "pinned": None,
            "pinned_at": None,
            "reason": f"resumed by {command.operator}",
            "conditions": conditions,
            "switches": [],
            "version": state.version + 1,
        }
    )
    cleared = cleared_events(state.conditions, conditions, service, new, now)
    return Outcome(state=new, events=[event, *cleared])


def _ack(state: ServiceState, command: Any, service: Service, now: datetime) -> Outcome:
    if state.failed is None:
        return Outcome(state=state)
    who, tid = command.operator, state.failed
    event = Event(
        at=now,
        kind="acked",
        message=f"failed switch #{tid} acknowledged by {who}: {command.reason}; it is "
        "settled as left and never re-run",
        alert=True,
        detail={"transition": tid, "operator": who, "reason": command.reason},
    )
    return _changed(
        state,
        event,
        failed=None,
        settled=tid,
        reason=f"failure of #{tid} acknowledged by {who}: {command.reason}",
    )


def _switch(state: ServiceState, command: Any, service: Service, now: datetime) -> Outcome:
    target: SiteName = command.to
    who = command.operator
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
    event = Event(
        at=now,
        kind="override",
        message=f"{who} switched to {target.value}"
        + (" (forced past the health gate)" if command.force else "")
        + f": {command.reason}; pinned there until `resume`",
        detail={
            "transition": transition.id,
            "operator": who,
            "reason": command.reason,
            "to": target.value,
            "forced": command.force,
        },
    )
    outcome = _changed(
        state,
        event,
        active=target,
        since=now,
        reason=transition.reason,
        transition=transition,
        runbook_started_at=now,
        failed=None,
        pinned=target,
        pinned_at=now,
    )
    return outcome.model_copy(update={"transition": transition})


_OVERRIDES: dict[str, Callable[[ServiceState, Any, Service, datetime], Outcome]] = {
    "status": _status,
    "history": _status,  # a read: nothing changes (the override function reads the log)
    "switch": _switch,
    "pause": _pause,
    "resume": _resume,
    "ack": _ack,
}


def apply_override(
    state: ServiceState, command: Command, service: Service, now: datetime
) -> Outcome:
    return _OVERRIDES[command.command](state, command, service, now)
