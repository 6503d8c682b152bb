"""The override function's answers as a person reads them: ``arbiter status`` (one block
per service, the active site on its first line), ``arbiter history`` (one line per event)
and the answer to a change. Times are UTC; ages are counted from the function's own clock
(``checked_at``), not this machine's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def _when(iso: str | None) -> str:
    """``2026-01-01 09:04:00Z``"""
    if not iso:
        return "?"
    at = datetime.fromisoformat(iso).astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


def ago(seconds: float | None) -> str:
    """``12 s ago``, ``12 min ago``, ``3 h 5 min ago``, ``2 d ago``."""
    if seconds is None:
        return "never"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s} s ago"
    if s < 3600:
        return f"{s // 60} min ago"
    if s < 86400:
        minutes = s % 3600 // 60
        return f"{s // 3600} h" + (f" {minutes} min" if minutes else "") + " ago"
    return f"{s // 86400} d ago"


def _age(entry: dict[str, Any], iso: str | None) -> str:
    if not iso or not entry.get("checked_at"):
        return ""
    now = datetime.fromisoformat(entry["checked_at"])
    return ago((now - datetime.fromisoformat(iso)).total_seconds())


def _site(entry: dict[str, Any], site: str | None) -> str:
    if not site:
        return "?"
    label = (entry.get("site_labels") or {}).get(site)
    return f"{site} ({label})" if label and label != site else site


def _headline(entry: dict[str, Any]) -> str:
    """The block's first line: the service, the site it is ON, and what holds it."""
    name, active = entry.get("service", "?"), entry.get("active")
    if active is None:  # an older function's answer: the status names the site
        active = {"ACTIVE_PRIMARY": "primary", "ACTIVE_SECONDARY": "secondary"}.get(
            entry.get("status", "")
        )
    label = entry.get("active_label")
    on = f"{active} ({label})" if label and label != active else str(active or "?")
    flags = []
    if entry.get("failed"):
        flags.append(
            f"FAILED switch #{entry['failed']}: `arbiter ack {name} --reason ...` once fixed"
        )
    if entry.get("paused"):
        who = entry.get("paused_by")
        flags.append(
            "PAUSED"
            + (f" by {who}" if who else "")
            + f" {_age(entry, entry.get('paused_at'))}".rstrip()
        )
    if entry.get("pinned"):
        flags.append(
            f"PINNED by an operator {_age(entry, entry.get('pinned_at'))}".rstrip()
            + f": no automatic failback until `arbiter resume {name}`"
        )
    if entry.get("open_runbook"):
        flags.append(f"SWITCHING (#{entry['open_runbook']} being carried out)")
    if not flags:
        flags.append("automatic")
    return f"{name}  ON {on}  " + "  ".join(flags)


def render_entry(entry: dict[str, Any]) -> list[str]:
    """One service's status block."""
    lines = [_headline(entry)]
    since = entry.get("since")
    when = f" since {_when(since)}" + (
        f" ({_age(entry, since)})" if entry.get("checked_at") else ""
    )
    lines.append(f"  {entry.get('status', '?')}{when if since else ''}: {entry.get('reason', '')}")
    sites = entry.get("sites") or {}
    if sites:
        lines.append("  sites: " + ", ".join(f"{_site(entry, s)} {h}" for s, h in sites.items()))
    freshness = entry.get("freshness")
    if isinstance(freshness, list):
        width = max([len(f["region"]) for f in freshness] + [6])
        stale = entry.get("stale_after")
        for f in freshness:
            seen = "  ".join(f"{site} {health}" for site, health in f.get("sites", {}).items())
            if f.get("last_round_at") is None:
                age = "no round yet"
            else:
                age = "last round " + ago(f.get("age"))
            vote = (
                ""
                if f.get("fresh")
                else f"  STALE (older than {stale:g} s: no vote)"
                if stale
                else "  STALE"
            )
            failing = "; ".join(f"{s}: {why}" for s, why in (f.get("failing") or {}).items())
            tail = f"  [{failing}]" if failing else ""
            lines.append(f"    {f['region']:<{width}}  {age:<22} {seen}{vote}{tail}".rstrip())
    else:  # an older function's answer
        for region, view in (entry.get("regions") or {}).items():
            seen = ", ".join(f"{site} {health}" for site, health in view.items())
            lines.append(f"    {region}: {seen}")
    conditions = entry.get("open_conditions")
    if isinstance(conditions, list):
        for c in conditions:
            lines.append(f"  open: {c['headline']} [{c.get('severity', '?')}]")
    elif entry.get("conditions"):
        lines.append(f"  conditions: {', '.join(entry['conditions'])}")
    pending = entry.get("pending_alerts")
    if pending:
        oldest = (entry.get("outbox") or [{}])[0].get("subject")
        lines.append(
            f"  {pending} alert(s) waiting to be delivered"
            + (f" (oldest: {oldest})" if oldest else "")
        )
    return lines


def render_status(answer: dict[str, Any]) -> str:
    """``arbiter status``: one block per service, the active site on its first line; with
    one service named, its last events too."""
    entries = answer.get("services")
    if not isinstance(entries, list):
        entries = [answer["state"]] if isinstance(answer.get("state"), dict) else []
    blocks = ["\n".join(render_entry(entry)) for entry in entries]
    text = "\n\n".join(blocks) or "no services"
    events = answer.get("events")
    if events:
        shown = [event_line(e) for e in reversed(events)]
        text += "\n  last events, newest first:\n" + "\n".join("    " + line for line in shown)
    return text


def event_line(event: dict[str, Any]) -> str:
    """``2026-01-01 12:04:00Z  switch       by decider primary -> secondary: ...``"""
    text = event["message"]
    if event["kind"] == "switch":
        text = text.removeprefix("switch ")
    who = event.get("who") or "-"
    return f"{_when(event['at'])}  {event['kind']:<12} by {who:<8} {text}"


def render_history(answer: dict[str, Any], limit: int = 50) -> str:
    """``arbiter history``: one line per event, newest first, and how to get the next page."""
    lines = [event_line(e) for e in answer.get("events", [])]
    if not lines:
        lines.append(
            "no events" + ("" if answer.get("kinds") in (None, "all") else f" ({answer['kinds']})")
        )
    cursor = answer.get("next")
    if cursor:
        more = f"arbiter history {answer.get('service', '')}".rstrip()
        if answer.get("kinds") not in (None, "all"):
            more += f" --kinds {answer['kinds']}"
        if limit != 50:
            more += f" --limit {limit}"
        lines.append(f"--- more: {more} --before {cursor}")
    return "\n".join(lines)


def render_answer(answer: Any) -> str:
    """The override function's answer to a change (switch, pause, resume, ack), or a
    refusal, for a person."""
    if not isinstance(answer, dict):
        return json.dumps(answer)
    lines = []
    if not answer.get("ok"):
        lines.append(f"refused: {answer.get('error')}")
        lines += [f"  {problem}" for problem in answer.get("problems", [])]
    elif answer.get("changed"):
        started = f" (switch #{answer['transition']} started)" if answer.get("transition") else ""
        lines.append(f"done{started}")
    elif "changed" in answer:
        lines.append("no change")
    state = answer.get("state")
    if isinstance(state, dict):
        lines += render_entry(state)
    for event in answer.get("events", []):
        lines.append(f"  {_when(event['at'])}  {event['kind']}: {event['message']}")
    return "\n".join(lines)
