"""Carrying out a switch when the world interleaves, on the in-memory fakes: superseded
runbooks, concurrent act invocations, notification failures, time limits, and the frozen
plan of a runbook that spans several DNS providers.

``tests/integration/test_runbook_races.py`` proves the first group end to end on moto; here
the same behaviours run in milliseconds (the fakes keep the ports' contracts, see
``tests/contract/``), with the multi-provider cases added."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from arbiter.adapters.dns import Change
from arbiter.core.errors import DeadlineExceeded, ProviderError, ProviderRejected
from arbiter.core.records import RecordSet
from arbiter.core.runbook import StepStatus, plan
from arbiter.services.actor import SAFETY_MARGIN, ActResult
from arbiter.services.decider import decide_service
from tests.factories import at, config_dict
from tests.fakes import (
    PRIMARY,
    SECONDARY,
    SERVICE,
    LambdaTimedOut,
    MemoryWorld,
    act,
    failed_over,
    memory_world,
    operator,
    seed,
    site_of,
    switch_back,
)

ZONE = "ZEXAMPLE"
WWW = "www.example.com."
NEW = ["192.0.2.77"]
"""Values an operator's later config gives the secondary site."""


@pytest.fixture
def world() -> MemoryWorld:
    return memory_world(config_dict())


def report(world: MemoryWorld) -> tuple[str, str]:
    """The one runbook report published since the last look: subject and body."""
    [sent] = [m for m in world.notifier.take() if "/run" in (m.dedupe_key or "")]
    return sent.subject, sent.message


def run_in_thread(target: Callable[[], ActResult], done: threading.Event | None = None) -> Any:
    """Start ``target`` in a thread; returns (thread, box): box["result"] or box["error"]."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = target()
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            box["error"] = exc
        finally:
            if done is not None:
                done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def site_of_values(values: list[tuple[str, ...]]) -> str:
    return "secondary" if values[0] == SECONDARY else "primary"


# -- the races of test_runbook_races.py, in memory -------------------------------------


def test_an_older_runbook_retrying_never_acts_after_a_newer_switch(world: MemoryWorld) -> None:
    """The operator switches back while the failover's runbook pauses before retrying a
    throttled change: the old runbook stops before its next attempt and sends no report."""
    t1 = failed_over(world)
    dns = world.dns["route53"]
    dns.faults.append(ProviderError("route53 change_resource_record_sets: Throttling"))
    t2: list[int] = []

    result = act(world, t1, sleep=lambda seconds: t2.append(switch_back(world)))

    assert result.outcome == "superseded" and result.ran == []
    assert [site_of_values(v) for _, v in dns.asked] == ["secondary"]  # no retry after it
    assert dns.values(ZONE, WWW) == ()
    assert act(world, t2[0]).outcome == "done"
    assert dns.values(ZONE, WWW) == PRIMARY
    state = world.store.load_state(SERVICE)
    assert state.active.value == "primary" and state.runbook_done == t2[0]
    assert world.report_keys() == [f"web/run{t2[0]:08d}/done"]
    assert "runbook_superseded" in world.events()


def test_two_zones_are_never_left_split_between_sites() -> None:
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "zone": "ZOTHER", "name": "www.example.net"})
    world = memory_world(data)
    t1 = failed_over(world)
    dns = world.dns["route53"]
    t2: list[int] = []

    def switch_after_first_zone(zone: str, records: Sequence[RecordSet]) -> None:
        if not t2:
            t2.append(switch_back(world))  # between the failover's two zones

    dns.after = switch_after_first_zone
    assert act(world, t1).outcome == "superseded"
    assert dns.values(ZONE, WWW) == SECONDARY
    assert dns.values("ZOTHER", "www.example.net.") == ()  # never touched by the old one
    assert act(world, t2[0]).outcome == "done"
    assert dns.values(ZONE, WWW) == PRIMARY
    assert dns.values("ZOTHER", "www.example.net.") == PRIMARY


def test_one_runbook_per_service_at_a_time(world: MemoryWorld) -> None:
    """A newer runbook waits while the older one is inside a change; the older one, once
    out, finds itself superseded; the newer one's change lands last."""
    t1 = failed_over(world)
    inside, leave, polled, first_done = (threading.Event() for _ in range(4))
    order: list[str] = []
    dns = world.dns["route53"]

    def slow(zone: str, records: Sequence[RecordSet]) -> None:
        site = site_of(records)
        order.append(f"begin {site}")
        if site == "secondary":
            inside.set()
            assert leave.wait(10)

    dns.before = slow
    dns.after = lambda zone, records: order.append(f"end {site_of(records)}")

    def wait_for_the_lease(seconds: float) -> None:
        polled.set()
        first_done.wait(10)

    first, one = run_in_thread(lambda: act(world, t1), done=first_done)
    assert inside.wait(10)
    t2 = switch_back(world)
    second, two = run_in_thread(lambda: act(world, t2, sleep=wait_for_the_lease))
    assert polled.wait(10)  # it found the lease held, and waits
    assert second.is_alive() and order == ["begin secondary"]
    leave.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert not first.is_alive() and not second.is_alive()
    assert "error" not in one and "error" not in two, (one, two)
    assert one["result"].outcome == "superseded" and two["result"].outcome == "done"
    assert order == ["begin secondary", "end secondary", "begin primary", "end primary"]
    assert dns.values(ZONE, WWW) == PRIMARY
    assert world.report_keys() == [f"web/run{t2:08d}/done"]


