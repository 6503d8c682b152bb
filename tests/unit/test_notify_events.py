"""The notify function's sample events parse with its input models, and the alarm sample
renders as the readable alert the function publishes. (tests/unit/test_events.py needs the
same two models in its MODELS table.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from arbiter.core.ops import render_ops
from arbiter.handlers.notify import NotifyEvent, NotifyTestEvent

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_the_notify_test_sample_is_valid() -> None:
    event = NotifyTestEvent.model_validate(json.loads((EVENTS / "notify-test.json").read_text()))
    assert event.notify_test.operator == "alice"


def test_the_alarm_sample_is_an_sns_event_that_renders_readably() -> None:
    event = NotifyEvent.model_validate(json.loads((EVENTS / "notify-sns-alarm.json").read_text()))
    (record,) = event.Records
    alert = render_ops("arbiter", str(record.Sns.Message), record.Sns.MessageId, datetime.now(UTC))
    assert alert.subject == "[arbiter] monitor: alarm arbiter-DecideStale FIRING"
