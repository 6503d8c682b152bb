"""PagerDuty Events API v2: an alert that opens an incident triggers it, the alert that says
its condition cleared resolves it, both under the same ``dedup_key`` (the alert's incident,
``<app>/<service>/<condition>``), so the PagerDuty incident closes when the condition clears.

- trigger: ``POST {base_url}/v2/enqueue`` with ``routing_key``, ``event_action: trigger``,
  ``dedup_key`` and ``payload`` {``summary`` (the subject, at most 1,024 characters),
  ``source`` (``<app>/<service>``), ``severity``, ``timestamp``, ``component`` (the service),
  ``group`` (the app), ``custom_details`` {``text``, ``kind``, ``key``}};
- resolve: the same endpoint with ``event_action: resolve`` and the ``dedup_key``;
- an alert that opens no incident (a switch made, a pause) goes to
  ``POST {base_url}/v2/change/enqueue`` as a change event when ``changes`` is true, else it is
  skipped.

PagerDuty answers 202 ``{"status": "success", "message": "Event processed", "dedup_key"}``;
400 ``{"status": "invalid event", "message", "errors": [...]}`` is a refusal (shown with its
errors); 429 and 5xx are retried while ``call_timeout`` allows (PagerDuty: "retry after some
time"). The routing key travels in the body: it is masked out of every message.
"""

from __future__ import annotations

import hashlib
from typing import Any

from arbiter.adapters.channels import ChannelDeps, Sent
from arbiter.adapters.http import Answer, HttpApi
from arbiter.core.config import PagerDutyChannel
from arbiter.core.errors import ProviderRejected
from arbiter.core.model import Alert

SUMMARY_LIMIT = 1024
DEDUP_LIMIT = 255


def dedup_key(incident: str) -> str:
    """PagerDuty keeps at most 255 characters: a longer key keeps its start and a digest."""
    if len(incident) <= DEDUP_LIMIT:
        return incident
    digest = hashlib.sha256(incident.encode()).hexdigest()[:16]
    return f"{incident[: DEDUP_LIMIT - 17]}#{digest}"


def _summary(alert: Alert) -> str:
    text = alert.subject
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 3] + "..."


def event(app: str, routing_key: str, alert: Alert) -> tuple[str, dict[str, Any]]:
    """The path and the body of the event for this alert (``/v2/change/enqueue`` for one that
    opens no incident)."""
    source = f"{app}/{alert.service}" if alert.service else app
    if alert.incident is None:
        return "/v2/change/enqueue", {
            "routing_key": routing_key,
            "payload": {
                "summary": _summary(alert),
                "source": source,
                "timestamp": alert.at.isoformat(),
                "custom_details": {"text": alert.body, "kind": alert.kind, "key": alert.key},
            },
        }
    if alert.resolves:
        return "/v2/enqueue", {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key(alert.incident),
        }
    return "/v2/enqueue", {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert.incident),
        "payload": {
            "summary": _summary(alert),
            "source": source,
            "severity": alert.severity,
            "timestamp": alert.at.isoformat(),
            "component": alert.service or app,
            "group": app,
            "custom_details": {"text": alert.body, "kind": alert.kind, "key": alert.key},
        },
    }


def describe(answer: Answer) -> str:
    """PagerDuty's ``message`` and ``errors`` (``invalid event: Event object is invalid
    (routing_key: ...)``)."""
    body = answer.body
    if isinstance(body, dict):
        head = ": ".join(str(body[k]) for k in ("status", "message") if body.get(k))
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            head += " (" + "; ".join(" ".join(str(e).split())[:200] for e in errors[:5]) + ")"
        return head
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""


class PagerDutyChannelSender:
    def __init__(self, settings: PagerDutyChannel, deps: ChannelDeps) -> None:
        self.name = settings.name
        self.label = f"{settings.name} (pagerduty)"
        self.settings = settings
        self._deps = deps
        self._key: str | None = None
        self.api = HttpApi(
            self.label,
            settings.base_url,
            dict,
            settings.call_timeout,
            describe=describe,
            sleep=deps.sleep,
            clock=deps.clock,
        )

    def send(self, alert: Alert) -> Sent:
        if alert.incident is None and not self.settings.changes:
            return Sent("no incident, and change events are off", skipped=True)
        if self._key is None:
            self._key = self._deps.secret(self.settings.routing_key_secret).strip()
        path, body = event(self._deps.app, self._key, alert)
        op = "change event" if alert.incident is None else str(body["event_action"])
        answer = self.api.call("POST", self.api.base_url + path, op=op, body=body,
                               secrets=[self._key])  # fmt: skip
        said = answer.body if isinstance(answer.body, dict) else {}
        if said.get("status") not in (None, "success"):
            raise ProviderRejected(f"{self.label} {op}: HTTP {answer.status}: {describe(answer)}")
        if alert.incident is None:
            return Sent(f"HTTP {answer.status}, change event")
        return Sent(
            f"HTTP {answer.status}, {op} dedup_key {said.get('dedup_key') or body['dedup_key']}"
        )
