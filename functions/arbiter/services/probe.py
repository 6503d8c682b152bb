"""One probe round: run every check of every site concurrently, record one observation
per service."""

from __future__ import annotations

from datetime import datetime, timedelta

from arbiter.adapters.checks import run_all
from arbiter.adapters.store import Store
from arbiter.core.config import Check, Config, SiteName
from arbiter.core.model import Observation, SiteResult


def probe_round(config: Config, region: str, now: datetime) -> list[Observation]:
    """Check both sites of every service, all at once; each check bounded by its timeout."""
    plan: list[tuple[str, SiteName, Check]] = [
        (service.name, site, check)
        for service in config.services
        for site in SiteName
        for check in service.site(site).checks
    ]
    results = run_all([check for _, _, check in plan])
    grouped: dict[tuple[str, SiteName], list] = {}
    for (name, site, _), result in zip(plan, results, strict=True):
        grouped.setdefault((name, site), []).append(result)
    return [
        Observation(
            service=service.name,
            region=region,
            round_at=now,
            sites={site: SiteResult.of(grouped[(service.name, site)]) for site in SiteName},
        )
        for service in config.services
    ]


def record(store: Store, config: Config, observations: list[Observation]) -> None:
    for obs in observations:
        store.put_observation(obs, obs.round_at + timedelta(seconds=config.probe.retention))
