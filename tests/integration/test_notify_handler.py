"""The notify handler on SNS events, with moto (table, topics) and the Slack and PagerDuty
stand-ins: alerts reach every channel once, a degraded condition opens a PagerDuty incident
that its clearing closes, a failing channel holds back neither the others nor its own retry,
and machine messages of the operations topic become one readable alert each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from arbiter import runtime
from arbiter.adapters.channels import ChannelDeps
from arbiter.adapters.channels.memory import MemoryChannel
from arbiter.adapters.channels.pagerduty import PagerDutyChannelSender
from arbiter.adapters.channels.slack import SlackChannelSender
from arbiter.adapters.notify import SnsNotifier
from arbiter.adapters.store import DynamoStore
from arbiter.core.config import parse_config
from arbiter.handlers import notify
from arbiter.local import aws as local_aws
from arbiter.local.context import LocalContext
from arbiter.local.standins.pagerduty import PagerDutyStandIn
from arbiter.local.standins.slack import SlackStandIn
from tests.contract.channel_helpers import cleared, degraded
from tests.contract.injected import Pauses
from tests.factories import T0, config_dict
from tests.unit.test_ops_alerts import ACT_FAILURE, ALARM, STREAM_FAILURE

pytestmark = pytest.mark.integration
HOME = "eu-west-1"
PD_KEY = "R0123456789ABCDEF0123456789ABCDE"


@dataclass
class Rig:
    alerts_topic: str
    ops_topic: str
    inbox: str
    slack: SlackStandIn
    pd: PagerDutyStandIn
    hook: MemoryChannel

    def inbox_messages(self) -> list[dict[str, Any]]:
        """What the alerts topic delivered, as SNS notifications (Lambda's ``Sns`` shape)."""
        sqs = boto3.client("sqs", region_name=HOME)
        found: list[dict[str, Any]] = []
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                break
            for m in messages:
                found.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=m["ReceiptHandle"])
        return found


