"""``arbiter drill``: the checklist (services/drill.py) on in-memory fakes, the act function's
drill event, the override command and the CLI's exit codes."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber
from pydantic import TypeAdapter

from arbiter import runtime
from arbiter.adapters.actions import ActionCall, ActionDone, ActionRefused, ActionTimedOut
from arbiter.adapters.actions.memory import MemoryActions
from arbiter.adapters.hooks import WebhookClient
from arbiter.adapters.invoker import InlineActInvoker, LambdaActInvoker, drill_event
from arbiter.adapters.voip.memory import MemoryVoip
from arbiter.core.config import Action, SiteName, Webhook
from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected
from arbiter.core.machine import Command, DrillCommand
from arbiter.core.records import RecordSet, RecordType
from arbiter.core.runbook import VoipStep
from arbiter.handlers import act
from arbiter.handlers.events import DrillEvent
from arbiter.local.cli import main
from arbiter.local.context import LocalContext
from arbiter.services import override
from arbiter.services.drill import (
    DrillReport,
    DrillStatus,
    DrillTools,
    drill,
    render,
)
from tests.factories import config_dict
from tests.fakes import PRIMARY, SECONDARY, MemoryWorld, memory_world

EVENTS = Path(__file__).resolve().parents[2] / "events"
ZONE, NAME = "ZEXAMPLE", "www.example.com."
NUMBERS = ["+4930123456", "+4930123457"]
VOICE = {"primary": "https://pbx1.example.com/voice", "secondary": "https://pbx2.example.com/voice"}


def _hook(name: str, site: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "name": name,
        "url": f"https://{site}.example.com/hooks/{name}",
        "secret": "arbiter/hooks",
        "timeout": 60,
        **extra,
    }


def drill_config(gate: bool = True) -> dict[str, Any]:
    """One service with a fence, a hook of each phase on each site (one of them SSM), one
    Twilio number route, a Route 53 record and a failback gate."""
    data = config_dict()
    service = data["services"][0]
    for site in ("primary", "secondary"):
        short = site[0]
        service[site]["fence"] = {
            "type": "webhook",
            "url": f"https://{site}.example.com/fence",
            "secret": "arbiter/fence",
            "timeout": 30,
        }
        service[site]["hooks"] = {
            "pre_release": [_hook(f"{short}-drain", site)],
            "post_release": [_hook(f"{short}-tell-ops", site)],
            "pre_acquire": [_hook(f"{short}-warm", site)],
            "post_acquire": [
                {
                    "type": "ssm",
                    "name": f"{short}-start-app",
                    "instance_ids": ["i-0123456789abcdef0"],
                    "parameters": {"commands": ["systemctl start app"]},
                    "timeout": 120,
                }
            ],
        }
    service["voip"] = [
        {"type": "twilio_number", "provider": "tw", "numbers": NUMBERS, "voice_url": VOICE}
    ]
    data["voip_providers"] = {
        "tw": {"type": "twilio", "account_sid": "AC" + "0" * 32, "auth_token_secret": "arbiter/tw"}
    }
    if gate:
        service["failback"]["gate"] = {"url": "https://db.example.com/synced", "secret": "gate"}
    return data


ORDER_FROM_PRIMARY = [
    "pre_release:primary:p-drain",
    "fence:primary",
    "pre_acquire:secondary:s-warm",
    f"dns:route53:{ZONE}:www.example.com A",
    "voip:tw:+4930123456+1",
    "post_acquire:secondary:s-start-app",
    "post_release:primary:p-tell-ops",
    "pre_release:secondary:s-drain",
    "fence:secondary",
    "pre_acquire:primary:p-warm",
    "post_acquire:primary:p-start-app",
    "post_release:secondary:s-tell-ops",
    "gate:failback",
]


class FakeGate(WebhookClient):
    """The gate's webhook: answers (a JSON object) or errors, one per call, as scripted."""

    def __init__(self, *answers: dict[str, Any] | ArbiterError) -> None:
        super().__init__(None)
        self.answers = list(answers)
        self.payloads: list[dict[str, Any]] = []

    def call(self, hook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
        self.payloads.append(payload)
        answer = self.answers.pop(0) if self.answers else {"synced": True}
        if isinstance(answer, ArbiterError):
            raise answer
        return answer


@dataclass
class TimedActions(MemoryActions):
    """MemoryActions that also records the wait each call was given."""

    timeouts: list[float] = field(default_factory=list)

    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        self.timeouts.append(timeout)
        return super().run(action, call, timeout, deadline, pending, remember)


class PartialVoip(MemoryVoip):
    """A provider whose read leaves some items out (as the generic webhook may)."""

    hidden: set[str]

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        found = super().read(step)
        return {k: v for k, v in found.items() if k not in self.hidden}


@dataclass
class Drilled:
    world: MemoryWorld
    voip: MemoryVoip
    actions: TimedActions
    gate: FakeGate
    seen: dict[str, Any] = field(default_factory=dict)
    """What the CLI asked for its local tools (``region``)."""

    @property
    def tools(self) -> DrillTools:
        return DrillTools.of(self.world.rt)

    def run(self, active: str = "primary", seconds: float = 60.0) -> DrillReport:
        rt = self.world.rt
        service = rt.config.service("web")
        return drill(rt.config, service, SiteName(active), self.tools, time.monotonic() + seconds)

    def serve(self, values: tuple[str, ...], ttl: int = 60) -> None:
        dns = self.world.dns["route53"]
        dns.zones[ZONE.lower()][(NAME, "A")] = RecordSet(NAME, RecordType.A, ttl, values)

    def route(self, site: str, *numbers: str) -> None:
        for number in numbers or NUMBERS:
            self.voip.items[number] = {"voice_url": VOICE[site], "voice_method": "POST"}


def drilled(data: dict[str, Any] | None = None, voip: MemoryVoip | None = None) -> Drilled:
    """A world whose primary serves: the record and the numbers point at it."""
    world = memory_world(data or drill_config())
    voip = voip or MemoryVoip(label="tw (twilio)")
    actions, gate = TimedActions(), FakeGate()
    world.rt.voip = {"tw": voip}
    world.rt.actions = actions
    world.rt.hooks = gate
    out = Drilled(world, voip, actions, gate)
    out.serve(PRIMARY)
    out.route("primary")
    return out


def statuses(report: DrillReport) -> dict[str, str]:
    return {item.name: item.status.value for item in report.items}


def item(report: DrillReport, name: str) -> Any:
    return next(i for i in report.items if i.name == name)


# -- the checklist ---------------------------------------------------------------------


def test_all_pass_in_runbook_order_and_nothing_changes() -> None:
    d = drilled()
    report = d.run()
    assert [i.name for i in report.items] == ORDER_FROM_PRIMARY
    assert set(statuses(report).values()) == {"ok"}, render(report)
    assert report.ok and report.failures == 0 and report.warnings == 0
    # Read-only: no upsert, no VoIP change, every action a dry run.
    assert d.world.dns["route53"].asked == [] and d.voip.applied == []
    assert all(call.dry_run and call.transition is None for call in d.actions.calls)
    assert d.actions.steps() == [n for n in ORDER_FROM_PRIMARY if n.split(":")[0] in (
        "pre_release", "fence", "pre_acquire", "post_acquire", "post_release"
    )]  # fmt: skip
    assert (
        "serves 203.0.113.10 (TTL 60), the primary site's values"
        in item(report, ORDER_FROM_PRIMARY[3]).detail
    )
    assert item(report, "voip:tw:+4930123456+1").detail == (
        "tw (twilio): all 2 routed to the primary site"
    )


def test_each_dry_run_says_which_switch_it_rehearses_and_waits_at_most_15_s() -> None:
    d = drilled()
    d.run()
    calls = {call.step: call for call in d.actions.calls}
    fence = calls["fence:primary"]
    assert (fence.phase, fence.from_site.value, fence.to_site.value, fence.site.value) == (
        "fence",
        "primary",
        "secondary",
        "primary",
    )
    back = calls["pre_acquire:primary:p-warm"]
    assert (back.from_site.value, back.to_site.value, back.site.value) == (
        "secondary",
        "primary",
        "primary",
    )
    assert fence.idempotency_key == "web/drill/fence:primary"
    # Timeouts: the fence's 30 s, hooks' 60 s and SSM's 120 s are each capped at 15 s.
    assert len(d.actions.timeouts) == 10 and max(d.actions.timeouts) <= 15.0
    assert min(d.actions.timeouts) > 14.0


def test_from_the_secondary_the_order_and_the_expected_values_turn_round() -> None:
    d = drilled()
    d.serve(SECONDARY)
    d.route("secondary")
    report = d.run(active="secondary")
    names = [i.name for i in report.items]
    assert names[:3] == [
        "pre_release:secondary:s-drain",
        "fence:secondary",
        "pre_acquire:primary:p-warm",
    ]
    assert names[-2:] == ["post_release:primary:p-tell-ops", "gate:failback"]
    assert report.ok, render(report)


def test_a_wrong_credential_fails_the_record_and_the_rest_still_runs() -> None:
    d = drilled()
    d.world.dns["route53"].faults.append(
        ProviderRejected("Route 53 list_resource_record_sets: AccessDenied: not authorized")
    )
    report = d.run()
    dns = item(report, ORDER_FROM_PRIMARY[3])
    assert dns.status is DrillStatus.FAIL
    assert dns.detail == (
        "cannot read from route53: Route 53 list_resource_record_sets: AccessDenied: not authorized"
    )
    assert report.failures == 1 and not report.ok
    assert len(report.items) == len(ORDER_FROM_PRIMARY)


@pytest.mark.parametrize(
    ("values", "ttl", "status", "detail"),
    [
        (
            SECONDARY,
            60,
            "fail",
            "serves 198.51.100.10 (TTL 60), the secondary site's values, but the primary "
            "site is active",
        ),
        (
            ("192.0.2.99",),
            60,
            "fail",
            "serves 192.0.2.99 (TTL 60): neither site's values (primary: 203.0.113.10; "
            "secondary: 198.51.100.10)",
        ),
        (
            PRIMARY,
            300,
            "warn",
            "serves the primary site's values with TTL 300, not 60 as configured",
        ),
    ],
)
def test_a_record_serving_the_wrong_values(
    values: tuple[str, ...], ttl: int, status: str, detail: str
) -> None:
    d = drilled()
    d.serve(values, ttl)
    report = d.run()
    dns = item(report, ORDER_FROM_PRIMARY[3])
    assert dns.status.value == status
    assert dns.detail.startswith(detail)
    assert report.ok is (status != "fail")


def test_a_missing_record_fails() -> None:
    d = drilled()
    d.world.dns["route53"].zones[ZONE.lower()].clear()
    dns = item(d.run(), ORDER_FROM_PRIMARY[3])
    assert dns.status is DrillStatus.FAIL
    assert "has no such record set in zone ZEXAMPLE" in dns.detail


def test_a_number_routed_to_the_other_site_fails_naming_it() -> None:
    d = drilled()
    d.route("secondary", NUMBERS[1])
    voip = item(d.run(), "voip:tw:+4930123456+1")
    assert voip.status is DrillStatus.FAIL
    assert voip.detail == "tw (twilio): 1 of 2 not routed to the primary site: +4930123457"
    assert voip.lines[1] == (
        "WRONG     +4930123457: routed to the secondary site: has "
        "voice_url=https://pbx2.example.com/voice, voice_method=POST; the primary site needs "
        "voice_url=https://pbx1.example.com/voice, voice_method=POST"
    )
    assert voip.lines[0].startswith("ok        +4930123456")


def test_a_number_the_account_does_not_hold_fails_and_an_unreported_one_warns() -> None:
    d = drilled()
    del d.voip.items[NUMBERS[0]]
    voip = item(d.run(), "voip:tw:+4930123456+1")
    assert voip.status is DrillStatus.FAIL
    assert voip.detail == "cannot read: tw (twilio): +4930123456 is not on this account"

    partial = PartialVoip(label="hooked (webhook)")
    partial.hidden = {NUMBERS[0]}
    d = drilled(voip=partial)
    report = d.run()
    voip = item(report, "voip:tw:+4930123456+1")
    assert voip.status is DrillStatus.WARN
    assert "1 cannot be checked" in voip.detail
    assert report.ok and report.warnings == 1


def test_a_hook_receiver_that_does_not_answer_fails_its_item() -> None:
    d = drilled()
    d.actions.script(
        "post_acquire:secondary:s-start-app",
        ActionTimedOut("no confirmation within 15 s (last: InProgress)"),
    )
    d.actions.script(
        "pre_acquire:secondary:s-warm", ProviderError("hook unreachable: ConnectionError")
    )
    report = d.run()
    assert item(report, "post_acquire:secondary:s-start-app").detail == (
        "ssm: no answer within 15 s: no confirmation within 15 s (last: InProgress)"
    )
    assert item(report, "pre_acquire:secondary:s-warm").detail == (
        "webhook: hook unreachable: ConnectionError"
    )
    assert report.failures == 2


def test_a_fence_that_refuses_the_dry_run_fails_whatever_the_fence_policy() -> None:
    d = drilled()  # fence_policy best_effort: a real switch would go on, the drill says so
    d.actions.script("fence:primary", ActionRefused("fence answered 403"))
    report = d.run()
    fence = item(report, "fence:primary")
    assert fence.status is DrillStatus.FAIL
    assert fence.detail == "webhook: refused the dry run: fence answered 403"
    assert statuses(report)["fence:secondary"] == "ok"


def test_no_action_runner_fails_each_action_item() -> None:
    d = drilled()
    d.world.rt.actions = None
    report = d.run()
    assert report.failures == 10
    assert item(report, "fence:primary").detail == (
        "webhook: no action runner is configured for fences and hooks"
    )


def test_the_gate_may_say_not_synced_but_must_answer() -> None:
    d = drilled()
    d.gate.answers = [
        {"synced": False, "reason": "replication lag 40 s"},
        ProviderError("hook timed out after 10.0 s"),
        ProviderRejected("hook answered with something that is not JSON"),
    ]
    closed = item(d.run(), "gate:failback")
    assert closed.status is DrillStatus.OK
    assert closed.detail == "answered: not synced (replication lag 40 s); the gate works"
    unreachable = item(d.run(), "gate:failback")
    assert unreachable.status is DrillStatus.FAIL
    assert unreachable.detail.startswith("no answer: hook timed out after 10.0 s")
    assert item(d.run(), "gate:failback").status is DrillStatus.FAIL
    assert d.gate.payloads[0] == {
        "event": "failback_gate",
        "service": "web",
        "to": "primary",
        "dry_run": True,
    }


def test_no_gate_no_gate_item() -> None:
    d = drilled(drill_config(gate=False))
    assert [i.name for i in d.run().items] == ORDER_FROM_PRIMARY[:-1]


def test_items_past_the_deadline_are_not_run_and_fail() -> None:
    d = drilled()
    report = d.run(seconds=-1.0)
    assert {i.detail for i in report.items} == {"not run: the drill ran out of time"}
    assert report.failures == len(ORDER_FROM_PRIMARY)
    assert d.actions.calls == [] and d.gate.payloads == []


def test_render_lists_every_item_and_the_verdict() -> None:
    d = drilled()
    d.actions.script("fence:primary", ActionRefused("fence answered 403"))
    text = render(d.run(), d.world.rt.config.service("web"))
    lines = text.splitlines()
    assert lines[0] == "Drill of web: primary (Frankfurt DC) is active"
    fence = next(line for line in lines if line.strip().startswith("fence:primary"))
    assert " FAIL " in fence and fence.endswith("webhook: refused the dry run: fence answered 403")
    assert lines[-1] == (
        f"FAILED: {len(ORDER_FROM_PRIMARY)} items, 1 failed, 0 with warnings; nothing was changed"
    )


# -- the act function's drill event ------------------------------------------------------


@pytest.fixture
def installed() -> Iterator[Drilled]:
    d = drilled()
    runtime.install(d.world.rt)
    yield d
    runtime.install(None)


def act_drill(event: Any) -> dict[str, Any]:
    return act.handler(event, LocalContext(timeout_s=120))


def test_act_drill_with_failures_notifies_only_on_a_failure(installed: Drilled) -> None:
    d = installed
    answer = act_drill({"drill": {"service": "web", "notify": "failures"}})
    assert answer["ok"] is True and d.world.notifier.sent == []
    assert answer["drills"][0]["notified"] is None

    d.serve(SECONDARY)
    answer = act_drill({"drill": {"service": None, "notify": "failures"}})
    assert answer["ok"] is False and answer["drills"][0]["failures"] == 1
    assert answer["drills"][0]["notified"] is True
    [sent] = d.world.notifier.take()
    assert sent.subject == f"[arbiter] web: drill FAILED: 1 of {len(ORDER_FROM_PRIMARY)} items"
    assert "the secondary site's values, but the primary site is active" in sent.message
    assert sent.message.startswith("Drill of web: primary (Frankfurt DC) is active")
    assert sent.dedupe_key is not None and sent.dedupe_key.startswith("web/drill/")


def test_act_drill_of_every_service_by_default_notifies_each_failing_one() -> None:
    data = drill_config()
    api = json.loads(json.dumps(data["services"][0]))
    api.update(name="api", voip=[])
    api["dns"]["records"][0]["name"] = "api.example.com"
    data["services"].append(api)
    d = drilled(data)
    runtime.install(d.world.rt)
    try:
        answer = act_drill({"drill": {}})  # service: all; notify: failures
    finally:
        runtime.install(None)
    assert [r["service"] for r in answer["drills"]] == ["web", "api"]
    api_dns = next(i for i in answer["drills"][1]["items"] if i["name"].startswith("dns:"))
    assert api_dns["detail"].startswith("route53 has no such record set")
    assert answer["ok"] is False and answer["drills"][0]["ok"] is True
    assert [m.subject for m in d.world.notifier.take()] == [
        f"[arbiter] api: drill FAILED: 1 of {len(ORDER_FROM_PRIMARY) - 1} items"  # no VoIP
    ]


def test_act_drill_always_and_never(installed: Drilled) -> None:
    answer = act_drill({"drill": {"service": "web", "notify": "always"}})
    [sent] = installed.world.notifier.take()
    assert sent.subject == f"[arbiter] web: drill passed ({len(ORDER_FROM_PRIMARY)} items)"
    installed.serve(SECONDARY)
    answer = act_drill({"drill": {"service": "web", "notify": "never"}})
    assert answer["ok"] is False and installed.world.notifier.take() == []


def test_act_drill_answers_even_when_the_notification_fails(installed: Drilled) -> None:
    installed.serve(SECONDARY)
    installed.world.notifier.fail(1)
    answer = act_drill({"drill": {"service": "web", "notify": "failures"}})
    assert answer["ok"] is False and answer["drills"][0]["notified"] is False


def test_act_drill_writes_no_state_and_logs_one_event(installed: Drilled) -> None:
    store = installed.world.store
    before = store.load_state("web")
    act_drill({"drill": {"service": "web", "notify": "never"}})
    assert store.load_state("web") == before
    [event] = store.recent_events("web")
    assert event.kind == "drill"
    assert event.message == f"drill from primary: all {len(ORDER_FROM_PRIMARY)} items passed"


def test_act_drill_starts_from_the_stored_active_site(installed: Drilled) -> None:
    store = installed.world.store
    state = store.load_state("web")
    moved = state.model_copy(update={"active": SiteName.SECONDARY, "version": 1})
    store.save_state(moved, 0, [])
    installed.serve(SECONDARY)
    installed.route("secondary")
    answer = act_drill({"drill": {"service": "web", "notify": "never"}})
    assert answer["drills"][0]["active"] == "secondary" and answer["ok"] is True


def test_act_drill_emits_its_failures_metric(
    installed: Drilled, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbiter.observability import metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # Earlier tests' handlers ran with metrics disabled, which buffers but never flushes.
    metrics.clear_metrics()
    installed.serve(SECONDARY)
    installed.actions.script("fence:primary", ActionRefused("no"))
    capsys.readouterr()
    act_drill({"drill": {"service": "web", "notify": "never"}})
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    values = [b["DrillFailures"] for b in blobs if "DrillFailures" in b]
    assert values in ([2.0], [[2.0]])  # one flush; Powertools may keep a list of values
    [blob] = [b for b in blobs if "DrillFailures" in b]
    assert blob["service"] == "arbiter"  # the function's dimension: one series in all


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"drill": {"service": "web", "notify": "sometimes"}}, "drill.notify: Input should be"),
        ({"drill": {"service": 5}}, "drill.service: Input should be a valid string"),
        ({"drill": "web"}, "drill: Input should be a valid dictionary or instance"),
        ({"drill": {"service": "web"}, "extra": 1}, "extra: unknown key"),
        ({"drill": {"service": "web", "when": "now"}}, "drill.when: unknown key"),
    ],
)
def test_a_malformed_drill_event_is_refused_naming_the_field(
    installed: Drilled, event: dict[str, Any], problem: str
) -> None:
    answer = act_drill(event)
    assert answer["ok"] is False and answer["error"] == "malformed drill event"
    assert any(p.startswith(problem) for p in answer["problems"]), answer["problems"]
    assert installed.actions.calls == [] and installed.world.store.recent_events("web") == []


