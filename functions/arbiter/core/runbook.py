"""The runbook of a switch as data: which steps, in which order, and the report it ends with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from arbiter.core.alerts import FAILED_SWITCH, body_text, next_command
from arbiter.core.config import (
    Config,
    DnsRecord,
    Fence,
    Hook,
    Phase,
    Service,
    SiteName,
    VoipRoute,
)
from arbiter.core.deferred import DeferredModel
from arbiter.core.model import Alert, Health, Transition
from arbiter.core.records import RecordSet


class StepStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    WARNED = "warned"
    """Done, with something the operator should look at (a lagging name server, under the
    ``warn`` verify policy)."""
    FAILED = "failed"


OnFailure = Literal["stop", "continue"]


class _Step(DeferredModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Unique within the runbook, stable across invocations: the key of its stored progress
    (``dns:route53:Z123``)."""
    on_failure: OnFailure = "stop"
    """``stop``: a failure ends the runbook FAILED (no automatic action until ``ack``);
    ``continue``: the failure is reported and the runbook goes on."""

    def describe(self) -> list[str]:
        return []


class DnsStep(_Step):
    """Make one provider's zone serve the target site's record sets (one change there)."""

    kind: Literal["dns"] = "dns"
    provider: str
    zone: str
    records: list[RecordSet]

    def describe(self) -> list[str]:
        return [f"set {r.shown()}" for r in self.records]


class VerifyStep(_Step):
    """Ask every authoritative server of the zone until all serve the new values."""

    kind: Literal["verify"] = "verify"
    provider: str
    zone: str
    servers: list[str] | None
    """As configured (``nameservers``); None: found from the zone's NS records."""
    records: list[RecordSet]
    old: list[RecordSet]
    """The record sets as they were before the switch, to tell a lagging server."""

    def describe(self) -> list[str]:
        where = ", ".join(self.servers) if self.servers else "the zone's NS records"
        return [f"ask {where} for {len(self.records)} record set(s)"]


class HookStep(_Step):
    """One of the operator's hooks: a signed webhook or an SSM command on one site."""

    kind: Literal["hook"] = "hook"
    phase: Phase
    site: SiteName
    """The site it runs on: the old one for ``*_release``, the new one for ``*_acquire``."""
    hook: Hook

    def describe(self) -> list[str]:
        return [f"{self.hook.type} on the {self.site.value} site, up to {self.hook.timeout:g} s"]


class FenceStep(_Step):
    """Tell the old site to stop serving and wait for its confirmation."""

    kind: Literal["fence"] = "fence"
    site: SiteName
    fence: Fence
    policy: Literal["required", "best_effort"]

    def describe(self) -> list[str]:
        return [
            f"tell the {self.site.value} site to stop ({self.fence.type}); wait up to "
            f"{self.fence.timeout:g} s for its confirmation ({self.policy})"
        ]


class VoipItem(DeferredModel):
    """A number (or a trunk's origination URL) and the fields it must have."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    fields: dict[str, str | bool | int]

    def served_by(self, have: Mapping[str, Any] | None) -> bool:
        """Whether ``have`` (the item's fields as a provider reports them) already holds
        these."""
        return have is not None and all(have.get(k) == v for k, v in self.fields.items())

    def text(self) -> str:
        """``connection_id=2222, ...``"""
        return ", ".join(f"{k}={v}" for k, v in self.fields.items())

    def seen_in(self, have: Mapping[str, Any]) -> str:
        """The same fields as ``have`` holds them."""
        return ", ".join(f"{k}={have.get(k)}" for k in self.fields)

    def shown(self) -> str:
        return f"{self.item} {self.text()}"


class VoipStep(_Step):
    """Route one provider's numbers (or one trunk) to the new site, changing only what
    differs."""

    kind: Literal["voip"] = "voip"
    provider: str
    route: str
    """The route's type (``twilio_number``, ``twilio_trunk``, ``telnyx_number``,
    ``voipms_did``, ``webhook``)."""
    trunk: str | None = None
    items: list[VoipItem]
    old: list[VoipItem]
    """The fields when the old site was active (for the drill and the report)."""

    def describe(self) -> list[str]:
        return [f"set {item.shown()}" for item in self.items]


Step = Annotated[
    DnsStep | VerifyStep | HookStep | FenceStep | VoipStep, Field(discriminator="kind")
]
AnyStep = DnsStep | VerifyStep | HookStep | FenceStep | VoipStep


class Plan(DeferredModel):
    """The steps of one transition, computed once and stored with its runbook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: list[Step]


