"""The probe's queued path (intervals below 60 s): one round per message, stamped with its
boundary; a stale message dropped; a duplicate delivery harmless and counted; a malformed
message refused naming the field. Against moto's table and stream, checks on loopback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from arbiter.core.schedule import stamp
from arbiter.handlers import probe
from arbiter.local import aws as local_aws
from arbiter.local.context import LocalContext
from arbiter.observability import metrics
from tests.emf import emitted, logged, stdout_records
from tests.factories import T0, config_dict
from tests.integration.servers import HttpSite
from tests.integration.world import HOME, World, make_world

pytestmark = [pytest.mark.integration, pytest.mark.allow_hosts(["127.0.0.1", "::1"])]
EVENTS = Path(__file__).resolve().parents[2] / "events"
BOUNDARY = T0 + timedelta(seconds=70)
REGION = "eu-central-1"


def queued_round(body: str, receive_count: int = 1) -> dict[str, Any]:
    event = json.loads((EVENTS / "probe-sqs.json").read_text())
    event["Records"][0]["body"] = body
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


def round_at(at: datetime, receive_count: int = 1) -> dict[str, Any]:
    return queued_round(json.dumps({"round_at": stamp(at)}), receive_count)


@pytest.fixture
def world(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """10 s rounds, one HTTP check per site on loopback; metrics printed (the demo turns them
    off for the process)."""
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.clear_metrics()
    with HttpSite() as site:
        data = config_dict(probe={"interval": "10s"})
        for name in ("primary", "secondary"):
            data["services"][0][name]["checks"] = [
                {"type": "http", "name": "h", "url": site.url_for("/"), "timeout": 2}
            ]
        built = make_world(data)
        built.rt.region = REGION
        yield built


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    with logged() as buffer:
        yield buffer


def observation_keys(world: World) -> list[str]:
    return sorted(i["sk"]["S"] for i in world.items() if i["sk"]["S"].startswith("OBS#"))


def test_a_queued_round_is_stamped_with_its_boundary_not_its_arrival(world: World) -> None:
    world.clock.now = BOUNDARY + timedelta(seconds=2.3)  # arrived 2.3 s after its boundary
    result = probe.handler(round_at(BOUNDARY), LocalContext())
    assert result == {"region": REGION, "rounds": 1, "stale": 0}
    assert observation_keys(world) == [f"OBS#2026-01-01T12:01:10.000000Z#{REGION}"]
    (obs,) = world.store.rounds_since("web", T0)
    assert obs.round_at == BOUNDARY and obs.region == REGION


def test_a_message_more_than_half_an_interval_late_is_dropped_and_counted(
    world: World, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a message for 12:01:10 redelivered after a failed invocation, 5.5 s late
    world.clock.now = BOUNDARY + timedelta(seconds=5.5)
    # When the probe receives it
    result = probe.handler(round_at(BOUNDARY, receive_count=2), LocalContext())
    # Then no round runs, nothing is written, and the drop is logged and counted
    assert result == {"region": REGION, "rounds": 0, "stale": 1}
    assert observation_keys(world) == []
    (line,) = [r for r in stdout_records(logs.getvalue()) if r["message"] == "stale round dropped"]
    assert line["round_at"] == "2026-01-01T12:01:10Z"
    assert line["late_seconds"] == 5.5 and line["receive_count"] == 2
    assert emitted(stdout_records(capsys.readouterr().out), "RoundsStale") == [1.0]


def test_exactly_half_an_interval_late_still_runs(world: World) -> None:
    world.clock.now = BOUNDARY + timedelta(seconds=5)
    assert probe.handler(round_at(BOUNDARY), LocalContext())["rounds"] == 1


def test_a_duplicate_delivery_writes_nothing_streams_nothing_and_is_counted(
    world: World, logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one round message delivered twice (SQS standard: at least once)
    world.clock.now = BOUNDARY + timedelta(seconds=0.4)
    first = probe.handler(round_at(BOUNDARY), LocalContext())
    world.clock.now = BOUNDARY + timedelta(seconds=1.2)
    second = probe.handler(round_at(BOUNDARY), LocalContext())
    # Then both ran a round, but one observation is stored and one stream record written
    assert first["rounds"] == second["rounds"] == 1
    assert observation_keys(world) == [f"OBS#2026-01-01T12:01:10.000000Z#{REGION}"]
    streams = boto3.client("dynamodbstreams", region_name=HOME)
    stream = local_aws.stream_events(streams, world.stream_arn, {})["Records"]
    assert [r["eventName"] for r in stream] == ["INSERT"]
    # ...and the duplicate is logged and counted, its checks not counted a second time
    messages = [r["message"] for r in stdout_records(logs.getvalue())]
    assert messages.count("round recorded") == 1
    assert messages.count("round already recorded: duplicate dropped") == 1
    records = stdout_records(capsys.readouterr().out)
    # the duplicate is the one metric: a recorded round sends none
    assert emitted(records, "RoundsDuplicate") == [1.0]
    assert [r for r in records if "_aws" in r and "RoundsDuplicate" not in r] == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"round_at": "2026-01-01T12:01:10"}', "Records[0].body.round_at: Input should have "),
        ('{"round_at": "soon"}', "Records[0].body.round_at: Input should be a valid datetime"),
        ("{}", "Records[0].body.round_at: Field required"),
        ('{"round_at": "2026-01-01T12:01:10Z", "token": "x"}', "Records[0].body.token: unknown"),
        ("not json", "Records[0].body: Invalid JSON"),
    ],
)
def test_a_malformed_message_is_refused_naming_the_field_and_changes_nothing(
    world: World, body: str, problem: str
) -> None:
    world.clock.now = BOUNDARY
    result = probe.handler(queued_round(body), LocalContext())
    assert result["ok"] is False and result["error"] == "malformed probe event"
    assert any(p.startswith(problem) for p in result["problems"]), result["problems"]
    assert world.items() == []


def test_a_malformed_sqs_event_is_refused(world: World) -> None:
    result = probe.handler({"Records": [{"eventSource": "aws:sns"}]}, LocalContext())
    assert result["ok"] is False
    assert "Records[0].messageId: Field required" in result["problems"]
    assert world.items() == []


def test_a_schedule_event_runs_one_round_stamped_now_at_any_interval(world: World) -> None:
    """What a manual ``aws lambda invoke`` with the schedule sample does below 60 s."""
    event = json.loads((EVENTS / "probe-schedule.json").read_text())
    result = probe.handler(event, LocalContext())
    assert result == {"region": REGION, "rounds": 1}
    assert observation_keys(world) == [f"OBS#2026-01-01T12:00:00.000000Z#{REGION}"]
