"""Notify function: subscribed to the alerts topic and to the operations topic.

- A message of the alerts topic (an alert Arbiter published, with its attributes) is
  delivered to every channel of ``notifications.channels`` (``services/notify.py``). When a
  channel failed, the function raises at the end so Lambda's asynchronous retry redelivers
  the message; channels that already had it are not sent it again.
- A message of the operations topic (a CloudWatch alarm's state change, a failed stream
  batch, a failed act invocation) is rendered as one readable alert (``core/ops.py``) and
  published to the alerts topic, which brings it to email and, through the first
  subscription, to every channel.
- ``{"notify_test": {"operator": "alice"}}`` (``arbiter notify-test --function``) sends one
  test alert through every channel and one test message to the alerts topic, and answers each
  result.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ConfigDict, Field, ValidationError

from arbiter import runtime
from arbiter.core.deferred import DeferredModel
from arbiter.core.errors import ArbiterError
from arbiter.core.ops import alert_from_sns, is_arbiter_alert, render_ops, trial_alerts
from arbiter.handlers.events import refused
from arbiter.observability import MetricUnit, lambda_context, logger, metrics
from arbiter.services.notify import deliver, test_channels

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import SnsModel, SnsRecordModel


class NotifyTestRequest(DeferredModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    operator: str = Field(default="unknown", min_length=1, max_length=64)


class NotifyTestEvent(DeferredModel):
    """``{"notify_test": {"operator": "alice"}}``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    notify_test: NotifyTestRequest


def notify_event() -> type[SnsModel]:
    """What SNS sends the function, one record per message: Powertools' SnsModel, imported
    with the first event (its parser package costs a cold import a fifth of boto3's)."""
    from aws_lambda_powertools.utilities.parser.models import SnsModel

    return SnsModel


def __getattr__(name: str) -> Any:
    if name == "NotifyEvent":
        return notify_event()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ChannelsFailed(Exception):
    """Raised (not an ArbiterError: nothing above may catch it) so that Lambda retries."""


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "notify_test" in event:
        return _notify_test(event)
    try:
        records = notify_event().model_validate(event).Records
    except ValidationError as exc:
        return refused("notify", exc)
    rt = runtime.current()
    until = rt.clock() + timedelta(milliseconds=context.get_remaining_time_in_millis())
    alerts_topic = os.environ.get("ARBITER_TOPIC_ARN", "")
    answers, failed = [], []
    for record in records:
        attributes = {k: v.Value for k, v in (record.Sns.MessageAttributes or {}).items()}
        if record.Sns.TopicArn == alerts_topic or is_arbiter_alert(attributes):
            answer = _deliver(rt, record, attributes, until)
            failed += [r["channel"] for r in answer["channels"] if not r["ok"]]
        else:
            answer = _ops(rt, record)
            if not answer["ok"]:
                failed.append("alerts topic")
        answers.append(answer)
    if failed:
        raise ChannelsFailed(f"not delivered to: {', '.join(sorted(set(failed)))}")
    return {"ok": True, "messages": answers}


def _deliver(
    rt: runtime.Runtime, record: SnsRecordModel, attributes: dict[str, str], until: datetime
) -> dict[str, Any]:
    sns = record.Sns
    alert = alert_from_sns(sns.Subject, str(sns.Message), attributes, sns.MessageId, sns.Timestamp)
    results = deliver(rt.config, rt.alert_channels(), rt.store, alert, rt.clock(), until)
    return {"key": alert.key, "channels": [r.as_dict() for r in results]}


def _ops(rt: runtime.Runtime, record: SnsRecordModel) -> dict[str, Any]:
    """One readable alert for one machine message, published to the alerts topic."""
    alert = render_ops(rt.config.app, str(record.Sns.Message), record.Sns.MessageId, rt.clock())
    metrics.add_metric(name="OpsAlerts", unit=MetricUnit.Count, value=1)
    try:
        rt.notifier.publish(alert.subject, alert.body, alert.key, alert.attributes())
    except ArbiterError as exc:
        logger.error("ops alert not published", key=alert.key, error=str(exc))
        return {"ok": False, "key": alert.key, "subject": alert.subject, "error": str(exc)}
    logger.info("ops alert", key=alert.key, subject=alert.subject, kind=alert.kind)
    return {"ok": True, "key": alert.key, "subject": alert.subject}


def _notify_test(event: dict[str, Any]) -> dict[str, Any]:
    try:
        request = NotifyTestEvent.model_validate(event).notify_test
    except ValidationError as exc:
        return refused("notify-test", exc)
    rt = runtime.current()
    now = rt.clock()
    results = [
        r.as_dict() for r in test_channels(rt.config, rt.alert_channels(), request.operator, now)
    ]
    (alert,) = trial_alerts(rt.config.app, request.operator, now, incident=False)
    try:
        message_id = rt.notifier.publish(alert.subject, alert.body, alert.key, {})
        email = {"ok": True, "detail": f"published {message_id} to the alerts topic"}
    except ArbiterError as exc:
        email = {"ok": False, "detail": str(exc)}
    logger.info("notify-test", operator=request.operator, channels=results, email=email)
    return {
        "ok": email["ok"] and all(r["ok"] for r in results),
        "channels": results,
        "email": email,
    }
