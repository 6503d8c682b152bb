"""Probe function: scheduled in each probe region; checks both sites, records the round."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from arbiter import runtime
from arbiter.core.model import Observation
from arbiter.core.schedule import round_budget, round_offsets
from arbiter.handlers import events
from arbiter.handlers.events import parse
from arbiter.observability import MetricUnit, count_per_service, emit, logger, metrics
from arbiter.services.probe import probe_round, record


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parse(event=event, model=events.ScheduleEvent)
    rt = runtime.current()
    start = rt.clock()
    done = 0
    for offset in round_offsets(rt.config):
        wait = (start + timedelta(seconds=offset) - rt.clock()).total_seconds()
        # Leave room for the slowest check and the write before Lambda's own timeout.
        if context.get_remaining_time_in_millis() / 1000 < max(wait, 0) + round_budget(rt.config):
            logger.warning("no time left for another round", rounds=done)
            break
        if wait > 0:
            rt.sleep(wait)
        run_one(rt, rt.clock())
        done += 1
    return {"region": rt.region, "rounds": done}


def run_one(rt: runtime.Runtime, now: datetime) -> None:
    """One round: check, write, then log each service's results whether or not the write
    succeeded (a stalled table must not hide what the probe saw)."""
    began = time.monotonic()
    observations = probe_round(rt.config, rt.region, now)
    attempt = runtime.PROBE_TABLE_CONNECT + runtime.PROBE_TABLE_READ
    unwritten = record(rt.store, rt.config, observations, began + round_budget(rt.config), attempt)
    for obs in observations:
        _report(obs, unwritten.get(obs.service))
    metrics.add_metric(
        name="ProbeRoundMs", unit=MetricUnit.Milliseconds, value=(time.monotonic() - began) * 1000
    )


def _report(obs: Observation, write_error: str | None) -> None:
    failing = {
        site.value: [f"{c.name}: {c.reason}" for c in result.failing()]
        for site, result in obs.sites.items()
    }
    fields: dict[str, Any] = {
        "service": obs.service,
        "region": obs.region,
        "sites": {site.value: r.ok for site, r in obs.sites.items()},
        "failing": failing,
        "warnings": [
            f"{site.value} {c.name}: {c.warning}"
            for site, result in obs.sites.items()
            for c in result.checks
            if c.warning
        ],
    }
    count_per_service("CheckFailures", sum(len(v) for v in failing.values()), obs.service)
    _site_metrics(obs)
    # Failures 0 included: the graph tells "none failed" from "no round ran".
    count_per_service("ObservationWriteFailures", int(write_error is not None), obs.service)
    if write_error is None:
        logger.info("round recorded", **fields)
        count_per_service("RoundsRecorded", 1, obs.service)
    else:
        logger.error("round not recorded", write_error=write_error, **fields)


def _site_metrics(obs: Observation) -> None:
    """What this region saw of each site, for the dashboard: ``SiteUp`` (1/0) and
    ``SiteLatencyMs`` (its slowest check) per site, ``CheckLatencyMs`` and ``CheckFailed``
    (1/0) per check. Bounded by the config (sites x checks), one EMF line each, per round."""
    for site, result in obs.sites.items():
        slowest = max((c.latency_ms for c in result.checks), default=0.0)
        emit(
            {"SiteUp": int(result.ok), "SiteLatencyMs": slowest},
            service=obs.service,
            site=site.value,
        )
        for check in result.checks:
            emit(
                {"CheckLatencyMs": check.latency_ms, "CheckFailed": int(not check.ok)},
                service=obs.service,
                site=site.value,
                check=check.name,
            )
