"""A local stand-in for PagerDuty's Events API v2 on 127.0.0.1, keeping incident state.

It answers as PagerDuty documents ("Send an Alert Event", "Send a Change Event", "Response
Codes & Retry Logic"):

- ``POST /v2/enqueue`` with ``routing_key``, ``event_action`` (``trigger``, ``acknowledge``,
  ``resolve``), ``dedup_key`` and, for a trigger, ``payload`` with ``summary`` (at most 1,024
  characters), ``source`` and ``severity`` (critical, error, warning, info) required;
- ``POST /v2/change/enqueue`` with ``routing_key`` and ``payload.summary``;
- 202 ``{"status": "success", "message": "Event processed", "dedup_key"}`` (a trigger without
  a ``dedup_key`` gets a new one); 400 ``{"status": "invalid event", "message": "Event object
  is invalid", "errors": [...]}``;
- incidents by ``dedup_key``: a trigger opens one (or adds to the open one), a resolve closes
  it; a trigger after the resolve opens a new one, and a resolve of a key with none open is
  dropped (accepted, nothing changes), as the docs say.

The stand-in's own choices, where the docs do not say: an unknown 32-character routing key is
400 ``Invalid routing key``; a 429's body is ``{"status": "throttle event", "message": ...}``.

Fault injection: ``throttle(n, retry_after)`` (429), ``fail(n, status)`` (an edge's HTML
page), ``fail_json(n, status)`` (a JSON 5xx), ``stall(n, seconds)``, ``redirect(n)``.

    with PagerDutyStandIn("R0123456789ABCDEF0123456789ABCDE") as pd:
        pd.url  # http://127.0.0.1:PORT
        pd.open_incidents()  # {dedup_key: incident}
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from arbiter.local.standins.http import Canned, HttpStandIn, Seen, as_json

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass
class Incident:
    dedup_key: str
    summary: str
    severity: str
    status: str = "triggered"
    """``triggered``, ``acknowledged`` or ``resolved``."""
    events: list[dict[str, Any]] = field(default_factory=list)


def invalid(*errors: str) -> Canned:
    return as_json(
        400,
        {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)},
    )


class PagerDutyStandIn(HttpStandIn):
    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.incidents: list[Incident] = []
        """Every incident ever opened, oldest first."""
        self.changes: list[dict[str, Any]] = []
        self._keys = itertools.count(1)

    # --- inspection -------------------------------------------------------------------------

    def open_incidents(self) -> dict[str, Incident]:
        with self._lock:
            return {i.dedup_key: copy.deepcopy(i) for i in self.incidents if i.status != "resolved"}

    def incidents_for(self, dedup_key: str) -> list[Incident]:
        with self._lock:
            return [copy.deepcopy(i) for i in self.incidents if i.dedup_key == dedup_key]

    # --- faults -----------------------------------------------------------------------------

    def throttle(self, n: int, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
        }
        self._set_faults([as_json(429, body, headers)] * n)

    def fail_json(self, n: int, status: int = 500) -> None:
        body = {"status": "unrecognized event", "message": "Internal Server Error"}
        self._set_faults([as_json(status, body)] * n)

    # --- the API ----------------------------------------------------------------------------

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        if seen.method != "POST" or seen.path not in ("/v2/enqueue", "/v2/change/enqueue"):
            return as_json(404, {"status": "not found", "message": "Not Found"})
        body = seen.json
        if seen.malformed or not isinstance(body, dict):
            return invalid("Event object is not valid JSON")
        key = body.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            return invalid("Length of 'routing_key' is incorrect (should be 32 characters)")
        if key != self.routing_key:
            return invalid("Invalid routing key")
        found = body.get("payload")
        payload: dict[str, Any] = found if isinstance(found, dict) else {}
        if seen.path == "/v2/change/enqueue":
            problems = _summary_problems(payload)
            if problems:
                return invalid(*problems)
            self.changes.append(body)
            return as_json(202, {"status": "success", "message": "Change event processed"})
        return self._event(body, payload)

    def _event(self, body: dict[str, Any], payload: dict[str, Any]) -> Canned:
        action = body.get("event_action")
        if action not in ACTIONS:
            return invalid(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        dedup = body.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            return invalid("'dedup_key' must be a string of at most 255 characters")
        if action != "trigger":
            if not dedup:
                return invalid("'dedup_key' is required for acknowledge and resolve events")
            for incident in self.incidents:
                if incident.dedup_key == dedup and incident.status != "resolved":
                    incident.status = "resolved" if action == "resolve" else "acknowledged"
                    incident.events.append(body)
            return _accepted(dedup)
        problems = _summary_problems(payload)
        if not payload.get("source"):
            problems.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            problems.append(
                "'payload.severity' is invalid (must be critical, error, warning or info)"
            )
        if problems:
            return invalid(*problems)
        dedup = dedup or f"standin-{next(self._keys):08d}"
        for incident in self.incidents:
            if incident.dedup_key == dedup and incident.status != "resolved":
                incident.events.append(body)
                return _accepted(dedup)
        self.incidents.append(
            Incident(dedup, str(payload["summary"]), str(payload["severity"]), events=[body])
        )
        return _accepted(dedup)


def _summary_problems(payload: dict[str, Any]) -> list[str]:
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return ["'payload.summary' is missing or blank"]
    if len(summary) > 1024:
        return ["'payload.summary' is longer than 1024 characters"]
    return []


def _accepted(dedup_key: str) -> Canned:
    return as_json(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})
