"""The core's data: what a probe observed, what the decider remembers, what it decided.

These are the core's own models; the DynamoDB item shapes live in the store adapter and the
notification text in the runbook, each mapped explicitly at its boundary.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from arbiter.core.config import SiteName
from arbiter.core.deferred import DeferredModel

Severity = Literal["critical", "error", "warning", "info"]
"""PagerDuty's four severities; every channel shows them."""


class _Model(DeferredModel):
    """Built on first validation (``core/deferred.py``): the probe uses three of these models,
    the others the decider, the act and the override functions."""

    model_config = ConfigDict(extra="forbid")


class Health(StrEnum):
    UP = "UP"
    DOWN = "DOWN"
    UNKNOWN = "UNKNOWN"


class Status(StrEnum):
    ACTIVE_PRIMARY = "ACTIVE_PRIMARY"
    ACTIVE_SECONDARY = "ACTIVE_SECONDARY"
    PAUSED = "PAUSED"
    FAILED = "FAILED"


class CheckResult(_Model):
    name: str
    kind: str
    ok: bool
    latency_ms: float
    reason: str
    """Short and human: ``ok``, ``status 503``, ``body lacks "OK"``, ``timeout after 2.0 s``."""
    required: bool = True
    cert_expires_at: datetime | None = None
    """For https checks: the server certificate's notAfter."""
    warning: str | None = None
    """Something to look at that does not fail the check (a certificate about to expire)."""


class SiteResult(_Model):
    ok: bool
    """True when every required check passed."""
    checks: list[CheckResult]

    @classmethod
    def of(cls, checks: list[CheckResult]) -> SiteResult:
        return cls(ok=all(c.ok for c in checks if c.required), checks=checks)

    def failing(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]


def _round_id() -> str:
    return uuid.uuid4().hex[:16]


class Observation(_Model):
    """One probe round of one service in one region."""

    service: str
    region: str
    round_at: datetime
    id: str = Field(default_factory=_round_id, max_length=64)
    """Set once by the probe: tells a round apart from another stamped at the same instant
    (a region whose clock was ahead sends rounds whose stamps its later ones reuse)."""
    sites: dict[SiteName, SiteResult]


class SiteTrack(_Model):
    """One region's fall/rise view of one site."""

    health: Health = Health.UNKNOWN
    ok_streak: int = 0
    fail_streak: int = 0
    last_reason: str = ""


class RegionTrack(_Model):
    last_round_at: datetime | None = None
    sites: dict[SiteName, SiteTrack] = Field(
        default_factory=lambda: {site: SiteTrack() for site in SiteName}
    )


class SiteVerdict(_Model):
    """The quorum's view of one site, and since when it has held."""

    health: Health = Health.UNKNOWN
    since: datetime | None = None


class Transition(_Model):
    """A switch that was decided; the act function carries it out."""

    id: int
    """The state version that recorded it: unique per service."""
    from_site: SiteName
    to_site: SiteName
    reason: str
    decided_at: datetime
    by: str
    """``decider`` or ``operator``."""
    votes: dict[str, dict[SiteName, Health]] = Field(default_factory=dict)
    """region -> site -> health, as the vote saw it."""
    failing: dict[str, dict[SiteName, str]] = Field(default_factory=dict)
    """region -> site -> the failing checks of its latest round (``health: status 503``)."""
    forced: bool = False


def failing_checks(regions: dict[str, RegionTrack]) -> dict[str, dict[SiteName, str]]:
    """What each region's latest round saw failing, site by site (for the report)."""
    failing = {
        region: {
            s: t.last_reason for s, t in track.sites.items() if t.last_reason not in ("", "ok")
        }
        for region, track in regions.items()
    }
    return {region: sites for region, sites in failing.items() if sites}