def test_a_drill_of_an_unknown_service_runs_nothing(installed: Drilled) -> None:
    answer = act_drill({"drill": {"service": "api", "notify": "always"}})
    assert answer == {
        "ok": False,
        "error": "unknown service",
        "problems": ["drill.service: unknown service 'api'; known: web"],
    }
    assert installed.actions.calls == [] and installed.world.notifier.sent == []


def test_the_runbook_event_still_goes_to_the_runbook(installed: Drilled) -> None:
    answer = act_drill({"service": "web", "transition": 3})
    assert answer["outcome"] == "nothing to do"


def test_the_sample_events_parse() -> None:
    DrillEvent.model_validate(json.loads((EVENTS / "act-drill.json").read_text()))
    command = TypeAdapter(Command).validate_python(
        json.loads((EVENTS / "override-drill.json").read_text())
    )
    assert isinstance(command, DrillCommand)


# -- the override command --------------------------------------------------------------


def inline(d: Drilled) -> None:
    d.world.invoker.on_drill = lambda service: act_drill(drill_event(service))


def test_override_drill_returns_the_checklist_and_writes_no_state(installed: Drilled) -> None:
    d = installed
    inline(d)
    before = d.world.store.load_state("web")
    answer = override.handle(d.world.rt, {"command": "drill", "service": "web"}, d.world.clock())
    assert answer["ok"] is True
    assert [i["name"] for i in answer["drill"]["items"]] == ORDER_FROM_PRIMARY
    assert answer["drill"]["failures"] == 0
    assert d.world.invoker.drilled == ["web"] and d.world.invoker.started == []
    assert d.world.store.load_state("web") == before
    assert d.world.notifier.sent == []  # the checklist is the answer: no notification


