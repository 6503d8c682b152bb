"""Carrying out a switch when the world interleaves: superseded runbooks, concurrent act
invocations, notification failures and time limits (issue 6, B). Against moto's DynamoDB,
Route 53 and SNS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from arbiter.adapters.dns import Change
from arbiter.core.errors import DeadlineExceeded, ProviderError
from arbiter.core.model import Event
from arbiter.handlers import override
from arbiter.local import aws as local_aws
from arbiter.local.context import LocalContext
from arbiter.services.actor import SAFETY_MARGIN, ActResult, run_transition
from arbiter.services.decider import decide_service
from tests.factories import at, config_dict
from tests.integration.world import World, failed_over, make_world, seed

pytestmark = pytest.mark.integration

PRIMARY, SECONDARY = ["203.0.113.10"], ["198.51.100.10"]


@pytest.fixture
def world(aws: None) -> World:
    return make_world(config_dict())


@pytest.fixture
def two_zones(aws: None) -> World:
    """One record in each of two hosted zones."""
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "name": "www.example.net"})
    world = make_world(data)
    other = local_aws.create_zone(boto3.client("route53", region_name="us-east-1"), "example.net")
    service = world.config.services[0]
    second = service.dns.records[1].model_copy(update={"zone": other})
    dns = service.dns.model_copy(update={"records": [service.dns.records[0], second]})
    world.rt.config = world.config.model_copy(
        update={"services": [service.model_copy(update={"dns": dns})]}
    )
    world.config = world.rt.config
    return world


def act(world: World, tid: int, sleep: Callable[[float], None] = lambda s: None) -> ActResult:
    return run_transition(world.rt, "web", tid, world.clock, time.monotonic() + 300, sleep)


def switch_back(world: World, reason: str = "back home") -> int:
    """An operator switches to the primary (forced: the votes still say it is DOWN)."""
    answer = override.handler(
        {"command": "switch", "to": "primary", "reason": reason, "force": True}, LocalContext()
    )
    assert answer["ok"], answer
    return int(answer["transition"])


def values(world: World, zone: str, name: str) -> list[str]:
    found = world.dns.read(zone, name, "A")
    return list(found.values) if found else []


def site_of(records: Any) -> str:
    """Which site's values an upsert sets."""
    return "secondary" if list(records[0].values) == SECONDARY else "primary"


def report_keys(world: World) -> list[str]:
    return [m["key"] for m in world.messages()]


def test_an_older_runbook_retrying_never_acts_after_a_newer_switch(world: World) -> None:
    """The operator switches back while the failover's runbook is retrying a throttled
    change: the old runbook stops before its next attempt and sends no report."""
    t1 = failed_over(world)
    upserts: list[str] = []
    upsert = world.dns.upsert

    def throttled_once(zone: str, records: Any, comment: str) -> Change:
        upserts.append(site_of(records))
        if len(upserts) == 1:
            raise ProviderError("Route 53 change_resource_record_sets: Throttling")
        return upsert(zone, records, comment)

    world.dns.upsert = throttled_once  # type: ignore[method-assign]
    t2: list[int] = []
    result = act(world, t1, sleep=lambda s: t2.append(switch_back(world)))

    assert result.outcome == "superseded"
    assert upserts == ["secondary"]  # the failed attempt only: no retry after the switch
    assert values(world, world.zone_id, "www.example.com") == []
    assert act(world, t2[0]).outcome == "done"
    assert values(world, world.zone_id, "www.example.com") == PRIMARY
    state = world.store.load_state("web")
    assert state.active.value == "primary" and state.runbook_done == t2[0]
    assert report_keys(world) == [f"web/run{t2[0]:08d}/done"]
    kinds = [e.kind for e in world.store.recent_events("web", 50)]
    assert "runbook_superseded" in kinds


def test_two_zones_are_never_left_split_between_sites(two_zones: World) -> None:
    world = two_zones
    t1 = failed_over(world)
    zones = [r.zone for r in world.rt.config.services[0].dns.records]
    upsert = world.dns.upsert
    t2: list[int] = []

    def switch_after_first_zone(zone: str, records: Any, comment: str) -> Change:
        change = upsert(zone, records, comment)
        if not t2:
            t2.append(switch_back(world))  # between the failover's two zones
        return change

    world.dns.upsert = switch_after_first_zone  # type: ignore[method-assign]
    assert act(world, t1).outcome == "superseded"
    assert values(world, zones[0], "www.example.com") == SECONDARY
    assert values(world, zones[1], "www.example.net") == []  # never touched by the old one
    assert act(world, t2[0]).outcome == "done"
    assert values(world, zones[0], "www.example.com") == PRIMARY
    assert values(world, zones[1], "www.example.net") == PRIMARY


