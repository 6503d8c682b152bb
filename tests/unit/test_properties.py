"""Properties of the decision core, over random fault timelines (hypothesis)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from arbiter.core.config import Config, SiteName
from arbiter.core.machine import Command, apply_override, decide
from arbiter.core.model import Health, Observation, ServiceState
from arbiter.core.vote import tally
from tests.factories import at, config_dict, make_config, obs

REGIONS5 = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"]

# One region's report in one round: None (no round: stale or late) or (primary ok, secondary ok)
report = st.one_of(st.none(), st.tuples(st.booleans(), st.booleans()))


@st.composite
def setups(draw: st.DrawFn) -> tuple[Config, list[list[tuple[bool, bool] | None]]]:
    n_regions = draw(st.sampled_from([3, 5]))
    regions = REGIONS5[:n_regions]
    quorum = draw(st.integers(min_value=n_regions // 2 + 1, max_value=n_regions))
    data = config_dict(
        probe_regions=regions,
        decision={
            "fall": draw(st.integers(1, 3)),
            "rise": draw(st.integers(1, 3)),
            "quorum": quorum,
            "max_switches": draw(st.integers(1, 4)),
        },
    )
    data["services"][0]["failback"] = {
        "policy": draw(st.sampled_from(["automatic", "manual"])),
        "hold": draw(st.sampled_from([0, 60, 180])),
    }
    rounds = draw(
        st.lists(st.lists(report, min_size=n_regions, max_size=n_regions), min_size=1, max_size=40)
    )
    return make_config(**data), rounds


@dataclass
class Step:
    before: ServiceState
    after: ServiceState
    transition: object
    voters: list[str]
    quorum: int


def run(config: Config, rounds: list[list[tuple[bool, bool] | None]]) -> list[Step]:
    service = config.services[0]
    state = ServiceState(service="web")
    steps = []
    for n, row in enumerate(rounds):
        batch: list[Observation] = [
            obs(region, at(n), primary=r[0], secondary=r[1])
            for region, r in zip(config.probe_regions, row, strict=True)
            if r is not None
        ]
        outcome = decide(config, service, state, batch, at(n))
        vote = tally(
            outcome.state.regions, config.probe_regions, at(n), config.stale_after, config.quorum
        )
        voters = [r for r in vote.fresh if r not in vote.abstained]
        steps.append(Step(state, outcome.state, outcome.transition, voters, config.quorum))
        state = outcome.state
    return steps


def health(step: Step, region: str, site: SiteName) -> Health:
    return step.after.regions[region].sites[site].health


@settings(max_examples=300, deadline=None)
@given(setups())
def test_never_a_switch_without_a_quorum(setup: tuple[Config, list]) -> None:
    config, rounds = setup
    for step in run(config, rounds):
        t = step.transition
        if t is None:
            continue
        up = [r for r in step.voters if health(step, r, t.to_site) is Health.UP]
        assert len(up) >= step.quorum, "switched to a site fewer than quorum regions see UP"
        if t.to_site is SiteName.SECONDARY:
            down = [r for r in step.voters if health(step, r, t.from_site) is Health.DOWN]
            assert len(down) >= step.quorum, "left a site without a quorum saying it is DOWN"


@settings(max_examples=300, deadline=None)
@given(setups())
def test_never_to_a_site_that_is_not_up(setup: tuple[Config, list]) -> None:
    config, rounds = setup
    for step in run(config, rounds):
        if step.transition is not None:
            assert step.after.verdicts[step.transition.to_site].health is Health.UP


@settings(max_examples=300, deadline=None)
@given(setups())
def test_at_most_one_transition_per_state_version(setup: tuple[Config, list]) -> None:
    config, rounds = setup
    seen: set[int] = set()
    for step in run(config, rounds):
        assert step.after.version in (step.before.version, step.before.version + 1)
        if step.transition is not None:
            assert step.transition.id == step.after.version == step.before.version + 1
            assert step.transition.id not in seen
            seen.add(step.transition.id)


def quorum_without(step: Step, region: str) -> bool:
    """Does the transition of this step have its quorum among regions other than ``region``?"""
    t = step.transition
    assert t is not None
    others = [r for r in step.voters if r != region]
    up = sum(health(step, r, t.to_site) is Health.UP for r in others)
    down = sum(health(step, r, t.from_site) is Health.DOWN for r in others)
    return up >= step.quorum and (t.to_site is SiteName.PRIMARY or down >= step.quorum)


@settings(max_examples=300, deadline=None)
@given(setups())
def test_a_stale_region_can_never_cause_a_switch(setup: tuple[Config, list]) -> None:
    """Once a region has gone silent for longer than the staleness bound, every switch has
    its quorum among the other regions, whatever the silent one said before."""
    config, rounds = setup
    silent = config.probe_regions[-1]
    cut = len(rounds) // 2
    gap = int(config.stale_after // config.probe.interval)
    rows = [[*row[:-1], None] if n >= cut else list(row) for n, row in enumerate(rounds)]
    for n, step in enumerate(run(config, rows)):
        if n >= cut + gap:
            assert silent not in step.voters
            if step.transition is not None:
                assert quorum_without(step, silent)


@settings(max_examples=300, deadline=None)
@given(setups())
def test_an_abstaining_region_can_never_cause_a_switch(setup: tuple[Config, list]) -> None:
    """A region that always sees both sites DOWN (its own network is broken) never counts
    towards a switch: a switch needs a site UP, and then that region abstains."""
    config, rounds = setup
    impaired = config.probe_regions[-1]
    rows = [[*row[:-1], (False, False)] for row in rounds]
    for step in run(config, rows):
        if step.transition is not None:
            assert impaired not in step.voters
            assert quorum_without(step, impaired)


@settings(max_examples=200, deadline=None)
@given(setups(), st.randoms(use_true_random=False))
def test_same_observations_same_decision(setup: tuple[Config, list], rnd: random.Random) -> None:
    config, rounds = setup
    assert [s.after for s in run(config, rounds)] == [s.after for s in run(config, rounds)]
    # The order rounds arrive in within one batch does not matter either.
    service = config.services[0]
    state = ServiceState(service="web")
    batch = [
        obs(region, at(n), primary=r[0], secondary=r[1])
        for n, row in enumerate(rounds)
        for region, r in zip(config.probe_regions, row, strict=True)
        if r is not None
    ]
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    now = at(len(rounds))
    assert decide(config, service, state, batch, now) == decide(
        config, service, state, shuffled, now
    )


# -- issue 6: ties, clocks ahead, pins ----------------------------------------------------

REGIONS4 = REGIONS5[:4]


@st.composite
def split_setups(draw: st.DrawFn) -> tuple[Config, list[list[tuple[bool, bool] | None]]]:
    """Four regions with a quorum of 2: two halves can both reach it."""
    data = config_dict(
        probe_regions=REGIONS4,
        decision={"fall": draw(st.integers(1, 3)), "rise": draw(st.integers(1, 3)), "quorum": 2},
    )
    data["services"][0]["failback"] = {"policy": "automatic", "hold": 0}
    rows = draw(st.lists(st.lists(report, min_size=4, max_size=4), min_size=1, max_size=40))
    return make_config(**data), rows


def counts(step: Step, site: SiteName) -> tuple[int, int]:
    up = sum(health(step, r, site) is Health.UP for r in step.voters)
    down = sum(health(step, r, site) is Health.DOWN for r in step.voters)
    return up, down


@settings(max_examples=300, deadline=None)
@given(split_setups())
def test_a_split_vote_never_causes_a_switch(setup: tuple[Config, list]) -> None:
    config, rounds = setup
    for step in run(config, rounds):
        t = step.transition
        if t is None:
            continue
        for site in (t.from_site, t.to_site):
            up, down = counts(step, site)
            assert not (up >= step.quorum and down >= step.quorum), f"switched on a split {site}"


@settings(max_examples=200, deadline=None)
@given(setups(), st.lists(st.integers(0, 39), max_size=5), st.integers(31, 7200))
def test_rounds_stamped_in_the_future_change_no_decision(
    setup: tuple[Config, list], when: list[int], ahead: int
) -> None:
    """A region's clock running ahead (beyond the allowance) never changes which switches
    happen, nor any region's view."""
    config, rounds = setup
    service = config.services[0]
    plain = ServiceState(service="web")
    skewed = ServiceState(service="web")
    for n, row in enumerate(rounds):
        batch = [
            obs(region, at(n), primary=r[0], secondary=r[1])
            for region, r in zip(config.probe_regions, row, strict=True)
            if r is not None
        ]
        bogus = [
            obs(config.probe_regions[0], at(n) + timedelta(seconds=ahead), primary=False)
        ] if n in when else []  # fmt: skip
        a = decide(config, service, plain, batch, at(n))
        b = decide(config, service, skewed, batch + bogus, at(n))
        assert (a.transition is None) == (b.transition is None)
        assert a.state.regions == b.state.regions
        assert a.state.active == b.state.active
        plain, skewed = a.state, b.state


@settings(max_examples=200, deadline=None)
@given(setups(), st.integers(0, 20))
def test_a_pin_holds_while_the_pinned_site_is_not_down(
    setup: tuple[Config, list], pin_at: int
) -> None:
    """After an operator switches to the secondary, the decider leaves it only when the
    quorum sees the secondary DOWN."""
    config, rounds = setup
    service = config.services[0]
    state = ServiceState(service="web")
    pinned = False
    for n, row in enumerate(rounds):
        if n == pin_at and state.active is SiteName.PRIMARY:
            command = TypeAdapter(Command).validate_python(
                {"command": "switch", "to": "secondary", "reason": "maintenance", "force": True}
            )
            state = apply_override(state, command, service, at(n)).state
            pinned = True
        batch = [
            obs(region, at(n), primary=r[0], secondary=r[1])
            for region, r in zip(config.probe_regions, row, strict=True)
            if r is not None
        ]
        outcome = decide(config, service, state, batch, at(n))
        if pinned and state.pinned is SiteName.SECONDARY and outcome.transition is not None:
            assert outcome.state.verdicts[SiteName.SECONDARY].health is Health.DOWN
            pinned = False
        state = outcome.state
