"""The whole switch on the in-memory fakes: the fixed order of its phases, fencing under
both policies, hooks that abort or continue, and VoIP routes that change only what
differs. The real transports have their own tests (signed webhooks and the reference
receiver, SSM on moto, each VoIP provider against its stand-in)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from arbiter.adapters.actions import ActionCall, ActionDone, ActionRefused, ActionTimedOut
from arbiter.core.errors import ProviderError
from arbiter.core.runbook import PHASE_ORDER, StepStatus, plan
from tests.factories import config_dict
from tests.fakes import (
    SECONDARY,
    SERVICE,
    LambdaTimedOut,
    MemoryWorld,
    act,
    failed_over,
    memory_world,
    switch_back,
)

ZONE, WWW = "ZEXAMPLE", "www.example.com."
NUMBERS = ["+15551230001", "+15551230002"]


def hook(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": f"https://hooks.example.com/{name}",
            "secret": "arbiter/hooks", **extra}  # fmt: skip


def site(label: str, host: int, **extra: Any) -> dict[str, Any]:
    name = label.lower()
    return {
        "label": label,
        "checks": [{"type": "http", "name": "health", "url": f"http://127.0.0.1:{host}/health"}],
        "fence": {
            "type": "webhook",
            "url": f"https://{name}.example.com/fence",
            "secret": "arbiter/hooks",
            "timeout": 30,
        },
        "hooks": {
            phase: [hook(f"{phase.replace('_', '-')}-{name}")]
            for phase in ("pre_release", "post_release", "pre_acquire", "post_acquire")
        },
        **extra,
    }


def full_config(**service: Any) -> dict[str, Any]:
    return config_dict(
        voip_providers={"tx": {"type": "telnyx", "api_key_secret": "arbiter/telnyx"}},
        service={
            "primary": site("FRA", 1),
            "secondary": site("AMS", 2),
            "voip": [
                {
                    "type": "telnyx_number",
                    "provider": "tx",
                    "numbers": NUMBERS,
                    "connection_id": {"primary": "1111", "secondary": "2222"},
                },
            ],
            **service,
        },
    )


@pytest.fixture
def world() -> MemoryWorld:
    return memory_world(full_config())


def timeline(world: MemoryWorld) -> list[str]:
    """What happened outside, in order: each action's step, each DNS change, each VoIP change."""
    seen: list[str] = []
    dns, voip = world.dns["route53"], world.voip["tx"]
    world.actions.on_call = lambda call: seen.append(call.step)
    dns.after = lambda zone, records: seen.append(f"dns:{zone}")
    original = voip.apply

    def apply(step: Any, changes: Any, key: str) -> None:
        seen.append(f"voip:{[c.item for c in changes]}")
        original(step, changes, key)

    voip.apply = apply  # type: ignore[method-assign]
    return seen


def report_body(world: MemoryWorld) -> str:
    [sent] = [m for m in world.notifier.take() if "/run" in (m.dedupe_key or "")]
    return sent.message


def steps_of(world: MemoryWorld, tid: int) -> dict[str, StepStatus]:
    return {name: r.status for name, r in world.store.load_run(SERVICE, tid).steps.items()}


def test_the_plan_follows_the_fixed_phase_order(world: MemoryWorld) -> None:
    tid = failed_over(world)
    transition = world.store.load_state(SERVICE).transition
    assert transition is not None and transition.id == tid
    steps = plan(world.config, world.config.service(SERVICE), transition).steps
    assert [s.name for s in steps] == [
        "pre_release:primary:pre-release-fra",
        "fence:primary",
        "pre_acquire:secondary:pre-acquire-ams",
        "dns:route53:ZEXAMPLE",
        "voip:tx:+15551230001+1",
        "post_acquire:secondary:post-acquire-ams",
        "post_release:primary:post-release-fra",
    ]
    phases = [s.kind if s.kind != "hook" else s.phase for s in steps]  # type: ignore[union-attr]
    assert phases == sorted(phases, key=PHASE_ORDER.index)


def test_a_failover_runs_every_phase_in_order(world: MemoryWorld) -> None:
    seen = timeline(world)
    tid = failed_over(world)
    assert act(world, tid).outcome == "done"
    assert seen == [
        "pre_release:primary:pre-release-fra",
        "fence:primary",
        "pre_acquire:secondary:pre-acquire-ams",
        f"dns:{ZONE}",
        f"voip:{NUMBERS}",
        "post_acquire:secondary:post-acquire-ams",
        "post_release:primary:post-release-fra",
    ]
    assert world.dns["route53"].values(ZONE, WWW) == SECONDARY
    assert {n: f["connection_id"] for n, f in world.voip["tx"].items.items()} == {
        n: "2222" for n in NUMBERS
    }
    body = report_body(world)
    order = [
        line.split()[0]
        for line in body.splitlines()
        if line.startswith("  ") and ":" in line.split()[0]
    ]
    assert order[-7:] == [
        "pre_release:primary:pre-release-fra", "fence:primary",
        "pre_acquire:secondary:pre-acquire-ams", "dns:route53:ZEXAMPLE",
        "voip:tx:+15551230001+1", "post_acquire:secondary:post-acquire-ams",
        "post_release:primary:post-release-fra",
    ]  # fmt: skip


