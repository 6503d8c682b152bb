from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import TypeAdapter

from arbiter.core.config import Config, SiteName
from arbiter.core.machine import Command, Outcome, Refused, apply_override, decide
from arbiter.core.model import Health, Observation, ServiceState, SiteResult, Status
from tests.factories import REGIONS, T0, at, config_dict, make_config, round_of

P, S = SiteName.PRIMARY, SiteName.SECONDARY
COMMAND: TypeAdapter[Command] = TypeAdapter(Command)


class Run:
    """Drive the pure core round by round, as the decide function would."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or make_config()
        self.service = self.config.services[0]
        self.state = ServiceState(service="web")
        self.outcomes: list[Outcome] = []

    def step(self, rounds: list[Observation], now: datetime) -> Outcome:
        outcome = decide(self.config, self.service, self.state, rounds, now)
        self.state = outcome.state
        self.outcomes.append(outcome)
        return outcome

    def rounds(self, start: int, stop: int, **kw: object) -> list[Outcome]:
        return [self.step(round_of(n, **kw), at(n)) for n in range(start, stop)]  # type: ignore[arg-type]

    @property
    def transitions(self):
        return [o.transition for o in self.outcomes if o.transition]

    def kinds(self) -> list[str]:
        return [e.kind for o in self.outcomes for e in o.events]


def test_healthy_sites_stay_on_primary() -> None:
    run = Run()
    run.rounds(0, 10)
    assert run.transitions == []
    assert run.state.status is Status.ACTIVE_PRIMARY
    assert run.state.verdicts[P].health is Health.UP


def test_fails_over_when_a_majority_sees_primary_down() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 4, primary=False)
    assert run.transitions == []  # fall is 2: one failed round is not enough
    (outcome,) = run.rounds(4, 5, primary=False)
    assert outcome.transition is not None
    t = outcome.transition
    assert (t.from_site, t.to_site, t.by) == (P, S, "decider")
    assert t.id == outcome.state.version
    assert "primary DOWN in 3/3 regions" in t.reason
    assert t.votes["eu-west-1"] == {P: Health.DOWN, S: Health.UP}
    assert run.state.status is Status.ACTIVE_SECONDARY


def test_one_region_cut_off_from_primary_changes_nothing() -> None:
    run = Run()
    run.rounds(0, 10, primary={"us-east-1": False})
    assert run.transitions == []


def test_never_switches_to_a_site_that_is_not_up() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 8, primary=False, secondary={"eu-west-1": False, "eu-central-1": False})
    assert run.transitions == []
    assert "both_down" in run.kinds()


def test_both_down_alerts_once_and_changes_nothing() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 10, primary=False, secondary=False)
    assert run.transitions == []
    assert run.kinds().count("both_down") == 1
    run.rounds(10, 13)
    assert run.kinds().count("both_recovered") == 1


def test_no_switch_without_a_quorum_of_fresh_regions() -> None:
    run = Run()
    run.rounds(0, 3)
    for n in range(3, 10):  # only one region still reports, and it sees primary down
        run.step(round_of(n, primary=False, regions=["us-east-1"]), at(n))
    assert run.transitions == []
    assert run.kinds().count("monitor_degraded") == 1
    run.rounds(10, 12)
    assert run.kinds().count("monitor_recovered") == 1


def test_automatic_failback_waits_for_the_hold() -> None:
    run = Run()  # hold 120 s, rise 2
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    assert len(run.transitions) == 1
    run.rounds(5, 7)  # primary UP again at round 6
    assert len(run.transitions) == 1
    run.rounds(7, 8)  # held 60 s
    assert len(run.transitions) == 1
    (outcome,) = run.rounds(8, 9)  # held 120 s
    assert outcome.transition is not None
    assert outcome.transition.to_site is P
    assert outcome.transition.reason.startswith("failback: Frankfurt DC UP for 2m")


def test_manual_failback_notifies_once_and_waits_for_an_operator() -> None:
    data = config_dict()
    data["services"][0]["failback"] = {"policy": "manual"}
    run = Run(make_config(**data))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    run.rounds(5, 20)
    assert len(run.transitions) == 1
    assert run.kinds().count("awaiting_operator") == 1
    assert run.state.active is S


def test_active_secondary_down_while_primary_up_switches_back_at_once() -> None:
    data = config_dict()
    data["services"][0]["failback"] = {"policy": "manual"}
    run = Run(make_config(**data))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    run.rounds(5, 7)
    run.rounds(7, 9, secondary=False)
    assert [t.to_site for t in run.transitions] == [S, P]


def test_paused_votes_but_never_switches() -> None:
    run = Run()
    run.rounds(0, 3)
    run.state = apply_override(
        run.state, COMMAND.validate_python({"command": "pause"}), run.service, at(3)
    ).state
    run.rounds(3, 8, primary=False)
    assert run.transitions == []
    assert run.state.status is Status.PAUSED
    assert run.state.verdicts[P].health is Health.DOWN


def test_flap_damping_pauses_after_max_switches() -> None:
    data = config_dict(decision={"fall": 1, "rise": 1, "max_switches": 2, "switch_window": 3600})
    data["services"][0]["failback"] = {"policy": "automatic", "hold": 0}
    run = Run(make_config(**data))
    for n in range(0, 12):
        run.step(round_of(n, primary=n % 2 == 0), at(n))
    assert len(run.transitions) == 2
    assert run.kinds().count("flap_damped") == 1
    assert run.state.paused and run.state.reason == "flap damping"


def test_same_input_same_decision() -> None:
    first, second = Run(), Run()
    for run in (first, second):
        run.rounds(0, 3)
        run.rounds(3, 6, primary=False)
    assert first.state == second.state
    assert first.transitions == second.transitions


def test_nothing_new_means_no_write() -> None:
    run = Run()
    run.rounds(0, 3)
    before = run.state
    outcome = decide(run.config, run.service, before, [], at(2))
    assert outcome.state == before and outcome.events == []


def test_version_moves_by_one_per_change() -> None:
    run = Run()
    versions = [o.state.version for o in run.rounds(0, 5)]
    assert versions == [1, 2, 3, 4, 5]


# -- overrides ----------------------------------------------------------------------


def healthy_run() -> Run:
    run = Run()
    run.rounds(0, 3)
    return run


def cmd(**payload: object) -> Command:
    return COMMAND.validate_python(payload)


def test_switch_to_a_healthy_site() -> None:
    run = healthy_run()
    outcome = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="maintenance"), run.service, at(3)
    )
    assert outcome.transition is not None
    assert outcome.transition.by == "operator"
    assert outcome.state.active is S
    assert outcome.state.version == run.state.version + 1
    assert outcome.events[0].kind == "override"


def test_switch_is_refused_when_target_is_not_up_unless_forced() -> None:
    run = healthy_run()
    run.rounds(3, 5, secondary=False)
    with pytest.raises(Refused, match="secondary is DOWN, not UP"):
        apply_override(
            run.state, cmd(command="switch", to="secondary", reason="x"), run.service, at(5)
        )
    outcome = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="x", force=True), run.service, at(5)
    )
    assert outcome.transition is not None and outcome.transition.forced


def test_switch_to_active_site_is_refused() -> None:
    run = healthy_run()
    with pytest.raises(Refused, match="already active"):
        apply_override(run.state, cmd(command="switch", to="primary", reason="x"), run.service, T0)


def test_pause_and_resume_are_idempotent() -> None:
    run = healthy_run()
    paused = apply_override(run.state, cmd(command="pause"), run.service, T0).state
    assert paused.paused and paused.version == run.state.version + 1
    again = apply_override(paused, cmd(command="pause"), run.service, T0)
    assert again.state == paused and again.events == []
    resumed = apply_override(paused, cmd(command="resume"), run.service, T0).state
    assert not resumed.paused


def test_status_changes_nothing() -> None:
    run = healthy_run()
    outcome = apply_override(run.state, cmd(command="status"), run.service, T0)
    assert outcome.state == run.state and outcome.transition is None


def test_resume_after_flap_damping_clears_it() -> None:
    data = config_dict(decision={"fall": 1, "rise": 1, "max_switches": 1})
    data["services"][0]["failback"] = {"policy": "automatic", "hold": 0}
    run = Run(make_config(**data))
    for n in range(0, 6):
        run.step(round_of(n, primary=n % 2 == 0), at(n))
    assert run.state.paused and "flapping" in run.state.conditions
    resumed = apply_override(run.state, cmd(command="resume"), run.service, at(6)).state
    assert "flapping" not in resumed.conditions and resumed.switches == []


def test_regions_listed_in_votes() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    (t,) = run.transitions
    assert sorted(t.votes) == sorted(REGIONS)
    assert run.state.since == at(4)
    assert run.state.since - T0 == timedelta(minutes=4)


def test_warm_up_is_not_degradation() -> None:
    """At deploy the regions' first rounds trickle in: no 'monitor degraded' for that."""
    run = Run()
    run.step(round_of(0, regions=["eu-west-1"]), at(0))
    run.step(round_of(0, regions=["eu-central-1"]) + round_of(1), at(1))
    run.rounds(2, 4)
    assert "monitor_degraded" not in run.kinds()