def duplicate_invocations(world: MemoryWorld) -> tuple[ActResult, ActResult]:
    """Lambda delivers the same event twice at once: the first holds the lease and is
    inside its DNS change while the second finds the lease held and waits for it."""
    t1 = failed_over(world)
    inside, leave, polled, first_done = (threading.Event() for _ in range(4))

    def slow(zone: str, records: Sequence[RecordSet]) -> None:
        inside.set()
        assert leave.wait(10)

    def wait_for_the_lease(seconds: float) -> None:
        polled.set()
        first_done.wait(10)

    world.dns["route53"].before = slow
    first, one = run_in_thread(lambda: act(world, t1), done=first_done)
    assert inside.wait(10)
    second, two = run_in_thread(lambda: act(world, t1, sleep=wait_for_the_lease))
    assert polled.wait(10)
    leave.set()
    first.join(timeout=10)
    second.join(timeout=10)
    assert not first.is_alive() and not second.is_alive()
    assert "error" not in one and "error" not in two, (one, two)
    return one["result"], two["result"]


def test_a_duplicate_invocation_waits_and_changes_nothing(world: MemoryWorld) -> None:
    first, second = duplicate_invocations(world)
    assert first.outcome == "done"
    assert second.outcome != "done" and second.ran == []
    dns = world.dns["route53"]
    assert len(dns.asked) == 1 and dns.values(ZONE, WWW) == SECONDARY
    assert world.report_keys() == [f"web/run{first.transition:08d}/done"]


def test_a_duplicate_invocation_of_a_finished_runbook_has_nothing_to_do(
    world: MemoryWorld,
) -> None:
    _, second = duplicate_invocations(world)
    assert second.outcome == "nothing to do"


def test_a_late_invocation_of_an_older_runbook_does_nothing(world: MemoryWorld) -> None:
    t1 = failed_over(world)
    t2 = switch_back(world)
    assert act(world, t2).outcome == "done"
    late = act(world, t1)  # Lambda's async retry of the first invocation, arriving late
    assert late.outcome == "superseded" and late.ran == []
    dns = world.dns["route53"]
    assert dns.values(ZONE, WWW) == PRIMARY
    assert [site_of_values(v) for _, v in dns.asked] == ["primary"]


def test_an_acknowledged_failed_runbook_is_never_run_again(world: MemoryWorld) -> None:
    t1 = failed_over(world)
    dns = world.dns["route53"]
    dns.faults.extend(ProviderError("route53: InternalError") for _ in range(3))
    assert act(world, t1).outcome == "failed"
    world.notifier.take()
    operator(world, {"command": "ack", "reason": "fixed by hand"})
    state = world.store.load_state(SERVICE)
    assert state.settled == t1 and state.open_runbook is None
    late = act(world, t1)
    assert late.outcome == "nothing to do"
    assert not any("switched to" in m.subject for m in world.notifier.take())
    for n in range(5, 30):
        seed(world, n, n + 1, primary=False)
        decide_service(world.rt, SERVICE, at(n))
    assert world.invoker.started == [(SERVICE, t1)]
    assert len(dns.asked) == 3 and dns.values(ZONE, WWW) == ()


