"""``arbiter plan`` with fences, hooks and VoIP routes: it reads each number's routing,
lists every step in order, and calls no hook."""

from __future__ import annotations

from arbiter.adapters.dns.memory import MemoryDns
from arbiter.adapters.voip.memory import MemoryVoip
from arbiter.core.config import SiteName, parse_config
from arbiter.core.errors import ProviderRejected
from arbiter.core.records import RecordSet, RecordType
from arbiter.local.plan import make_plan, render
from tests.unit.test_switch_phases import NUMBERS, full_config


def setup() -> tuple[object, MemoryDns, MemoryVoip]:
    config = parse_config(full_config())
    dns = MemoryDns("route53", zones=["ZEXAMPLE"])
    dns.upsert(
        "ZEXAMPLE",
        [RecordSet("www.example.com.", RecordType.A, 60, ("203.0.113.10",))],
        "seed",
    )
    voip = MemoryVoip("tx (memory)")
    voip.items = {NUMBERS[0]: {"connection_id": "1111"}, NUMBERS[1]: {"connection_id": "2222"}}
    return config, dns, voip


def test_a_plan_reads_numbers_and_lists_every_step_in_order() -> None:
    config, dns, voip = setup()
    service = config.service("web")  # type: ignore[attr-defined]
    plan = make_plan(config, service, SiteName.SECONDARY, {"route53": dns}, {"tx": voip})  # type: ignore[arg-type]
    text = render(plan, config)  # type: ignore[arg-type]
    assert plan.problems == []
    assert (
        f"* Update    {NUMBERS[0]}\n*   current connection_id=1111\n*   new     connection_id=2222"
        in text
    )
    assert f"* No change {NUMBERS[1]}  connection_id=2222" in text
    steps = text.split("Steps, in order")[1].split("Checks the switch")[0]
    names = [line.split(". ", 1)[1].split(";")[0] for line in steps.splitlines() if ". " in line]
    assert names == [
        "pre_release:primary:pre-release-fra", "fence:primary",
        "pre_acquire:secondary:pre-acquire-ams", "dns:route53:ZEXAMPLE",
        "verify:route53:ZEXAMPLE", "voip:tx:+15551230001+1",
        "post_acquire:secondary:post-acquire-ams",
        "post_release:primary:post-release-fra",
    ]  # fmt: skip
    assert voip.applied == [] and "Summary: 2 to change, 1 already right" in text


def test_an_unreadable_voip_provider_is_a_problem_named_by_route() -> None:
    config, dns, voip = setup()
    voip.faults = [ProviderRejected("tx: HTTP 401: Authentication failed")]
    service = config.service("web")  # type: ignore[attr-defined]
    plan = make_plan(config, service, SiteName.SECONDARY, {"route53": dns}, {"tx": voip})  # type: ignore[arg-type]
    assert plan.problems == [
        "tx (telnyx) voip:tx:+15551230001+1: cannot read: tx: HTTP 401: Authentication failed"
    ]
    assert f"* UNREADABLE {NUMBERS[0]}" in render(plan, config)  # type: ignore[arg-type]
