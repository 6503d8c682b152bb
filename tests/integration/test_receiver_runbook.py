"""A whole switch through the reference receiver: the act function's runbook on moto, a fence
and one hook per phase as signed webhooks (keys in moto's Secrets Manager), a generic webhook
VoIP route, and the receiver (a real process) running real shell scripts.

Every script, the DNS change and the verify step append a line to one timeline file, so the
order of the whole switch is read from one place. ``<dir>/control/<phase>.fail`` makes that
phase's script fail with the file's text on stderr; ``<phase>.sleep`` makes it sleep first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from arbiter.adapters.actions import ActionCall, ActionDone, Actions
from arbiter.adapters.actions.webhook import WebhookActions
from arbiter.adapters.dns import Deps
from arbiter.adapters.dns.authority import MemoryAuthority
from arbiter.adapters.hooks import SecretsManagerKeys
from arbiter.adapters.voip import VoipProviders
from arbiter.core.config import Action, SiteName
from arbiter.handlers import act
from arbiter.local.context import LocalContext
from arbiter.services.actor import ActResult, run_transition
from tests.factories import config_dict
from tests.integration.receiver_proc import ReceiverProcess
from tests.integration.world import HOME, World, failed_over, make_world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(120),
]
KEY = b"switch-signing-key-0123456789"
SECRET = "arbiter/receiver"
OLD, NEW = ["203.0.113.10"], ["198.51.100.10"]
NUMBERS = ["+15551230001", "+15551230002"]
SERVERS = ["192.0.2.53", "192.0.2.54"]
STEP_SCRIPT = """#!/bin/sh
echo "$ARBITER_PHASE $ARBITER_SITE #$ARBITER_TRANSITION" >> "{timeline}"
if [ -f "{control}/$ARBITER_PHASE.fail" ]; then
  cat "{control}/$ARBITER_PHASE.fail" >&2
  exit 1
fi
if [ -f "{control}/$ARBITER_PHASE.sleep" ]; then
  sleep "$(cat "{control}/$ARBITER_PHASE.sleep")"
fi
echo "$ARBITER_PHASE done on $ARBITER_SITE"
"""
VOIP_SCRIPT = """#!/bin/sh
echo "voip $ARBITER_VOIP_ACTION $ARBITER_TARGET" >> "{timeline}"
case "$ARBITER_VOIP_ACTION" in
read)
  printf '{{"current": {{"%s": "%s", "%s": "%s"}}}}\\n' \\
    {n1} "$(cat "{db}/{n1}")" {n2} "$(cat "{db}/{n2}")"
  ;;
route)
  for n in $ARBITER_NUMBERS; do printf '%s' "$ARBITER_TARGET" > "{db}/$n"; done
  echo "routed $ARBITER_NUMBERS to $ARBITER_TARGET"
  ;;
