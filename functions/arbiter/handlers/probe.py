"""Probe function: one round per invocation, in each probe region.

Two triggers: from a 60 s interval up, an EventBridge schedule (the round is stamped with the
invocation's clock); below 60 s, the rounds queue (one message per round boundary, queued by
the ticker, ``handlers/tick.py``; the round is stamped with its boundary). Nothing sleeps.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from arbiter import runtime
from arbiter.core.model import Observation
from arbiter.core.schedule import is_late, round_budget, stamp
from arbiter.handlers import events
from arbiter.handlers.events import refused
from arbiter.handlers.round_events import RoundsEvent
from arbiter.observability import MetricUnit, count_per_service, lambda_context, logger, metrics
from arbiter.services.probe import probe_round, record


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rt = runtime.current()
    if isinstance(event, dict) and "Records" in event:
        try:
            queued = RoundsEvent.model_validate(event)
        except ValidationError as exc:  # answered, not raised: SQS would deliver it again
            return refused("probe", exc)
        return _queued_rounds(rt, queued)
    try:
        events.ScheduleEvent.model_validate(event)
    except ValidationError as exc:
        return refused("probe", exc)
    run_one(rt, rt.clock())
    return {"region": rt.region, "rounds": 1}


def _queued_rounds(rt: runtime.Runtime, event: RoundsEvent) -> dict[str, Any]:
    """One round per message, stamped with its boundary; a message that arrives more than
    ``late_after`` past its boundary (a backlog, a redelivery after a failed invocation) is
    dropped and counted (``RoundsStale``): it would report the past as the present."""
    ran = stale = 0
    for message in event.Records:
        boundary = message.body.round_at
        now = rt.clock()
        if is_late(boundary, now, rt.config.probe.interval):
            stale += 1
            logger.warning(
                "stale round dropped",
                round_at=stamp(boundary),
                late_seconds=round((now - boundary).total_seconds(), 3),
                receive_count=message.receive_count,
            )
            continue
        run_one(rt, boundary, once=True)
        ran += 1
    if stale:
        metrics.add_metric(name="RoundsStale", unit=MetricUnit.Count, value=stale)
    return {"region": rt.region, "rounds": ran, "stale": stale}


def run_one(rt: runtime.Runtime, now: datetime, once: bool = False) -> None:
    """One round stamped ``now``: check, write, then log each service's results whether or not
    the write succeeded (a stalled table must not hide what the probe saw). ``once``: a
    queued round, whose stamp is its boundary: a second copy is a duplicate, not stored.

    A scheduled round's stamp is the probe's clock, and is stored over what is there: two
    deliveries of one schedule event run at different instants (two stamps), and a clock that
    ran ahead left phantom rounds on stamps that the real rounds must replace later."""
    began = time.monotonic()
    observations = probe_round(rt.config, rt.region, now)
    attempt = runtime.PROBE_TABLE_CONNECT + runtime.PROBE_TABLE_READ
    done = record(rt.store, rt.config, observations, began + round_budget(rt.config), attempt, once)
    took = round((time.monotonic() - began) * 1000)
    for obs in observations:
        _report(obs, done.failed.get(obs.service), obs.service in done.duplicates, took)


def _report(
    obs: Observation, write_error: str | None, duplicate: bool = False, round_ms: int = 0
) -> None:
    """One log line per service per round: what the dashboard's per-region and per-check
    widgets query (Logs Insights), and no custom metric unless something went wrong. A
    metric costs $0.30 for every month it is sent in, while this line costs about 0.2 KB of
    log ingestion ($0.50 per GB); a metric sent only in the hours something happens costs
    only those hours (README "What it costs").

    ``up``: each site 1 or 0; ``ms``: each check's latency by site; ``down``: each failing
    check by site, 1, and ``failing``: why, for a person (both left out when none fails);
    ``warnings`` likewise."""
    failed = {site.value: result.failing() for site, result in obs.sites.items()}
    fields: dict[str, Any] = {
        "service": obs.service,
        "region": obs.region,
        "up": {site.value: int(r.ok) for site, r in obs.sites.items()},
        "ms": {
            site.value: {c.name: round(c.latency_ms) for c in r.checks}
            for site, r in obs.sites.items()
        },
        "round_ms": round_ms,
    }
    warnings = [
        f"{site.value} {c.name}: {c.warning}"
        for site, result in obs.sites.items()
        for c in result.checks
        if c.warning
    ]
    if any(failed.values()):
        fields["failing"] = {
            site: [f"{c.name}: {c.reason}" for c in checks] for site, checks in failed.items()
        }
        fields["down"] = {
            site: {c.name: 1 for c in checks} for site, checks in failed.items() if checks
        }
    if warnings:
        fields["warnings"] = warnings
    if duplicate:
        # The first copy is stored, streamed and decided on; this one changes nothing (its
        # results are logged, marked, and left out of the dashboard's figures).
        logger.info("round already recorded: duplicate dropped", **fields)
        count_per_service("RoundsDuplicate", 1, obs.service)
        return
    if write_error is None:
        logger.info("round recorded", **fields)
    else:
        # Sent only when it happens: the dashboard and the RegionSilent alarm see the rest.
        count_per_service("ObservationWriteFailures", 1, obs.service)
        logger.error("round not recorded", write_error=write_error, **fields)
