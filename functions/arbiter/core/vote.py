"""Fall/rise per region, then a quorum vote across regions. Pure: data and ``now`` in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from arbiter.core.config import SiteName
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


def apply_rounds(
    regions: dict[str, RegionTrack], rounds: Iterable[Observation], fall: int, rise: int
) -> dict[str, RegionTrack]:
    """Fold new rounds into the per-region tracks, oldest first; replayed rounds are ignored."""
    tracks = dict(regions)
    for obs in sorted(rounds, key=lambda o: (o.round_at, o.region)):
        track = tracks.get(obs.region, RegionTrack())
        if track.last_round_at is not None and obs.round_at <= track.last_round_at:
            continue
        tracks[obs.region] = apply_round(track, obs, fall, rise)
    return tracks


class Tally(BaseModel):
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

    @property
    def degraded(self) -> bool:
        """Too few fresh regions to reach a quorum: no automatic action."""
        return len(self.fresh) < self.quorum

    def describe(self, site: SiteName) -> str:
        count = self.counts[site]
        voters = len(self.fresh) - len(self.abstained)
        health = self.verdict[site]
        if health is Health.UNKNOWN:
            return (
                f"{site.value} UNKNOWN ({count[Health.UP]} UP, {count[Health.DOWN]} DOWN "
                f"of {voters} voting regions; quorum {self.quorum})"
            )
        return f"{site.value} {health.value} in {count[health]}/{voters} regions"


def _verdicts(
    matrix: dict[str, dict[SiteName, Health]], voters: list[str], quorum: int
) -> tuple[dict[SiteName, Health], dict[SiteName, dict[Health, int]]]:
    verdict: dict[SiteName, Health] = {}
    counts: dict[SiteName, dict[Health, int]] = {}
    for site in SiteName:
        count = {h: 0 for h in Health}
        for region in voters:
            count[matrix[region][site]] += 1
        counts[site] = count
        if count[Health.DOWN] >= quorum:
            verdict[site] = Health.DOWN
        elif count[Health.UP] >= quorum:
            verdict[site] = Health.UP
        else:
            verdict[site] = Health.UNKNOWN
    return verdict, counts


def tally(
    regions: dict[str, RegionTrack],
    probe_regions: Iterable[str],
    now: datetime,
    stale_after: float,
    quorum: int,
) -> Tally:
    cutoff = now - timedelta(seconds=stale_after)
    matrix: dict[str, dict[SiteName, Health]] = {}
    fresh, stale = [], []
    for region in probe_regions:
        track = regions.get(region, RegionTrack())
        matrix[region] = {site: track.sites[site].health for site in SiteName}
        if track.last_round_at is not None and track.last_round_at >= cutoff:
            fresh.append(region)
        else:
            stale.append(region)

    both_down = [r for r in fresh if all(h is Health.DOWN for h in matrix[r].values())]
    others = [r for r in fresh if r not in both_down]
    abstained: list[str] = []
    if both_down:
        verdict_without, _ = _verdicts(matrix, others, quorum)
        if Health.UP in verdict_without.values():
            abstained = both_down
    voters = [r for r in fresh if r not in abstained]
    verdict, counts = _verdicts(matrix, voters, quorum)
    return Tally(
        matrix=matrix,
        fresh=fresh,
        stale=stale,
        abstained=abstained,
        quorum=quorum,
        verdict=verdict,
        counts=counts,
    )
