"""The data-plane mode through a whole switch (in-memory world, a recording CloudWatch): the
steady publisher keeps saying the committed site, holds its tongue from the decision until
the runbook's DNS step has published the new site itself, never says the old site after it,
and the decide handler publishes on its scheduled pass only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from arbiter import runtime
from arbiter.adapters.actions import ActionCall
from arbiter.adapters.dns.route53_failover import Route53Failover
from arbiter.core.config import Route53FailoverProvider
from arbiter.core.errors import ProviderRejected
from arbiter.handlers import decide
from arbiter.local.context import LocalContext
from arbiter.services.dataplane import publish_committed
from tests.factories import config_dict
from tests.fakes import SERVICE, MemoryWorld, act, failed_over, memory_world

EVENTS = Path(__file__).resolve().parents[2] / "events"
HOOK = {"type": "webhook", "url": "https://fra.example.com/arbiter", "secret": "arbiter/k"}


@dataclass
class Sent:
    region: str
    values: dict[str, float]
    at: datetime


@dataclass
class RecordingCloudWatch:
    """Every PutMetricData, by region; the data-plane adapter's only calls."""

    sent: list[Sent] = field(default_factory=list)

    def client(self, region: str) -> Any:
        recorder = self

        class Client:
            def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
                assert Namespace == "Arbiter/DataPlane"
                values = {
                    next(d["Value"] for d in m["Dimensions"] if d["Name"] == "Service"): m["Value"]
                    for m in MetricData
                }
                recorder.sent.append(Sent(region, values, MetricData[0]["Timestamp"]))

        return Client()

    def take(self) -> list[tuple[str, dict[str, float]]]:
        taken = [(s.region, s.values) for s in self.sent]
        self.sent.clear()
        return taken


def dp_world(**service: Any) -> tuple[MemoryWorld, RecordingCloudWatch]:
    data = config_dict(service=service)
    data["dns_providers"] = {"dp": {"type": "route53_failover"}}
    data["services"][0]["dns"]["records"][0]["provider"] = "dp"
    world = memory_world(data)
    settings = world.config.dns_provider("dp")
    assert isinstance(settings, Route53FailoverProvider)
    cloudwatch = RecordingCloudWatch()
    world.rt.dns = {
        "dp": Route53Failover("dp", settings, world.config, cloudwatch.client, clock=world.clock)
    }
    return world, cloudwatch


def publish(world: MemoryWorld) -> list[tuple[str, dict[str, float]]] | None:
    state = world.store.load_state(SERVICE)
    done = publish_committed(world.rt, [state], world.clock())
    return None if done is None else [(r, done.wanted) for r in done.ok]


def test_a_switch_publishes_at_its_dns_step_and_the_publisher_follows() -> None:
    world, cloudwatch = dp_world()
    # Steady state: the primary, every pass (the stream never goes silent).
    assert publish(world) == [("eu-west-1", {"web": 1.0})]
    assert publish(world) == [("eu-west-1", {"web": 1.0})]
    cloudwatch.take()
    # Decided: the runbook has not reached DNS yet, so nothing is said.
    tid = failed_over(world)
    assert publish(world) is None and cloudwatch.take() == []
    # The DNS step publishes the secondary itself, stamped with the act function's clock.
    result = act(world, tid)
    assert result.outcome == "done"
    (sent,) = cloudwatch.sent
    assert (sent.region, sent.values, sent.at) == ("eu-west-1", {"web": 0.0}, world.clock())
    cloudwatch.take()
    # From then on the publisher says the secondary.
    assert publish(world) == [("eu-west-1", {"web": 0.0})]
    lines = world.store.load_steps(SERVICE, tid)["dns:dp:ZEXAMPLE"].lines
    assert lines[-2:] == [
        "published Arbiter/DataPlane PrimaryWanted web=0 to eu-west-1",
        "1 of 1 alarm regions took the datapoint (at least 1 needed); Route 53's health "
        "checks move the answer after the alarm period (60 s) and their own reaction",
    ]


def test_the_publisher_is_silent_while_the_old_site_is_fenced() -> None:
    world, cloudwatch = dp_world(
        primary={**config_dict()["services"][0]["primary"], "fence": {**HOOK, "timeout": 30}}
    )
    publish(world)
    tid = failed_over(world)
    cloudwatch.take()
    during: list[Any] = []

    def at_the_fence(call: ActionCall) -> None:
        during.append(publish(world))

    world.actions.on_call = at_the_fence
    act(world, tid)
    assert during == [None]
    assert cloudwatch.take() == [("eu-west-1", {"web": 0.0})]  # the DNS step's, after the fence


def test_a_runbook_failing_before_dns_leaves_the_metric_where_it_was() -> None:
    primary = {**config_dict()["services"][0]["primary"], "fence": {**HOOK, "timeout": 30}}
    world, cloudwatch = dp_world(primary=primary, fence_policy="required")
    publish(world)
    tid = failed_over(world)
    world.actions.script("fence:primary", ProviderRejected("the site refused"))
    assert act(world, tid).outcome == "failed"
    cloudwatch.take()
    assert publish(world) is None and cloudwatch.take() == []


def test_a_runbook_failing_after_dns_keeps_saying_the_new_site() -> None:
    secondary = {
        **config_dict()["services"][0]["secondary"],
        "hooks": {"post_acquire": [{**HOOK, "name": "warm", "timeout": 30}]},
    }
    world, cloudwatch = dp_world(secondary=secondary)
    tid = failed_over(world)
    world.actions.script("post_acquire:secondary:warm", ProviderRejected("no"))
    assert act(world, tid).outcome == "failed"
    cloudwatch.take()
    assert publish(world) == [("eu-west-1", {"web": 0.0})]


def test_a_service_without_data_plane_records_is_not_published() -> None:
    world = memory_world(config_dict())
    assert publish(world) is None


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def installed() -> Any:
    world, cloudwatch = dp_world()
    runtime.install(world.rt)
    yield world, cloudwatch
    runtime.install(None)


def test_the_decide_handler_publishes_on_its_schedule_not_on_the_stream(installed: Any) -> None:
    _, cloudwatch = installed
    decide.handler(_event("decide-stream.json"), LocalContext())
    assert cloudwatch.take() == []
    decide.handler(_event("decide-schedule.json"), LocalContext())
    assert cloudwatch.take() == [("eu-west-1", {"web": 1.0})]