def test_switching_back_swaps_the_sites_of_each_phase(world: MemoryWorld) -> None:
    tid = failed_over(world)
    act(world, tid)
    world.actions.calls.clear()
    back = switch_back(world)
    assert act(world, back).outcome == "done"
    assert world.actions.steps() == [
        "pre_release:secondary:pre-release-ams",
        "fence:secondary",
        "pre_acquire:primary:pre-acquire-fra",
        "post_acquire:primary:post-acquire-fra",
        "post_release:secondary:post-release-ams",
    ]
    assert {f["connection_id"] for f in world.voip["tx"].items.values()} == {"1111"}


def test_each_call_says_what_and_where_with_a_stable_idempotency_key(world: MemoryWorld) -> None:
    tid = failed_over(world)
    world.actions.script("pre_acquire:secondary:pre-acquire-ams", ProviderError("HTTP 503"))
    assert act(world, tid).outcome == "done"
    calls = [c for c in world.actions.calls if c.step == "pre_acquire:secondary:pre-acquire-ams"]
    assert len(calls) == 2  # retried once
    assert {c.idempotency_key for c in calls} == {
        f"web/{tid}/pre_acquire:secondary:pre-acquire-ams"
    }
    fence = next(c for c in world.actions.calls if c.phase == "fence")
    payload = fence.payload()
    assert payload["transition"] == tid and str(tid) in payload["idempotency_key"]
    assert (payload["from"], payload["to"], payload["site"]) == ("primary", "secondary", "primary")
    assert payload["dry_run"] is False


# -- fencing ------------------------------------------------------------------------------

NOT_CONFIRMED = [
    pytest.param(ActionRefused("the site answered status failed: app still running"), id="refused"),
    pytest.param(ActionTimedOut("no confirmation within 30 s: connection refused"), id="timed-out"),
]


@pytest.mark.parametrize("why", NOT_CONFIRMED)
def test_a_required_fence_not_confirmed_aborts_before_anything_moves(why: Exception) -> None:
    world = memory_world(full_config(fence_policy="required"))
    tid = failed_over(world)
    world.actions.script("fence:primary", why)  # type: ignore[arg-type]
    result = act(world, tid)
    assert result.outcome == "failed" and result.failed_step == "fence:primary"
    assert world.dns["route53"].values(ZONE, WWW) == ()  # never written
    assert world.voip["tx"].applied == []
    assert world.actions.steps() == ["pre_release:primary:pre-release-fra", "fence:primary"]
    state = world.store.load_state(SERVICE)
    assert state.failed == tid
    body = report_body(world)
    assert "did NOT confirm it stopped" in body and str(why) in body
    assert "fence_policy required: the switch is aborted" in body
    assert "pre_acquire:secondary:pre-acquire-ams" in body and "skipped" in body


@pytest.mark.parametrize("why", NOT_CONFIRMED)
def test_a_best_effort_fence_not_confirmed_goes_on_and_says_so(why: Exception) -> None:
    world = memory_world(full_config(fence_policy="best_effort"))
    tid = failed_over(world)
    world.actions.script("fence:primary", why)  # type: ignore[arg-type]
    assert act(world, tid).outcome == "done"
    assert world.dns["route53"].values(ZONE, WWW) == SECONDARY
    assert steps_of(world, tid)["fence:primary"] is StepStatus.WARNED
    body = report_body(world)
    assert "(with warnings)" in body.splitlines()[0]
    assert "NOT confirmed" in body and "fence_policy best_effort" in body


def test_a_confirmed_fence_is_reported_with_the_sites_answer(world: MemoryWorld) -> None:
    tid = failed_over(world)
    world.actions.script("fence:primary", ActionDone("stopped app.service", 4.2))
    act(world, tid)
    assert steps_of(world, tid)["fence:primary"] is StepStatus.DONE
    assert "confirmed it stopped after 4.2 s: stopped app.service" in report_body(world)


def test_no_fence_configured_means_no_fence_step() -> None:
    data = full_config()
    del data["services"][0]["primary"]["fence"]
    world = memory_world(data)
    tid = failed_over(world)
    assert act(world, tid).outcome == "done"
    assert "fence:primary" not in world.actions.steps()


# -- hooks --------------------------------------------------------------------------------


