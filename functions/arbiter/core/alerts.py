"""Alerts as people read them: a subject that names the service and what happened, a body
that ends with the command to run next. Pure: rendered once, stored in the outbox with the
change that caused them, and delivered as stored."""

from __future__ import annotations

from arbiter.core.model import Alert, Event

SUBJECT_LIMIT = 100
"""SNS refuses longer subjects."""


def _headline(event: Event) -> str:
    """The start of the message, up to its first colon: 'monitor degraded', 'paused by alice'."""
    head, sep, _ = event.message.partition(":")
    if sep and len(head) <= 60:
        return head
    return event.kind.replace("_", " ")


def next_command(service: str, kind: str) -> str:
    if kind == "runbook_failed":
        return (
            f'arbiter ack --service {service} --reason "..."   '
            "(once the sites, DNS and VoIP are checked by hand)"
        )
    if kind in ("awaiting_operator", "flap_damped"):
        what = "switch primary" if kind == "awaiting_operator" else "resume"
        return f'arbiter {what} --service {service} --reason "..."'
    return f"arbiter status --service {service}"


def render_alert(app: str, service: str, event: Event, key: str) -> Alert:
    subject = f"[{app}] {service}: {_headline(event)}"
    body = (
        f"{event.message}\n\n"
        f"Service: {service}\n"
        f"Event:   {event.kind}\n"
        f"At:      {event.at.isoformat()}\n\n"
        f"Next:    {next_command(service, event.kind)}\n"
    )
    return Alert(key=key, subject=_subject(subject), body=with_key(body, key), at=event.at)


def with_key(body: str, key: str) -> str:
    """Every message carries its dedupe key, so a receiver can drop a repeat."""
    return f"{body}\nAlert id: {key}\n"


def _subject(text: str) -> str:
    """One line, at most SUBJECT_LIMIT characters (SNS's rule for subjects)."""
    line = " ".join(text.split())
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3] + "..."


def state_alerts(app: str, service: str, version: int, events: list[Event]) -> list[Alert]:
    """The alerts of one state change: keyed by the version that records them."""
    alerts = [e for e in events if e.alert]
    return [
        render_alert(app, service, event, f"{service}/v{version:08d}/{i:02d}")
        for i, event in enumerate(alerts)
    ]