def test_override_drill_with_a_failure_is_not_ok(installed: Drilled) -> None:
    inline(installed)
    installed.actions.script("fence:primary", ActionRefused("fence answered 403"))
    answer = override.handle(installed.world.rt, {"command": "drill"}, installed.world.clock())
    assert answer["ok"] is False and answer["drill"]["failures"] == 1
    fence = next(i for i in answer["drill"]["items"] if i["name"] == "fence:primary")
    assert fence["status"] == "fail"


def test_override_drill_when_the_act_function_cannot_run_it(installed: Drilled) -> None:
    inline(installed)
    installed.world.invoker.fail(1)
    rt, now = installed.world.rt, installed.world.clock()
    answer = override.handle(rt, {"command": "drill", "service": "web"}, now)
    assert answer == {
        "ok": False,
        "error": "the drill could not run: memory invoker: failing as told",
    }
    installed.world.invoker.on_drill = lambda service: {"ok": False, "error": "unknown service"}
    answer = override.handle(rt, {"command": "drill", "service": "web"}, now)
    assert answer == {"ok": False, "error": "the drill could not run: unknown service"}


def test_override_drill_refuses_an_unknown_service_or_field(installed: Drilled) -> None:
    rt, now = installed.world.rt, installed.world.clock()
    answer = override.handle(rt, {"command": "drill", "service": "api"}, now)
    assert answer["problems"] == ["service: unknown service 'api'; known: web"]
    answer = override.handle(rt, {"command": "drill", "to": "primary"}, now)
    assert answer["problems"] == ["to: unknown field"]
    assert installed.world.invoker.drilled == []


