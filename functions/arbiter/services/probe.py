"""One probe round: run every check of every site concurrently, record one observation
per service."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Recorded:
    """What became of a round's observations, by service."""

    failed: dict[str, str] = field(default_factory=dict)
    """Why each observation not written was not."""
    duplicates: frozenset[str] = frozenset()
    """Services whose round was already stored under the same stamp and region (a message
    delivered twice, or a retried write whose first attempt landed): kept as first written."""


def record(
    store: Store,
    config: Config,
    observations: list[Observation],
    write_by: float,
    attempt: float,
    once: bool = False,
) -> Recorded:
    """Write each observation; never raises. ``once``: a queued round, written only if no
    round is stored under its stamp (``Store.put_observation``).

    An attempt starts only while a whole one (``attempt`` seconds: the table client's connect
    plus read timeout) still fits before ``write_by`` (a ``time.monotonic()``), so a stalled
    table cannot stretch the round past its budget, and the next round still runs.
    """
    failed: dict[str, str] = {}
    duplicates: set[str] = set()
    for obs in observations:
        expires_at = obs.round_at + timedelta(seconds=config.probe.retention)
        written, why = _write(store, obs, expires_at, write_by, attempt, once)
        if why is not None:
            failed[obs.service] = why
        elif not written:
            duplicates.add(obs.service)
    return Recorded(failed=failed, duplicates=frozenset(duplicates))


def _write(
    store: Store,
    obs: Observation,
    expires_at: datetime,
    write_by: float,
    attempt: float,
    once: bool,
) -> tuple[bool, str | None]:
    """(stored now, why it failed): (False, None) when it was stored already."""
    why = "no time left in the round"
    for _ in range(WRITE_ATTEMPTS):
        if time.monotonic() + attempt > write_by:
            break
        try:
            return store.put_observation(obs, expires_at, once), None
        except RetryableError as exc:
            why = str(exc)
        except ArbiterError as exc:  # refused (no table, no permission): trying again won't help
            return False, str(exc)
    return False, why
