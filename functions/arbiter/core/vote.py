"""Fall/rise per region, then a quorum vote across regions. Pure: data and ``now`` in."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from pydantic import ConfigDict

from arbiter.core.config import SiteName
from arbiter.core.deferred import DeferredModel
from arbiter.core.model import Health, Observation, RegionTrack, SiteTrack


def apply_round(track: RegionTrack, obs: Observation, fall: int, rise: int) -> RegionTrack:
    """One region's view after one more round: haproxy's fall/rise counters per site."""
    sites = {}
    for site in SiteName:
        old = track.sites.get(site, SiteTrack())
        result = obs.sites.get(site)
        if result is None:
            sites[site] = old
            continue
        if result.ok:
            ok_streak, fail_streak = old.ok_streak + 1, 0
            health = Health.UP if ok_streak >= rise else old.health
            reason = "ok"
        else:
            ok_streak, fail_streak = 0, old.fail_streak + 1
            health = Health.DOWN if fail_streak >= fall else old.health
            reason = "; ".join(f"{c.name}: {c.reason}" for c in result.failing() if c.required)
        sites[site] = SiteTrack(
            health=health, ok_streak=ok_streak, fail_streak=fail_streak, last_reason=reason
        )
    return RegionTrack(last_round_at=obs.round_at, sites=sites)


class Folded(DeferredModel):
    """The tracks after new rounds, and the rounds that were not applied and why."""

    model_config = ConfigDict(frozen=True)

    tracks: dict[str, RegionTrack]
    future: dict[str, dict[str, datetime]]
    """Region -> its rounds (id -> stamp) newly seen stamped later than ``now`` + the skew
    allowance: not applied, and to be refused for good."""
    restarted: list[str]
    """Regions whose round came after a silence longer than ``stale_after``: they start fresh."""
    in_time: list[str]
    """Regions with at least one round in this batch that is not stamped in the future."""


def apply_rounds(
    regions: dict[str, RegionTrack],
    rounds: Iterable[Observation],
    fall: int,
    rise: int,
    *,
    now: datetime,
    stale_after: float,
    skew: float,
    refused: Mapping[str, Collection[str]] | None = None,
) -> Folded:
    """Fold new rounds into the per-region tracks, oldest first.

    Replayed rounds (not newer than the region's last) are ignored. A round stamped more than
    ``skew`` seconds after ``now`` is ignored and reported, so one bad clock can never make a
    region discard its later, correctly stamped rounds. A round that comes more than
    ``stale_after`` after the region's previous one starts the region afresh (no health, no
    counts): old failures never add up with new ones across a silence. ``refused`` holds the
    stamps of rounds refused as future before: they are never applied, even once ``now``
    has reached them (by round id: a later round may reuse a refused one's stamp).
    """
    refused = refused or {}
    horizon = now + timedelta(seconds=skew)
    tracks = dict(regions)
    future: dict[str, dict[str, datetime]] = {}
    restarted: list[str] = []
    in_time: set[str] = set()
    for region, track in regions.items():
        if track.last_round_at is not None and track.last_round_at > horizon:
            tracks[region] = RegionTrack()  # poisoned by a clock that has since been fixed
    for obs in sorted(rounds, key=lambda o: (o.round_at, o.region)):
        if obs.id in refused.get(obs.region, ()):
            continue
        if obs.round_at > horizon:
            future.setdefault(obs.region, {})[obs.id] = obs.round_at
            continue
        in_time.add(obs.region)
        track = tracks.get(obs.region, RegionTrack())
        last = track.last_round_at
        if last is not None and obs.round_at <= last:
            continue
        if last is not None and (obs.round_at - last).total_seconds() > stale_after:
            track = RegionTrack()
            restarted.append(obs.region)
        tracks[obs.region] = apply_round(track, obs, fall, rise)
    return Folded(tracks=tracks, future=future, restarted=restarted, in_time=sorted(in_time))


class Tally(DeferredModel):
    """The vote's outcome: what each region says, who abstained, what the quorum says."""

    model_config = ConfigDict(frozen=True)

    matrix: dict[str, dict[SiteName, Health]]
    """Every known region's view (including stale and abstaining ones), for the report."""
    fresh: list[str]
    stale: list[str]
    abstained: list[str]
    """Fresh regions that see both sites DOWN while the quorum sees one UP."""
    quorum: int
    verdict: dict[SiteName, Health]
    counts: dict[SiteName, dict[Health, int]]
    ties: list[SiteName] = []
    """Sites for which DOWN and UP both reached the quorum: UNKNOWN, never a decision."""

    @property
    def degraded(self) -> bool:
        """Too few fresh regions to reach a quorum: no automatic action."""
        return len(self.fresh) < self.quorum

    def describe(self, site: SiteName) -> str:
        count = self.counts[site]
        voters = len(self.fresh) - len(self.abstained)
        health = self.verdict[site]
        if site in self.ties:
            return (
                f"{site.value} split: {count[Health.UP]} UP and {count[Health.DOWN]} DOWN of "
                f"{voters} voting regions both reach the quorum of {self.quorum}"
            )
        if health is Health.UNKNOWN:
            return (
                f"{site.value} UNKNOWN ({count[Health.UP]} UP, {count[Health.DOWN]} DOWN "
                f"of {voters} voting regions; quorum {self.quorum})"
            )
        return f"{site.value} {health.value} in {count[health]}/{voters} regions"


def _verdicts(
    matrix: dict[str, dict[SiteName, Health]], voters: list[str], quorum: int
) -> tuple[dict[SiteName, Health], dict[SiteName, dict[Health, int]], list[SiteName]]:
    verdict: dict[SiteName, Health] = {}
    counts: dict[SiteName, dict[Health, int]] = {}
    ties: list[SiteName] = []
    for site in SiteName:
        count = {h: 0 for h in Health}
        for region in voters:
            count[matrix[region][site]] += 1
        counts[site] = count
        down, up = count[Health.DOWN] >= quorum, count[Health.UP] >= quorum
        if down and up:
            verdict[site] = Health.UNKNOWN  # a split (possible below a majority quorum)
            ties.append(site)
        elif down:
            verdict[site] = Health.DOWN
        elif up:
            verdict[site] = Health.UP
        else:
            verdict[site] = Health.UNKNOWN
    return verdict, counts, ties


def tally(
    regions: dict[str, RegionTrack],
    probe_regions: Iterable[str],
    now: datetime,
    stale_after: float,
    quorum: int,
    skew: float = 0.0,
) -> Tally:
    """A region votes while its latest round is no older than ``stale_after`` and not
    stamped beyond ``now`` + ``skew``."""
    cutoff = now - timedelta(seconds=stale_after)
    horizon = now + timedelta(seconds=skew)
    matrix: dict[str, dict[SiteName, Health]] = {}
    fresh, stale = [], []
    for region in probe_regions:
        track = regions.get(region, RegionTrack())
        matrix[region] = {site: track.sites[site].health for site in SiteName}
        if track.last_round_at is not None and cutoff <= track.last_round_at <= horizon:
            fresh.append(region)
        else:
            stale.append(region)

    both_down = [r for r in fresh if all(h is Health.DOWN for h in matrix[r].values())]
    others = [r for r in fresh if r not in both_down]
    abstained: list[str] = []
    if both_down:
        verdict_without, _, _ = _verdicts(matrix, others, quorum)
        if Health.UP in verdict_without.values():
            abstained = both_down
    voters = [r for r in fresh if r not in abstained]
    verdict, counts, ties = _verdicts(matrix, voters, quorum)
    return Tally(
        matrix=matrix,
        fresh=fresh,
        stale=stale,
        abstained=abstained,
        quorum=quorum,
        verdict=verdict,
        counts=counts,
        ties=ties,
    )