def test_a_notification_failure_never_fails_a_switch(world: MemoryWorld) -> None:
    t1 = failed_over(world)
    world.notifier.fail(1000)
    result = act(world, t1)
    assert result.outcome == "done"
    state = world.store.load_state(SERVICE)
    assert state.runbook_done == t1 and state.failed is None
    assert world.dns["route53"].values(ZONE, WWW) == SECONDARY
    key = f"web/run{t1:08d}/done"
    assert [a.key for a in world.store.load(SERVICE).outbox] == [key]
    world.notifier.fail(0)
    seed(world, 5, 6, primary=False)
    decide_service(world.rt, SERVICE, at(5))  # the next pass delivers it
    assert world.report_keys() == [key]
    assert world.store.load(SERVICE).outbox == []
    decide_service(world.rt, SERVICE, at(5))
    assert world.notifier.take() == []


def test_sns_failing_in_the_decider_never_delays_the_runbook(world: MemoryWorld) -> None:
    world.notifier.fail(1000)
    seed(world, 0, 3)
    decide_service(world.rt, SERVICE, at(2))
    seed(world, 3, 5, primary=False)
    decided = decide_service(world.rt, SERVICE, at(4))
    assert decided.outcome.transition is not None
    assert world.invoker.started == [(SERVICE, decided.outcome.transition.id)]


def test_every_alert_arrives_once_after_sns_recovers(world: MemoryWorld) -> None:
    world.notifier.fail(10_000)

    def rounds(first: int, last: int, **kw: Any) -> None:
        for n in range(first, last):
            seed(world, n, n + 1, **kw)
            world.clock.now = at(n)
            decide_service(world.rt, SERVICE, at(n))

    rounds(0, 3)
    rounds(3, 6, secondary=False)  # standby down: one alert
    operator(world, {"command": "pause", "reason": "network work"})
    world.clock.now += timedelta(seconds=1)
    operator(world, {"command": "resume"})
    rounds(6, 9)  # the standby is back: one more
    logged = [e.kind for e in world.store.recent_events(SERVICE, 100) if e.alert]
    assert logged == ["standby_down", "paused", "resumed", "standby_recovered"]
    assert world.notifier.sent == []
    world.notifier.fail(0)
    rounds(9, 12)
    sent = world.notifier.take()
    assert len({m.dedupe_key for m in sent}) == len(sent) == 4
    assert [m.subject for m in sent] == [
        "[arbiter] web: standby secondary (Amsterdam DC) DOWN: no failover possible",
        "[arbiter] web: paused by operator",
        "[arbiter] web: resumed by operator",
        "[arbiter] web: cleared: standby secondary (Amsterdam DC) DOWN: no failover possible",
    ]
    assert world.store.load(SERVICE).outbox == []


class NeverInSync:
    """A provider whose changes never go live: each wait lasts until its deadline."""

    label = "never"

    def __init__(self) -> None:
        self.waits: list[float] = []

    def upsert(self, *args: Any) -> Change:
        return Change("C1", changed=[f"{WWW} A"])

    def wait_applied(self, change: Change, deadline: float) -> float:
        start = time.monotonic()
        for _ in range(10_000):  # bounded
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
        self.waits.append(time.monotonic() - start)
        raise DeadlineExceeded(f"change {change.id} still PENDING")

    def read(self, *args: Any) -> None:
        return None


def test_the_total_wait_for_dns_is_bounded_and_reported() -> None:
    """The provider never says the change is live: the act function's waits, over all its
    attempts, stay within dns.verify_timeout, and stop SAFETY_MARGIN before its deadline."""
    data = config_dict()
    data["services"][0]["dns"]["verify_timeout"] = 0.3
    world = memory_world(data)
    t1 = failed_over(world)
    never = NeverInSync()
    world.rt.dns = {"route53": never}
    began = time.monotonic()
    result = act(world, t1)
    assert result.outcome == "failed"
    assert len(never.waits) == 3  # three attempts...
    assert sum(never.waits) < 0.3 + 0.15  # ...that share one budget (not 3 x 0.3 s)
    assert time.monotonic() - began < 3
    step = world.store.load_steps(SERVICE, t1)[f"dns:route53:{ZONE}"]
    assert "DNS waits in total" in step.detail and step.attempts == 3

    # Close to the Lambda's end: no wait reaches into the last SAFETY_MARGIN seconds.
    never.waits.clear()
    operator(world, {"command": "ack"})
    t2 = switch_back(world)
    assert act(world, t2, seconds_left=SAFETY_MARGIN + 0.1).outcome == "failed"
    assert sum(never.waits) <= 0.1 + 0.1  # not the 0.3 s budget


# -- several providers: one step each, the plan frozen at the first acquisition ----------


