"""Alert texts for a person at 3 am, and the incident fields a pager needs: driven through the
pure core (``decide``, ``apply_override``) so the texts are the ones a real pass renders."""

from __future__ import annotations

import pytest

from arbiter.core.alerts import state_alerts
from arbiter.core.config import SiteName
from arbiter.core.machine import apply_override
from arbiter.core.model import Alert
from tests.factories import at, round_of
from tests.unit.test_machine import COMMAND, Run, manual_failback_run


def alerts(run: Run) -> list[Alert]:
    """Every alert of the run, rendered as the decider renders them."""
    found = []
    for outcome in run.outcomes:
        found += state_alerts("arbiter", run.service, outcome.state.version, outcome.events)
    return found


def both_down_and_back() -> Run:
    """Both sites DOWN for seven rounds, then UP again: one condition opened and cleared."""
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 10, primary=False, secondary=False)
    run.rounds(10, 13)
    return run


def last_line(alert: Alert) -> str:
    return alert.body.rstrip("\n").splitlines()[-1]


def test_a_condition_opens_an_incident_and_its_clearing_resolves_the_same_one() -> None:
    run = both_down_and_back()
    found = {a.kind: a for a in alerts(run)}
    opened, closed = found["both_down"], found["both_recovered"]
    assert opened.subject == "[arbiter] web: both sites DOWN: nothing to switch to"
    assert closed.subject == "[arbiter] web: cleared: both sites DOWN: nothing to switch to"
    assert opened.incident == closed.incident == "arbiter/web/both_down"
    assert (opened.action, opened.severity) == ("trigger", "critical")
    assert (closed.action, closed.severity) == ("resolve", "info")
    assert last_line(opened) == "Next:     arbiter status web"


def test_degraded_names_the_monitor_and_recovers_under_the_same_incident() -> None:
    run = Run()
    run.rounds(0, 3)
    for n in range(3, 10):
        run.step(round_of(n, regions=["us-east-1"]), at(n))
    run.rounds(10, 12)
    found = {a.kind: a for a in alerts(run)}
    assert found["monitor_degraded"].subject.startswith("[arbiter] web: monitor DEGRADED")
    assert found["monitor_degraded"].severity == "error"
    assert found["monitor_recovered"].incident == found["monitor_degraded"].incident
    assert found["monitor_recovered"].resolves


def test_manual_failback_names_the_primary_and_ends_with_the_switch_command() -> None:
    run = manual_failback_run()
    waiting = next(a for a in alerts(run) if a.kind == "awaiting_operator")
    assert waiting.subject == "[arbiter] web: primary (Frankfurt DC) UP again: switch back by hand"
    assert "Site:     primary (Frankfurt DC)" in waiting.body
    assert last_line(waiting) == 'Next:     arbiter switch web primary --reason "..."'


def test_pause_and_resume_are_told_apart_and_name_who() -> None:
    run = Run()
    run.rounds(0, 3)
    state = run.state
    paused = apply_override(
        state, COMMAND.validate_python({"command": "pause", "operator": "alice",
                                        "reason": "network work"}),
        run.service, at(4),
    )  # fmt: skip
    resumed = apply_override(
        paused.state,
        COMMAND.validate_python({"command": "resume", "operator": "bob"}),
        run.service,
        at(5),
    )
    [pause_alert] = state_alerts("arbiter", run.service, 1, paused.events)
    [resume_alert] = state_alerts("arbiter", run.service, 2, resumed.events)
    assert pause_alert.subject == "[arbiter] web: paused by alice"
    assert resume_alert.subject == "[arbiter] web: resumed by bob"
    assert pause_alert.subject != resume_alert.subject
    assert pause_alert.severity == "warning" and pause_alert.action == "notify"
    assert last_line(pause_alert) == "Next:     arbiter resume web   (when the work is done)"
    assert last_line(resume_alert) == "Next:     arbiter status web"


def test_every_alert_body_ends_with_its_id_then_the_next_command() -> None:
    run = both_down_and_back()
    for alert in alerts(run):
        lines = alert.body.rstrip("\n").splitlines()
        assert lines[-3] == f"Alert id: {alert.key}"
        assert lines[-2] == ""
        assert lines[-1].startswith("Next:     arbiter ")
        assert len(alert.subject) <= 100 and "\n" not in alert.subject


@pytest.mark.parametrize(
    ("kind", "attribute"),
    [("both_down", "trigger"), ("both_recovered", "resolve")],
)
def test_attributes_carry_what_a_channel_needs(kind: str, attribute: str) -> None:
    run = both_down_and_back()
    alert = next(a for a in alerts(run) if a.kind == kind)
    assert alert.attributes() == {
        "arbiter_service": "web",
        "arbiter_kind": kind,
        "arbiter_severity": alert.severity,
        "arbiter_action": attribute,
        "arbiter_incident": "arbiter/web/both_down",
    }


def test_a_standby_condition_names_the_standby_site() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 10, secondary=False)
    run.rounds(10, 13)
    found = {a.kind: a for a in alerts(run)}
    assert SiteName.SECONDARY.value in found["standby_down"].subject
    assert "Amsterdam DC" in found["standby_down"].subject
    assert found["standby_recovered"].subject.startswith("[arbiter] web: cleared: standby")
