"""The operator's override commands: validated, applied to the state, recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from arbiter.adapters.store import MAX_PAGE, BadCursor
from arbiter.core.alerts import SEVERITY, condition_headline, state_alerts
from arbiter.core.config import Service, SiteName, format_loc
from arbiter.core.errors import ArbiterError, ConflictError
from arbiter.core.ledger import adopt, with_adoption
from arbiter.core.machine import (
    COMMAND_NAMES,
    Command,
    DrillCommand,
    HistoryCommand,
    Refused,
    StatusCommand,
    apply_override,
)
from arbiter.core.model import Event, ServiceState
from arbiter.runtime import Runtime
from arbiter.services.decider import after_write

COMMAND: TypeAdapter[Command] = TypeAdapter(Command, config=ConfigDict(defer_build=True))
EXPECTED = ", ".join(COMMAND_NAMES)


def _shown(value: Any, limit: int = 40) -> str:
    """A bounded echo of what the caller sent: never a megabyte back into a log."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BadCommand(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_command(payload: Any) -> Command:
    if not isinstance(payload, dict):
        raise BadCommand(['(payload): expected a JSON object such as {"command": "status"}'])
    try:
        return COMMAND.validate_python(payload)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = format_loc(tuple(error["loc"]))
            for tag in COMMAND_NAMES:
                loc = loc.removeprefix(f"{tag}.")
            if loc in COMMAND_NAMES:
                loc = "(payload)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            elif error["type"] == "union_tag_invalid":
                sent = _shown(error["input"].get("command"))
                loc, message = "command", f"unknown command {sent}; expected one of {EXPECTED}"
            elif error["type"] == "union_tag_not_found":
                loc, message = "command", f"missing; expected one of {EXPECTED}"
            problems.append(f"{loc}: {message}")
        raise BadCommand(problems) from None


def _summary(rt: Runtime, state: ServiceState, now: datetime) -> dict[str, Any]:
    """The state as the operator reads it: the active site by name whatever the status
    says (PAUSED and FAILED hide it), each probe region's freshness and verdicts, the open
    conditions in words. Made from the state alone: no read."""
    service = rt.config.service(state.service)
    return {
        "service": state.service,
        "status": state.status.value,
        "active": state.active.value,
        "active_label": service.site_label(state.active),
        "site_labels": {site.value: service.site_label(site) for site in SiteName},
        "paused": state.paused,
        "pinned": state.pinned.value if state.pinned else None,
        "pinned_at": state.pinned_at.isoformat() if state.pinned_at else None,
        "failed": state.failed,
        "settled": state.settled,
        "open_runbook": state.open_runbook,
        "version": state.version,
        "since": state.since.isoformat() if state.since else None,
        "reason": state.reason,
        "sites": {site.value: v.health.value for site, v in state.verdicts.items()},
        "regions": {
            region: {site.value: t.health.value for site, t in track.sites.items()}
            for region, track in sorted(state.regions.items())
        },
        "conditions": state.conditions,
        "transition": state.transition.model_dump(mode="json") if state.transition else None,
        "runbook_done": state.runbook_done,
        "checked_at": now.isoformat(),
        "stale_after": rt.config.stale_after,
        "freshness": _freshness(rt, state, now),
        "open_conditions": [
            {
                "name": name,
                "headline": condition_headline(name, service, _condition_detail(name, state)),
                "severity": SEVERITY.get(name.partition(":")[0], "warning"),
            }
            for name in state.conditions
        ],
    }