def test_the_inline_invoker_runs_the_act_handler(installed: Drilled) -> None:
    invoker = InlineActInvoker(lambda event: act_drill(event))
    answer = invoker.drill("web")
    assert answer["ok"] is True and answer["drills"][0]["service"] == "web"
    assert installed.world.notifier.sent == []  # the invoker asks for notify: never


# -- the Lambda invoker ------------------------------------------------------------------


def _payload(data: Any) -> StreamingBody:
    raw = json.dumps(data).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_the_lambda_invoker_waits_for_the_drill() -> None:
    client = boto3.client("lambda", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": _payload({"ok": True, "drills": []})},
        {
            "FunctionName": "arbiter-act",
            "InvocationType": "RequestResponse",
            "Payload": json.dumps({"drill": {"service": "web", "notify": "never"}}),
        },
    )
    with stub:
        invoker = LambdaActInvoker(
            "arbiter-act", lambda: pytest.fail("the start client"), lambda: client
        )
        assert invoker.drill("web") == {"ok": True, "drills": []}
    stub.assert_no_pending_responses()


def test_the_lambda_invoker_reports_the_act_function_crash_without_its_message() -> None:
    client = boto3.client("lambda", region_name="eu-west-1")
    stub = Stubber(client)
    crash = {"errorType": "KeyError", "errorMessage": "token=hunter2"}
    stub.add_response(
        "invoke", {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _payload(crash)}
    )
    stub.add_client_error("invoke", service_error_code="ResourceNotFoundException")
    with stub:
        invoker = LambdaActInvoker("arbiter-act", lambda: client)
        with pytest.raises(ProviderError) as failed:
            invoker.drill("web")
        assert str(failed.value) == (
            "the act function failed running the drill (Unhandled: KeyError)"
        )
        with pytest.raises(ProviderRejected, match="ResourceNotFoundException"):
            invoker.drill("web")


