"""A moto-backed AWS world with the resources Arbiter expects, and a runtime wired to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3

from arbiter import runtime
from arbiter.adapters.dns.route53 import Route53
from arbiter.adapters.notify import SnsNotifier
from arbiter.adapters.store import DynamoStore
from arbiter.core.config import Config, parse_config
from arbiter.local import aws
from tests.factories import T0, at, round_of

HOME = "eu-west-1"


def client(name: str, region: str = HOME) -> Callable[[], Any]:
    return lambda: boto3.client(name, region_name=region)


class RecordingInvoker:
    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []

    def start(self, service: str, transition_id: int) -> None:
        self.started.append((service, transition_id))


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    config: Config
    store: DynamoStore
    zone_id: str
    stream_arn: str
    inbox: str
    invoker: RecordingInvoker
    clock: Clock
    dns: Route53
    rt: runtime.Runtime = field(init=False)

    def __post_init__(self) -> None:
        self.rt = runtime.Runtime(
            config=self.config,
            store=self.store,
            notifier=SnsNotifier(self.topic, client("sns")),
            invoker=self.invoker,
            dns={"route53": self.dns},
            region=HOME,
            clock=self.clock,
        )

    topic: str = ""

    def messages(self) -> list[dict[str, str]]:
        return aws.read_inbox(boto3.client("sqs", region_name=HOME), self.inbox)

    def items(self) -> list[dict[str, Any]]:
        return boto3.client("dynamodb", region_name=HOME).scan(TableName="arbiter-table")["Items"]

    def record_values(self, name: str = "www.example.com") -> list[str]:
        found = self.dns.read(self.zone_id, name, "A")
        return list(found.values) if found else []


def make_world(config_data: dict[str, Any]) -> World:
    stream_arn = aws.create_table(boto3.client("dynamodb", region_name=HOME), "arbiter-table")
    topic, inbox = aws.create_topic_with_inbox(
        boto3.client("sns", region_name=HOME), boto3.client("sqs", region_name=HOME), "alerts"
    )
    zone_id = aws.create_zone(boto3.client("route53", region_name="us-east-1"), "example.com")
    # moto's Route 53 serves no DNS: there is no authoritative server for verify to ask.
    config_data.setdefault("dns_providers", {}).setdefault(
        "route53", {"type": "route53", "verify": False}
    )
    for service in config_data["services"]:
        for record in service.get("dns", {}).get("records", []):
            record.pop("zone_id", None)
            record["zone"] = zone_id
    world = World(
        config=parse_config(config_data),
        store=DynamoStore("arbiter-table", client("dynamodb")),
        zone_id=zone_id,
        stream_arn=stream_arn,
        inbox=inbox,
        invoker=RecordingInvoker(),
        clock=Clock(),
        dns=Route53(client("route53"), poll_interval=0.01),
        topic=topic,
    )
    runtime.install(world.rt)
    return world


def seed(world: World, first: int, last: int, **kw: Any) -> None:
    """Store rounds ``first`` .. ``last - 1`` from every region (see ``round_of``)."""
    for n in range(first, last):
        for observation in round_of(n, **kw):
            world.store.put_observation(observation, observation.round_at + timedelta(days=1))


def failed_over(world: World) -> int:
    """Decide round by round until the switch to the secondary; return its id."""
    from arbiter.services.decider import decide_service

    for n in range(5):
        seed(world, n, n + 1, primary=n < 3)
        world.clock.now = at(n)
        decided = decide_service(world.rt, "web", at(n))
    assert decided.outcome.transition is not None
    assert decided.outcome.transition.id == 5
    return decided.outcome.transition.id
