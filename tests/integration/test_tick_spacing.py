"""The spacing of sub-minute rounds, end to end in real time: the real ticker handler sends
its delayed messages to an SQS queue (moto, in process: it holds each message back for its
DelaySeconds, checked by ``test_moto_honours_delay_seconds``), a stand-in for Lambda's event
source mapping receives each one as it becomes visible and runs the real probe handler on
it, and the rounds' receive times are measured.

The ticker owns the minute after its scheduled minute, so the clock the functions read is
the real clock shifted to 2.4 s before that minute starts: the first round is due 2.4 s
after the tick, the tenth 20.4 s after (a tick that runs late in its minute, as EventBridge
allows). The figures are printed (``pytest -s``) for the README.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from arbiter import ticker
from arbiter.adapters.queue import SqsRoundQueue
from arbiter.core.schedule import scheduled_minute, stamp
from arbiter.handlers import probe
from arbiter.handlers import tick as tick_handler
from arbiter.handlers.round_events import RoundMessage
from arbiter.local.context import LocalContext
from tests.factories import config_dict
from tests.integration.servers import HttpSite
from tests.integration.world import HOME, World, make_world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(90),
]
INTERVAL = 2
ROUNDS = 10
LEAD = 2.4
"""Seconds from the tick to the first boundary."""
TOLERANCE = 1.5
"""Whole-second delays (±0.5 s), the stand-in's 50 ms polling and a round's own run time."""
POLL = 0.05


def test_moto_honours_delay_seconds(aws: None) -> None:
    """The stand-in is only as good as its queue: a delayed message must stay invisible."""
    sqs = boto3.client("sqs", region_name=HOME)
    url = sqs.create_queue(QueueName="delays")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=2)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    sent = time.monotonic()
    got: list[Any] = []
    while not got and time.monotonic() - sent < 5:  # bounded
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            time.sleep(POLL)
    assert got and time.monotonic() - sent >= 1.9


@pytest.fixture
def rig(aws: None) -> Iterator[tuple[World, str, str]]:
    """2 s rounds, one loopback HTTP check per site; the rounds queue; a shifted clock."""
    with HttpSite() as site:
        data = config_dict(probe={"interval": INTERVAL})
        for name in ("primary", "secondary"):
            data["services"][0][name]["checks"] = [
                {"type": "http", "name": "h", "url": site.url_for("/"), "timeout": 1}
            ]
        world = make_world(data)
        sqs = boto3.client("sqs", region_name=HOME)
        url = sqs.create_queue(QueueName="arbiter-rounds")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        try:
            yield world, url, arn["Attributes"]["QueueArn"]
        finally:
            ticker.install(None)


def esm_event(message: dict[str, Any], arn: str) -> dict[str, Any]:
    """One received message, shaped as the event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": HOME,
            }
        ]
    }


def test_rounds_from_the_ticker_through_a_delaying_queue_are_evenly_spaced(
    rig: tuple[World, str, str],
) -> None:
    world, url, arn = rig
    sqs = boto3.client("sqs", region_name=HOME)
    # Given a clock that reads 2.4 s before the minute after the scheduled one
    minute = scheduled_minute(datetime.now(UTC)) + timedelta(minutes=10)
    shift = minute + timedelta(seconds=60 - LEAD) - datetime.now(UTC)

    def clock() -> datetime:
        return datetime.now(UTC) + shift

    world.rt.clock = clock
    ticker.install(ticker.Ticker(INTERVAL, SqsRoundQueue(url, lambda: sqs), clock))
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": stamp(minute)}

    # When the ticker runs, and each message is received as soon as it is visible
    ticked_at, ticked = time.monotonic(), clock()
    result = tick_handler.handler(event, LocalContext())
    assert result["queued"] == 60 // INTERVAL and result["late"] == result["unqueued"] == 0
    received: list[tuple[float, datetime, dict[str, Any]]] = []
    deadline = ticked_at + LEAD + ROUNDS * INTERVAL + 5
    while len(received) < ROUNDS and time.monotonic() < deadline:  # bounded
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, AttributeNames=["All"]
        )
        if not answer.get("Messages"):
            time.sleep(POLL)
            continue
        (message,) = answer["Messages"]
        at = time.monotonic()
        ran = probe.handler(esm_event(message, arn), LocalContext())
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        received.append((at, RoundMessage.model_validate_json(message["Body"]).round_at, ran))

    # Then the first ten boundaries arrived in order, each ran as one round on its stamp
    boundaries = [b for _, b, _ in received]
    expected = [minute + timedelta(seconds=60 + k * INTERVAL) for k in range(ROUNDS)]
    assert boundaries == expected
    assert [r for _, _, r in received] == [{"region": HOME, "rounds": 1, "stale": 0}] * ROUNDS
    stored = world.store.rounds_since("web", minute)
    assert [o.round_at for o in stored] == expected

    # ...each received within the tolerance of its boundary, and evenly spaced
    due = [ticked_at + (b - ticked).total_seconds() for b in boundaries]
    lateness = [at - d for (at, _, _), d in zip(received, due, strict=True)]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(received)]
    print(
        f"\nsub-minute spacing, interval {INTERVAL} s, {ROUNDS} rounds through moto SQS: "
        f"gaps min {min(gaps):.3f} s, mean {statistics.mean(gaps):.3f} s, max {max(gaps):.3f} s, "
        f"stdev {statistics.pstdev(gaps):.3f} s; arrival after boundary min "
        f"{min(lateness):+.3f} s, max {max(lateness):+.3f} s"
    )
    assert all(abs(gap - INTERVAL) <= TOLERANCE for gap in gaps), gaps
    assert all(abs(late) <= TOLERANCE for late in lateness), lateness