def test_one_runbook_per_service_at_a_time(world: World) -> None:
    """A newer runbook waits while the older one is inside a change; the older one, once
    out, finds itself superseded; the newer one's change lands last."""
    t1 = failed_over(world)
    inside, leave = threading.Event(), threading.Event()
    order: list[str] = []
    upsert = world.dns.upsert

    def slow_upsert(zone: str, records: Any, comment: str) -> Change:
        site = site_of(records)
        order.append(f"begin {site}")
        if site == "secondary":
            inside.set()
            assert leave.wait(10)
        order.append(f"end {site}")
        return upsert(zone, records, comment)

    world.dns.upsert = slow_upsert  # type: ignore[method-assign]
    results: dict[str, ActResult] = {}
    first = threading.Thread(target=lambda: results.update(t1=act(world, t1)))
    first.start()
    assert inside.wait(10)
    t2 = switch_back(world)
    second = threading.Thread(target=lambda: results.update(t2=act(world, t2, time.sleep)))
    second.start()
    second.join(timeout=1.5)
    assert second.is_alive() and order == ["begin secondary"]  # waiting for the lease
    leave.set()
    first.join(timeout=20)
    second.join(timeout=20)
    assert results["t1"].outcome == "superseded" and results["t2"].outcome == "done"
    assert order == ["begin secondary", "end secondary", "begin primary", "end primary"]
    assert values(world, world.zone_id, "www.example.com") == PRIMARY
    assert report_keys(world) == [f"web/run{t2:08d}/done"]


def test_a_late_invocation_of_an_older_runbook_does_nothing(world: World) -> None:
    t1 = failed_over(world)
    t2 = switch_back(world)
    assert act(world, t2).outcome == "done"
    late = act(world, t1)  # Lambda's async retry of the first invocation, arriving late
    assert late.outcome == "superseded" and late.ran == []
    assert values(world, world.zone_id, "www.example.com") == PRIMARY


def test_an_acknowledged_failed_runbook_is_never_run_again(world: World) -> None:
    t1 = failed_over(world)
    world.dns.upsert = lambda *a: (_ for _ in ()).throw(  # type: ignore[method-assign]
        ProviderError("Route 53: InternalError")
    )
    assert act(world, t1).outcome == "failed"
    world.messages()
    assert override.handler({"command": "ack", "reason": "fixed by hand"}, LocalContext())["ok"]
    state = world.store.load_state("web")
    assert state.settled == t1 and state.open_runbook is None
    world.dns = type(world.dns)(lambda: boto3.client("route53"), poll_interval=0.01)
    world.rt.dns = {"route53": world.dns}
    late = act(world, t1)
    assert late.outcome == "nothing to do"
    subjects = [m["subject"] for m in world.messages()]
    assert not any("switched to" in s for s in subjects)  # no late "switched" report
    for n in range(5, 30):
        seed(world, n, n + 1, primary=False)
        decide_service(world.rt, "web", at(n))
    assert world.invoker.started == [("web", t1)]


def test_a_notification_failure_never_fails_a_switch(world: World) -> None:
    t1 = failed_over(world)
    publish = world.rt.notifier.publish

    def sns_down(*args: Any) -> str:
        raise ProviderError("SNS publish: InternalError")

    world.rt.notifier.publish = sns_down  # type: ignore[method-assign]
    result = act(world, t1)
    assert result.outcome == "done"
    state = world.store.load_state("web")
    assert state.runbook_done == t1 and state.failed is None
    assert values(world, world.zone_id, "www.example.com") == SECONDARY
    assert [a.key for a in world.store.load("web").outbox] == [f"web/run{t1:08d}/done"]
    world.rt.notifier.publish = publish  # type: ignore[method-assign]
    seed(world, 5, 6, primary=False)
    decide_service(world.rt, "web", at(5))  # the next pass delivers it
    assert report_keys(world) == [f"web/run{t1:08d}/done"]
    assert world.store.load("web").outbox == []
    decide_service(world.rt, "web", at(5))
    assert world.messages() == []


