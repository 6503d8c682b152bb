"""The runbook of a switch as data: which steps, in which order, and the report it ends with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from arbiter.core.alerts import next_command, with_key
from arbiter.core.config import DnsRecord, Service, SiteName
from arbiter.core.model import Alert, Health, Transition


class StepStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    """Unique within the runbook; the key of its stored progress (``dns:Z123``)."""
    kind: str
    """Which executor runs it (``dns``)."""
    zone_id: str | None = None
    records: list[DnsRecord] = Field(default_factory=list)


class StepResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: StepStatus
    started_at: datetime
    duration_ms: float | None = None
    detail: str = ""
    attempts: int = 1


def plan(service: Service, transition: Transition) -> list[Step]:
    """One DNS step per zone (one change batch each). The report is not a step: it goes to
    the outbox in the same write that closes the runbook, so it can never fail a switch."""
    zones: dict[str, list[DnsRecord]] = {}
    for record in service.dns.records:
        zones.setdefault(record.zone_id, []).append(record)
    return [
        Step(name=f"dns:{zone}", kind="dns", zone_id=zone, records=records)
        for zone, records in zones.items()
    ]


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def vote_matrix(votes: dict[str, dict[SiteName, Health]]) -> list[str]:
    """A small fixed-width table: region x site."""
    if not votes:
        return ["(no rounds recorded yet)"]
    width = max(len("region"), *(len(r) for r in votes))
    lines = [f"{'region':<{width}}  {'primary':<8} secondary"]
    for region in sorted(votes):
        row = votes[region]
        primary = row.get(SiteName.PRIMARY, Health.UNKNOWN).value
        secondary = row.get(SiteName.SECONDARY, Health.UNKNOWN).value
        lines.append(f"{region:<{width}}  {primary:<8} {secondary}")
    return lines


def _failing_lines(transition: Transition) -> list[str]:
    lines = []
    for region in sorted(transition.failing):
        for site, reason in sorted(transition.failing[region].items()):
            lines.append(f"  {region} {site.value}: {reason}")
    return ["", "Failing checks (latest round per region):", *lines] if lines else []


def render_report(
    app: str,
    service: Service,
    transition: Transition,
    steps: Sequence[tuple[Step, StepResult | None]],
) -> tuple[str, str]:
    """The one notification of a switch: subject and plain-text body. Holds no secrets."""
    to_label = service.site_label(transition.to_site)
    from_label = service.site_label(transition.from_site)
    failed = any(r is not None and r.status is StepStatus.FAILED for _, r in steps)
    verb = "FAILED switching" if failed else "switched"
    subject = f"[{app}] {service.name}: {verb} to {transition.to_site.value} ({to_label})"
    lines = [
        f"Service {service.name} {verb} from {from_label} to {to_label}.",
        "",
        f"Reason:   {transition.reason}",
        f"Decided:  {transition.decided_at.isoformat()} by {transition.by}"
        + (" (forced past the health gate)" if transition.forced else ""),
        f"Switch:   #{transition.id}",
        "",
        "Vote (region x site):",
        *(f"  {line}" for line in vote_matrix(transition.votes)),
        *_failing_lines(transition),
        "",
        "Steps:",
    ]
    for step, result in steps:
        if result is None:
            lines.append(f"  {step.name:<28} not run")
            continue
        detail = f"  {result.detail}" if result.detail else ""
        lines.append(
            f"  {step.name:<28} {result.status.value:<7} {_fmt_ms(result.duration_ms):>8}{detail}"
        )
    for record in service.dns.records:
        values = ", ".join(record.values[transition.to_site])
        lines.append(
            f"  DNS {record.name.rstrip('.')} {record.type.value} -> {values} (TTL {record.ttl})"
        )
    if failed:
        lines += ["", f"Next:     {next_command(service.name, 'runbook_failed')}"]
    return subject[:100], "\n".join(lines) + "\n"


def report_alert(
    app: str,
    service: Service,
    transition: Transition,
    steps: Sequence[tuple[Step, StepResult | None]],
    at: datetime,
) -> Alert:
    """The report as an outbox entry: one per transition and outcome."""
    failed = any(r is not None and r.status is StepStatus.FAILED for _, r in steps)
    subject, body = render_report(app, service, transition, steps)
    key = f"{service.name}/run{transition.id:08d}/{'failed' if failed else 'done'}"
    return Alert(key=key, subject=subject, body=with_key(body, key), at=at)
