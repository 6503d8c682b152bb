"""Alerts as people read them: a subject that names the service, what happened and the site,
a body that ends with the command to run next. Pure: rendered once, stored in the outbox
with the change that caused them, and delivered as stored.

Each alert also carries what a pager needs: a severity, and the incident it opens or closes
(``<app>/<service>/<condition>``), so an incident opened when a condition starts is closed by
the alert that announces the condition cleared.
"""

from __future__ import annotations

from collections.abc import Mapping

from arbiter.core.config import Service, SiteName
from arbiter.core.model import Alert, Event, Severity

SUBJECT_LIMIT = 100
"""SNS refuses longer subjects."""
FAILED_SWITCH = "switch-failed"
"""The incident of a FAILED switch: opened by its report, closed by ``ack``."""

SEVERITY: Mapping[str, Severity] = {
    "both_down": "critical",
    "no_target": "critical",
    "flapping": "critical",
    "degraded": "error",
    "standby_down": "error",
    "tie": "warning",
    "impaired": "warning",
    "skew": "warning",
    "warning": "warning",
    "awaiting_operator": "warning",
    "awaiting_sync": "warning",
}
"""A condition's severity while it holds, by the part of its name before ``:``."""


def _site(service: Service, value: object) -> str | None:
    try:
        site = SiteName(str(value))
    except ValueError:
        return None
    label = service.site_label(site)
    return site.value if label == site.value else f"{site.value} ({label})"


def condition_headline(name: str, service: Service, detail: Mapping[str, object]) -> str:
    """A condition in a few words, naming the site or region it is about."""
    prefix, _, arg = name.partition(":")
    primary = _site(service, "primary")
    site = _site(service, detail.get("site", arg))
    if prefix == "degraded":
        return "monitor DEGRADED: too few regions report, no automatic action"
    if prefix == "skew":
        return f"clock of {arg} ahead: its rounds are ignored"
    if prefix == "impaired":
        return f"{arg} impaired: its votes are abstentions"
    if prefix == "tie":
        return f"vote split on {site}: no automatic action"
    if prefix == "warning":
        where, _, check = arg.partition(":")
        return f"warning on {_site(service, where)} check {check}"
    if prefix == "both_down":
        return "both sites DOWN: nothing to switch to"
    if prefix == "no_target":
        standby = _site(service, detail.get("standby")) or "the standby"
        return f"{site or 'the active site'} DOWN, {standby} not UP: no switch"
    if prefix == "standby_down":
        return f"standby {site} DOWN: no failover possible" if site else "standby DOWN"
    if prefix == "awaiting_operator":
        return f"{primary} UP again: switch back by hand"
    if prefix == "awaiting_sync":
        return f"{primary} UP again, waiting for data to sync back"
    if prefix == "flapping":
        return "flap damping: automatic switches stopped"
    return name.replace("_", " ")


def next_command(service: str, kind: str) -> str:
    """The exact command to run next, as the alert's last line."""
    if kind == "runbook_failed":
        return f'arbiter ack {service} --reason "..."   (once the sites, DNS and VoIP are fixed)'
    if kind == "awaiting_operator":
        return f'arbiter switch {service} primary --reason "..."'
    if kind == "flap_damped":
        return f"arbiter resume {service}"
    if kind == "paused":
        return f"arbiter resume {service}   (when the work is done)"
    return f"arbiter status {service}"


def _headline(event: Event, service: Service) -> str:
    condition = event.detail.get("condition")
    if isinstance(condition, str):
        headline = condition_headline(condition, service, event.detail)
        return f"cleared: {headline}" if event.kind.endswith(_CLEARED) else headline
    head, sep, _ = event.message.partition(":")
    if sep and len(head) <= 60:
        return head  # 'paused by alice', 'resumed by bob', 'failed switch #3 acknowledged by c'
    return event.kind.replace("_", " ")


_CLEARED = ("_cleared", "_recovered")


def body_text(lines: list[str], key: str, next_step: str) -> str:
    """Every body ends the same way: the alert's dedupe key (so a receiver can drop a repeat)
    and, last, the command to run next."""
    return "\n".join([*lines, f"Alert id: {key}", "", f"Next:     {next_step}"]) + "\n"


def render_alert(app: str, service: Service, event: Event, key: str) -> Alert:
    condition = event.detail.get("condition")
    site = _site(service, event.detail.get("site")) if "site" in event.detail else None
    lines = [
        event.message,
        "",
        f"Service:  {service.name}",
        f"Event:    {event.kind}",
        *([f"Site:     {site}"] if site else []),
        f"At:       {event.at.isoformat()}",
    ]
    incident = resolves = None
    severity: Severity = "info"
    if isinstance(condition, str):
        incident = f"{app}/{service.name}/{condition}"
        resolves = event.kind.endswith(_CLEARED)
        if not resolves:
            severity = SEVERITY.get(condition.partition(":")[0], "warning")
    elif event.kind == "acked":
        incident, resolves = f"{app}/{service.name}/{FAILED_SWITCH}", True
    elif event.kind == "paused":
        severity = "warning"
    return Alert(
        key=key,
        subject=subject(app, service.name, _headline(event, service)),
        body=body_text(lines, key, next_command(service.name, event.kind)),
        at=event.at,
        service=service.name,
        kind=event.kind,
        severity=severity,
        incident=incident,
        resolves=bool(resolves),
    )


def subject(app: str, service: str, headline: str) -> str:
    """``[app] service: headline``: one line, at most SUBJECT_LIMIT characters (SNS's rule)."""
    line = " ".join(f"[{app}] {service}: {headline}".split())
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3] + "..."


def state_alerts(app: str, service: Service, version: int, events: list[Event]) -> list[Alert]:
    """The alerts of one state change: keyed by the version that records them."""
    alerts = [e for e in events if e.alert]
    return [
        render_alert(app, service, event, f"{service.name}/v{version:08d}/{i:02d}")
        for i, event in enumerate(alerts)
    ]