def test_sns_failing_in_the_decider_never_delays_the_runbook(world: World) -> None:
    def sns_down(*args: Any) -> str:
        raise ProviderError("SNS publish: InternalError")

    world.rt.notifier.publish = sns_down  # type: ignore[method-assign]
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    seed(world, 3, 5, primary=False)
    decided = decide_service(world.rt, "web", at(4))
    assert decided.outcome.transition is not None
    assert world.invoker.started == [("web", decided.outcome.transition.id)]


def test_every_alert_arrives_once_after_sns_recovers(world: World) -> None:
    """SNS fails for several passes that each raise alerts; then it recovers."""
    publish = world.rt.notifier.publish
    down = {"on": True}

    def flaky(*args: Any) -> str:
        if down["on"]:
            raise ProviderError("SNS publish: InternalError")
        return publish(*args)

    world.rt.notifier.publish = flaky  # type: ignore[method-assign]

    def rounds(first: int, last: int, **kw: Any) -> None:
        for n in range(first, last):
            seed(world, n, n + 1, **kw)
            world.clock.now = at(n)
            decide_service(world.rt, "web", at(n))

    rounds(0, 3)
    rounds(3, 6, secondary=False)  # standby down: one alert
    override.handler({"command": "pause", "reason": "network work"}, LocalContext())
    world.clock.now += timedelta(seconds=1)
    override.handler({"command": "resume"}, LocalContext())
    rounds(6, 9)  # the standby is back: one more
    logged = [e for e in world.store.recent_events("web", 100) if e.alert and isinstance(e, Event)]
    assert [e.kind for e in logged] == ["standby_down", "paused", "resumed", "standby_recovered"]
    assert world.messages() == []
    down["on"] = False
    rounds(9, 12)
    messages = world.messages()
    keys = [m["key"] for m in messages]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert [m["subject"] for m in messages] == [
        "[arbiter] web: standby secondary (Amsterdam DC) DOWN: no failover possible",
        "[arbiter] web: paused by operator",
        "[arbiter] web: resumed by operator",
        "[arbiter] web: cleared: standby secondary (Amsterdam DC) DOWN: no failover possible",
    ]
    assert world.store.load("web").outbox == []


def test_the_total_wait_for_dns_is_bounded_and_reported(world: World) -> None:
    """Route 53 never says INSYNC: the act function's waits, over all its attempts, stay
    within dns.verify_timeout, and it stops at least SAFETY_MARGIN before its deadline."""
    service = world.rt.config.services[0]
    dns = service.dns.model_copy(update={"verify_timeout": 1.0})
    world.rt.config = world.rt.config.model_copy(
        update={"services": [service.model_copy(update={"dns": dns})]}
    )
    t1 = failed_over(world)

    class NeverInSync:
        def __init__(self) -> None:
            self.waits: list[float] = []

        label = "never"

        def upsert(self, *args: Any) -> Change:
            return Change("C1", changed=["www.example.com. A"])

        def wait_applied(self, change: Change, deadline: float) -> float:
            start = time.monotonic()
            while time.monotonic() < deadline:
                time.sleep(0.02)
            self.waits.append(time.monotonic() - start)
            raise DeadlineExceeded(f"change {change.id} still PENDING")

        def read(self, *args: Any) -> None:
            return None

    never = NeverInSync()
    world.rt.dns = {"route53": never}
    began = time.monotonic()
    result = act(world, t1)
    assert result.outcome == "failed"
    assert len(never.waits) == 3  # three attempts...
    assert sum(never.waits) < 1.0 + 0.2  # ...that share one 1 s budget
    assert time.monotonic() - began < 5
    step = world.store.load_steps("web", t1)[f"dns:route53:{world.zone_id}"]
    assert "DNS waits in total" in step.detail

    # Close to the Lambda's end: no wait reaches into the last SAFETY_MARGIN seconds.
    world2_deadline = time.monotonic() + SAFETY_MARGIN + 0.5
    never.waits.clear()
    override.handler({"command": "ack"}, LocalContext())
    t2 = switch_back(world)
    run_transition(world.rt, "web", t2, world.clock, world2_deadline, lambda s: None)
    assert sum(never.waits) <= 0.6
