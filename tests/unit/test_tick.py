"""The ticker: batches of ten, one more try for failed entries, the rest reported; the handler
validates its event and its settings."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from arbiter import ticker
from arbiter.adapters.queue import Delayed
from arbiter.handlers import tick as tick_handler
from arbiter.local.context import LocalContext
from arbiter.observability import metrics
from arbiter.services.tick import tick
from arbiter.ticker import Ticker, TickerSetting, interval_from
from tests.emf import emitted, logged, stdout_records

M = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
EVENTS = Path(__file__).resolve().parents[2] / "events"


def s(seconds: float) -> datetime:
    return M + timedelta(seconds=seconds)


class FakeQueue:
    """Records each batch; fails the entries whose boundary is in ``failing`` (as many times
    as listed), or every entry of a request while ``down``."""

    def __init__(self, failing: Sequence[str] = (), down: int = 0) -> None:
        self.batches: list[list[Delayed]] = []
        self.failing = list(failing)
        self.down = down

    def send_batch(self, messages: Sequence[Delayed]) -> dict[str, str]:
        assert len(messages) <= 10
        assert len({m.id for m in messages}) == len(messages)
        self.batches.append(list(messages))
        if self.down:
            self.down -= 1
            return {m.id: "SQS send_message_batch: ServiceUnavailable" for m in messages}
        failed = {}
        for m in messages:
            at = json.loads(m.body)["round_at"]
            if at in self.failing:
                self.failing.remove(at)
                failed[m.id] = "SQS send_message_batch: InternalError"
        return failed

    def sent(self) -> list[tuple[str, int]]:
        return [(json.loads(m.body)["round_at"], m.delay) for b in self.batches for m in b]


class Clock:
    def __init__(self, *times: datetime) -> None:
        self.times = list(times)

    def __call__(self) -> datetime:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_sixty_rounds_go_in_six_batches_of_ten_each_body_naming_only_its_boundary() -> None:
    queue = FakeQueue()
    report = tick(queue, M, 1, Clock(s(2)))
    assert [len(b) for b in queue.batches] == [10] * 6
    assert queue.sent()[0] == ("2026-11-22T09:01:00Z", 58)
    assert queue.sent()[-1] == ("2026-11-22T09:01:59Z", 117)
    assert all(set(json.loads(m.body)) == {"round_at"} for b in queue.batches for m in b)
    assert len(report.queued) == 60 and report.retried == 0 and not report.unsent


def test_six_rounds_go_in_one_batch() -> None:
    queue = FakeQueue()
    tick(queue, M, 10, Clock(s(1)))
    assert [len(b) for b in queue.batches] == [6]


def test_failed_entries_are_tried_once_more_with_delays_from_the_later_clock() -> None:
    queue = FakeQueue(failing=["2026-11-22T09:01:20Z", "2026-11-22T09:01:40Z"])
    report = tick(queue, M, 20, Clock(s(1), s(3)))
    assert [len(b) for b in queue.batches] == [3, 2]
    assert [(m.delay) for m in queue.batches[1]] == [77, 97]  # 80 - 3, 100 - 3
    assert sorted(report.queued) == [s(60), s(80), s(100)]
    assert report.retried == 2 and report.unsent == {}


def test_what_fails_twice_is_reported_with_sqss_reason_and_not_tried_a_third_time() -> None:
    queue = FakeQueue(failing=["2026-11-22T09:01:30Z"] * 3)
    report = tick(queue, M, 30, Clock(s(1)))
    assert len(queue.batches) == 2
    assert report.queued == [s(60)]
    assert report.unsent == {s(90): "SQS send_message_batch: InternalError"}


def test_a_whole_failed_request_fails_each_of_its_entries_and_each_is_retried() -> None:
    queue = FakeQueue(down=2)
    report = tick(queue, M, 5, Clock(s(1)))
    assert [len(b) for b in queue.batches] == [10, 2, 10, 2]
    assert len(report.queued) == 12 and report.retried == 12 and not report.unsent


def test_a_retry_that_comes_too_late_for_a_boundary_drops_it_as_late() -> None:
    queue = FakeQueue(failing=["2026-11-22T09:01:00Z"])
    report = tick(queue, M, 10, Clock(s(58), s(66)))  # the retry runs 6 s past 09:01:00
    assert report.late == [s(60)] and s(60) not in report.queued and not report.unsent


# -- the handler --------------------------------------------------------------------------


@pytest.fixture
def installed() -> Iterator[FakeQueue]:
    queue = FakeQueue()
    ticker.install(Ticker(interval=15, queue=queue, clock=lambda: s(2.2)))
    try:
        yield queue
    finally:
        ticker.install(None)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    with logged() as buffer:
        yield buffer


def sample() -> dict[str, Any]:
    return json.loads((EVENTS / "tick-schedule.json").read_text())


def test_the_handler_queues_the_minute_after_the_events_minute(installed: FakeQueue) -> None:
    result = tick_handler.handler(sample(), LocalContext())
    assert result == {"scheduled": "2026-11-22T09:00:00Z", "queued": 4, "late": 0, "unqueued": 0}
    assert installed.sent() == [
        ("2026-11-22T09:01:00Z", 58),
        ("2026-11-22T09:01:15Z", 73),
        ("2026-11-22T09:01:30Z", 88),
        ("2026-11-22T09:01:45Z", 103),
    ]


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics printed (the demo turns them off for the process)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.clear_metrics()


def test_a_tick_that_went_well_emits_no_metric(
    installed: FakeQueue, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    tick_handler.handler(sample(), LocalContext())
    names = ("RoundsLate", "RoundsUnqueued")
    records = stdout_records(capsys.readouterr().out)
    assert all(emitted(records, name) == [] for name in names)


def test_a_late_tick_logs_and_counts_what_it_dropped(
    installed: FakeQueue, log_lines: io.StringIO, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ticker.install(Ticker(interval=15, queue=installed, clock=lambda: s(85)))
    result = tick_handler.handler(sample(), LocalContext())
    assert result["late"] == 2 and result["queued"] == 2
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (late,) = [x for x in lines if x["message"].startswith("late tick")]
    assert late["dropped"] == ["2026-11-22T09:01:00Z", "2026-11-22T09:01:15Z"]
    assert emitted(stdout_records(capsys.readouterr().out), "RoundsLate") == [2.0]


def test_rounds_not_queued_after_the_retry_are_logged_with_the_reason_and_counted(
    log_lines: io.StringIO, emf: None, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = FakeQueue(failing=["2026-11-22T09:01:45Z"] * 2)
    ticker.install(Ticker(interval=15, queue=queue, clock=lambda: s(2)))
    try:
        result = tick_handler.handler(sample(), LocalContext())
    finally:
        ticker.install(None)
    assert result["queued"] == 3 and result["unqueued"] == 1
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (error,) = [x for x in lines if x["message"] == "rounds not queued"]
    assert error["level"] == "ERROR"
    assert error["rounds"] == {"2026-11-22T09:01:45Z": "SQS send_message_batch: InternalError"}
    assert emitted(stdout_records(capsys.readouterr().out), "RoundsUnqueued") == [1.0]


def test_a_malformed_event_is_refused_naming_the_field_and_sends_nothing(
    installed: FakeQueue,
) -> None:
    event = sample()
    event["time"] = "2026-11-22T09:00:00"  # no zone
    result = tick_handler.handler(event, LocalContext())
    assert result["ok"] is False
    assert result["problems"] == ["time: Input should have timezone info"]
    assert installed.batches == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "ARBITER_PROBE_INTERVAL: None is not a number of seconds"),
        ("ten", "ARBITER_PROBE_INTERVAL: 'ten' is not a number of seconds"),
        ("60", "ARBITER_PROBE_INTERVAL: 60 s: the ticker serves intervals from 1 s"),
        ("7", "ARBITER_PROBE_INTERVAL: 7 s: the ticker serves intervals from 1 s"),
        ("0.5", "ARBITER_PROBE_INTERVAL: 0.5 s: the ticker serves intervals from 1 s"),
    ],
)
def test_an_interval_setting_the_ticker_cannot_serve_is_refused_by_name(
    text: str | None, problem: str
) -> None:
    with pytest.raises(TickerSetting) as raised:
        interval_from(text)
    assert str(raised.value).startswith(problem)


def test_the_ticker_needs_its_queue_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBITER_PROBE_INTERVAL", "10")
    monkeypatch.delenv("ARBITER_ROUNDS_QUEUE_URL", raising=False)
    with pytest.raises(TickerSetting, match="ARBITER_ROUNDS_QUEUE_URL is not set"):
        ticker.from_env()
    monkeypatch.setenv("ARBITER_ROUNDS_QUEUE_URL", "https://sqs.eu-central-1.amazonaws.com/1/q")
    built = ticker.from_env()
    assert built.interval == 10.0
