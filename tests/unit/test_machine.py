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


def manual_failback_run() -> Run:
    """Failover, then the primary UP again under ``failback.policy: manual``."""
    data = config_dict()
    data["services"][0]["failback"] = {"policy": "manual"}
    run = Run(make_config(**data))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    run.rounds(5, 20)
    return run


def test_manual_failback_notifies_once_and_waits_for_an_operator() -> None:
    run = manual_failback_run()
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


# -- issue 6: ties, pins, conditions that clear, skew, ack, restarts -------------------


def kinds_of(outcomes: list[Outcome]) -> list[str]:
    return [e.kind for o in outcomes for e in o.events]


def alerts_of(run: Run) -> list[str]:
    return [e.kind for o in run.outcomes for e in o.events if e.alert]


REGIONS4 = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]


def test_a_two_two_partition_is_a_tie_not_a_failover() -> None:
    """Quorum 2 of 4: two regions see the primary DOWN, two see it UP."""
    run = Run(make_config(probe_regions=REGIONS4, decision={"fall": 2, "rise": 2, "quorum": 2}))
    run.rounds(0, 3, regions=REGIONS4)
    half = {"eu-west-1": False, "eu-central-1": False}
    run.rounds(3, 10, primary=half, regions=REGIONS4)
    assert run.transitions == []
    assert run.state.verdicts[P].health is Health.UNKNOWN
    assert alerts_of(run).count("tie") == 1
    tie = next(e for o in run.outcomes for e in o.events if e.kind == "tie")
    assert "split (primary split: 2 UP and 2 DOWN" in tie.message
    run.rounds(10, 13, regions=REGIONS4)
    assert alerts_of(run).count("tie_cleared") == 1
    assert run.state.conditions == []


def test_an_operator_switch_sticks_until_resume() -> None:
    """The README's own example: switch to the secondary for maintenance of a healthy primary."""
    run = healthy_run()
    switched = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="planned maintenance"),
        run.service, at(3),
    )  # fmt: skip
    run.state = switched.state
    assert run.state.pinned is S
    run.rounds(3, 30)  # the primary stays UP for 27 minutes, far past the hold
    assert run.transitions == []
    assert run.state.active is S
    assert "awaiting_operator" not in run.kinds()
    resumed = apply_override(run.state, cmd(command="resume"), run.service, at(30))
    assert resumed.state.pinned is None
    assert [e.kind for e in resumed.events] == ["resumed"]
    assert "the pin on Amsterdam DC is lifted" in resumed.events[0].message
    run.state = resumed.state
    (outcome,) = run.rounds(30, 31)
    assert outcome.transition is not None and outcome.transition.to_site is P


def test_a_pinned_site_that_goes_down_is_still_failed_away_from() -> None:
    run = healthy_run()
    run.state = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="x"), run.service, at(3)
    ).state
    run.rounds(3, 5)
    run.rounds(5, 7, secondary=False)
    assert [t.to_site for t in run.transitions] == [P]
    assert run.state.pinned is None


def test_a_forced_switch_onto_a_down_site_is_not_undone_at_once() -> None:
    run = healthy_run()
    run.rounds(3, 5, secondary=False)
    run.state = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="probes are wrong", force=True),
        run.service, at(5),
    ).state  # fmt: skip
    run.rounds(5, 10, secondary=False)
    assert run.transitions == []
    assert run.state.active is S
    run.rounds(10, 12)  # the secondary is seen UP again; then it really dies
    run.rounds(12, 14, secondary=False)
    assert [t.to_site for t in run.transitions] == [P]


def test_status_shows_the_pin() -> None:
    run = healthy_run()
    state = apply_override(
        run.state, cmd(command="switch", to="secondary", reason="x"), run.service, at(3)
    ).state
    assert state.pinned is S and state.pinned_at == at(3)


def test_standby_down_is_one_alert_and_one_recovery() -> None:
    run = healthy_run()
    run.rounds(3, 10, secondary=False)
    assert alerts_of(run).count("standby_down") == 1
    alert = next(e for o in run.outcomes for e in o.events if e.kind == "standby_down")
    assert alert.message.startswith("no failover possible: the standby Amsterdam DC is DOWN")
    run.rounds(10, 14)
    assert alerts_of(run).count("standby_recovered") == 1
    assert run.transitions == []


def test_manual_failback_condition_clears_when_the_operator_switches_back() -> None:
    data = config_dict()
    data["services"][0]["failback"] = {"policy": "manual"}
    run = Run(make_config(**data))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    run.rounds(5, 9)
    run.state = apply_override(
        run.state, cmd(command="switch", to="primary", reason="back home"), run.service, at(9)
    ).state
    run.rounds(9, 11)
    assert alerts_of(run).count("awaiting_operator") == 1
    assert alerts_of(run).count("awaiting_operator_cleared") == 1


def test_no_target_clears_when_the_other_site_comes_up() -> None:
    run = healthy_run()
    # The secondary is UNKNOWN (one region sees it DOWN with quorum 3)...
    run = Run(make_config(decision={"fall": 2, "rise": 2, "quorum": 3}))
    run.rounds(0, 3)
    run.rounds(3, 6, primary=False, secondary={"us-east-1": False})
    assert alerts_of(run).count("no_target") == 1
    run.rounds(6, 9, primary=False)
    assert alerts_of(run).count("no_target_cleared") == 1
    assert [t.to_site for t in run.transitions] == [S]


def test_flapping_clears_with_an_alert_on_resume() -> None:
    data = config_dict(decision={"fall": 1, "rise": 1, "max_switches": 1})
    data["services"][0]["failback"] = {"policy": "automatic", "hold": 0}
    run = Run(make_config(**data))
    for n in range(0, 6):
        run.step(round_of(n, primary=n % 2 == 0), at(n))
    resumed = apply_override(run.state, cmd(command="resume"), run.service, at(6))
    assert [e.kind for e in resumed.events] == ["resumed", "flap_cleared"]
    assert all(e.alert for e in resumed.events)


