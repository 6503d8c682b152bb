from __future__ import annotations

from datetime import timedelta

from arbiter.core.config import SiteName
from arbiter.core.model import Health, RegionTrack
from arbiter.core.vote import apply_round, tally
from arbiter.core.vote import apply_rounds as fold
from tests.factories import REGIONS, T0, at, obs, round_of

P, S = SiteName.PRIMARY, SiteName.SECONDARY


def apply_rounds(tracks, rounds, fall, rise, now=None, stale_after=180.0, skew=30.0):
    """Fold with the defaults of these tests; ``now`` defaults to the newest round."""
    now = now or max((o.round_at for o in rounds), default=T0)
    return fold(tracks, rounds, fall, rise, now=now, stale_after=stale_after, skew=skew).tracks


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


# -- a region back from a silence, clocks ahead, ties -----------------------------------


def test_a_region_back_after_a_silence_starts_fresh() -> None:
    """Two old failures and one new one 48 minutes later are not "3 consecutive"."""
    old = [obs("eu-west-1", at(n), primary=False) for n in (0, 1)]
    tracks = apply_rounds({}, old, 3, 2)
    assert tracks["eu-west-1"].sites[P].fail_streak == 2
    late = obs("eu-west-1", at(49), primary=False)
    folded = fold(tracks, [late], 3, 2, now=at(49), stale_after=180, skew=30)
    track = folded.tracks["eu-west-1"]
    assert folded.restarted == ["eu-west-1"]
    assert track.sites[P].fail_streak == 1
    assert track.sites[P].health is Health.UNKNOWN


def test_a_region_back_after_a_silence_forgets_its_old_health() -> None:
    """It saw a blip and went silent: back with the primary healthy, it is not DOWN."""
    blip = [obs("eu-west-1", at(n), primary=False) for n in (0, 1, 2)]
    tracks = apply_rounds({}, blip, 3, 2)
    assert tracks["eu-west-1"].sites[P].health is Health.DOWN
    back = fold(tracks, [obs("eu-west-1", at(40))], 3, 2, now=at(40), stale_after=180, skew=30)
    assert back.tracks["eu-west-1"].sites[P].health is Health.UNKNOWN


def test_a_round_within_the_stale_bound_continues_the_streak() -> None:
    rounds = [obs("eu-west-1", at(n), primary=False) for n in (0, 3)]  # 180 s apart: not stale
    tracks = apply_rounds({}, rounds, 3, 2)
    assert tracks["eu-west-1"].sites[P].fail_streak == 2


def test_a_round_stamped_in_the_future_is_ignored_and_reported() -> None:
    ahead = obs("eu-west-1", at(60), primary=False)  # an hour ahead
    folded = fold({}, [ahead], 3, 2, now=at(0), stale_after=180, skew=30)
    assert folded.future == {"eu-west-1": {ahead.id: at(60)}}
    assert "eu-west-1" not in folded.tracks


def test_a_skewed_round_never_hides_later_correct_rounds() -> None:
    ahead = obs("eu-west-1", at(60), primary=True)
    rounds = [ahead] + [obs("eu-west-1", at(n), primary=False) for n in range(3)]
    folded = fold({}, rounds, 3, 2, now=at(2), stale_after=180, skew=30)
    assert folded.tracks["eu-west-1"].sites[P].health is Health.DOWN
    assert folded.tracks["eu-west-1"].last_round_at == at(2)


def test_a_track_poisoned_by_an_old_skew_is_reset() -> None:
    poisoned = {"eu-west-1": RegionTrack(last_round_at=at(60))}
    folded = fold(poisoned, [obs("eu-west-1", at(1))], 3, 2, now=at(1), stale_after=180, skew=30)
    assert folded.tracks["eu-west-1"].last_round_at == at(1)
    vote = tally(poisoned, REGIONS, at(1), 180, 2, skew=30)
    assert "eu-west-1" in vote.stale  # a round from the future never counts as fresh


def test_small_skew_within_the_allowance_is_applied() -> None:
    folded = fold({}, [obs("eu-west-1", at(0) + timedelta(seconds=20))], 3, 2, now=at(0),
                  stale_after=180, skew=30)  # fmt: skip
    assert folded.future == {} and "eu-west-1" in folded.tracks


def test_a_tie_is_unknown_and_named() -> None:
    regions = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2"]
    down = {"eu-west-1": False, "eu-central-1": False}
    rounds = [o for i in range(3) for o in round_of(i, primary=down, regions=regions)]
    tracks = apply_rounds({}, rounds, 2, 2)
    vote = tally(tracks, regions, at(2), 180, 2)
    assert vote.verdict[P] is Health.UNKNOWN
    assert vote.ties == [P]
    assert vote.describe(P) == (
        "primary split: 2 UP and 2 DOWN of 4 voting regions both reach the quorum of 2"
    )


def test_a_refused_round_is_never_applied_once_the_clock_reaches_it() -> None:
    """Its data is an hour old by then: it must not count as the region's newest round."""
    bogus = obs("eu-west-1", at(60), primary=False)
    tracks = apply_rounds({}, [obs("eu-west-1", at(n)) for n in range(58, 60)], 3, 2, now=at(59))
    folded = fold(tracks, [bogus, obs("eu-west-1", at(61))], 3, 2, now=at(61), stale_after=180,
                  skew=30, refused={"eu-west-1": [bogus.id]})  # fmt: skip
    track = folded.tracks["eu-west-1"]
    assert track.last_round_at == at(61) and track.sites[P].fail_streak == 0
    assert folded.future == {}


def test_a_real_round_reusing_a_refused_stamp_is_applied() -> None:
    """Rounds are stamped on the schedule: once a region's clock is fixed, its real rounds
    land on the stamps of the ones it sent ahead. Those are not the refused rounds."""
    bogus = obs("eu-west-1", at(60), primary=True)
    real = obs("eu-west-1", at(60), primary=False)
    folded = fold({}, [real], 3, 2, now=at(60), stale_after=180, skew=30,
                  refused={"eu-west-1": [bogus.id]})  # fmt: skip
    assert folded.tracks["eu-west-1"].last_round_at == at(60)
    assert folded.tracks["eu-west-1"].sites[P].fail_streak == 1
