from __future__ import annotations

from arbiter.core.config import SiteName
from arbiter.core.model import Health, Transition
from arbiter.core.runbook import StepResult, StepStatus, plan, render_report, report_alert
from tests.factories import T0, config_dict, make_config


def two_zone_service():
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "name": "sip.example.com"})
    records.append({**records[0], "zone_id": "ZOTHER", "name": "www.example.net"})
    return make_config(**data).services[0]


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


def test_plan_batches_records_per_zone_and_has_no_notify_step() -> None:
    """The report is not a step: it goes to the outbox with the write that closes the runbook,
    so a notification failure can never fail a switch."""
    steps = plan(two_zone_service(), TRANSITION)
    assert [s.name for s in steps] == ["dns:ZEXAMPLE", "dns:ZOTHER"]
    assert {s.kind for s in steps} == {"dns"}
    assert [r.name for r in steps[0].records] == ["www.example.com.", "sip.example.com."]


def test_report_has_reason_votes_and_steps() -> None:
    service = two_zone_service()
    steps = plan(service, TRANSITION)
    done = StepResult(status=StepStatus.DONE, started_at=T0, duration_ms=1530, detail="INSYNC")
    subject, body = render_report(
        "arbiter", service, TRANSITION, [(steps[0], done), (steps[1], None)]
    )
    assert subject == "[arbiter] web: switched to secondary (Amsterdam DC)"
    assert "Reason:   Frankfurt DC (primary DOWN in 3/3 regions)" in body
    assert "eu-west-1  DOWN     UP" in body
    assert "  eu-west-1 primary: health: status 503; ssh: connection refused" in body
    assert "dns:ZEXAMPLE" in body and "1.5 s" in body
    assert "dns:ZOTHER                   not run" in body
    assert "DNS www.example.com A -> 198.51.100.10 (TTL 60)" in body


def test_report_says_failed() -> None:
    service = two_zone_service()
    steps = plan(service, TRANSITION)
    failed = StepResult(status=StepStatus.FAILED, started_at=T0, duration_ms=10, detail="boom")
    subject, _ = render_report("arbiter", service, TRANSITION, [(steps[0], failed)])
    assert "FAILED switching" in subject


def test_report_alert_is_keyed_by_transition_and_outcome() -> None:
    service = two_zone_service()
    steps = plan(service, TRANSITION)
    done = StepResult(status=StepStatus.DONE, started_at=T0, duration_ms=10, detail="ok")
    alert = report_alert("arbiter", service, TRANSITION, [(steps[0], done)], T0)
    assert alert.key == "web/run00000007/done"
    assert alert.body.endswith("Alert id: web/run00000007/done\n")
    failed = done.model_copy(update={"status": StepStatus.FAILED})
    alert = report_alert("arbiter", service, TRANSITION, [(steps[0], failed)], T0)
    assert alert.key == "web/run00000007/failed"
    assert 'Next:     arbiter ack --service web --reason "..."' in alert.body
