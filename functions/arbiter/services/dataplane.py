"""The steady publisher of the data-plane failover mode.

A CloudWatch alarm with no datapoints has too little data, and its Route 53 health check then
keeps its last known status: DNS freezes. That is the safe reaction to a silent Arbiter, but
a live Arbiter must keep the stream going, so that the alarms always judge fresh data and a
region that lost its datapoints catches up. The decide function calls ``publish_committed``
once per scheduled pass (one a minute) with every service's committed state: one
PutMetricData per alarm region for all services together.

It never raises: a failure is logged and counted (``DataPlaneRegionsPublished``), and the
next pass publishes again.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from arbiter.core import dataplane
from arbiter.core.config import SiteName
from arbiter.core.errors import ArbiterError
from arbiter.core.model import ServiceState
from arbiter.core.runbook import StepResult
from arbiter.observability import emit, logger
from arbiter.runtime import Runtime


@runtime_checkable
class Publisher(Protocol):
    """What the data-plane DNS provider offers besides the DNS port."""

    regions: list[str]

    def publish(self, wanted: Mapping[str, SiteName], at: datetime) -> dataplane.Published: ...


def publisher(rt: Runtime) -> Publisher | None:
    """The config's data-plane provider (any one: they all publish the same metric to the
    same regions)."""
    for name in dataplane.providers(rt.config):
        found = rt.dns.get(name)
        if isinstance(found, Publisher):
            return found
    return None


def publish_committed(
    rt: Runtime, states: Sequence[ServiceState], now: datetime
) -> dataplane.Published | None:
    """Publish each data-plane service's committed site (``core/dataplane.committed_site``)
    into every alarm region; None when there was nothing to publish or nobody to publish it."""
    names = {s.name for s in dataplane.services(rt.config)}
    wanted: dict[str, SiteName] = {}
    for state in states:
        if state.service not in names:
            continue
        try:
            site = dataplane.committed_site(state, functools.partial(_dns_steps, rt, state))
        except ArbiterError as exc:
            logger.warning(
                "data plane: runbook progress unreadable", service=state.service, error=str(exc)
            )
            continue
        if site is None:
            logger.info("data plane: held until the runbook's DNS step", service=state.service)
            continue
        wanted[state.service] = site
    if not wanted:
        return None
    found = publisher(rt)
    if found is None:
        logger.error("data plane: no route53_failover provider to publish with")
        return None
    published = found.publish(wanted, now)
    emit({"DataPlaneRegionsPublished": len(published.ok)})
    if published.failed:
        log = logger.warning if published.enough else logger.error
        log(
            "data plane: not published everywhere",
            summary=dataplane.summary(published, found.regions),
            failed=published.failed,
        )
    return published


def _dns_steps(rt: Runtime, state: ServiceState) -> Mapping[str, StepResult]:
    """The results of the current transition's data-plane DNS steps."""
    assert state.transition is not None
    service = rt.config.service(state.service)
    names = set(dataplane.step_names(rt.config, service))
    steps = rt.store.load_steps(state.service, state.transition.id)
    return {name: result for name, result in steps.items() if name in names}