class ServiceState(_Model):
    """The decider's memory of one service: one versioned item, written conditionally."""

    service: str
    version: int = 0
    active: SiteName = SiteName.PRIMARY
    paused: bool = False
    since: datetime | None = None
    reason: str = "initial state"
    regions: dict[str, RegionTrack] = Field(default_factory=dict)
    verdicts: dict[SiteName, SiteVerdict] = Field(
        default_factory=lambda: {site: SiteVerdict() for site in SiteName}
    )
    transition: Transition | None = None
    runbook_done: int | None = None
    """The id of the latest transition whose runbook finished (set by the act function)."""
    runbook_started_at: datetime | None = None
    """When the current transition's runbook was last started (decided, or restarted)."""
    failed: int | None = None
    """The transition whose runbook failed (set by the act function): no automatic action
    until an operator sends ``ack``."""
    settled: int | None = None
    """A failed transition an operator acknowledged: closed as the operator left it, never
    run again (no late report); the next switch is a fresh decision."""
    pinned: SiteName | None = None
    """Set by an operator's ``switch``: no automatic failback until ``resume``. A pinned site
    that goes DOWN by quorum after the pin is still failed away from (and the pin ends)."""
    pinned_at: datetime | None = None
    refused_rounds: dict[str, dict[str, datetime]] = Field(default_factory=dict)
    """Rounds a region sent stamped ahead of the skew allowance, per region (round id ->
    stamp): never applied, not even once the clock reaches them (they hold data from the
    time they were made). Forgotten once older than the decider's look-back."""
    abstaining_since: dict[str, datetime] = Field(default_factory=dict)
    """Regions abstaining as impaired vantage points, and since when: reported only once the
    abstention outlasts the time the other regions need to cross ``fall`` on the same fault."""
    conditions: list[str] = Field(default_factory=list)
    """Alerting conditions in force (``degraded``, ``both_down``, ...): each is announced
    once when it starts and once when it clears, not every round."""
    first_seen: datetime | None = None
    """The first decide pass: until a quorum has reported once, or ``stale_after`` has
    passed since then, a lack of fresh regions is warm-up, not degradation."""
    quorate_once: bool = False
    switches: list[datetime] = Field(default_factory=list)
    """When recent automatic switches happened, for flap damping."""

    @property
    def open_runbook(self) -> int | None:
        """The transition whose runbook may still run: decided, and neither finished, failed
        nor settled by an operator."""
        t = self.transition
        if t is None or t.id in (self.runbook_done, self.failed, self.settled):
            return None
        return t.id

    @property
    def status(self) -> Status:
        if self.failed is not None:
            return Status.FAILED
        if self.paused:
            return Status.PAUSED
        return Status.ACTIVE_PRIMARY if self.active is SiteName.PRIMARY else Status.ACTIVE_SECONDARY


class Event(_Model):
    """One line of the service's event log (decisions, overrides, runbook steps, alerts)."""

    at: datetime
    kind: str
    message: str
    alert: bool = False
    """True when the event is also sent to the notification topic."""
    detail: dict[str, object] = Field(default_factory=dict)


class Alert(_Model):
    """One notification waiting in the outbox: written in the same transaction as the change
    that caused it, delivered until sent. ``key`` is its dedupe key, unique per service."""

    key: str
    subject: str
    body: str
    at: datetime
    service: str = ""
    kind: str = ""
    """The event kind that raised it (``monitor_degraded``, ``switched``, ``paused`` ...)."""
    severity: Severity = "info"
    incident: str | None = None
    """The dedup key of the incident this alert opens or closes (``<app>/<service>/<condition>``):
    a pager opens an incident under it, and closes it when an alert with ``resolves`` arrives."""
    resolves: bool = False

    @property
    def action(self) -> str:
        """``trigger`` (opens ``incident``), ``resolve`` (closes it) or ``notify`` (neither)."""
        if self.incident is None:
            return "notify"
        return "resolve" if self.resolves else "trigger"

    def attributes(self) -> dict[str, str]:
        """What a channel needs besides the text: SNS message attributes (strings only)."""
        found = {
            "arbiter_service": self.service,
            "arbiter_kind": self.kind,
            "arbiter_severity": self.severity,
            "arbiter_action": self.action,
            "arbiter_incident": self.incident or "",
        }
        return {k: v for k, v in found.items() if v}
