"""``arbiter drill``: rehearse a service's switch, both ways, without making it.

A drill reaches everything a switch would touch and changes nothing:

- each DNS record is read from its provider with the runbook's credentials and must serve
  the active site's values;
- each VoIP route is read from its provider and every number (or origination URL) must
  have the active site's fields;
- every fence and hook of both sites gets a dry-run call (``ActionCall.dry_run``), in the
  order of a switch away from the active site, then of the switch back;
- the failback gate, if any, must answer (that it says "not synced" is fine).

The result is a checklist in runbook order, each item timed. It is pure of the store and the
notifier: the act function (``run_drills``) and the local CLI wrap it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, computed_field

from arbiter.adapters.actions import ActionCall, ActionRefused, ActionRunner, ActionTimedOut
from arbiter.adapters.dns import DnsProvider
from arbiter.adapters.hooks import WebhookClient
from arbiter.adapters.voip import VoipProvider
from arbiter.core.config import Action, Config, DnsRecord, Service, SiteName
from arbiter.core.deferred import DeferredModel
from arbiter.core.errors import ArbiterError
from arbiter.core.model import Event, Transition
from arbiter.core.records import RecordSet, same
from arbiter.core.runbook import AnyStep, FenceStep, HookStep, VoipStep, plan
from arbiter.runtime import Runtime

ACTION_SECONDS = 15.0
"""A dry-run call waits at most this long (or the action's own ``timeout``, if shorter): a
receiver that answers a dry run needs no time to stop anything."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REASON = "drill: a rehearsal of a switch; nothing changes"


class DrillStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    """Passed, with something to look at (a number the provider does not report)."""
    FAIL = "fail"


class DrillItem(DeferredModel):
    """One line of the checklist."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The runbook step it rehearses (``fence:primary``, ``voip:tw:+4930...``), or for a DNS
    record ``dns:<provider>:<zone>:<name> <type>``, or ``gate:failback``."""
    status: DrillStatus
    seconds: float
    detail: str
    lines: list[str] = Field(default_factory=list)
    """Per number of a VoIP route: what was found."""


class DrillReport(DeferredModel):
    """A service's checklist: what the override function and the act function answer."""

    model_config = ConfigDict(frozen=True)

    service: str
    active: SiteName
    items: list[DrillItem]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return self.failures == 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failures(self) -> int:
        return sum(item.status is DrillStatus.FAIL for item in self.items)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> int:
        return sum(item.status is DrillStatus.WARN for item in self.items)


@dataclass
class DrillTools:
    """What a drill reaches: the runtime's providers, or the CLI's, built with local
    credentials."""

    dns: Mapping[str, DnsProvider]
    voip: Mapping[str, VoipProvider]
    actions: Callable[[], ActionRunner]
    """Raises (``FatalError``) when no runner is configured: each action item then fails."""
    hooks: WebhookClient

    @classmethod
    def of(cls, rt: Runtime) -> DrillTools:
        """From a ``Runtime``."""
        return cls(dns=rt.dns, voip=rt.voip, actions=rt.action_runner, hooks=rt.hooks)


@dataclass(frozen=True)
class _Outcome:
    status: DrillStatus
    detail: str
    lines: list[str] | None = None


_Check = Callable[[], _Outcome]


def drill(
    config: Config, service: Service, active: SiteName, tools: DrillTools, deadline: float
) -> DrillReport:
    """Run every item, in order, each at most until ``deadline`` (``time.monotonic``); an
    item not started by then fails as not run. Never raises for what it finds."""
    items = []
    for name, check in _checks(config, service, active, tools, deadline):
        started = time.perf_counter()
        if time.monotonic() >= deadline:
            outcome = _Outcome(DrillStatus.FAIL, "not run: the drill ran out of time")
        else:
            try:
                outcome = check()
            except ArbiterError as exc:
                outcome = _Outcome(DrillStatus.FAIL, str(exc))
        items.append(
            DrillItem(
                name=name,
                status=outcome.status,
                seconds=round(time.perf_counter() - started, 3),
                detail=outcome.detail,
                lines=outcome.lines or [],
            )
        )
    return DrillReport(service=service.name, active=active, items=items)


def _transition(to: SiteName) -> Transition:
    return Transition(
        id=0, from_site=to.other, to_site=to, reason=_REASON, decided_at=_EPOCH, by="drill"
    )


def _checks(
    config: Config, service: Service, active: SiteName, tools: DrillTools, deadline: float
) -> list[tuple[str, _Check]]:
    """In runbook order: the switch away from the active site (its DNS and VoIP steps checked
    against the active site's values, which is what they serve now), then the fences and
    hooks of the switch back, then the failback gate."""
    away = plan(config, service, _transition(active.other)).steps
    back = plan(config, service, _transition(active)).steps
    serving = {step.name: step for step in back if step.kind in ("dns", "voip")}
    checks: list[tuple[str, _Check]] = []
    for step in away:
        if step.kind == "dns":
            zone_records = [
                r for r in service.dns.records if (r.provider, r.zone) == (step.provider, step.zone)
            ]
            checks += [_record_check(r, active, tools) for r in zone_records]
        elif step.kind == "voip":
            checks.append(_voip_check(serving[step.name], active, tools))
        else:
            checks += _action_check(service, step, active.other, tools, deadline)
    for step in back:
        checks += _action_check(service, step, active, tools, deadline)
    gate = service.failback.gate
    if gate is not None:
        checks.append(("gate:failback", lambda: _gate(service, tools)))
    return checks


# -- DNS -------------------------------------------------------------------------------


def _record_check(record: DnsRecord, active: SiteName, tools: DrillTools) -> tuple[str, _Check]:
    name = f"dns:{record.provider}:{record.zone}:{record.name.rstrip('.')} {record.type.value}"
    return name, lambda: _record(record, active, tools)


def _unreadable(label: str, exc: ArbiterError) -> str:
    """Why a provider could not be read, naming it once (adapters' messages often do)."""
    message = str(exc)
    return f"cannot read: {message}" if label in message else f"cannot read from {label}: {message}"


def _values(found: RecordSet) -> str:
    return f"{', '.join(found.values)} (TTL {found.ttl})"


def _record(record: DnsRecord, active: SiteName, tools: DrillTools) -> _Outcome:
    try:
        provider = tools.dns[record.provider]
    except KeyError:
        return _Outcome(DrillStatus.FAIL, f"DNS provider {record.provider!r} is not configured")
    want, other = record.record_set(active), record.record_set(active.other)
    try:
        found = provider.read(record.zone, record.name, record.type.value)
    except ArbiterError as exc:
        return _Outcome(DrillStatus.FAIL, _unreadable(provider.label, exc))
    if found is None:
        return _Outcome(
            DrillStatus.FAIL,
            f"{provider.label} has no such record set in zone {record.zone}: a switch would "
            "create it, so the record is not what the config expects",
        )
    if want.same_as(found):
        return _Outcome(
            DrillStatus.OK, f"serves {_values(found)}, the {active.value} site's values"
        )
    if same(record.type, want.values, found.values):
        return _Outcome(
            DrillStatus.WARN,
            f"serves the {active.value} site's values with TTL {found.ttl}, not {want.ttl} as "
            "configured (a switch sets the configured TTL)",
        )
    if same(record.type, other.values, found.values):
        return _Outcome(
            DrillStatus.FAIL,
            f"serves {_values(found)}, the {active.other.value} site's values, but the "
            f"{active.value} site is active",
        )
    return _Outcome(
        DrillStatus.FAIL,
        f"serves {_values(found)}: neither site's values ({active.value}: "
        f"{', '.join(want.values)}; {active.other.value}: {', '.join(other.values)})",
    )


# -- VoIP -----------------------------------------------------------------------------


def _voip_check(step: AnyStep, active: SiteName, tools: DrillTools) -> tuple[str, _Check]:
    assert isinstance(step, VoipStep)
    return step.name, lambda: _voip(step, active, tools)


def _voip(step: VoipStep, active: SiteName, tools: DrillTools) -> _Outcome:
    """Every item must have the active site's fields; one the provider leaves out of its
    answer (the generic webhook, when its endpoint does not say) cannot be checked."""
    try:
        provider = tools.voip[step.provider]
    except KeyError:
        return _Outcome(DrillStatus.FAIL, f"VoIP provider {step.provider!r} is not configured")
    try:
        found = provider.read(step)
    except ArbiterError as exc:
        return _Outcome(DrillStatus.FAIL, _unreadable(provider.label, exc))
    old = {item.item: item for item in step.old}
    wrong, unchecked, lines = [], [], []
    for item in step.items:
        have = found.get(item.item)
        if have is None:
            unchecked.append(item.item)
            lines.append(f"unchecked {item.item}: {provider.label} does not report it")
        elif item.served_by(have):
            lines.append(f"ok        {item.shown()}")
        else:
            wrong.append(item.item)
            where = (
                f"routed to the {active.other.value} site"
                if item.item in old and old[item.item].served_by(have)
                else "routed elsewhere"
            )
            lines.append(
                f"WRONG     {item.item}: {where}: has {item.seen_in(have)}; "
                f"the {active.value} site needs {item.text()}"
            )
    total = len(step.items)
    if wrong:
        status, summary = (
            DrillStatus.FAIL,
            (
                f"{len(wrong)} of {total} not routed to the {active.value} site: "
                + ", ".join(wrong[:5])
                + (", ..." if len(wrong) > 5 else "")
            ),
        )
    elif unchecked:
        status, summary = (
            DrillStatus.WARN,
            (
                f"{total - len(unchecked)} of {total} routed to the {active.value} site; "
                f"{len(unchecked)} cannot be checked (the provider does not report them)"
            ),
        )
    else:
        status, summary = DrillStatus.OK, f"all {total} routed to the {active.value} site"
    return _Outcome(status, f"{provider.label}: {summary}", lines)


# -- fences and hooks --------------------------------------------------------------------


def _action_check(
    service: Service, step: AnyStep, to: SiteName, tools: DrillTools, deadline: float
) -> list[tuple[str, _Check]]:
    phase: str
    action: Action
    if isinstance(step, HookStep):
        phase, action, timeout = step.phase, step.hook, step.hook.timeout
    elif isinstance(step, FenceStep):
        phase, action, timeout = "fence", step.fence, step.fence.timeout
    else:
        return []
    call = ActionCall(
        phase=phase,
        service=service.name,
        transition=None,
        from_site=to.other,
        to_site=to,
        site=step.site,
        step=step.name,
        dry_run=True,
        reason=_REASON,
    )

    def check() -> _Outcome:
        wait = min(timeout, ACTION_SECONDS, max(0.0, deadline - time.monotonic()))
        try:
            done = tools.actions().run(action, call, wait, deadline)
        except ActionRefused as exc:
            return _Outcome(DrillStatus.FAIL, f"{action.type}: refused the dry run: {exc}")
        except ActionTimedOut as exc:
            return _Outcome(DrillStatus.FAIL, f"{action.type}: no answer within {wait:g} s: {exc}")
        except ArbiterError as exc:
            return _Outcome(DrillStatus.FAIL, f"{action.type}: {exc}")
        return _Outcome(
            DrillStatus.OK, f"{action.type}: dry run answered: {done.detail}", done.lines
        )

    return [(step.name, check)]


# -- the failback gate ------------------------------------------------------------------


def _gate(service: Service, tools: DrillTools) -> _Outcome:
    """As the decider asks it (``hooks.ask_gate``), marked as a dry run: any answer passes,
    "not synced" too; no answer (unreachable, an error status, not a JSON object) fails,
    since the decider would read it as "not synced" for ever and never fail back."""
    gate = service.failback.gate
    assert gate is not None
    payload = {"event": "failback_gate", "service": service.name, "to": "primary"}
    try:
        answer = tools.hooks.call(gate, {**payload, "dry_run": True})
    except ArbiterError as exc:
        return _Outcome(
            DrillStatus.FAIL, f"no answer: {exc}; an automatic failback would never happen"
        )
    if answer.get("synced") is True:
        return _Outcome(DrillStatus.OK, "answered: synced")
    why = str(answer.get("reason") or "not synced")[:200]
    return _Outcome(DrillStatus.OK, f"answered: not synced ({why}); the gate works")


# -- reports ------------------------------------------------------------------------------

_SHOWN = {DrillStatus.OK: "ok", DrillStatus.WARN: "warn", DrillStatus.FAIL: "FAIL"}


def render(report: DrillReport, service: Service | None = None) -> str:
    """The checklist as text, for a terminal and for the notification. Holds no secrets:
    providers' messages never carry one."""
    label = f" ({service.site_label(report.active)})" if service is not None else ""
    lines = [f"Drill of {report.service}: {report.active.value}{label} is active", ""]
    width = max([len(item.name) for item in report.items] + [28])
    for item in report.items:
        lines.append(
            f"  {item.name:<{width}} {_SHOWN[item.status]:<4} {item.seconds:6.2f} s  {item.detail}"
        )
        lines += [f"      {line}" for line in item.lines]
    if not report.items:
        lines.append("  (nothing to rehearse: no DNS records, VoIP routes, fences, hooks or gate)")
    lines += ["", summary(report)]
    return "\n".join(lines) + "\n"


def summary(report: DrillReport) -> str:
    verdict = "PASSED" if report.ok else "FAILED"
    return (
        f"{verdict}: {len(report.items)} items, {report.failures} failed, "
        f"{report.warnings} with warnings; nothing was changed"
    )


# -- the act function's drill -----------------------------------------------------------

Notify = Literal["always", "failures", "never"]
MARGIN = 10.0
"""Seconds of the act function's time kept for the answer and the notification."""


@dataclass
class DrillRun:
    report: DrillReport
    notified: bool | None
    """True: a notification was sent; False: one was due and could not be; None: none due."""


def run_drills(
    rt: Runtime,
    names: Sequence[str],
    notify: Notify,
    deadline: float,
    now: datetime,
) -> list[DrillRun]:
    """Each named service's drill from its active site (the stored state's), one event in
    its log each, and the notifications ``notify`` asks for. Writes no state."""
    tools = DrillTools.of(rt)
    runs = []
    for name in names:
        service = rt.config.service(name)
        active = rt.store.load_state(name).active
        report = drill(rt.config, service, active, tools, deadline - MARGIN)
        rt.store.append_events(name, [_event(report, now)])
        notified = None
        if notify == "always" or (notify == "failures" and not report.ok):
            notified = _notify(rt, service, report, now)
        runs.append(DrillRun(report, notified))
    return runs


def _event(report: DrillReport, at: datetime) -> Event:
    failed = [item.name for item in report.items if item.status is DrillStatus.FAIL]
    message = f"drill from {report.active.value}: " + (
        f"{len(failed)} of {len(report.items)} items failed: {', '.join(failed[:5])}"
        if failed
        else f"all {len(report.items)} items passed"
    )
    return Event(
        at=at,
        kind="drill",
        message=message,
        detail={"failures": report.failures, "items": len(report.items)},
    )


def _notify(rt: Runtime, service: Service, report: DrillReport, now: datetime) -> bool:
    """A notification failure never fails the drill: it is reported in the answer."""
    app = rt.config.app
    if report.ok:
        subject = f"[{app}] {service.name}: drill passed ({len(report.items)} items)"
    else:
        subject = (
            f"[{app}] {service.name}: drill FAILED: {report.failures} of {len(report.items)} items"
        )
    key = f"{service.name}/drill/{now.strftime('%Y%m%dT%H%M%S')}"
    try:
        rt.notifier.publish(subject[:100], render(report, service), key)
    except ArbiterError:
        return False
    return True
