"""Machine messages made readable, and what the notify function needs to route alerts. Pure.

The operations topic receives what AWS sends when Arbiter's own machinery fails: CloudWatch
alarm state changes, Lambda's on-failure records of the decide function's stream batches, and
Lambda's on-failure records of the act function's asynchronous invocations. Each becomes ONE
alert with a subject a person reads on a phone and a body that ends, like every alert, with
the command to run next; the notify function publishes it to the alerts topic, so email and
every channel get it. A payload it does not recognize still becomes an alert (its first
characters), never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from arbiter.core.alerts import FAILED_SWITCH, body_text, subject
from arbiter.core.config import SEVERITY_RANK
from arbiter.core.model import Alert, Severity

MONITOR = "monitor"
"""The name alerts about Arbiter itself carry where a service's name would be."""
UNKNOWN_LIMIT = 500
"""Characters of an unrecognized message quoted in its alert."""
ERROR_LIMIT = 300
"""Characters of a function's error message quoted in an alert."""
SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning", "info")


# -- the alerts topic: an alert rebuilt from its SNS message -------------------------------


def alert_from_sns(
    subject_line: str | None,
    message: str,
    attributes: Mapping[str, str],
    message_id: str,
    at: datetime,
) -> Alert:
    """The alert as published (``SnsNotifier``): text, and what ``Alert.attributes()`` put in
    the message attributes. A message without them (published by hand) is an ``info`` notice
    keyed by its SNS message id."""
    severity = attributes.get("arbiter_severity", "info")
    action = attributes.get("arbiter_action", "notify")
    incident = attributes.get("arbiter_incident") or None
    first = next((line for line in message.splitlines() if line.strip()), "(no text)")
    return Alert(
        key=attributes.get("arbiter_dedupe_key") or message_id,
        subject=subject_line or first[:100],
        body=message,
        at=at,
        service=attributes.get("arbiter_service", ""),
        kind=attributes.get("arbiter_kind", ""),
        severity=cast(Severity, severity) if severity in SEVERITIES else "info",
        incident=incident if action in ("trigger", "resolve") else None,
        resolves=action == "resolve" and incident is not None,
    )


def is_arbiter_alert(attributes: Mapping[str, str]) -> bool:
    """Published by Arbiter to the alerts topic (never to be rendered as an ops message)."""
    return any(name.startswith("arbiter_") for name in attributes)


def wants(min_severity: str, alert: Alert) -> bool:
    """Whether a channel with this ``min_severity`` gets the alert. A resolve always goes: it
    closes what a trigger opened, whatever severity the trigger had."""
    return alert.resolves or SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[min_severity]