esac
"""


@dataclass
class Switch:
    """A world, the receiver in front of the scripts, and the files they write."""

    world: World
    receiver: ReceiverProcess
    timeline: Path
    control: Path
    db: Path

    def lines(self) -> list[str]:
        return self.timeline.read_text().splitlines() if self.timeline.exists() else []

    def fail(self, phase: str, why: str) -> None:
        (self.control / f"{phase}.fail").write_text(why + "\n")

    def sleep(self, phase: str, seconds: float) -> None:
        (self.control / f"{phase}.sleep").write_text(f"{seconds}\n")

    def routed(self) -> list[str]:
        return [(self.db / n).read_text() for n in NUMBERS]

    def report(self) -> dict[str, str]:
        (message,) = self.world.messages()
        return message


class TimelineDns:
    """The world's Route 53 adapter, noting on the timeline when it changes the zone."""

    def __init__(self, inner: Any, timeline: Path) -> None:
        self._inner = inner
        self._timeline = timeline

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        with self._timeline.open("a") as out:
            out.write("dns\n")
        return self._inner.upsert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TimelineAuthority(MemoryAuthority):
    def __init__(self, timeline: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeline = timeline

    def verify(self, *args: Any, **kwargs: Any) -> Any:
        with self._timeline.open("a") as out:
            out.write("verify\n")
        return super().verify(*args, **kwargs)


def action(url: str, **fields: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET, "call_timeout": 5, **fields}


def switch_config(url: str, policy: str, fence_timeout: float, acquire_failure: str) -> Any:
    data = config_dict()
    service = data["services"][0]
    service["fence_policy"] = policy
    service["primary"]["fence"] = action(url, timeout=fence_timeout)
    service["primary"]["hooks"] = {
        "pre_release": [action(url, name="drain", timeout=20)],
        "post_release": [action(url, name="archive-logs", timeout=20)],
    }
    service["secondary"]["hooks"] = {
        "pre_acquire": [action(url, name="promote-db", timeout=20, on_failure=acquire_failure)],
        "post_acquire": [action(url, name="warm-cache", timeout=20)],
    }
    service["dns"]["verify"] = {"policy": "fail"}
    service["dns"]["verify_timeout"] = 5
    service["voip"] = [
        {
            "type": "webhook",
            "provider": "pbx",
            "numbers": NUMBERS,
            "target": {"primary": "pbx-fra", "secondary": "pbx-ams"},
        }
    ]
    data["voip_providers"] = {"pbx": {"type": "webhook", "url": url, "secret": SECRET}}
    data["dns_providers"] = {"route53": {"type": "route53", "verify": True, "nameservers": SERVERS}}
    return data


@pytest.fixture
def make_switch(aws: None, tmp_path: Path) -> Iterator[Any]:
    receivers: list[ReceiverProcess] = []

    def make(
        policy: str = "required", fence_timeout: float = 20, acquire_failure: str = "abort"
    ) -> Switch:
        timeline, control, db = tmp_path / "timeline", tmp_path / "control", tmp_path / "pbx"
        control.mkdir()
        db.mkdir()
        for number in NUMBERS:
            (db / number).write_text("pbx-fra")
        home = tmp_path / "receiver"
        home.mkdir()
        (home / "step.sh").write_text(STEP_SCRIPT.format(timeline=timeline, control=control))
        voip = VOIP_SCRIPT.format(timeline=timeline, db=db, n1=NUMBERS[0], n2=NUMBERS[1])
        (home / "voip.sh").write_text(voip)
        for name in ("step.sh", "voip.sh"):
            (home / name).chmod(0o755)
        phases: dict[str, Any] = {
            phase: {"argv": ["./step.sh"], "timeout": 60, "sync_wait": 0.3}
            for phase in ("pre_release", "fence", "pre_acquire", "post_acquire", "post_release")
        }
        phases["voip"] = {"argv": ["./voip.sh"], "timeout": 10}
        receiver = ReceiverProcess(home, phases, KEY).start()
        receivers.append(receiver)

        boto3.client("secretsmanager", region_name=HOME).create_secret(
            Name=SECRET, SecretString=KEY.decode()
        )
        world = make_world(switch_config(receiver.url, policy, fence_timeout, acquire_failure))
        keys = SecretsManagerKeys(lambda: boto3.client("secretsmanager", region_name=HOME))
        world.rt.actions = WebhookActions(keys.get, poll=0.2)
        world.rt.voip = VoipProviders(
            world.config, Deps(aws=lambda _: None, secret=lambda name: keys.get(name).decode())
        )
        primary = [r.record_set(SiteName.PRIMARY) for r in world.config.services[0].dns.records]
        world.dns.upsert(world.zone_id, primary, "the primary serves before the switch")
        world.rt.dns = {"route53": TimelineDns(world.dns, timeline)}

        def serving(name: str, rtype: str) -> list[str] | None:
            found = world.dns.read(world.zone_id, name, rtype)
            return list(found.values) if found else None

        world.rt.authority = TimelineAuthority(timeline, {s: serving for s in SERVERS}, poll=0.05)
        return Switch(world, receiver, timeline, control, db)

    yield make
    for receiver in receivers:
        receiver.stop()


def run(switch: Switch, tid: int) -> ActResult:
    return run_transition(switch.world.rt, "web", tid, switch.world.clock, time.monotonic() + 300)


WHOLE = [
    "pre_release primary #5",
    "fence primary #5",
    "pre_acquire secondary #5",
    "dns",
    "verify",
    "voip read ",
    "voip route pbx-ams",
    "voip read ",
    "post_acquire secondary #5",
    "post_release primary #5",
]


def test_a_switch_runs_every_phase_in_the_documented_order(make_switch: Any) -> None:
    switch = make_switch()
    keys = SecretsManagerKeys(lambda: boto3.client("secretsmanager", region_name=HOME))
    switch.world.rt.actions = Actions(keys.get, lambda *_: None, HOME)  # the runtime's runner
    tid = failed_over(switch.world)
    result = act.handler({"service": "web", "transition": tid}, LocalContext(timeout_s=300))
    assert result["outcome"] == "done"
    assert switch.lines() == WHOLE
    zone = switch.world.zone_id
    assert result["ran"] == [
        "pre_release:primary:drain",
        "fence:primary",
        "pre_acquire:secondary:promote-db",
        f"dns:route53:{zone}",
        f"verify:route53:{zone}",
        "voip:pbx:+15551230001+1",
        "post_acquire:secondary:warm-cache",
        "post_release:primary:archive-logs",
    ]
    assert switch.world.record_values() == NEW
    assert switch.routed() == ["pbx-ams", "pbx-ams"]
    report = switch.report()
    assert "FAILED" not in report["subject"] and "with warnings" not in report["subject"]
    body = report["message"]
    assert "the primary site confirmed it stopped" in body and "fence done on primary" in body
    assert "pre_acquire done on secondary" in body
    assert "changed +15551230001 target=pbx-ams (was target=pbx-fra)" in body
    assert KEY.decode() not in body


@pytest.mark.parametrize("fence", ["confirmed", "refused", "timed out"])
def test_a_fence_under_required(make_switch: Any, fence: str) -> None:
    switch = make_switch(policy="required", fence_timeout=2)
    if fence == "refused":
        switch.fail("fence", "app.service still has 3 sessions")
    elif fence == "timed out":
        switch.sleep("fence", 30)
    tid = failed_over(switch.world)
    result = run(switch, tid)
    message = switch.report()
    body = message["message"]
    if fence == "confirmed":
        assert result.outcome == "done" and switch.lines() == WHOLE
        assert switch.world.record_values() == NEW
        return
    assert result.outcome == "failed" and result.failed_step == "fence:primary"
    assert switch.lines() == WHOLE[:2]  # nothing after the fence
    assert switch.world.record_values() == OLD  # DNS untouched
    assert switch.routed() == ["pbx-fra", "pbx-fra"]
    assert switch.world.store.load_state("web").failed == tid
    assert "FAILED switching" in message["subject"]
    assert "the primary site (Frankfurt DC) did NOT confirm it stopped" in body
    assert "fence_policy required: the switch is aborted" in body
    if fence == "refused":
        assert "answered failed: app.service still has 3 sessions (exit 1)" in body
    else:
        assert "no confirmation within 2 s" in body and "last: pending: running for" in body


@pytest.mark.parametrize("fence", ["confirmed", "refused", "timed out"])
def test_a_fence_under_best_effort(make_switch: Any, fence: str) -> None:
    switch = make_switch(policy="best_effort", fence_timeout=2)
    if fence == "refused":
        switch.fail("fence", "app.service still has 3 sessions")
    elif fence == "timed out":
        switch.sleep("fence", 30)
    tid = failed_over(switch.world)
    result = run(switch, tid)
    assert result.outcome == "done"
    assert switch.lines() == WHOLE  # the switch goes on
    assert switch.world.record_values() == NEW
    assert switch.routed() == ["pbx-ams", "pbx-ams"]
    message = switch.report()
    if fence == "confirmed":
        assert "with warnings" not in message["subject"]
        return
    assert message["subject"].endswith("(with warnings)")
    assert "NOT confirmed" in message["message"]
    assert "fence_policy best_effort: the switch goes on" in message["message"]
    assert "may still be serving" in message["message"]


def test_a_failing_hook_with_on_failure_abort_stops_the_switch(make_switch: Any) -> None:
    switch = make_switch(acquire_failure="abort")
    switch.fail("pre_acquire", "replica lag 42 s, not promoting")
    tid = failed_over(switch.world)
    result = run(switch, tid)
    assert result.outcome == "failed"
    assert result.failed_step == "pre_acquire:secondary:promote-db"
    assert switch.lines() == WHOLE[:3]
    assert switch.world.record_values() == OLD
    assert switch.world.store.load_state("web").failed == tid
    assert "answered failed: replica lag 42 s, not promoting (exit 1)" in switch.report()["message"]


def test_a_failing_hook_with_on_failure_continue_goes_on(make_switch: Any) -> None:
    switch = make_switch(acquire_failure="continue")
    switch.fail("pre_acquire", "replica lag 42 s, not promoting")
    tid = failed_over(switch.world)
    result = run(switch, tid)
    assert result.outcome == "done"
    assert switch.lines() == WHOLE
    assert switch.world.record_values() == NEW
    message = switch.report()
    assert message["subject"].endswith("(with warnings)")
    assert "replica lag 42 s, not promoting" in message["message"]


class Crash(Exception):
    """The act function dying mid-step (a timeout, an out-of-memory kill)."""


@dataclass
class CrashAfter:
    """The real runner, but the invocation dies right after ``step``'s call was answered."""

    inner: Any
    step: str

    def run(self, action: Action, call: ActionCall, *args: Any, **kwargs: Any) -> ActionDone:
        done: ActionDone = self.inner.run(action, call, *args, **kwargs)
        if call.step == self.step:
            raise Crash(f"the act function died after {call.step}")
        return done


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_retried_act_invocation_never_runs_a_script_twice(make_switch: Any) -> None:
    switch = make_switch()
    runner = switch.world.rt.actions
    switch.world.rt.actions = CrashAfter(runner, "pre_acquire:secondary:promote-db")
    tid = failed_over(switch.world)
    event = {"service": "web", "transition": tid}
    with pytest.raises(Crash):
        act.handler(event, LocalContext(timeout_s=300))
    assert switch.lines() == WHOLE[:3]  # the script ran; its step was never recorded done
    switch.receiver.restart()  # and the receiver restarted meanwhile: results are on disk
    switch.world.rt.actions = runner

    result = act.handler(event, LocalContext(timeout_s=300))  # Lambda's retry

    assert result["outcome"] == "done"
    assert switch.lines() == WHOLE  # each script once, pre_acquire included
    steps = switch.world.store.load_steps("web", tid)
    assert steps["pre_acquire:secondary:promote-db"].attempts == 2
    log = switch.receiver.log.read_text()
    assert log.count("pre_acquire web/5/pre_acquire:secondary:promote-db: done") == 1  # ran
    assert log.count("pre_acquire web/5/pre_acquire:secondary:promote-db from") == 2  # asked
    assert switch.world.record_values() == NEW