def handle(rt: Runtime, payload: Any, now: datetime) -> dict[str, Any]:
    """Never raises for the operator's mistakes: returns ``{"ok": False, "error": ...}``."""
    try:
        command = parse_command(payload)
    except BadCommand as exc:
        return {"ok": False, "error": "invalid override", "problems": exc.problems}
    names = [s.name for s in rt.config.services]
    name = command.service
    if name is None and isinstance(command, StatusCommand):
        return _status_all(rt, now)  # every service, one entry each
    if name is None:
        if len(names) != 1:
            return _bad(f"service: required when there are several services ({', '.join(names)})")
        name = names[0]
    if name not in names:
        return _bad(f"service: unknown service {name!r}; known: {', '.join(names)}")
    service = rt.config.service(name)

    if isinstance(command, StatusCommand):
        return _status(rt, service, now)  # a read: writes nothing
    if isinstance(command, HistoryCommand):
        return _history(rt, name, command)  # a read: writes nothing
    if isinstance(command, DrillCommand):
        return _drill(rt, name)  # read-only, run by the act function: writes no state
    refusal = _not_leader(rt, now)
    if refusal is not None:
        return refusal
    for _ in range(5):
        snap = rt.store.load(name)
        loaded = snap.state
        state, adopted = adopt(loaded, rt.leadership.entries().get(name))
        try:
            outcome = apply_override(state, command, service, now)
        except Refused as exc:
            rt.store.append_events(
                name,
                [
                    Event(
                        at=now,
                        kind="override_refused",
                        message=f"{command.operator} {command.command}: refused: {exc}",
                        detail=_who(command),
                    )
                ],
            )
            return {"ok": False, "error": str(exc), "state": _summary(rt, state, now)}
        if adopted is not None:
            outcome = with_adoption(outcome, adopted, state.version)
        if outcome.state.version == loaded.version:
            event = Event(
                at=now,
                kind="override",
                message=f"{command.operator} {command.command}: no change",
                detail=_who(command),
            )
            rt.store.append_events(name, [event])
            return {"ok": True, "changed": False, "state": _summary(rt, state, now)}
        if outcome.transition is not None:
            rt.leadership.record(name, outcome.transition, now)
        alerts = state_alerts(rt.config.app, service, outcome.state.version, outcome.events)
        try:
            rt.store.save_state(outcome.state, loaded.version, outcome.events, alerts)
        except ConflictError:
            continue
        if state.failed is not None and outcome.state.settled == state.failed:
            rt.leadership.close(name, state.failed, "settled", now)
        after_write(rt, name, outcome, [*snap.outbox, *alerts], now)
        return {
            "ok": True,
            "changed": True,
            "transition": outcome.transition.id if outcome.transition else None,
            "state": _summary(rt, outcome.state, now),
        }
    return _bad("the service's state kept changing; try again")


def _not_leader(rt: Runtime, now: datetime) -> dict[str, Any] | None:
    """A command that changes state runs only where the decider leads (with standby regions):
    elsewhere it is refused, naming the leading region, and nothing is written."""
    try:
        if rt.leadership.hold(now):
            return None
    except ArbiterError as exc:
        return {
            "ok": False,
            "error": f"this region ({rt.leadership.region}) cannot reach the lease table: {exc}",
            "leader": None,
        }
    term = rt.leadership.term()
    leader = term.holder if term is not None else None
    return {
        "ok": False,
        "error": f"this region ({rt.leadership.region}) is a standby; the decider leads in "
        f"{leader or 'no region yet'}: send the command there",
        "leader": leader,
    }


def _who(command: Command) -> dict[str, object]:
    """Who sent an override and why, as structured detail of its event (for history)."""
    detail: dict[str, object] = {"operator": command.operator, "command": command.command}
    reason = getattr(command, "reason", None)
    if isinstance(reason, str):
        detail["reason"] = reason
    return detail


# -- status ------------------------------------------------------------------------------


def _status(rt: Runtime, service: Service, now: datetime) -> dict[str, Any]:
    """One service: its entry, and its last 10 events (oldest first)."""
    entry = _service_status(rt, service, now)
    events = rt.store.recent_events(service.name, 10)
    return {
        "ok": True,
        "changed": False,
        "state": entry,
        "services": [entry],
        "events": [
            {"at": e.at.isoformat(), "kind": e.kind, "who": _who_of(e), "message": e.message}
            for e in events
        ],
    }