def trial_alerts(app: str, operator: str, now: datetime, incident: bool) -> list[Alert]:
    """What ``arbiter notify-test`` sends one channel: one clearly marked info alert, or (for a
    pager, ``incident``) a trigger and the resolve that closes it at once."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    key = f"notify-test/{stamp}"
    lines = [
        f"This is a test sent by `arbiter notify-test` (operator: {operator}). Nothing happened "
        "to any service; no action is needed.",
        "",
        f"At:       {now.isoformat()}",
    ]
    base = Alert(
        key=key,
        subject=subject(app, MONITOR, f"TEST notification from {operator}, no action needed"),
        body=body_text(lines, key, "nothing: this was a test"),
        at=now,
        service=MONITOR,
        kind="notify_test",
        severity="info",
    )
    if not incident:
        return [base]
    dedup = f"{app}/{MONITOR}/notify-test/{stamp}"
    closed = base.model_copy(
        update={
            "key": f"{key}/resolve",
            "subject": subject(app, MONITOR, f"TEST notification from {operator}: closed"),
            "incident": dedup,
            "resolves": True,
        }
    )
    return [base.model_copy(update={"incident": dedup}), closed]


# -- the operations topic: machine payloads as one readable alert ---------------------------


def render_ops(app: str, message: str, message_id: str, now: datetime) -> Alert:
    """One alert for one message of the operations topic; never raises."""
    try:
        payload = json.loads(message)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        if "AlarmName" in payload and "NewStateValue" in payload:
            return alarm_alert(app, payload, now)
        if isinstance(payload.get("DDBStreamBatchInfo"), dict):
            return stream_failure_alert(app, payload, now)
        if isinstance(payload.get("requestContext"), dict) and "requestPayload" in payload:
            return invoke_failure_alert(app, payload, now)
    return unknown_alert(app, message, message_id, now)


def alarm_alert(app: str, alarm: Mapping[str, Any], now: datetime) -> Alert:
    """A CloudWatch alarm's state change: ALARM opens the alarm's incident (``FIRING``), OK
    closes it (``recovered``); INSUFFICIENT_DATA is a notice."""
    name = _text(alarm.get("AlarmName")) or "(unnamed alarm)"
    new, old = _text(alarm.get("NewStateValue")), _text(alarm.get("OldStateValue"))
    at = _when(alarm.get("StateChangeTime"), now)
    service = _dimension(alarm, "service")
    headline = {
        "ALARM": f"alarm {name} FIRING",
        "OK": f"alarm {name} recovered",
    }.get(new, f"alarm {name} has no data")
    meaning = {
        "ALARM": f"The CloudWatch alarm {name} is firing (it was {old or 'unknown'}).",
        "OK": f"The CloudWatch alarm {name} is back to OK (it was {old or 'unknown'}).",
    }.get(new, f"The CloudWatch alarm {name} has too little data to decide ({new}).")
    lines = [meaning]
    description = _text(alarm.get("AlarmDescription"))
    if description:
        lines.append(description)
    lines += [
        "",
        f"Alarm:    {name}",
        *([f"Service:  {service}"] if service else []),
        f"State:    {old or '?'} -> {new or '?'}",
        f"Reason:   {_text(alarm.get('NewStateReason'))[:ERROR_LIMIT]}",
        f"Region:   {_text(alarm.get('Region'))}",
        f"At:       {at.isoformat()}",
    ]
    key = f"ops/alarm/{name}/{at.strftime('%Y%m%dT%H%M%S.%fZ')}"
    status = f"arbiter status {service}" if service else "arbiter status"
    history = f'aws cloudwatch describe-alarm-history --alarm-name "{name}" --max-items 5'
    incident = f"{app}/{MONITOR}/alarm/{name}" if new in ("ALARM", "OK") else None
    return Alert(
        key=key,
        subject=subject(app, service or MONITOR, headline),
        body=body_text(lines, key, f"{status}   (then: {history})"),
        at=at,
        service=service or MONITOR,
        kind=f"alarm_{new.lower() or 'unknown'}",
        severity="info" if new == "OK" else "error" if new == "ALARM" else "warning",
        incident=incident,
        resolves=new == "OK",
    )


def stream_failure_alert(app: str, record: Mapping[str, Any], now: datetime) -> Alert:
    """Lambda gave up on a batch of the table's stream: those rounds never reached the vote.
    The decider's schedule reads the latest rounds again, so the vote catches up unless the
    failure lasts (the DecideStale alarm then fires)."""
    info = _dict(record.get("DDBStreamBatchInfo"))
    context = _dict(record.get("requestContext"))
    size = _int(info.get("batchSize"))
    tries = _int(context.get("approximateInvokeCount"))
    condition = _text(context.get("condition"))
    function, region = _function(context)
    why = _gave_up(condition, tries, "stream batch")
    count = f"{size} observation{'' if size == 1 else 's'}" if size else "observations"
    at = _when(record.get("timestamp"), now)
    error = _text(_dict(record.get("responseContext")).get("functionError")) or "none given"
    first = _text(info.get("approximateArrivalOfFirstRecord"))
    lines = [
        f"The decide function could not process a batch of {count} from the table's stream, "
        f"and Lambda gave up on it ({condition or 'no condition given'}). Those probe rounds "
        "were not applied to the vote. The decider's schedule reads the latest rounds again, "
        "so the vote catches up unless the failure lasts: read the function's log.",
        "",
        f"Function: {function or '?'}",
        f"Error:    {error}",
        f"Batch:    {size or '?'} records, first at {first or '?'}",
        f"Shard:    {_text(info.get('shardId')) or '?'}",
        f"At:       {at.isoformat()}",
    ]
    key = f"ops/stream/{_text(info.get('shardId'))}/{_text(info.get('startSequenceNumber'))}"
    return Alert(
        key=key,
        subject=subject(app, MONITOR, f"{count} not decided ({why})"),
        body=body_text(lines, key, _logs_command(function, region)),
        at=at,
        service=MONITOR,
        kind="stream_batch_failed",
        severity="error",
    )


def invoke_failure_alert(app: str, record: Mapping[str, Any], now: datetime) -> Alert:
    """Lambda gave up on an asynchronous invocation (the act function's): a switch whose
    runbook may have stopped half-way. It opens the service's failed-switch incident, the one
    ``arbiter ack`` closes."""
    context = _dict(record.get("requestContext"))
    request = _dict(record.get("requestPayload"))
    answer = _dict(record.get("responsePayload"))
    function, region = _function(context)
    condition = _text(context.get("condition"))
    tries = _int(context.get("approximateInvokeCount"))
    error = " ".join(_text(answer.get("errorMessage")).split())[:ERROR_LIMIT]
    error = error or _text(_dict(record.get("responseContext")).get("functionError"))
    error = error or ("event too old, never run" if condition == "EventAgeExceeded" else "")
    drill = _dict(request.get("drill"))
    service = _text(request.get("service")) or _text(drill.get("service"))
    transition = request.get("transition")
    name = function.rpartition(":")[2] if function else "act"
    what = (
        f"switch #{transition}" if isinstance(transition, int) else "drill" if drill else "a call"
    )
    at = _when(record.get("timestamp"), now)
    gave_up = _gave_up(condition, tries, "invocation")
    lines = [
        f"The function {name} failed on {what}"
        + (f" of {service}" if service else "")
        + f" and Lambda gave up ({gave_up}): {error or 'no error message'}.",
        *(
            [
                "The switch's runbook may have stopped half-way: DNS, VoIP and hooks may be "
                "partly changed. Check the status, then fix what is left or switch by hand."
            ]
            if isinstance(transition, int)
            else []
        ),
        "",
        *([f"Service:  {service}"] if service else []),
        f"Function: {function or '?'}",
        f"Request:  {json.dumps(request, sort_keys=True)[:200]}",
        f"At:       {at.isoformat()}",
    ]
    key = f"ops/invoke/{_text(context.get('requestId')) or at.isoformat()}"
    step = f"arbiter status {service}" if service else "arbiter status"
    critical = isinstance(transition, int) and bool(service)
    return Alert(
        key=key,
        subject=subject(
            app, service or MONITOR, f"act function failed on {what} ({error or condition})"
        ),
        body=body_text(lines, key, f"{step}   (then: {_logs_command(function, region)})"),
        at=at,
        service=service or MONITOR,
        kind="act_failed",
        severity="critical" if critical else "error",
        incident=f"{app}/{service}/{FAILED_SWITCH}" if critical else None,
    )


def unknown_alert(app: str, message: str, message_id: str, now: datetime) -> Alert:
    shown = message[:UNKNOWN_LIMIT] + ("..." if len(message) > UNKNOWN_LIMIT else "")
    key = f"ops/unknown/{message_id}"
    lines = [
        "A message arrived on the operations topic that Arbiter does not recognize. Its first "
        f"{UNKNOWN_LIMIT} characters:",
        "",
        shown,
        "",
        f"At:       {now.isoformat()}",
    ]
    return Alert(
        key=key,
        subject=subject(app, MONITOR, "unrecognized ops message"),
        body=body_text(lines, key, "arbiter status"),
        at=now,
        service=MONITOR,
        kind="ops_unknown",
        severity="warning",
    )


# -- the pieces -----------------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _when(value: object, default: datetime) -> datetime:
    """An AWS stamp (``2024-05-01T03:14:07.123+0000`` or ``...Z``) as UTC; else ``default``."""
    try:
        parsed = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
    except ValueError:
        return default
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _dimension(alarm: Mapping[str, Any], name: str) -> str:
    """The value of one of the alarm metric's dimensions (``service`` for per-service alarms)."""
    for dimension in _dict(alarm.get("Trigger")).get("Dimensions") or []:
        if isinstance(dimension, dict) and dimension.get("name") == name:
            return _text(dimension.get("value"))
    return ""


def _function(context: Mapping[str, Any]) -> tuple[str, str]:
    """The function's name (with its qualifier, if not $LATEST) and region, from its ARN."""
    parts = _text(context.get("functionArn")).split(":")
    if len(parts) < 7 or parts[2] != "lambda":
        return "", ""
    name = parts[6] + (f":{parts[7]}" if len(parts) > 7 and parts[7] != "$LATEST" else "")
    return name, parts[3]


def _gave_up(condition: str, tries: int, what: str) -> str:
    if condition in ("RetryAttemptsExhausted", "RetriesExhausted") and tries:
        return f"{what} failed {tries} time{'' if tries == 1 else 's'}"
    if condition in ("RecordAgeExceeded", "EventAgeExceeded"):
        return f"{what} too old to retry"
    return f"{what} failed" + (f": {condition}" if condition else "")


def _logs_command(function: str, region: str) -> str:
    if not function:
        return "arbiter status"
    where = f" --region {region}" if region else ""
    return f"aws logs tail /aws/lambda/{function.partition(':')[0]} --since 1h{where}"
