"""Probe function: scheduled in each probe region; checks both sites, records the round."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from arbiter import runtime
from arbiter.core.schedule import round_budget, round_offsets
from arbiter.handlers.events import ScheduleEvent
from arbiter.observability import MetricUnit, logger, metrics, single_metric
from arbiter.services.probe import probe_round, record


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parse(event=event, model=ScheduleEvent)
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
    began = time.perf_counter()
    observations = probe_round(rt.config, rt.region, now)
    record(rt.store, rt.config, observations)
    elapsed_ms = (time.perf_counter() - began) * 1000
    for obs in observations:
        failing = {
            site.value: [f"{c.name}: {c.reason}" for c in result.failing()]
            for site, result in obs.sites.items()
        }
        logger.info(
            "round recorded",
            service=obs.service,
            region=obs.region,
            sites={site.value: r.ok for site, r in obs.sites.items()},
            failing=failing,
            warnings=[
                f"{site.value} {c.name}: {c.warning}"
                for site, result in obs.sites.items()
                for c in result.checks
                if c.warning
            ],
        )
        with single_metric(
            name="RoundsRecorded", unit=MetricUnit.Count, value=1, namespace="Arbiter"
        ) as metric:
            metric.add_dimension(name="service", value=obs.service)
            metric.add_metric(
                name="CheckFailures",
                unit=MetricUnit.Count,
                value=sum(len(v) for v in failing.values()),
            )
    metrics.add_metric(name="ProbeRoundMs", unit=MetricUnit.Milliseconds, value=elapsed_ms)
