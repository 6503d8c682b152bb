"""Every sample event under events/ parses with the model of the function it is for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from arbiter.core.machine import COMMAND_NAMES, Command
from arbiter.handlers.events import (
    ActEvent,
    DrillEvent,
    ScheduleEvent,
    StreamEvent,
    stream_services,
)
from arbiter.handlers.notify import NotifyEvent, NotifyTestEvent
from arbiter.handlers.round_events import RoundsEvent, TickEvent

EVENTS = Path(__file__).resolve().parents[2] / "events"
MODELS = {
    "probe-schedule": ScheduleEvent,
    "probe-sqs": RoundsEvent,
    "tick-schedule": TickEvent,
    "decide-schedule": ScheduleEvent,
    "decide-stream": StreamEvent,
    "act": ActEvent,
    "act-drill": DrillEvent,
    "notify-test": NotifyTestEvent,
    "notify-sns-alarm": NotifyEvent,
    "notify-sns-alert": NotifyEvent,
}


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_sample_event_is_valid(path: Path) -> None:
    payload = json.loads(path.read_text())
    if path.stem.startswith("override-"):
        command = TypeAdapter(Command).validate_python(payload)
        assert command.command == path.stem.removeprefix("override-")
    else:
        MODELS[path.stem].model_validate(payload)


def test_every_command_has_a_sample() -> None:
    names = {p.stem for p in EVENTS.glob("override-*.json")}
    assert names == {f"override-{c}" for c in COMMAND_NAMES}
    assert set(MODELS) <= {p.stem for p in EVENTS.glob("*.json")}


def test_stream_sample_names_its_service() -> None:
    event = StreamEvent.model_validate(json.loads((EVENTS / "decide-stream.json").read_text()))
    assert stream_services(event) == ["web"]
