"""One probe round: run every check of every site concurrently, record one observation
per service."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from arbiter.adapters.checks import run_all
from arbiter.adapters.store import Store
from arbiter.core.config import Check, Config, SiteName
from arbiter.core.errors import ArbiterError, RetryableError
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


WRITE_ATTEMPTS = 2
"""Tries of one observation's write: a retryable failure is tried once more, time allowing."""


def record(
    store: Store,
    config: Config,
    observations: list[Observation],
    write_by: float,
    attempt: float,
) -> dict[str, str]:
    """Write each observation; never raises. Returns why each one not written was not, by service.

    An attempt starts only while a whole one (``attempt`` seconds: the table client's connect
    plus read timeout) still fits before ``write_by`` (a ``time.monotonic()``), so a stalled
    table cannot stretch the round past its budget, and the next round still runs.
    """
    failed = {}
    for obs in observations:
        expires_at = obs.round_at + timedelta(seconds=config.probe.retention)
        why = _write(store, obs, expires_at, write_by, attempt)
        if why is not None:
            failed[obs.service] = why
    return failed


def _write(
    store: Store, obs: Observation, expires_at: datetime, write_by: float, attempt: float
) -> str | None:
    why = "no time left in the round"
    for _ in range(WRITE_ATTEMPTS):
        if time.monotonic() + attempt > write_by:
            break
        try:
            store.put_observation(obs, expires_at)
            return None
        except RetryableError as exc:
            why = str(exc)
        except ArbiterError as exc:  # refused (no table, no permission): trying again won't help
            return str(exc)
    return why