# -- the CLI ---------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "arbiter.yaml"
    path.write_text(yaml.safe_dump(drill_config()))
    return path


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Drilled:
    """The CLI's local tools replaced by the fakes (and the region it was asked for kept)."""
    d = drilled()

    def tools(config: Any, region: str, environ: Any = None) -> DrillTools:
        d.seen["region"] = region
        return d.tools

    monkeypatch.setattr("arbiter.local.drill.local_tools", tools)
    return d


def test_cli_exit_0_when_every_item_passes(
    capsys: pytest.CaptureFixture[str], config_file: Path, local: Drilled
) -> None:
    code, out, err = run_cli(capsys, "drill", "web", "--config", str(config_file))
    assert code == 0, out + err
    assert out.splitlines()[0] == "Drill of web: primary (Frankfurt DC) is active"
    assert out.splitlines()[-1].startswith(f"PASSED: {len(ORDER_FROM_PRIMARY)} items, 0 failed")
    assert local.seen == {"region": "eu-west-1"}


def test_cli_exit_1_when_an_item_fails(
    capsys: pytest.CaptureFixture[str], config_file: Path, local: Drilled
) -> None:
    code, out, _ = run_cli(
        capsys, "drill", "web", "--config", str(config_file), "--active", "secondary"
    )
    assert code == 1
    assert "Drill of web: secondary (Amsterdam DC) is active" in out
    dns = next(line for line in out.splitlines() if "dns:route53" in line)
    assert " FAIL " in dns and "the primary site's values, but the secondary site is active" in dns


