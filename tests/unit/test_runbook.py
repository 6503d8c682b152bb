from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from arbiter.core.config import SiteName
from arbiter.core.model import Health, Transition
from arbiter.core.runbook import (
    DnsStep,
    Plan,
    Step,
    StepResult,
    StepStatus,
    VerifyStep,
    outcome,
    plan,
    render_report,
    report_alert,
)
from tests.factories import T0, config_dict, make_config


def two_zone_data(**dns: Any) -> dict[str, Any]:
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "name": "sip.example.com"})
    records.append({**records[0], "zone": "ZOTHER", "name": "www.example.net"})
    data["services"][0]["dns"].update(dns)
    return data


def two_zone_service():
    return make_config(**two_zone_data()).services[0]


TRANSITION = Transition(
    id=7,
    from_site=SiteName.PRIMARY,
    to_site=SiteName.SECONDARY,
    reason="Frankfurt DC (primary DOWN in 3/3 regions)",
    decided_at=T0,
    by="decider",
    votes={"eu-west-1": {SiteName.PRIMARY: Health.DOWN, SiteName.SECONDARY: Health.UP}},
    failing={"eu-west-1": {SiteName.PRIMARY: "health: status 503; ssh: connection refused"}},
)


def steps_of(data: dict[str, Any]) -> list[Step]:
    config = make_config(**data)
    return plan(config, config.services[0], TRANSITION).steps


def test_plan_is_one_dns_step_per_provider_and_zone_then_their_verify_steps() -> None:
    """The report is not a step: it goes to the outbox with the write that closes the runbook,
    so a notification failure can never fail a switch."""
    steps = steps_of(two_zone_data())
    assert [s.name for s in steps] == [
        "dns:route53:ZEXAMPLE",
        "dns:route53:ZOTHER",
        "verify:route53:ZEXAMPLE",
        "verify:route53:ZOTHER",
    ]
    assert [s.kind for s in steps] == ["dns", "dns", "verify", "verify"]
    first = steps[0]
    assert isinstance(first, DnsStep)
    assert [r.name for r in first.records] == ["www.example.com.", "sip.example.com."]
    assert first.records[0].values == ("198.51.100.10",)  # the target site's values


def test_verify_steps_carry_the_old_values_and_the_policy() -> None:
    steps = steps_of(two_zone_data(verify={"policy": "fail"}))
    verify = steps[2]
    assert isinstance(verify, VerifyStep)
    assert verify.on_failure == "stop" and verify.servers is None
    assert verify.old[0].values == ("203.0.113.10",)
    warn = steps_of(two_zone_data())[2]
    assert warn.on_failure == "continue"


def test_verify_can_be_turned_off_per_service_or_per_provider() -> None:
    off = steps_of(two_zone_data(verify={"enabled": False}))
    assert [s.kind for s in off] == ["dns", "dns"]
    data = two_zone_data()
    data["dns_providers"] = {"route53": {"type": "route53", "verify": False}}
    assert [s.kind for s in steps_of(data)] == ["dns", "dns"]


def test_each_provider_is_its_own_step_with_its_own_servers() -> None:
    data = two_zone_data()
    data["dns_providers"] = {
        "bind": {
            "type": "rfc2136",
            "server": "127.0.0.1",
            "key_name": "arbiter",
            "key_secret": "arbiter/tsig",
            "nameservers": ["127.0.0.1:5301", "[::1]:5302"],
        }
    }
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "provider": "bind", "zone": "example.com"})
    steps = steps_of(data)
    assert "dns:bind:example.com" in [s.name for s in steps]
    verify = next(s for s in steps if s.name == "verify:bind:example.com")
    assert isinstance(verify, VerifyStep)
    assert verify.servers == ["127.0.0.1:5301", "[::1]:5302"]


def test_a_plan_survives_storage_exactly() -> None:
    """The plan is frozen as JSON with the runbook; read back it is the same plan."""
    config = make_config(**two_zone_data())
    frozen = plan(config, config.services[0], TRANSITION)
    again = Plan.model_validate_json(frozen.model_dump_json())
    assert again == frozen
    assert TypeAdapter(Step).validate_python(frozen.steps[2].model_dump()).kind == "verify"


def test_report_has_reason_votes_and_steps_with_their_own_lines() -> None:
    service = two_zone_service()
    steps = steps_of(two_zone_data())
    done = StepResult(
        status=StepStatus.DONE,
        started_at=T0,
        duration_ms=1530,
        detail="route53: 2 changed",
        lines=["changed www.example.com A 198.51.100.10 (TTL 60)"],
    )
    subject, body = render_report(
        "arbiter", service, TRANSITION, [(steps[0], done), (steps[1], None)]
    )
    assert subject == "[arbiter] web: switched to secondary (Amsterdam DC)"
    assert "Reason:   Frankfurt DC (primary DOWN in 3/3 regions)" in body
    assert "eu-west-1  DOWN     UP" in body
    assert "  eu-west-1 primary: health: status 503; ssh: connection refused" in body
    assert "dns:route53:ZEXAMPLE" in body and "1.5 s" in body
    assert "      changed www.example.com A 198.51.100.10 (TTL 60)" in body
    assert "dns:route53:ZOTHER           not run" in body
    assert "      set www.example.net A 198.51.100.10 (TTL 60)" in body


def test_report_says_failed_only_for_a_stop_step() -> None:
    steps = steps_of(two_zone_data())
    failed = StepResult(status=StepStatus.FAILED, started_at=T0, duration_ms=10, detail="boom")
    done = failed.model_copy(update={"status": StepStatus.DONE})
    service = two_zone_service()
    subject, _ = render_report("arbiter", service, TRANSITION, [(steps[0], failed)])
    assert "FAILED switching" in subject
    # A verify step under the warn policy fails without failing the switch.
    pairs = [(steps[0], done), (steps[1], done), (steps[2], failed)]
    assert outcome(pairs) == "warned"
    subject, body = render_report("arbiter", service, TRANSITION, pairs)
    assert subject.endswith("(with warnings)") and "FAILED" not in subject
    assert "Next:" not in body


def test_report_alert_is_keyed_by_transition_and_outcome() -> None:
    service = two_zone_service()
    steps = steps_of(two_zone_data())
    done = StepResult(status=StepStatus.DONE, started_at=T0, duration_ms=10, detail="ok")
    alert = report_alert("arbiter", service, TRANSITION, [(steps[0], done)], T0)
    assert alert.key == "web/run00000007/done"
    assert "\nAlert id: web/run00000007/done\n" in alert.body
    assert alert.body.endswith("\nNext:     arbiter status web\n")
    assert (alert.kind, alert.severity, alert.action) == ("switched", "info", "notify")
    failed = done.model_copy(update={"status": StepStatus.FAILED})
    alert = report_alert("arbiter", service, TRANSITION, [(steps[0], failed)], T0)
    assert alert.key == "web/run00000007/failed"
    last = alert.body.rstrip().splitlines()[-1]
    assert last.startswith('Next:     arbiter ack web --reason "..."')
    assert (alert.kind, alert.severity, alert.action) == ("runbook_failed", "critical", "trigger")
    assert alert.incident == "arbiter/web/switch-failed"
