"""Decide function: triggered by new observations on the table's stream, and by a schedule
so that regions going silent are noticed and pending alerts are delivered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from arbiter import runtime
from arbiter.core.config import Config, SiteName
from arbiter.core.errors import ArbiterError
from arbiter.core.model import Health, ServiceState, Status
from arbiter.core.vote import Tally
from arbiter.handlers import events
from arbiter.handlers.events import refused, stream_services
from arbiter.observability import (
    POWERTOOLS_SERVICE,
    MetricUnit,
    count_per_service,
    lambda_context,
    logger,
    metrics,
)
from arbiter.services.decider import Pass, decide_service

MAX_PARALLEL = 8
"""Services decided at once: one slow failback gate never delays another service."""


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rt = runtime.current()
    try:
        services = _services(rt, event)
    except ValidationError as exc:
        return refused("decide", exc)
    known = {s.name for s in rt.config.services}
    for name in services:
        if name not in known:
            logger.warning("observation for a service not in the config", service=name)
    names = [n for n in services if n in known]
    now = rt.clock()
    standby = _standby(rt, now)
    if standby is not None:
        return standby
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(names)))) as pool:
        passes = list(pool.map(lambda n: _decide(rt, n, now), names))
    results = {}
    for name, done in zip(names, passes, strict=True):
        if isinstance(done, ArbiterError):
            # Raised after the others are done: the stream retries the batch.
            results[name] = {"error": str(done)}
            continue
        figures = _figures(rt.config, done.outcome.state, done.outcome.vote, now)
        results[name] = _record(name, done, figures)
    if "Records" not in event:  # the scheduled pass, once a minute: keep the data plane fed
        # Imported here: the runbook's models come with it, and only this pass needs them.
        from arbiter.services.dataplane import publish_committed

        publish_committed(rt, [p.outcome.state for p in passes if isinstance(p, Pass)], now)
    failed = [n for n, r in results.items() if "error" in r]
    if failed and "Records" in event:
        raise ArbiterError(f"decide failed for {', '.join(failed)}: the batch is retried")
    return results


def _standby(rt: runtime.Runtime, now: datetime) -> dict[str, Any] | None:
    """With standby regions: None when this region leads (it takes or renews the lease as
    needed), else what this pass did instead of deciding: nothing. The stream's records are
    consumed all the same; the leader reads the same rounds from its own replica."""
    try:
        leads = rt.leadership.hold(now)
    except ArbiterError as exc:
        logger.warning("lease table not reachable: not deciding", error=str(exc))
        leads = False
    if leads:
        return None
    term = rt.leadership.term()
    leader = term.holder if term is not None else None
    logger.info("standby: not deciding", leader=leader)
    return {"standby": True, "leader": leader}


def _services(rt: runtime.Runtime, event: Any) -> list[str]:
    if isinstance(event, dict) and "Records" in event:
        return stream_services(events.StreamEvent.model_validate(event))
    events.ScheduleEvent.model_validate(event)
    return [s.name for s in rt.config.services]


def _decide(rt: runtime.Runtime, name: str, now: Any) -> Pass | ArbiterError:
    try:
        return decide_service(rt, name, now)
    except ArbiterError as exc:
        logger.error("decide pass failed", service=name, error=str(exc))
        return exc


def _record(name: str, done: Pass, figures: dict[str, Any]) -> dict[str, Any]:
    """The pass's one ``decided`` line: what it did, and the ``figures`` the dashboard reads
    (``_figures``); one ``timeline`` line per event."""
    outcome = done.outcome
    result = {
        "status": outcome.state.status.value,
        "version": outcome.state.version,
        "transition": outcome.transition.id if outcome.transition else None,
        "restarted": outcome.restart_runbook,
        "events": [e.kind for e in outcome.events],
        "alerts_sent": len(done.delivery.sent),
        "alerts_pending": len(done.delivery.failed),
    }
    logger.info("decided", extra={"service": name, "attempts": done.attempts, **result, **figures})
    for event in outcome.events:
        # One line per event: the dashboard's timeline widget lists these.
        logger.info(
            "timeline", service=name, kind=event.kind, alert=event.alert, text=event.message
        )
    # Custom metrics only when something happens (each is billed per month it is sent in);
    # passes and errors are the function's own AWS/Lambda metrics, which cost nothing.
    if done.delivery.sent:
        metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=len(done.delivery.sent))
    if done.delivery.failed:
        pending = len(done.delivery.failed)
        metrics.add_metric(name="AlertsPending", unit=MetricUnit.Count, value=pending)
    if outcome.transition is not None:
        metrics.add_metric(name="Switches", unit=MetricUnit.Count, value=1)
    if done.invoke_failed:
        metrics.add_metric(name="ActInvokeFailures", unit=MetricUnit.Count, value=1)
    return result


ACTIVE_SITE = {SiteName.PRIMARY: 1, SiteName.SECONDARY: 2}
"""``active``'s values on the ``decided`` line; the dashboard names them."""


def _figures(
    config: Config, state: ServiceState, vote: Tally | None, now: datetime
) -> dict[str, Any]:
    """What the dashboard shows of a service after a pass, logged on its ``decided`` line
    (Logs Insights reads it): the active site (1 primary, 2 secondary), pause and failure
    (1/0), open conditions, the vote the pass judged by (``up``: regions voting each site
    UP, against ``quorum``), each probe region's ``age`` (its newest round's; a region never
    heard from counts from the decider's first pass) and the ``lag`` behind the newest round.

    The one custom metric is ``RegionsSilent``: the probe regions older than
    ``monitoring.region_silent_after``, sent only while there is one (the ``RegionSilent``
    alarm's; missing data is "none silent")."""
    newest = [t.last_round_at for t in state.regions.values() if t.last_round_at is not None]
    ages = {}
    for region in config.probe_regions:
        track = state.regions.get(region)
        since = track.last_round_at if track is not None else None
        ages[region] = round(_age(now, since or state.first_seen or now))
    fields: dict[str, Any] = {
        "active": ACTIVE_SITE[state.active],
        "paused": int(state.paused),
        "failed": int(state.status is Status.FAILED),
        "conditions": len(state.conditions),
        "quorum": config.quorum,
        "age": ages,
    }
    if vote is not None:
        fields["up"] = {site.value: vote.counts[site][Health.UP] for site in SiteName}
    if newest:
        fields["lag"] = round(_age(now, max(newest)), 3)
    silent = sorted(r for r, age in ages.items() if age > config.region_silent_after)
    if silent:
        fields["silent"] = silent
        count_per_service("RegionsSilent", len(silent), POWERTOOLS_SERVICE)
    return fields


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())
