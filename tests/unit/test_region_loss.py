"""Surviving the loss of a control region: config rules, adopting the ledger, and the
decider, override and act functions of two control regions sharing one lease."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from arbiter.adapters.leadership import LeaseCluster, MemoryLeadership
from arbiter.adapters.memory import MemoryStore
from arbiter.core.config import LEASE_SKEW, SiteName, parse_config
from arbiter.core.errors import ConfigError
from arbiter.core.ledger import Entry, adopt
from arbiter.core.model import ServiceState, Transition
from arbiter.handlers import decide as decide_handler
from arbiter.local import simulator
from arbiter.runtime import Runtime
from arbiter.services import override
from arbiter.services.decider import decide_service
from tests.factories import T0, at, config_dict
from tests.fakes import SERVICE, MemoryWorld, act, failed_over, memory_world, seed

HOME, STANDBY, WITNESS = "eu-west-1", "eu-west-2", "eu-west-3"
CONTROL = {"standby_regions": [STANDBY], "witness_region": WITNESS}


# -- config ---------------------------------------------------------------------------


def problems(**control: Any) -> list[str]:
    try:
        parse_config(config_dict(control=control))
    except ConfigError as exc:
        return exc.problems
    return []


def test_one_standby_and_a_witness_in_one_mrsc_set_is_valid() -> None:
    config = parse_config(config_dict(control=CONTROL))
    assert config.control_regions == [HOME, STANDBY]
    assert config.lease_seconds >= 120


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        ({"standby_regions": [STANDBY]}, "control.witness_region: required with one standby"),
        ({"witness_region": WITNESS}, "control.witness_region: only used with"),
        (
            {"standby_regions": [STANDBY, "eu-central-1"], "witness_region": WITNESS},
            "control.witness_region: not allowed with two standby regions",
        ),
        (
            {"standby_regions": [HOME], "witness_region": WITNESS},
            "control.standby_regions[0]: 'eu-west-1' is the home_region already",
        ),
        (
            {"standby_regions": ["us-east-2"], "witness_region": "us-west-2"},
            "must all be in one region set of DynamoDB multi-Region strong consistency",
        ),
        ({**CONTROL, "lease": 60}, "control.lease: 1m is shorter than 90 s"),
        ({"standby_regions": [STANDBY, STANDBY]}, "control.standby_regions"),
    ],
)
def test_bad_control_sections_name_the_field(control: dict[str, Any], expected: str) -> None:
    found = problems(**control)
    assert any(expected in p for p in found), found


def test_a_lease_shorter_than_the_longest_step_is_refused() -> None:
    data = config_dict(control={**CONTROL, "lease": 100})
    data["services"][0]["dns"]["verify_timeout"] = 120
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    found = caught.value.problems
    assert any(
        "control.lease: 100s is shorter than the longest runbook step plus 30 s (150s)" in p
        for p in found
    )


# -- adopting the ledger --------------------------------------------------------------


def switch(tid: int, to: SiteName = SiteName.SECONDARY) -> Transition:
    return Transition(
        id=tid, from_site=to.other, to_site=to, reason="primary DOWN", decided_at=T0, by="decider"
    )


def test_a_state_that_lacks_the_ledgers_switch_takes_it_and_moves_its_version_past() -> None:
    state = ServiceState(service=SERVICE, version=3)
    adopted, event = adopt(state, Entry(transition=switch(9)))
    assert event is not None and event.kind == "ledger_adopted"
    assert adopted.active is SiteName.SECONDARY and adopted.transition == switch(9)
    assert adopted.open_runbook == 9 and adopted.runbook_started_at is None
    assert adopted.version == 9


def test_a_closed_switch_is_adopted_closed() -> None:
    state = ServiceState(service=SERVICE, version=12)
    done, _ = adopt(state, Entry(transition=switch(9), closed="done"))
    assert done.runbook_done == 9 and done.open_runbook is None and done.version == 12
    failed, _ = adopt(state, Entry(transition=switch(9), closed="failed"))
    assert failed.failed == 9


def test_a_known_switch_only_takes_its_end_and_a_newer_state_is_left_alone() -> None:
    state = ServiceState(
        service=SERVICE, version=10, transition=switch(9), active=SiteName.SECONDARY
    )
    closed, event = adopt(state, Entry(transition=switch(9), closed="done"))
    assert event is not None and closed.runbook_done == 9
    same, event = adopt(state, Entry(transition=switch(9)))
    assert event is None and same == state
    newer = state.model_copy(update={"transition": switch(11, SiteName.PRIMARY)})
    kept, event = adopt(newer, Entry(transition=switch(9)))
    assert event is None and kept == newer
    assert adopt(state, None) == (state, None)


# -- two control regions --------------------------------------------------------------


@dataclasses.dataclass
class Regions:
    home: MemoryWorld
    standby: Runtime
    cluster: LeaseCluster


def two_regions(store: MemoryStore | None = None) -> Regions:
    """The home region's world and a standby runtime on the same table (replication here is
    instant unless the test gives the standby its own ``store``), sharing one lease."""
    # A 15-minute lease: these tests call the services directly, without the decide
    # handler's renewal at the start of each pass (tests/contract/test_leadership.py).
    world = memory_world(config_dict(control={**CONTROL, "lease": 900}))
    cluster = LeaseCluster()
    lease = world.config.lease_seconds
    world.rt.leadership = MemoryLeadership(cluster, HOME, lease)
    standby = dataclasses.replace(
        world.rt,
        region=STANDBY,
        leadership=MemoryLeadership(cluster, STANDBY, lease),
        store=store or world.store,
    )
    return Regions(world, standby, cluster)


def lapse(regions: Regions) -> None:
    """The home region is lost: cut off from the lease table, its lease left to run out."""
    regions.cluster.isolate(HOME)
    term = regions.standby.leadership.term() or regions.home.rt.leadership.term()
    assert term is not None
    regions.home.clock.now = term.until + timedelta(seconds=LEASE_SKEW + 1)


def test_the_decider_records_a_switch_in_the_ledger_before_the_state() -> None:
    r = two_regions()
    assert r.home.rt.leadership.hold(at(0))
    tid = failed_over(r.home)
    entry = r.home.rt.leadership.entries()[SERVICE]
    assert entry.transition.id == tid and entry.transition.to_site is SiteName.SECONDARY


def test_a_switch_the_ledger_refuses_is_not_written_and_not_started() -> None:
    r = two_regions()
    assert r.home.rt.leadership.hold(at(0))
    for n in range(2):
        seed(r.home, n, n + 1, primary=False)
    r.cluster.isolate(HOME)  # lost between taking the lease and deciding
    before = r.home.store.load_state(SERVICE)
    with pytest.raises(Exception, match="cannot reach"):
        for n in range(2, 5):
            seed(r.home, n, n + 1, primary=False)
            decide_service(r.home.rt, SERVICE, at(n))
    after = r.home.store.load_state(SERVICE)
    assert after.transition is None and after.active is SiteName.PRIMARY
    assert r.home.invoker.started == []
    assert before.transition is None


def test_a_standby_pass_decides_nothing_and_names_the_leader() -> None:
    r = two_regions()
    assert r.home.rt.leadership.hold(at(0))
    answer = decide_handler._standby(r.standby, at(1))
    assert answer == {"standby": True, "leader": HOME}
    assert decide_handler._standby(r.home.rt, at(1)) is None


def test_an_override_in_the_standby_region_is_refused_and_writes_nothing() -> None:
    r = two_regions()
    assert r.home.rt.leadership.hold(at(0))
    before = r.home.store.recent_events(SERVICE, 50)
    command = {"command": "pause", "operator": "alice", "reason": "maintenance"}
    answer = override.handle(r.standby, command, at(1))
    assert answer["ok"] is False and answer["leader"] == HOME
    assert "eu-west-2) is a standby; the decider leads in eu-west-1" in answer["error"]
    assert r.home.store.recent_events(SERVICE, 50) == before
    assert not r.home.store.load_state(SERVICE).paused
    # Read-only commands are answered anywhere.
    status = override.handle(r.standby, {"command": "status"}, at(1))
    assert status["ok"] is True


def test_a_runbook_in_a_region_that_lost_the_lease_stops_before_its_next_change() -> None:
    r = two_regions()
    assert r.home.rt.leadership.hold(at(0))
    tid = failed_over(r.home)
    lapse(r)
    assert r.standby.leadership.hold(r.home.clock.now)
    result = act(r.home, tid)
    assert result.outcome == "lost leadership"
    assert r.home.dns["route53"].changed == []  # nothing touched
    assert "runbook_lost_lease" in r.home.events()


def test_the_new_leader_adopts_an_unreplicated_switch_and_carries_it_on_once() -> None:
    """Home decided the failover and was lost before its table replicated it: the standby's
    copy still says primary. It takes the switch from the ledger, restarts its runbook, and
    decides no second failover."""
    replica = MemoryStore()
    r = two_regions(store=replica)
    assert r.home.rt.leadership.hold(at(0))
    for n in range(5):  # the standby's copy got the rounds but not the decision
        seed(r.home, n, n + 1, primary=n < 3)
        for o in r.home.store.rounds_since(SERVICE, at(n)):
            replica.put_observation(o, o.round_at + timedelta(days=1))
    tid = failed_over(r.home)
    assert replica.load_state(SERVICE).transition is None
    lapse(r)
    now = r.home.clock.now
    assert r.standby.leadership.hold(now)
    for n in range(5, 8):
        for o in [o for o in r.home.store.rounds_since(SERVICE, at(n)) if o.round_at >= at(n)]:
            replica.put_observation(o, o.round_at + timedelta(days=1))
    passed = decide_service(r.standby, SERVICE, now)
    state = replica.load_state(SERVICE)
    assert passed.outcome.transition is None  # no second decision
    assert state.transition is not None and state.transition.id == tid
    assert state.active is SiteName.SECONDARY and state.version >= tid
    # One invoker stands for both regions' act functions: home's start, then the restart.
    assert r.standby.invoker.started == [(SERVICE, tid), (SERVICE, tid)]
    kinds = [e.kind for e in replica.recent_events(SERVICE, 20)]
    assert "ledger_adopted" in kinds
    # The standby's act function finishes it and the ledger hears so.
    standby_world = dataclasses.replace(r.home, rt=r.standby, store=replica)
    standby_world.clock.now = now
    assert act(standby_world, tid).outcome == "done"
    assert r.standby.leadership.entries()[SERVICE].closed == "done"


# -- the simulator ----------------------------------------------------------------------


def test_without_the_ledger_the_lost_switch_would_be_decided_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the ledger is for: scenario 25 with adoption switched off makes the standby decide
    the failover its predecessor already carried out."""
    scenario, config = simulator.load_scenario("scenarios/25-home-lost-mid-switch.yaml")
    assert simulator.Simulation(scenario, config).run().ok
    monkeypatch.setattr(simulator, "adopt", lambda state, entry: (state, None))
    result = simulator.Simulation(scenario, config).run()
    assert result.double_switches == 1
    assert any("double switches" in f for f in result.failures)


def test_a_scenario_cannot_lose_a_region_that_is_not_a_control_region(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    data = copy.deepcopy(
        {
            "name": "x",
            "config": str((simulator.Path("arbiter.example.yaml")).resolve()),
            "duration": "10m",
            "timeline": [{"kind": "control_region_lost", "region": "us-east-1", "at": "1m"}],
        }
    )
    import yaml

    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        simulator.load_scenario(path)
    assert any(
        "timeline[0].region: 'us-east-1' is not a control region" in p
        for p in caught.value.problems
    )