def providers_config(*names: str) -> dict[str, Any]:
    """One record per provider: route53 (www.example.com in ZEXAMPLE), ``cf`` (Cloudflare,
    www.example.net), ``pdns`` (PowerDNS, www.example.org), in the order given."""
    data = config_dict()
    template = data["services"][0]["dns"]["records"][0]
    every = {
        "route53": {**template, "provider": "route53"},
        "cf": {**template, "provider": "cf", "zone": "example.net", "name": "www.example.net"},
        "pdns": {**template, "provider": "pdns", "zone": "example.org", "name": "www.example.org"},
    }
    data["services"][0]["dns"]["records"] = [dict(every[n]) for n in names]
    settings = {
        "cf": {"type": "cloudflare", "token_secret": "arbiter/cloudflare-token"},
        "pdns": {
            "type": "powerdns",
            "url": "http://127.0.0.1:8081",
            "api_key_secret": "arbiter/pdns-key",
        },
    }
    data["dns_providers"] = {n: settings[n] for n in names if n in settings}
    return data


STEP = {
    "route53": f"dns:route53:{ZONE}",
    "cf": "dns:cf:example.net",
    "pdns": "dns:pdns:example.org",
}
NAME = {"route53": WWW, "cf": "www.example.net.", "pdns": "www.example.org."}
ZONES = {"route53": ZONE, "cf": "example.net", "pdns": "example.org"}


def values_at(world: MemoryWorld, provider: str) -> tuple[str, ...]:
    return world.dns[provider].values(ZONES[provider], NAME[provider])


def crash_at(world: MemoryWorld, provider: str) -> None:
    """``provider`` answers a retryable error (``faults``) and Lambda stops the invocation
    in its back-off pause before the retry (its time ran out): nothing after that runs, not
    even its ``finally``, so its lease stays until it expires. Lambda retries the event."""
    world.dns[provider].faults.append(ProviderError(f"{provider}: HTTP 503"))
    state = world.store.load_state(SERVICE)
    assert state.transition is not None

    def stopped(seconds: float) -> None:
        raise LambdaTimedOut

    store = world.store
    release = store.release_runbook
    store.release_runbook = lambda *args: None  # type: ignore[method-assign]
    try:
        with pytest.raises(LambdaTimedOut):
            act(world, state.transition.id, sleep=stopped)
    finally:
        store.release_runbook = release  # type: ignore[method-assign]
    lease = store.load(SERVICE).lease
    assert lease is not None and lease.until > world.clock.now
    world.clock.now = lease.until + timedelta(seconds=1)  # the retry, once the lease lapsed


def changed_config(data: dict[str, Any], change: str) -> dict[str, Any]:
    """The operator's next config: new values for every record, or the pdns record moved
    to another zone."""
    data = copy.deepcopy(data)
    for r in data["services"][0]["dns"]["records"]:
        if change == "values":
            r["values"] = {"primary": list(PRIMARY), "secondary": NEW}
        elif r["provider"] == "pdns":
            r.update(zone="example.net", name="www.example.net")
    return data


@pytest.mark.parametrize("change", ["values", "zone"])
def test_a_resumed_runbook_runs_its_frozen_plan_not_the_new_config(change: str) -> None:
    """A runbook's second provider fails (retryably) after the first one's change, and the
    invocation ends; meanwhile the operator deploys another config; the retried invocation
    resumes with the plan frozen at the first acquisition: the first provider is not redone
    and the second gets the values and zone decided on."""
    data = providers_config("route53", "pdns")
    world = memory_world(data)
    t1 = failed_over(world)
    assert world.store.load_run(SERVICE, t1).plan is None  # not acquired yet
    crash_at(world, "pdns")
    record = world.store.load_run(SERVICE, t1)
    assert record.plan is not None
    assert [s.name for s in record.plan.steps] == [STEP["route53"], STEP["pdns"]]
    assert record.steps[STEP["route53"]].status is StepStatus.DONE
    assert record.steps[STEP["pdns"]].status is StepStatus.RUNNING

    world.reconfigure(changed_config(data, change))
    state = world.store.load_state(SERVICE)
    assert state.transition is not None
    fresh = plan(world.config, world.config.services[0], state.transition)
    assert fresh != record.plan  # the new config would plan something else

    result = act(world, t1)
    assert result.outcome == "done" and result.ran == [STEP["pdns"]]
    assert values_at(world, "route53") == SECONDARY
    assert values_at(world, "pdns") == SECONDARY  # the frozen plan's values, in its zone
    pdns = world.dns["pdns"]
    assert [zone for zone, _ in pdns.asked] == ["example.org", "example.org"]
    assert len(pdns.changed) == 1
    assert len(world.dns["route53"].asked) == 1  # not redone
    steps = world.store.load_steps(SERVICE, t1)
    assert steps[STEP["pdns"]].attempts == 2 and steps[STEP["route53"]].attempts == 1
    assert world.store.load_run(SERVICE, t1).plan == record.plan
    subject, body = report(world)
    assert "switched to secondary" in subject and "198.51.100.10" in body
    assert NEW[0] not in body and "example.net" not in body


