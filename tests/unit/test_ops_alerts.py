"""Machine messages of the operations topic become one readable alert each; alerts rebuilt
from the alerts topic keep what a channel needs; the severity filter; the test alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from arbiter.core.model import Alert
from arbiter.core.ops import alert_from_sns, render_ops, trial_alerts, wants

NOW = datetime(2025, 6, 5, 18, 30, tzinfo=UTC)

# Shapes as AWS documents them: CloudWatch's alarm notification, Lambda's on-failure record
# of a DynamoDB stream batch, and its on-failure record of an asynchronous invocation.
ALARM = {
    "AlarmName": "DecideStale",
    "AlarmDescription": "The decider's last pass is older than 5 minutes.",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2025-06-01T10:00:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints "
    "[412.0 (05/06/25 18:20:00)] was greater than the threshold (300.0).",
    "StateChangeTime": "2025-06-05T18:21:07.123+0000",
    "Region": "EU (Ireland)",
    "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:DecideStale",
    "OldStateValue": "OK",
    "OKActions": [],
    "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:arbiter-ops"],
    "InsufficientDataActions": [],
    "Trigger": {
        "MetricName": "DecideLagSeconds",
        "Namespace": "Arbiter",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "arbiter", "name": "service"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 300.0,
        "TreatMissingData": "breaching",
        "EvaluateLowSampleCountPercentile": "",
    },
}
STREAM_FAILURE = {
    "requestContext": {
        "requestId": "12a8a0fa-f8d2-4d42-a6e3-72bae7d1e2f9",
        "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:arbiter-decide",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    },
    "responseContext": {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    },
    "version": "1.0",
    "timestamp": "2025-06-05T18:22:26.479Z",
    "DDBStreamBatchInfo": {
        "shardId": "shardId-00000001749147709583-2b8e1c0f",
        "startSequenceNumber": "800000000000000000001",
        "endSequenceNumber": "800000000000000000012",
        "approximateArrivalOfFirstRecord": "2025-06-05T18:21:49Z",
        "approximateArrivalOfLastRecord": "2025-06-05T18:21:50Z",
        "batchSize": 12,
        "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/arbiter/stream/"
        "2025-04-23T13:37:16.991",
    },
}
ACT_FAILURE = {
    "version": "1.0",
    "timestamp": "2025-06-05T18:25:05.568Z",
    "requestContext": {
        "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
        "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:arbiter-act:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    },
    "requestPayload": {"service": "web", "transition": 7},
    "responseContext": {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    },
    "responsePayload": {
        "errorMessage": "2025-06-05T18:25:05.500Z e4b46cbf Task timed out after 900.00 seconds"
    },
}


def ops(payload: object) -> Alert:
    return render_ops("arbiter", json.dumps(payload), "m-1", NOW)


def test_an_alarm_firing_opens_its_incident_and_says_what_to_run() -> None:
    alert = ops(ALARM)
    assert alert.subject == "[arbiter] arbiter: alarm DecideStale FIRING"
    assert (alert.severity, alert.action) == ("error", "trigger")
    assert alert.incident == "arbiter/monitor/alarm/DecideStale"
    assert alert.at == datetime(2025, 6, 5, 18, 21, 7, 123000, tzinfo=UTC)
    assert "The CloudWatch alarm DecideStale is firing (it was OK)." in alert.body
    assert "The decider's last pass is older than 5 minutes." in alert.body
    assert "State:    OK -> ALARM" in alert.body
    assert alert.body.endswith(
        "Next:     arbiter status arbiter   (then: aws cloudwatch describe-alarm-history "
        '--alarm-name "DecideStale" --max-items 5)\n'
    )


def test_an_alarm_without_a_service_dimension_is_about_the_monitor() -> None:
    alarm = {**ALARM, "Trigger": {**ALARM["Trigger"], "Dimensions": []}}  # type: ignore[dict-item]
    alert = ops(alarm)
    assert alert.subject == "[arbiter] monitor: alarm DecideStale FIRING"
    assert "Next:     arbiter status   (then:" in alert.body


def test_the_alarm_back_to_ok_resolves_the_same_incident() -> None:
    firing = ops(ALARM)
    ok = ops({**ALARM, "NewStateValue": "OK", "OldStateValue": "ALARM",
              "StateChangeTime": "2025-06-05T18:40:00.000+0000"})  # fmt: skip
    assert ok.subject.endswith("alarm DecideStale recovered")
    assert (ok.action, ok.incident, ok.severity) == ("resolve", firing.incident, "info")
    assert ok.key != firing.key  # a new message, not a repeat of the first


def test_insufficient_data_is_a_notice() -> None:
    alert = ops({**ALARM, "NewStateValue": "INSUFFICIENT_DATA"})
    assert alert.subject.endswith("alarm DecideStale has no data")
    assert (alert.action, alert.severity) == ("notify", "warning")


def test_a_failed_stream_batch_is_one_readable_alert() -> None:
    alert = ops(STREAM_FAILURE)
    assert alert.subject == (
        "[arbiter] monitor: 12 observations not decided (stream batch failed 3 times)"
    )
    assert (alert.severity, alert.action, alert.kind) == ("error", "notify", "stream_batch_failed")
    assert "Those probe rounds were not applied to the vote" in alert.body
    assert "Function: arbiter-decide" in alert.body
    assert alert.body.endswith(
        "Next:     aws logs tail /aws/lambda/arbiter-decide --since 1h --region eu-west-1\n"
    )
    assert "{" not in alert.body  # no raw JSON


def test_a_failed_act_invocation_is_critical_and_names_the_switch() -> None:
    alert = ops(ACT_FAILURE)
    assert alert.subject.startswith(
        "[arbiter] web: act function failed on switch #7 (2025-06-05T18:25:05.500Z e4b46cbf Task"
    )
    assert len(alert.subject) <= 100
    assert (alert.severity, alert.action) == ("critical", "trigger")
    assert alert.incident == "arbiter/web/switch-failed"  # the one `arbiter ack web` closes
    assert "after 3" not in alert.subject
    assert "Lambda gave up (invocation failed 3 times)" in alert.body
    assert "DNS, VoIP and hooks may be partly changed" in alert.body
    assert alert.body.endswith(
        "Next:     arbiter status web   (then: aws logs tail /aws/lambda/arbiter-act --since 1h "
        "--region eu-west-1)\n"
    )


def test_an_act_event_too_old_to_run_says_so() -> None:
    record = {**ACT_FAILURE, "responsePayload": None}
    record["requestContext"] = {**ACT_FAILURE["requestContext"], "condition": "EventAgeExceeded"}  # type: ignore[dict-item]
    record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST"}
    alert = ops(record)
    assert "(event too old, never run)" in alert.subject


@pytest.mark.parametrize(
    "message", ["not json at all", json.dumps({"hello": "world"}), json.dumps([1, 2]), ""]
)
def test_an_unknown_message_is_never_lost(message: str) -> None:
    alert = render_ops("arbiter", message, "m-42", NOW)
    assert alert.subject == "[arbiter] monitor: unrecognized ops message"
    assert alert.key == "ops/unknown/m-42"
    assert message in alert.body


def test_an_unknown_message_is_quoted_up_to_500_characters() -> None:
    alert = render_ops("arbiter", "x" * 2000, "m-1", NOW)
    assert "x" * 500 + "..." in alert.body and "x" * 501 not in alert.body


def test_an_alert_is_rebuilt_from_its_sns_message_and_attributes() -> None:
    attributes = {
        "arbiter_service": "web",
        "arbiter_kind": "condition",
        "arbiter_severity": "error",
        "arbiter_action": "trigger",
        "arbiter_incident": "arbiter/web/degraded",
        "arbiter_dedupe_key": "web/v00000012/00",
    }
    alert = alert_from_sns("[arbiter] web: monitor DEGRADED", "body\n", attributes, "sns-1", NOW)
    assert (alert.key, alert.service, alert.severity) == ("web/v00000012/00", "web", "error")
    assert (alert.action, alert.incident) == ("trigger", "arbiter/web/degraded")
    resolved = alert_from_sns("s", "b", {**attributes, "arbiter_action": "resolve"}, "sns-2", NOW)
    assert resolved.resolves and resolved.action == "resolve"


def test_a_message_published_by_hand_is_an_info_notice_keyed_by_its_id() -> None:
    alert = alert_from_sns(
        None, "\n\nhello operators\nmore", {"arbiter_severity": "loud"}, "id-9", NOW
    )
    assert (alert.key, alert.subject, alert.severity, alert.action) == (
        "id-9", "hello operators", "info", "notify"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("minimum", "severity", "resolves", "sent"),
    [
        ("warning", "info", False, False),
        ("warning", "warning", False, True),
        ("error", "critical", False, True),
        ("critical", "error", False, False),
        ("critical", "info", True, True),  # a resolve always goes
    ],
)
def test_min_severity_filters_all_but_resolves(
    minimum: str, severity: str, resolves: bool, sent: bool
) -> None:
    alert = Alert(key="k", subject="s", body="b", at=NOW, severity=severity,
                  incident="i" if resolves else None, resolves=resolves)  # fmt: skip
    assert wants(minimum, alert) is sent


def test_the_test_alert_is_marked_and_a_pagers_pair_closes_its_incident() -> None:
    (plain,) = trial_alerts("arbiter", "alice", NOW, incident=False)
    assert plain.subject == "[arbiter] monitor: TEST notification from alice, no action needed"
    assert plain.severity == "info" and plain.action == "notify"
    trigger, resolve = trial_alerts("arbiter", "alice", NOW, incident=True)
    assert (trigger.action, resolve.action) == ("trigger", "resolve")
    assert trigger.incident == resolve.incident == "arbiter/monitor/notify-test/20250605T183000Z"