class StepResult(DeferredModel):
    model_config = ConfigDict(extra="forbid")

    status: StepStatus
    started_at: datetime
    duration_ms: float | None = None
    detail: str = ""
    """One line: what it did, or why it failed."""
    lines: list[str] = Field(default_factory=list)
    """Its report lines (per record, per server)."""
    attempts: int = 1
    change: str | None = None
    """A provider's change made by an earlier attempt and not yet confirmed live (Route 53's
    change id): a retry waits on it instead of taking "already right" for "live"."""


def _zone_key(record: DnsRecord) -> tuple[str, str]:
    return record.provider, record.zone


PHASE_ORDER = (
    "pre_release",
    "fence",
    "pre_acquire",
    "dns",
    "verify",
    "voip",
    "post_acquire",
    "post_release",
)
"""The order of a switch's steps, fixed: the old site's ``pre_release`` hooks, its fence, the
new site's ``pre_acquire`` hooks, DNS (one step per provider and zone), verify, VoIP (one
step per route), the new site's ``post_acquire`` hooks, the old site's ``post_release``
hooks. The report (notify) follows, from the outbox."""


def plan(config: Config, service: Service, transition: Transition) -> Plan:
    """Every step of the switch, in PHASE_ORDER. The report is not a step: it goes to the
    outbox in the same write that closes the runbook, so it can never fail a switch."""
    to, was = transition.to_site, transition.to_site.other
    by_phase: dict[str, list[AnyStep]] = {
        "pre_release": _hooks(service, "pre_release", was),
        "fence": _fence(service, was),
        "pre_acquire": _hooks(service, "pre_acquire", to),
        **_dns_steps(config, service, to),
        "voip": [_voip_step(route, to) for route in service.voip],
        "post_acquire": _hooks(service, "post_acquire", to),
        "post_release": _hooks(service, "post_release", was),
    }
    return Plan(steps=[step for phase in PHASE_ORDER for step in by_phase[phase]])


def _hooks(service: Service, phase: Phase, site: SiteName) -> list[AnyStep]:
    return [
        HookStep(
            name=f"{phase}:{site.value}:{hook.name}",
            on_failure="stop" if hook.on_failure == "abort" else "continue",
            phase=phase,
            site=site,
            hook=hook,
        )
        for hook in service.site(site).hooks.of(phase)
    ]


def _fence(service: Service, site: SiteName) -> list[AnyStep]:
    fence = service.site(site).fence
    if fence is None:
        return []
    policy = service.fence_policy
    return [
        FenceStep(
            name=f"fence:{site.value}",
            on_failure="stop" if policy == "required" else "continue",
            site=site,
            fence=fence,
            policy=policy,
        )
    ]


def _voip_step(route: VoipRoute, to: SiteName) -> AnyStep:
    def items(site: SiteName) -> list[VoipItem]:
        return [VoipItem(item=i, fields=f) for i, f in route.wanted(site)]

    return VoipStep(
        name=f"voip:{route.provider}:{route.subject()}",
        on_failure="stop" if route.on_failure == "abort" else "continue",
        provider=route.provider,
        route=route.type,
        trunk=getattr(route, "trunk", None) if route.type == "twilio_trunk" else None,
        items=items(to),
        old=items(to.other),
    )