def sns_event(notification: dict[str, Any]) -> dict[str, Any]:
    """A Lambda SNS event for one notification (as SQS received it, or made by hand)."""
    sns = {
        "Type": "Notification",
        "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        "Timestamp": "2025-06-05T18:30:00.000Z",
        "MessageAttributes": {},
        "Subject": None,
        **{k: v for k, v in notification.items() if k not in ("UnsubscribeURL", "SigningCertURL")},
    }
    record = {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": sns}
    return {"Records": [{**record, "EventSubscriptionArn": f"{sns['TopicArn']}:sub"}]}


def published(topic: str, alert: Any) -> dict[str, Any]:
    """The notification SNS makes of an alert Arbiter published (``SnsNotifier``)."""
    attributes = {**alert.attributes(), "arbiter_dedupe_key": alert.key}
    return {
        "TopicArn": topic,
        "MessageId": f"m-{alert.key}",
        "Subject": alert.subject,
        "Message": alert.body,
        "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items()},
    }


def ops_message(topic: str, payload: object, message_id: str = "ops-1") -> dict[str, Any]:
    return {"TopicArn": topic, "MessageId": message_id, "Message": json.dumps(payload)}


@pytest.fixture
def rig(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    sns, sqs = boto3.client("sns", region_name=HOME), boto3.client("sqs", region_name=HOME)
    alerts_topic, inbox = local_aws.create_topic_with_inbox(sns, sqs, "arbiter-alerts")
    ops_topic = sns.create_topic(Name="arbiter-ops")["TopicArn"]
    local_aws.create_table(boto3.client("dynamodb", region_name=HOME), "arbiter-table")
    monkeypatch.setenv("ARBITER_TOPIC_ARN", alerts_topic)
    data = config_dict()
    data["notifications"]["channels"] = [
        {"type": "slack", "name": "chat", "webhook_url_secret": "arbiter/slack"},
        {"type": "pagerduty", "name": "pager", "routing_key_secret": "arbiter/pd",
         "base_url": "http://127.0.0.1:1"},
        {"type": "webhook", "name": "hook", "url": "https://hooks.example.com/a",
         "secret": "arbiter/hook"},
    ]  # fmt: skip
    config = parse_config(data)
    with SlackStandIn() as slack, PagerDutyStandIn(PD_KEY) as pd:
        settings = {c.name: c for c in config.notifications.channels}
        deps = ChannelDeps(
            secret=lambda name: {"arbiter/slack": slack.webhook_url, "arbiter/pd": PD_KEY}[name],
            sleep=Pauses(),
        )
        pd_settings = settings["pager"].model_copy(update={"base_url": pd.url})
        hook = MemoryChannel("hook", "webhook")
        runtime.install(
            runtime.Runtime(
                config=config,
                store=DynamoStore(
                    "arbiter-table", lambda: boto3.client("dynamodb", region_name=HOME)
                ),
                notifier=SnsNotifier(alerts_topic, lambda: boto3.client("sns", region_name=HOME)),
                invoker=None,  # type: ignore[arg-type]
                dns={},
                region=HOME,
                channels={
                    "chat": SlackChannelSender(settings["chat"], deps),  # type: ignore[arg-type]
                    "pager": PagerDutyChannelSender(pd_settings, deps),  # type: ignore[arg-type]
                    "hook": hook,
                },
                clock=lambda: T0,
            )
        )
        yield Rig(alerts_topic, ops_topic, inbox, slack, pd, hook)


def run(event: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = notify.handler(event, LocalContext())
    return answer


def test_a_degraded_alert_opens_a_pagerduty_incident_and_its_clearing_closes_it(rig: Rig) -> None:
    answer = run(sns_event(published(rig.alerts_topic, degraded())))
    assert answer["ok"] is True
    outcomes = {r["channel"]: r["outcome"] for r in answer["messages"][0]["channels"]}
    assert outcomes == {"chat": "sent", "pager": "sent", "hook": "sent"}
    assert list(rig.pd.open_incidents()) == ["arbiter/web/degraded"]
    assert rig.slack.posts[0]["text"] == degraded().subject

    run(sns_event(published(rig.alerts_topic, cleared())))
    assert rig.pd.open_incidents() == {}
    assert [i.status for i in rig.pd.incidents_for("arbiter/web/degraded")] == ["resolved"]


def test_a_failing_channel_holds_back_no_other_and_its_retry_resends_only_to_it(rig: Rig) -> None:
    rig.hook.fail(1)
    event = sns_event(published(rig.alerts_topic, degraded()))
    with pytest.raises(notify.ChannelsFailed, match="not delivered to: hook"):
        run(event)
    assert len(rig.slack.posts) == 1 and len(rig.pd.incidents_for("arbiter/web/degraded")) == 1
    assert rig.hook.sent == []

    # Lambda's asynchronous retry delivers the same event again.
    answer = run(event)
    outcomes = {r["channel"]: r["outcome"] for r in answer["messages"][0]["channels"]}
    assert outcomes == {"chat": "already", "pager": "already", "hook": "sent"}
    assert len(rig.slack.posts) == 1  # not sent twice
    assert len(rig.pd.incidents_for("arbiter/web/degraded")[0].events) == 1
    assert [a.key for a in rig.hook.sent] == ["web/v00000012/00"]


def test_an_alarm_firing_then_ok_publishes_firing_then_recovered(rig: Rig) -> None:
    run(sns_event(ops_message(rig.ops_topic, ALARM, "ops-1")))
    ok = {**ALARM, "NewStateValue": "OK", "OldStateValue": "ALARM",
          "StateChangeTime": "2025-06-05T18:40:00.000+0000"}  # fmt: skip
    run(sns_event(ops_message(rig.ops_topic, ok, "ops-2")))
    firing, recovered = rig.inbox_messages()
    assert firing["Subject"] == "[arbiter] arbiter: alarm DecideStale FIRING"
    assert recovered["Subject"] == "[arbiter] arbiter: alarm DecideStale recovered"
    assert firing["MessageAttributes"]["arbiter_action"]["Value"] == "trigger"
    assert recovered["MessageAttributes"]["arbiter_action"]["Value"] == "resolve"

    # Through the alerts topic the pager opens and closes the alarm's incident.
    for message in (firing, recovered):
        run(sns_event(message))
    assert [i.status for i in rig.pd.incidents_for("arbiter/monitor/alarm/DecideStale")] == [
        "resolved"
    ]


@pytest.mark.parametrize(
    ("payload", "subject"),
    [
        (
            STREAM_FAILURE,
            "[arbiter] monitor: 12 observations not decided (stream batch failed 3 times)",
        ),
        (ACT_FAILURE, "[arbiter] web: act function failed on switch #7 ("),
    ],
)
def test_a_machine_failure_is_one_readable_alert(rig: Rig, payload: object, subject: str) -> None:
    answer = run(sns_event(ops_message(rig.ops_topic, payload)))
    assert answer["ok"] is True
    (message,) = rig.inbox_messages()
    assert message["Subject"].startswith(subject)
    assert "{" not in message["Message"].split("Request:")[0]  # no raw JSON before the details
    assert rig.slack.posts == []  # channels get it through the alerts topic, not directly


def test_notify_test_reports_every_channel_and_the_email_topic(rig: Rig) -> None:
    answer = run({"notify_test": {"operator": "alice"}})
    assert answer["ok"] is True
    assert [(r["channel"], r["ok"]) for r in answer["channels"]] == [
        ("chat", True), ("pager", True), ("hook", True)
    ]  # fmt: skip
    assert answer["email"]["ok"] is True
    assert rig.pd.open_incidents() == {}  # triggered and resolved at once
    (incident,) = rig.pd.incidents
    assert incident.status == "resolved" and incident.severity == "info"
    (email,) = rig.inbox_messages()
    assert "TEST notification from alice" in email["Subject"]


def test_a_malformed_event_is_refused_not_retried(rig: Rig) -> None:
    answer = run({"Records": [{"nothing": True}]})
    assert answer["ok"] is False and answer["error"] == "malformed notify event"