def test_awaiting_sync_clears_when_the_gate_opens() -> None:
    data = config_dict()
    data["services"][0]["failback"] = {
        "policy": "automatic",
        "hold": 0,
        "gate": {"url": "http://127.0.0.1:9/gate", "secret": "arbiter/gate"},
    }
    run = Run(make_config(**data))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=False)
    for n in range(5, 9):
        asked = decide(run.config, run.service, run.state, round_of(n), at(n))
        gate = n >= 8
        outcome = (
            decide(run.config, run.service, run.state, round_of(n), at(n), gate)
            if (asked.needs_gate)
            else asked
        )
        run.state = outcome.state
        run.outcomes.append(outcome)
    assert alerts_of(run).count("awaiting_sync") == 1
    assert alerts_of(run).count("awaiting_sync_cleared") == 1
    assert [t.to_site for t in run.transitions] == [S, P]


def test_ack_settles_the_failed_runbook_for_good() -> None:
    run = healthy_run()
    run.rounds(3, 5, primary=False)
    (t,) = run.transitions
    run.state = run.state.model_copy(update={"failed": t.id})
    acked = apply_override(run.state, cmd(command="ack", reason="fixed by hand"), run.service,
                           at(5))  # fmt: skip
    assert acked.state.settled == t.id and acked.state.failed is None
    assert acked.state.open_runbook is None
    assert [e.kind for e in acked.events] == ["acked"]
    run.state = acked.state
    # Hours later, no act invocation has touched it: it is never started again.
    for n in range(5, 40):
        outcome = run.step(round_of(n, primary=False), at(n))
        assert outcome.restart_runbook is None
    assert "runbook_restarted" not in run.kinds()


def test_a_runbook_nobody_holds_is_restarted_at_the_next_pass() -> None:
    run = healthy_run()
    run.rounds(3, 5, primary=False)
    (t,) = run.transitions
    live = decide(run.config, run.service, run.state, round_of(5, primary=False), at(5), None,
                  runbook_live=True)  # fmt: skip
    assert live.restart_runbook is None
    lost = decide(run.config, run.service, run.state, round_of(5, primary=False), at(5))
    assert lost.restart_runbook == t.id
    assert lost.state.runbook_started_at == at(5)
    assert [e.kind for e in lost.events] == ["runbook_restarted"]


def test_a_runbook_just_started_is_given_time_to_take_its_lease() -> None:
    run = healthy_run()
    run.rounds(3, 5, primary=False)
    soon = decide(run.config, run.service, run.state, [], at(4) + timedelta(seconds=5))
    assert soon.restart_runbook is None


def test_a_done_runbook_is_never_restarted() -> None:
    run = healthy_run()
    run.rounds(3, 5, primary=False)
    (t,) = run.transitions
    run.state = run.state.model_copy(update={"runbook_done": t.id})
    outcome = run.step(round_of(5, primary=False), at(5))
    assert outcome.restart_runbook is None


def test_a_skewed_region_is_reported_once_and_its_later_rounds_count() -> None:
    run = healthy_run()
    ahead = [o for o in round_of(60) if o.region == "eu-west-1"]  # one hour ahead
    run.step(round_of(3) + ahead, at(3))
    assert alerts_of(run).count("clock_skew") == 1
    skew = next(e for o in run.outcomes for e in o.events if e.kind == "clock_skew")
    assert skew.message.startswith("eu-west-1: a round stamped") and "57m ahead" in skew.message
    # Its correctly stamped rounds still count: a failover is not missed.
    (_first, second) = run.rounds(4, 6, primary=False)
    assert second.transition is not None
    assert alerts_of(run).count("clock_skew_cleared") == 1


def test_a_region_back_from_silence_cannot_cause_a_false_failover() -> None:
    """Two regions briefly saw a blip, went silent for 40 minutes, came back healthy."""
    blip = {"eu-west-1": False, "eu-central-1": False}
    run = Run(make_config(decision={"fall": 3, "rise": 2}))
    run.rounds(0, 3)
    run.rounds(3, 5, primary=blip)  # two failed rounds: not yet DOWN with fall 3
    run.rounds(5, 45, regions=["us-east-1"])  # the two are silent for 40 minutes
    run.step(round_of(45, primary=blip, regions=["eu-west-1", "eu-central-1"]), at(45))
    assert run.transitions == []
    track = run.state.regions["eu-west-1"]
    assert track.sites[P].fail_streak == 1
    assert "region_restarted" in run.kinds()


def test_both_sites_failing_a_round_apart_is_one_alert_and_one_recovery() -> None:
    """Regions cross fall at different rounds: no 'impaired vantage point' blames the region
    that saw it first."""
    run = healthy_run()
    # eu-west-1 sees both fail a round before the others.
    run.step(round_of(3, primary={"eu-west-1": False}, secondary={"eu-west-1": False}), at(3))
    run.step(round_of(4, primary={"eu-west-1": False}, secondary={"eu-west-1": False}), at(4))
    run.rounds(5, 10, primary=False, secondary=False)
    run.rounds(10, 14)
    assert run.transitions == []
    assert alerts_of(run) == ["both_down", "both_recovered"]


def test_a_lasting_impaired_vantage_point_is_still_reported() -> None:
    run = healthy_run()
    impaired = {"us-east-1": False}
    run.rounds(3, 12, primary=impaired, secondary=impaired)
    assert alerts_of(run) == ["impaired_vantage"]
    run.rounds(12, 15)
    assert alerts_of(run) == ["impaired_vantage", "vantage_recovered"]