def test_never_reaching_a_quorum_is_reported_after_the_stale_bound() -> None:
    run = Run()  # stale_after: 3 intervals
    for n in range(0, 6):
        run.step(round_of(n, regions=["eu-west-1"]), at(n))
    assert run.kinds().count("monitor_degraded") == 1
    degraded_at = next(e.at for o in run.outcomes for e in o.events if e.kind == "monitor_degraded")
    assert degraded_at == at(3)


def test_certificate_warning_alerts_once_and_never_switches() -> None:
    run = Run()

    def with_warning(rounds: list[Observation], warning: str | None) -> list[Observation]:
        out = []
        for o in rounds:
            primary = o.sites[P]
            checks = [c.model_copy(update={"warning": warning}) for c in primary.checks]
            out.append(o.model_copy(update={"sites": {**o.sites, P: SiteResult.of(checks)}}))
        return out

    for n in range(0, 6):
        run.step(with_warning(round_of(n), "certificate expires in 5 days (2026-01-06)"), at(n))
    run.step([], at(6))  # a scheduled pass with no new rounds: no news, no change
    assert run.kinds().count("check_warning") == 1
    alert = next(e for o in run.outcomes for e in o.events if e.kind == "check_warning")
    assert alert.alert
    assert alert.message == "Frankfurt DC health: certificate expires in 5 days (2026-01-06)"
    assert run.transitions == []
    for n in range(7, 9):
        run.step(with_warning(round_of(n), None), at(n))
    assert run.kinds().count("check_warning_cleared") == 1
    assert run.state.conditions == []


def test_both_down_clears_even_when_the_same_pass_fails_over() -> None:
    run = Run()
    run.rounds(0, 3)
    run.rounds(3, 6, primary=False, secondary=False)
    run.rounds(6, 9, primary=False)  # the secondary comes back (UP after rise 2 rounds)
    assert [t.to_site for t in run.transitions] == [S]
    assert run.kinds().count("both_down") == 1
    assert run.kinds().count("both_recovered") == 1
    assert "both_down" not in run.state.conditions
