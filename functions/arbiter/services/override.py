"""The operator's override commands: validated, applied to the state, recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from arbiter.core.alerts import state_alerts
from arbiter.core.config import format_loc
from arbiter.core.errors import ArbiterError, ConflictError
from arbiter.core.machine import (
    COMMAND_NAMES,
    Command,
    DrillCommand,
    Refused,
    StatusCommand,
    apply_override,
)
from arbiter.core.model import Event, ServiceState
from arbiter.runtime import Runtime
from arbiter.services.decider import after_write

COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
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


def _summary(rt: Runtime, state: ServiceState) -> dict[str, Any]:
    return {
        "service": state.service,
        "status": state.status.value,
        "active": state.active.value,
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
    }


def handle(rt: Runtime, payload: Any, now: datetime) -> dict[str, Any]:
    """Never raises for the operator's mistakes: returns ``{"ok": False, "error": ...}``."""
    try:
        command = parse_command(payload)
    except BadCommand as exc:
        return {"ok": False, "error": "invalid override", "problems": exc.problems}
    names = [s.name for s in rt.config.services]
    name = command.service
    if name is None:
        if len(names) != 1:
            return _bad(f"service: required when there are several services ({', '.join(names)})")
        name = names[0]
    if name not in names:
        return _bad(f"service: unknown service {name!r}; known: {', '.join(names)}")
    service = rt.config.service(name)

    if isinstance(command, StatusCommand):
        return _status(rt, name)  # a read: writes nothing
    if isinstance(command, DrillCommand):
        return _drill(rt, name)  # read-only, run by the act function: writes no state
    for _ in range(5):
        snap = rt.store.load(name)
        state = snap.state
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
                    )
                ],
            )
            return {"ok": False, "error": str(exc), "state": _summary(rt, state)}
        if outcome.state.version == state.version:
            event = Event(
                at=now, kind="override", message=f"{command.operator} {command.command}: no change"
            )
            rt.store.append_events(name, [event])
            return {"ok": True, "changed": False, "state": _summary(rt, state)}
        alerts = state_alerts(rt.config.app, service, outcome.state.version, outcome.events)
        try:
            rt.store.save_state(outcome.state, state.version, outcome.events, alerts)
        except ConflictError:
            continue
        after_write(rt, name, outcome, [*snap.outbox, *alerts], now)
        return {
            "ok": True,
            "changed": True,
            "transition": outcome.transition.id if outcome.transition else None,
            "state": _summary(rt, outcome.state),
        }
    return _bad("the service's state kept changing; try again")


def _status(rt: Runtime, name: str) -> dict[str, Any]:
    snap = rt.store.load(name)
    events = rt.store.recent_events(name, 10)
    summary = _summary(rt, snap.state)
    summary["pending_alerts"] = len(snap.outbox)
    return {
        "ok": True,
        "changed": False,
        "state": summary,
        "events": [{"at": e.at.isoformat(), "kind": e.kind, "message": e.message} for e in events],
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