def test_one_provider_failing_does_not_redo_the_others() -> None:
    world = memory_world(providers_config("route53", "cf", "pdns"))
    t1 = failed_over(world)
    world.dns["cf"].faults.append(ProviderRejected("cf: HTTP 403: Authentication error"))
    result = act(world, t1)
    assert result.outcome == "failed" and result.failed_step == STEP["cf"]
    assert result.ran == [STEP["route53"]]
    assert len(world.dns["route53"].changed) == 1 and values_at(world, "route53") == SECONDARY
    assert len(world.dns["cf"].asked) == 1 and world.dns["cf"].changed == []
    assert world.dns["pdns"].asked == []  # never touched
    state = world.store.load_state(SERVICE)
    assert state.failed == t1 and state.status.value == "FAILED"
    subject, body = report(world)
    assert "FAILED switching to secondary" in subject
    lines = body.splitlines()
    [cf_line] = [line for line in lines if STEP["cf"] in line and "failed" in line]
    assert "Authentication error" in cf_line
    assert any(STEP["route53"] in line and "done" in line for line in lines)
    assert any(STEP["pdns"] in line and "skipped: the switch stopped at" in line for line in lines)
    # Failed, it waits for the operator: another invocation changes nothing.
    assert act(world, t1).outcome == "nothing to do"
    assert world.dns["pdns"].asked == [] and len(world.dns["route53"].asked) == 1


def test_a_retried_provider_leaves_the_others_changed_once() -> None:
    world = memory_world(providers_config("route53", "cf", "pdns"))
    t1 = failed_over(world)
    world.dns["cf"].faults.append(ProviderError("cf: HTTP 429: rate limited"))
    result = act(world, t1)
    assert result.outcome == "done"
    assert result.ran == [STEP["route53"], STEP["cf"], STEP["pdns"]]
    for provider in ("route53", "cf", "pdns"):
        assert len(world.dns[provider].changed) == 1, provider
        assert values_at(world, provider) == SECONDARY
    assert [len(world.dns[p].asked) for p in ("route53", "cf", "pdns")] == [1, 2, 1]
    steps = world.store.load_steps(SERVICE, t1)
    assert [steps[STEP[p]].attempts for p in ("route53", "cf", "pdns")] == [1, 2, 1]


def test_a_provider_removed_after_the_plan_was_frozen_fails_its_step_clearly() -> None:
    world = memory_world(providers_config("route53", "pdns"))
    t1 = failed_over(world)
    crash_at(world, "pdns")
    world.reconfigure(providers_config("route53"))  # the operator drops pdns...
    pdns = world.rt.dns.pop("pdns")  # ...and the runtime no longer builds it
    result = act(world, t1)
    assert result.outcome == "failed" and result.failed_step == STEP["pdns"]
    assert result.ran == []
    step = world.store.load_steps(SERVICE, t1)[STEP["pdns"]]
    assert step.status is StepStatus.FAILED
    assert "DNS provider 'pdns' is no longer in the config" in step.detail
    assert step.attempts == 2  # the crashed invocation's, then this one: not retried
    assert len(world.dns["route53"].asked) == 1 and len(pdns.asked) == 1  # the 503
    assert pdns.changed == []
    subject, body = report(world)
    assert "FAILED" in subject and "'pdns' is no longer in the config" in body


def test_a_change_that_never_went_live_is_not_reported_live() -> None:
    data = config_dict()
    data["services"][0]["dns"]["verify_timeout"] = 0.1
    world = memory_world(data)
    t1 = failed_over(world)
    dns = world.dns["route53"]
    dns.apply_delay = 3600.0  # the change is made but never live within the budget
    result = act(world, t1)
    step = world.store.load_steps(SERVICE, t1)[f"dns:route53:{ZONE}"]
    assert len(dns.changed) == 1
    assert result.outcome == "failed", step.detail  # today: done, "live after 0.0 s"
