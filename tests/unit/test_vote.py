from __future__ import annotations

from datetime import timedelta

from arbiter.core.config import SiteName
from arbiter.core.model import Health, RegionTrack
from arbiter.core.vote import apply_round, apply_rounds, tally
from tests.factories import REGIONS, T0, at, obs, round_of

P, S = SiteName.PRIMARY, SiteName.SECONDARY


def health_after(results: list[bool], fall: int = 3, rise: int = 2) -> list[Health]:
    track = RegionTrack()
    seen = []
    for n, ok in enumerate(results):
        track = apply_round(track, obs("eu-west-1", at(n), primary=ok), fall, rise)
        seen.append(track.sites[P].health)
    return seen


def test_rise_needs_consecutive_passes() -> None:
    U, X = Health.UP, Health.UNKNOWN
    assert health_after([True, True]) == [X, U]
    assert health_after([True, False, True, True]) == [X, X, X, U]


def test_fall_needs_consecutive_failures() -> None:
    U, D = Health.UP, Health.DOWN
    seen = health_after([True, True, False, False, True, False, False, False])
    assert seen == [Health.UNKNOWN, U, U, U, U, U, U, D]


def test_a_single_pass_does_not_bring_a_down_site_up() -> None:
    seen = health_after([False, False, False, True, False, True, True])
    assert seen[2:] == [Health.DOWN, Health.DOWN, Health.DOWN, Health.DOWN, Health.UP]


def test_failure_reason_is_kept() -> None:
    track = apply_round(RegionTrack(), obs("eu-west-1", T0, primary=False), 3, 2)
    assert track.sites[P].last_reason == "health: status 503"


def test_replayed_or_old_rounds_are_ignored() -> None:
    tracks = apply_rounds({}, round_of(0) + round_of(1), 3, 2)
    again = apply_rounds(tracks, round_of(0) + round_of(1), 3, 2)
    assert again == tracks
    assert all(t.sites[P].ok_streak == 2 for t in again.values())


def test_rounds_are_applied_oldest_first_whatever_their_order() -> None:
    rounds = round_of(0, primary=False) + round_of(1, primary=False) + round_of(2, primary=False)
    tracks = apply_rounds({}, list(reversed(rounds)), 3, 2)
    assert {t.sites[P].health for t in tracks.values()} == {Health.DOWN}


def tracks_for(primary: dict[str, bool], secondary: dict[str, bool], n: int = 3):
    rounds = [o for i in range(n) for o in round_of(i, primary=primary, secondary=secondary)]
    return apply_rounds({}, rounds, 2, 2)


def test_majority_decides() -> None:
    tracks = tracks_for({"eu-west-1": False, "eu-central-1": False}, {})
    vote = tally(tracks, REGIONS, at(2), 180, 2)
    assert vote.verdict == {P: Health.DOWN, S: Health.UP}
    assert vote.describe(P) == "primary DOWN in 2/3 regions"


def test_one_region_alone_is_not_a_quorum() -> None:
    tracks = tracks_for({"us-east-1": False}, {})
    vote = tally(tracks, REGIONS, at(2), 180, 2)
    assert vote.verdict[P] is Health.UP


def test_split_vote_is_unknown() -> None:
    tracks = tracks_for({"us-east-1": False}, {})
    vote = tally(tracks, REGIONS, at(2), 180, 3)
    assert vote.verdict[P] is Health.UNKNOWN
    assert "UNKNOWN (2 UP, 1 DOWN of 3 voting regions; quorum 3)" in vote.describe(P)


def test_stale_regions_do_not_vote() -> None:
    tracks = tracks_for({}, {})
    late = at(2) + timedelta(seconds=181)
    vote = tally(tracks, REGIONS, late, 180, 2)
    assert vote.fresh == [] and vote.degraded
    assert vote.verdict == {P: Health.UNKNOWN, S: Health.UNKNOWN}


def test_region_never_heard_from_is_stale() -> None:
    rounds = [o for i in range(3) for o in round_of(i, regions=["eu-west-1", "eu-central-1"])]
    tracks = apply_rounds({}, rounds, 2, 2)
    vote = tally(tracks, REGIONS, at(2), 180, 2)
    assert vote.stale == ["us-east-1"]
    assert not vote.degraded


def test_region_seeing_both_down_abstains_when_quorum_sees_one_up() -> None:
    tracks = tracks_for({"us-east-1": False}, {"us-east-1": False})
    vote = tally(tracks, REGIONS, at(2), 180, 2)
    assert vote.abstained == ["us-east-1"]
    assert vote.verdict == {P: Health.UP, S: Health.UP}


def test_both_down_everywhere_is_not_an_abstention() -> None:
    everyone = dict.fromkeys(REGIONS, False)
    tracks = tracks_for(everyone, everyone)
    vote = tally(tracks, REGIONS, at(2), 180, 2)
    assert vote.abstained == []
    assert vote.verdict == {P: Health.DOWN, S: Health.DOWN}
