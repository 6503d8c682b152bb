"""The operator's override commands: validated, applied to the state, recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from arbiter.core.config import format_loc
from arbiter.core.errors import ConflictError
from arbiter.core.machine import (
    COMMAND_NAMES,
    Command,
    Refused,
    StatusCommand,
    apply_override,
)
from arbiter.core.model import Event, ServiceState
from arbiter.runtime import Runtime
from arbiter.services.decider import after_write

COMMAND: TypeAdapter[Command] = TypeAdapter(Command)


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
                loc, message = (
                    "command",
                    (
                        f"unknown command {error['input'].get('command')!r}; expected one of "
                        "status, switch, pause, resume"
                    ),
                )
            elif error["type"] == "union_tag_not_found":
                loc, message = "command", "missing; expected one of status, switch, pause, resume"
            problems.append(f"{loc}: {message}")
        raise BadCommand(problems) from None


def _summary(rt: Runtime, state: ServiceState) -> dict[str, Any]:
    return {
        "service": state.service,
        "status": state.status.value,
        "active": state.active.value,
        "paused": state.paused,
        "failed": state.failed,
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

    for _ in range(5):
        state = rt.store.load_state(name)
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
        if isinstance(command, StatusCommand) or outcome.state.version == state.version:
            rt.store.append_events(
                name,
                [
                    Event(
                        at=now,
                        kind="override",
                        message=f"{command.operator} {command.command}: no change",
                    )
                ],
            )
            result = {"ok": True, "changed": False, "state": _summary(rt, state)}
            if isinstance(command, StatusCommand):
                events = rt.store.recent_events(name, 10)
                result["events"] = [
                    {"at": e.at.isoformat(), "kind": e.kind, "message": e.message} for e in events
                ]
            return result
        try:
            rt.store.save_state(outcome.state, state.version, outcome.events)
        except ConflictError:
            continue
        after_write(rt, name, outcome)
        return {
            "ok": True,
            "changed": True,
            "transition": outcome.transition.id if outcome.transition else None,
            "state": _summary(rt, outcome.state),
        }
    return _bad("the service's state kept changing; try again")


def _bad(message: str) -> dict[str, Any]:
    return {"ok": False, "error": "invalid override", "problems": [message]}