def _status_all(rt: Runtime, now: datetime) -> dict[str, Any]:
    """Every service of the config, in config order: what on-call looks at first."""
    entries = [_service_status(rt, service, now) for service in rt.config.services]
    return {"ok": True, "changed": False, "checked_at": now.isoformat(), "services": entries}


def _service_status(rt: Runtime, service: Service, now: datetime) -> dict[str, Any]:
    """The summary, and what only a read tells: the alerts not yet delivered, and who
    paused the service."""
    snap = rt.store.load(service.name)
    state = snap.state
    entry = _summary(rt, state, now)
    entry.update(
        pending_alerts=len(snap.outbox),
        outbox=[{"key": a.key, "subject": a.subject, "at": a.at.isoformat()} for a in snap.outbox],
    )
    entry.update(_paused(rt, state))
    return entry


def _freshness(rt: Runtime, state: ServiceState, now: datetime) -> list[dict[str, Any]]:
    """Every probe region (those that never reported too): when its last round was, how
    old that is, whether it still votes, and what it sees."""
    regions = [
        *rt.config.probe_regions,
        *(r for r in state.regions if r not in rt.config.probe_regions),
    ]
    out = []
    for region in regions:
        track = state.regions.get(region)
        last = track.last_round_at if track else None
        age = (now - last).total_seconds() if last else None
        out.append(
            {
                "region": region,
                "last_round_at": last.isoformat() if last else None,
                "age": age,
                "fresh": age is not None and age <= rt.config.stale_after,
                "sites": {site.value: t.health.value for site, t in track.sites.items()}
                if track
                else {},
                "failing": {
                    site.value: t.last_reason
                    for site, t in track.sites.items()
                    if t.last_reason not in ("", "ok")
                }
                if track
                else {},
            }
        )
    return out


def _condition_detail(name: str, state: ServiceState) -> dict[str, object]:
    """What the condition's start event said it was about: the state holds only its name."""
    if name == "standby_down":
        return {"site": state.active.other.value}
    if name == "no_target":
        return {"site": state.active.value, "standby": state.active.other.value}
    if name in ("awaiting_operator", "awaiting_sync"):
        return {"site": SiteName.PRIMARY.value}
    return {}


PAUSE_LOOKUP_PAGES = 3


def _paused(rt: Runtime, state: ServiceState) -> dict[str, Any]:
    """Who paused the service and when (``since`` moves with every later change): flap
    damping, or the latest ``paused`` event's operator (a few pages back at most: a
    status must stay a quick read)."""
    if not state.paused:
        return {"paused_by": None, "paused_at": None}
    if state.reason == "flap damping":
        return {"paused_by": "flap damping", "paused_at": _iso(state.since)}
    cursor = None
    for _ in range(PAUSE_LOOKUP_PAGES):
        page = rt.store.events_page(state.service, 50, cursor)
        for event in page.events:
            if event.kind == "paused":
                return {"paused_by": _who_of(event), "paused_at": event.at.isoformat()}
        if page.next is None:
            break
        cursor = page.next
    return {"paused_by": None, "paused_at": None}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# -- history -----------------------------------------------------------------------------

SWITCH_KINDS = frozenset(
    {"switch", "runbook_done", "runbook_failed", "runbook_superseded", "runbook_restarted"}
)
OVERRIDE_KINDS = frozenset({"override", "override_refused", "paused", "resumed", "acked", "drill"})
CONDITION_KINDS = frozenset({"verdict", "region_restarted"})
HISTORY_READS = 10
"""Pages of the log one history call reads at most while filtering by kind (2,000 events):
it then answers with what it found and a cursor to go on from."""


def _category(event: Event) -> str:
    """``switch``, ``condition``, ``override`` or ``runbook`` (a step's progress)."""
    if event.kind in SWITCH_KINDS or (event.kind == "override" and "transition" in event.detail):
        return "switch"
    if event.kind in OVERRIDE_KINDS:
        return "override"
    if "condition" in event.detail or event.kind in CONDITION_KINDS:
        return "condition"
    return "runbook" if event.kind.startswith("runbook") else "other"


_WANTED = {"switches": "switch", "conditions": "condition", "overrides": "override"}


