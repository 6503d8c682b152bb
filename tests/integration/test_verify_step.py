"""The runbook's verify step, end to end through the act function on moto: every
authoritative server is asked (here an in-memory authority whose servers read the moto zone,
one of which can lag), the report lists each server, and the policy decides the outcome."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from arbiter.adapters.dns.authority import MemoryAuthority
from arbiter.services.actor import ActResult, run_transition
from tests.factories import config_dict
from tests.integration.world import World, failed_over, make_world

pytestmark = pytest.mark.integration
SERVERS = ["192.0.2.53", "192.0.2.54", "192.0.2.55:5353", "[2001:db8::53]:53"]


def world_with(aws: None, policy: str = "warn", **provider: Any) -> World:
    data = config_dict()
    data["dns_providers"] = {"route53": {"type": "route53", **provider}}
    data["services"][0]["dns"]["verify"] = {"policy": policy}
    data["services"][0]["dns"]["verify_timeout"] = 3
    world = make_world(data)

    def serving(name: str, rtype: str) -> list[str] | None:
        found = world.dns.read(world.zone_id, name, rtype)
        return list(found.values) if found else None

    world.rt.authority = MemoryAuthority({s: serving for s in SERVERS}, poll=0.05)
    return world


def act(world: World, tid: int) -> ActResult:
    return run_transition(world.rt, "web", tid, world.clock, time.monotonic() + 300)


def report(world: World) -> dict[str, str]:
    (message,) = world.messages()
    return message


def test_every_server_serving_the_new_values_is_listed(aws: None) -> None:
    world = world_with(aws, nameservers=SERVERS)
    tid = failed_over(world)
    result = act(world, tid)
    assert result.outcome == "done"
    assert result.ran == [f"dns:route53:{world.zone_id}", f"verify:route53:{world.zone_id}"]
    body = report(world)["message"]
    for server in SERVERS:
        assert f"{server}" in body and "new after" in body
    assert "all 4 authoritative servers serve the new values" in body
    assert "resolvers may serve the old answer until" in body and "(TTL 60 s)" in body
    step = world.store.load_steps("web", tid)[f"verify:route53:{world.zone_id}"]
    assert step.status.value == "done" and len(step.lines) == 5


def test_a_lagging_server_under_warn_is_reported_and_the_switch_is_done(aws: None) -> None:
    world = world_with(aws, nameservers=SERVERS)
    tid = failed_over(world)
    authority: MemoryAuthority = world.rt.authority
    authority.lag("192.0.2.54", until=time.monotonic() + 3600, serving={
        ("www.example.com.", "A"): ["203.0.113.10"]
    })  # fmt: skip
    began = time.monotonic()
    result = act(world, tid)
    assert time.monotonic() - began < 3 + 2  # bounded by dns.verify_timeout
    assert result.outcome == "done"
    message = report(world)
    assert message["subject"].endswith("(with warnings)")
    assert re.search(
        r"192\.0\.2\.54 +STILL OLD at the deadline: 203\.0\.113\.10", message["message"]
    )
    assert "1 of 4 authoritative servers do not serve the new values" in message["message"]
    state = world.store.load_state("web")
    assert state.runbook_done == tid and state.failed is None
    step = world.store.load_steps("web", tid)[f"verify:route53:{world.zone_id}"]
    assert step.status.value == "warned"


def test_a_lagging_server_under_fail_fails_the_runbook(aws: None) -> None:
    world = world_with(aws, policy="fail", nameservers=SERVERS)
    tid = failed_over(world)
    world.rt.authority.silence("[2001:db8::53]:53")
    result = act(world, tid)
    assert result.outcome == "failed"
    assert result.failed_step == f"verify:route53:{world.zone_id}"
    message = report(world)
    assert "FAILED switching" in message["subject"]
    assert re.search(r"\[2001:db8::53\]:53 +no answer \(timeout\)", message["message"])
    assert "(dns.verify.policy: fail)" in message["message"]
    assert world.store.load_state("web").failed == tid


def test_servers_are_found_from_the_zone_when_not_configured(aws: None) -> None:
    world = world_with(aws)
    tid = failed_over(world)
    assert act(world, tid).outcome == "done"
    asked = {server for server, _, _ in world.rt.authority.asked}
    assert asked == set(SERVERS)
