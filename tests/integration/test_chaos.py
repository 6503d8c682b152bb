"""The chaos suite as tests (issue 6, item 19): every scenario drives the real probe, decide,
act and override handlers against moto and two loopback data centers, and must end with every
count at 0 and exactly the switches it expects. The counters themselves must be able to fail.

The suite found three bugs in the core's handling of rounds stamped ahead of the decider's
clock (a skew alert that did not clear, old rounds replayed as new ones, correct rounds
refused by their stamp); the focused tests at the end keep them fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from arbiter import runtime
from arbiter.core.model import Transition
from arbiter.local.chaos import BY_NAME, SCENARIOS, Outcome, Scenario, run_scenario
from arbiter.local.chaos.scenarios import P, fault, mode
from arbiter.local.cli import main
from arbiter.services.decider import decide_service
from tests.factories import at, config_dict, obs
from tests.integration.world import World, make_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    try:
        yield {scenario.name: run_scenario(scenario) for scenario in SCENARIOS}
    finally:
        runtime.install(None)


def explain(outcome: Outcome) -> str:
    return "\n".join([*outcome.problems, str(outcome.figures), *outcome.timeline])


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    assert outcome.figures.total() == 0, explain(outcome)
    assert not outcome.problems, explain(outcome)
    assert [s.short() for s in outcome.switches] == BY_NAME[name].expect


def test_the_suite_covers_the_issue(outcomes: dict[str, Outcome]) -> None:
    """At least the issue's 20 scenarios; they switch (a harness that never switches cannot
    pass), and every column totals 0."""
    assert len(outcomes) >= 20
    switching = [o for o in outcomes.values() if o.expected]
    assert len(switching) >= 12
    assert sum(len(o.switches) for o in outcomes.values()) >= 20
    assert sum(o.figures.total() for o in outcomes.values()) == 0


def test_a_tarpit_leaves_no_check_running(outcomes: dict[str, Outcome]) -> None:
    """Each check ends at its total deadline: a tarpit holds no thread past its round."""
    outcome = outcomes["tarpit-primary"]
    assert outcome.figures.wrong_rounds == 0  # the healthy secondary never failed a round
    assert outcome.lingering_checks == 0


def test_the_counters_can_fail() -> None:
    """A broken deployment: every act invocation lost, no decide schedule to restart them.
    The primary dies and DNS stays on it: a missed switch."""
    broken = Scenario(
        "broken",
        "every act invocation lost, no schedule",
        rounds=10,
        steps={0: [fault(lose_acts=10**6)], 2: [mode(P, "error")]},
        expect=["dec>S"],
        schedule=False,
    )
    try:
        outcome = run_scenario(broken)
    finally:
        runtime.install(None)
    assert outcome.figures.missed == 1, explain(outcome)
    assert not outcome.ok


def test_the_command_runs_one_scenario_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        with pytest.raises(SystemExit) as exit_:
            main(["chaos", "--scenario", "one-region-silent", "--json"])
    finally:
        runtime.install(None)
    data = json.loads(capsys.readouterr().out)
    assert exit_.value.code == 0
    assert [s["name"] for s in data["scenarios"]] == ["one-region-silent"]
    assert data["ok"] and data["totals"]["missed"] == 0
    assert data["scenarios"][0]["switches"] == ["dec>S"]


def test_the_command_refuses_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["chaos", "--scenario", "no-such-thing"])
    assert exit_.value.code == 2
    assert "unknown scenario no-such-thing" in capsys.readouterr().err


# -- clocks ahead, reproduced without the harness (decide_service against moto) --------------


@pytest.fixture
def world(aws: None) -> World:
    return make_world(config_dict())


def _round(world: World, n: int, ahead: dict[str, float], primary: bool = True) -> None:
    """Round ``n`` from every region; the regions in ``ahead`` stamp it that many seconds
    late. A round with the stamp of an earlier one replaces it (the same item key)."""
    for region in world.config.probe_regions:
        stamp = at(n) + timedelta(seconds=ahead.get(region, 0))
        world.store.put_observation(obs(region, stamp, primary=primary), stamp + timedelta(days=1))


def _passes(world: World, n: int) -> list[Transition]:
    """The decider on the stream, then on its schedule 30 s later: the switches decided."""
    decided = []
    for now in (at(n), at(n) + timedelta(seconds=30)):
        world.clock.now = now
        transition = decide_service(world.rt, "web", now).outcome.transition
        if transition is not None:
            decided.append(transition)
    return decided


def test_a_region_whose_clock_is_fixed_clears_its_skew_alert(world: World) -> None:
    """README: one clock_skew alert, and one clock_skew_cleared once that region's rounds
    are in time again."""
    for n in range(8):
        _round(world, n, {"eu-central-1": 3600} if 1 <= n <= 4 else {})
        _passes(world, n)
    kinds = [e.kind for e in world.store.recent_events("web", 200)]
    assert kinds.count("clock_skew") == 1
    assert kinds.count("clock_skew_cleared") == 1  # rounds in time again since round 5
    assert "skew:eu-central-1" not in world.store.load_state("web").conditions


SKEWED = {"eu-central-1": 600.0, "us-east-1": 600.0}


def test_rounds_stamped_ahead_never_come_back_as_new_rounds(world: World) -> None:
    """Two regions stamp their rounds ten minutes ahead during an outage (degraded: nothing
    happens); their clocks are fixed and the primary is healthy again. Ten minutes later
    their old rounds ("primary failing") must not count as new ones: no switch."""
    for n in range(25):
        outage = 2 <= n <= 8
        _round(world, n, SKEWED if outage else {}, primary=not outage)
        assert _passes(world, n) == [], n


def test_a_fixed_clock_s_rounds_count_even_on_a_stamp_refused_before(world: World) -> None:
    """As above, then the primary dies at round 13, when the two regions' real rounds land
    on the stamps of their old ones: all three regions see it, so it switches at round 14."""
    for n in range(13):
        outage = 2 <= n <= 8
        _round(world, n, SKEWED if outage else {}, primary=not outage)
        _passes(world, n)
    _round(world, 13, {}, primary=False)
    _passes(world, 13)
    _round(world, 14, {}, primary=False)
    assert [t.to_site.value for t in _passes(world, 14)] == ["secondary"]