def _wanted(event: Event, kinds: str) -> bool:
    if kinds == "all":
        return True
    category = _category(event)
    if kinds == "overrides":  # an operator's switch is both a switch and an override
        return category == "override" or event.kind == "override"
    return category == _WANTED[kinds]


def _who_of(event: Event) -> str | None:
    """Who caused it: the operator of an override, else the function that decided it."""
    operator = event.detail.get("operator")
    if isinstance(operator, str):
        return operator
    # events logged before ``operator`` was kept: the name is in the message
    if event.kind in ("override", "override_refused"):
        return event.message.split(" ", 1)[0]
    if event.kind in ("paused", "resumed", "acked"):
        return _after_by(event.message)
    if event.kind == "drill":
        return None
    if event.kind.startswith("runbook_") and event.kind != "runbook_restarted":
        return "runbook"
    return "decider"


def _after_by(message: str) -> str | None:
    """``paused by alice: ...`` -> ``alice`` (events logged before ``operator`` was kept)."""
    _, sep, rest = message.partition(" by ")
    return rest.split(":", 1)[0].split(" ", 1)[0] if sep else None


def _history_entry(event: Event) -> dict[str, Any]:
    reason = event.detail.get("reason")
    return {
        "at": event.at.isoformat(),
        "kind": event.kind,
        "category": _category(event),
        "who": _who_of(event),
        "why": reason if isinstance(reason, str) else None,
        "message": event.message,
        "alert": event.alert,
        "detail": event.model_dump(mode="json")["detail"],
    }


def _history(rt: Runtime, name: str, command: HistoryCommand) -> dict[str, Any]:
    """A page of the audit log, newest first, and the cursor of the next page (None: this
    was the oldest). A filtered page may hold fewer than ``limit`` events and still have a
    next one: only a missing ``next`` means the end."""
    found: list[Event] = []
    cursor = command.before
    next_cursor: str | None = None
    try:
        for _ in range(HISTORY_READS):
            size = command.limit - len(found) if command.kinds == "all" else MAX_PAGE
            page = rt.store.events_page(name, size, cursor)
            next_cursor = page.next
            for i, (event, after) in enumerate(zip(page.events, page.cursors, strict=True)):
                if not _wanted(event, command.kinds):
                    continue
                found.append(event)
                if len(found) == command.limit:
                    last = i == len(page.events) - 1
                    next_cursor = page.next if last else after
                    break
            if len(found) == command.limit or page.next is None:
                break
            cursor = page.next
    except BadCursor as exc:
        return _bad(f"before: {exc}")
    return {
        "ok": True,
        "changed": False,
        "service": name,
        "kinds": command.kinds,
        "events": [_history_entry(e) for e in found],
        "next": next_cursor,
    }


def _drill(rt: Runtime, name: str) -> dict[str, Any]:
    """This function does not hold the runbook's credentials: the act function, which does,
    runs the drill while this one waits for its checklist."""
    from arbiter.adapters.invoker import DrillInvoker
    from arbiter.services.drill import DrillReport

    if not isinstance(rt.invoker, DrillInvoker):
        return {"ok": False, "error": "the drill could not run: this runtime cannot start one"}
    try:
        answer = rt.invoker.drill(name)
    except ArbiterError as exc:
        return {"ok": False, "error": f"the drill could not run: {exc}"}
    drills = answer.get("drills")
    if not isinstance(drills, list) or len(drills) != 1:
        problems = answer.get("problems")
        error = answer.get("error") or "the act function's answer holds no checklist"
        return {"ok": False, "error": f"the drill could not run: {error}"} | (
            {"problems": problems} if isinstance(problems, list) else {}
        )
    try:
        report = DrillReport.model_validate(drills[0])
    except ValueError:
        return {"ok": False, "error": "the drill could not run: its checklist does not parse"}
    return {"ok": report.ok, "drill": report.model_dump(mode="json")}


def _bad(message: str) -> dict[str, Any]:
    return {"ok": False, "error": "invalid override", "problems": [message]}