def _dns_steps(config: Config, service: Service, to: SiteName) -> dict[str, list[AnyStep]]:
    """One DNS step per provider and zone (one change there), so a provider that fails is
    retried and reported without redoing the others; then, where verification is on, one
    verify step per zone."""
    zones: dict[tuple[str, str], list[DnsRecord]] = {}
    for record in service.dns.records:
        zones.setdefault(_zone_key(record), []).append(record)
    was = to.other
    steps: list[AnyStep] = [
        DnsStep(
            name=f"dns:{provider}:{zone}",
            provider=provider,
            zone=zone,
            records=[r.record_set(to) for r in records],
        )
        for (provider, zone), records in zones.items()
    ]
    verify = service.dns.verify
    checks: list[AnyStep] = []
    if verify.enabled:
        for (provider, zone), records in zones.items():
            settings = config.dns_provider(provider)
            if not settings.verify:
                continue
            checks.append(
                VerifyStep(
                    name=f"verify:{provider}:{zone}",
                    on_failure="stop" if verify.policy == "fail" else "continue",
                    provider=provider,
                    zone=zone,
                    servers=settings.nameservers,
                    records=[r.record_set(to) for r in records],
                    old=[r.record_set(was) for r in records],
                )
            )
    return {"dns": steps, "verify": checks}


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


def outcome(steps: Sequence[tuple[Step, StepResult | None]]) -> str:
    """``failed`` (a ``stop`` step failed), ``warned`` (something to look at) or ``done``."""
    results = [(step, r) for step, r in steps if r is not None]
    if any(r.status is StepStatus.FAILED and s.on_failure == "stop" for s, r in results):
        return "failed"
    if any(r.status in (StepStatus.FAILED, StepStatus.WARNED) for _, r in results):
        return "warned"
    return "done"


def render_report(
    app: str,
    service: Service,
    transition: Transition,
    steps: Sequence[tuple[Step, StepResult | None]],
) -> tuple[str, str]:
    """The one notification of a switch: subject and plain-text body. Holds no secrets."""
    to_label = service.site_label(transition.to_site)
    from_label = service.site_label(transition.from_site)
    result = outcome(steps)
    verb = "FAILED switching" if result == "failed" else "switched"
    warned = " (with warnings)" if result == "warned" else ""
    subject = f"[{app}] {service.name}: {verb} to {transition.to_site.value} ({to_label}){warned}"
    lines = [
        f"Service {service.name} {verb} from {from_label} to {to_label}{warned}.",
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
    stopped = next(
        (
            s.name
            for s, r in steps
            if r is not None and r.status is StepStatus.FAILED and s.on_failure == "stop"
        ),
        None,
    )
    width = max([28, *(len(step.name) for step, _ in steps)])
    for step, result_ in steps:
        if result_ is None:
            why = f"skipped: the switch stopped at {stopped}" if stopped else "not run"
            lines.append(f"  {step.name:<{width}} {why}")
            lines += [f"      {line}" for line in step.describe()]
            continue
        detail = f"  {result_.detail}" if result_.detail else ""
        lines.append(
            f"  {step.name:<{width}} {result_.status.value:<7} "
            f"{_fmt_ms(result_.duration_ms):>8}{detail}"
        )
        lines += [f"      {line}" for line in result_.lines]
    return subject[:100], "\n".join(lines) + "\n"


def report_alert(
    app: str,
    service: Service,
    transition: Transition,
    steps: Sequence[tuple[Step, StepResult | None]],
    at: datetime,
) -> Alert:
    """The report as an outbox entry: one per transition and outcome."""
    result = outcome(steps)
    failed = result == "failed"
    subject, text = render_report(app, service, transition, steps)
    key = f"{service.name}/run{transition.id:08d}/{'failed' if failed else 'done'}"
    kind = "runbook_failed" if failed else "switched"
    return Alert(
        key=key,
        subject=subject,
        body=body_text([text], key, next_command(service.name, kind)),
        at=at,
        service=service.name,
        kind=kind,
        severity="critical" if failed else "warning" if result == "warned" else "info",
        incident=f"{app}/{service.name}/{FAILED_SWITCH}" if failed else None,
    )