def test_cli_json(capsys: pytest.CaptureFixture[str], config_file: Path, local: Drilled) -> None:
    code, out, _ = run_cli(
        capsys, "drill", "web", "--config", str(config_file), "--json", "--region", "us-east-1"
    )
    answer = json.loads(out)
    assert code == 0 and answer["ok"] is True and len(answer["items"]) == len(ORDER_FROM_PRIMARY)
    assert local.seen == {"region": "us-east-1"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["drill", "api", "--config", "{config}"], "error: no service 'api' in"),
        (["drill", "web", "--config", "{missing}"], "cannot read the file"),
        (
            ["drill", "web", "--config", "{config}", "--operator", "x"],
            "--operator goes with the deployed drill",
        ),
        (["drill", "web", "--config", "{config}", "--function", "f"], "not allowed with"),
        (["drill", "web", "--function", "f", "--active", "primary"], "--active goes with"),
        (["drill", "web", "--config", "{config}", "--active", "both"], "invalid choice"),
    ],
)
def test_cli_exit_2_for_bad_config_service_or_arguments(
    capsys: pytest.CaptureFixture[str],
    config_file: Path,
    local: Drilled,
    argv: list[str],
    message: str,
) -> None:
    missing = str(config_file.parent / "nope.yaml")
    argv = [a.format(config=config_file, missing=missing) for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err, err
    assert local.actions.calls == []


class FakeLambda:
    """boto3.client("lambda", ...) for the CLI: a stubbed client, the config it was made
    with kept."""

    def __init__(self, answer: Any, function_error: str | None = None) -> None:
        self.client = boto3.client("lambda", region_name="eu-west-1")
        self.stub = Stubber(self.client)
        response: dict[str, Any] = {"StatusCode": 200, "Payload": _payload(answer)}
        if function_error:
            response["FunctionError"] = function_error
        self.stub.add_response(
            "invoke",
            response,
            {
                "FunctionName": "arbiter-override",
                "Payload": b'{"command": "drill", "service": "web"}',
            },
        )
        self.stub.activate()
        self.made: list[dict[str, Any]] = []

    def __call__(self, service: str, **kw: Any) -> Any:
        self.made.append({"service": service, **kw})
        return self.client


@pytest.mark.parametrize(
    ("answer", "error", "code", "shown"),
    [
        ({"ok": True, "drill": {"service": "web", "active": "primary", "items": []}}, None, 0,
         "PASSED: 0 items"),
        ({"ok": False, "drill": {"service": "web", "active": "secondary", "items": [
            {"name": "fence:secondary", "status": "fail", "seconds": 1.5, "detail": "refused"}
        ]}}, None, 1, "FAILED: 1 items, 1 failed"),
        ({"ok": False, "error": "invalid override", "problems": ["service: unknown"]}, None, 2,
         "refused: invalid override"),
        ({"ok": False, "error": "the drill could not run: Lambda invoke: ReadTimeoutError"},
         None, 1, "refused: the drill could not run"),
        ({"errorType": "Runtime.ExitError"}, "Unhandled", 2, "Runtime.ExitError"),
    ],
)  # fmt: skip
def test_cli_through_the_override_function(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: dict[str, Any],
    error: str | None,
    code: int,
    shown: str,
) -> None:
    fake = FakeLambda(answer, error)
    monkeypatch.setattr(boto3, "client", fake)
    got, out, err = run_cli(capsys, "drill", "web", "--function", "arbiter-override")
    assert got == code and shown in out + err, out + err
    fake.stub.assert_no_pending_responses()
    # One attempt, a read timeout past any act function's: a retried drill would run twice.
    [made] = fake.made
    assert made["config"].retries["total_max_attempts"] == 1
    assert made["config"].read_timeout > 900