def test_a_hook_that_fails_with_abort_stops_the_switch(world: MemoryWorld) -> None:
    tid = failed_over(world)
    world.actions.script(
        "pre_acquire:secondary:pre-acquire-ams", ActionRefused("promote.sh exited 3")
    )
    result = act(world, tid)
    assert result.failed_step == "pre_acquire:secondary:pre-acquire-ams"
    assert world.dns["route53"].values(ZONE, WWW) == ()
    assert "post_acquire:secondary:post-acquire-ams" not in world.actions.steps()
    assert "promote.sh exited 3" in report_body(world)


def test_a_hook_that_fails_with_continue_is_reported_and_the_switch_goes_on() -> None:
    data = full_config()
    data["services"][0]["secondary"]["hooks"]["post_acquire"][0]["on_failure"] = "continue"
    world = memory_world(data)
    tid = failed_over(world)
    world.actions.script(
        "post_acquire:secondary:post-acquire-ams", ActionTimedOut("no answer within 60 s")
    )
    assert act(world, tid).outcome == "done"
    assert world.actions.steps()[-1] == "post_release:primary:post-release-fra"
    statuses = steps_of(world, tid)
    assert statuses["post_acquire:secondary:post-acquire-ams"] is StepStatus.FAILED
    assert "(with warnings)" in report_body(world)


def test_a_resumed_runbook_calls_no_finished_hook_again(world: MemoryWorld) -> None:
    """The act function dies while the VoIP step waits to retry; the next invocation
    resumes at that step: no hook or fence is called twice."""
    tid = failed_over(world)
    world.voip["tx"].faults = [ProviderError("tx: HTTP 503")] * 3

    def died(seconds: float) -> None:
        raise LambdaTimedOut

    store = world.store
    release = store.release_runbook
    store.release_runbook = lambda *args: None  # type: ignore[method-assign]
    try:
        with pytest.raises(LambdaTimedOut):
            act(world, tid, sleep=died)
    finally:
        store.release_runbook = release  # type: ignore[method-assign]
    lease = store.load(SERVICE).lease
    assert lease is not None
    world.clock.now = lease.until + timedelta(seconds=1)
    assert act(world, tid).outcome == "done"
    called = world.actions.steps()
    assert len(called) == len(set(called)) == 5
    assert world.dns["route53"].values(ZONE, WWW) == SECONDARY


# -- VoIP ---------------------------------------------------------------------------------


def test_voip_changes_only_the_numbers_that_differ(world: MemoryWorld) -> None:
    world.voip["tx"].items[NUMBERS[1]]["connection_id"] = "2222"  # already moved by hand
    tid = failed_over(world)
    act(world, tid)
    assert [(item, fields) for _, item, fields in world.voip["tx"].applied] == [
        (NUMBERS[0], {"connection_id": "2222"})
    ]
    body = report_body(world)
    assert f"changed {NUMBERS[0]} connection_id=2222 (was connection_id=1111)" in body
    assert f"already {NUMBERS[1]} connection_id=2222" in body
    assert "1 changed, 1 already right" in body


def test_voip_throttled_is_retried_and_keyed(world: MemoryWorld) -> None:
    tid = failed_over(world)
    world.voip["tx"].faults = [ProviderError("tx: HTTP 429 (Retry-After 1 s)")] * 3
    assert act(world, tid).outcome == "done"
    keys = {key for key, _, _ in world.voip["tx"].applied}
    assert keys == {f"web/{tid}/voip:tx:+15551230001+1"}


def test_a_number_the_account_does_not_hold_fails_the_switch_naming_it(world: MemoryWorld) -> None:
    del world.voip["tx"].items[NUMBERS[1]]
    tid = failed_over(world)
    result = act(world, tid)
    assert result.failed_step == "voip:tx:+15551230001+1"
    assert f"{NUMBERS[1]} is not on this account" in report_body(world)
    assert world.actions.steps()[-1] == "pre_acquire:secondary:pre-acquire-ams"


def test_a_change_the_provider_accepts_but_does_not_keep_is_retried_then_failed(
    world: MemoryWorld,
) -> None:
    fake = world.voip["tx"]

    def ignore(step: Any, changes: Any, key: str) -> None:
        fake.applied.append((key, "ignored", {}))

    fake.apply = ignore  # type: ignore[method-assign]
    tid = failed_over(world)
    assert act(world, tid).failed_step == "voip:tx:+15551230001+1"
    assert "still not routed to the new site" in report_body(world)


def test_a_call_records_the_moment(world: MemoryWorld) -> None:
    """The DNS change is live before post_acquire runs: a hook may rely on it."""
    tid = failed_over(world)
    seen: list[tuple[str, tuple[str, ...]]] = []

    def probe(call: ActionCall) -> None:
        seen.append((call.step, world.dns["route53"].values(ZONE, WWW)))

    world.actions.on_call = probe
    act(world, tid)
    assert dict(seen)["pre_acquire:secondary:pre-acquire-ams"] == ()
    assert dict(seen)["post_acquire:secondary:post-acquire-ams"] == SECONDARY
