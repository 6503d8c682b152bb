"""One probe stack per probe region: schedule (or, below 60 s, ticker and rounds queue), least
privilege, its own alarms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.helpers import (
    actions,
    example_data,
    logical_id,
    policy_statements,
    resources,
)

pytestmark = pytest.mark.infra

REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")


def test_one_probe_stack_per_region(example: dict[str, Template]) -> None:
    assert set(example) == {"arbiter-control", *(f"arbiter-probe-{r}" for r in REGIONS)}


@pytest.mark.parametrize("region", REGIONS)
def test_probe_function(example: dict[str, Template], region: str) -> None:
    probe = example[f"arbiter-probe-{region}"]
    probe.resource_count_is("AWS::Lambda::Function", 1)
    probe.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "arbiter-probe",
            "Handler": "arbiter.handlers.probe.handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "MemorySize": 128,
            "Timeout": 60,
            "TracingConfig": Match.absent(),  # monitoring.tracing is off by default
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {
                "Variables": {
                    "ARBITER_CONFIG_FILE": "arbiter_config.json",
                    "ARBITER_TABLE": "arbiter-table",
                    "ARBITER_TABLE_REGION": "eu-west-1",
                    "ARBITER_REGION_LABEL": region,
                    "POWERTOOLS_SERVICE_NAME": "arbiter",
                    "POWERTOOLS_METRICS_NAMESPACE": "Arbiter",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            },
        },
    )
    probe.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "Targets": [{"Arn": {"Fn::GetAtt": [Match.string_like_regexp("^Probe"), "Arn"]}}],
        },
    )
    # From 60 s up the schedule invokes the probe itself: no ticker, no queue
    probe.resource_count_is("AWS::SQS::Queue", 0)
    probe.resource_count_is("AWS::Lambda::EventSourceMapping", 0)


@pytest.mark.parametrize("region", REGIONS)
def test_probe_may_only_put_items_into_the_home_table(
    example: dict[str, Template], region: str
) -> None:
    statements = policy_statements(example[f"arbiter-probe-{region}"], "Probe")
    data = [s for s in statements if not all(a.startswith("xray:") for a in actions(s))]
    assert len(data) == 1
    assert actions(data[0]) == ["dynamodb:PutItem"]
    assert resources(data[0]) == ["arn:aws:dynamodb:eu-west-1:123456789012:table/arbiter-table"]


@pytest.mark.parametrize("region", REGIONS)
def test_probe_stacks_have_no_topic_and_no_alarm(example: dict[str, Template], region: str) -> None:
    """Alarm actions must be in the alarm's region: a silent probe region is caught by the
    home region's RegionSilent alarm, and no probe stack subscribes an email address again."""
    probe = example[f"arbiter-probe-{region}"]
    probe.resource_count_is("AWS::SNS::Topic", 0)
    probe.resource_count_is("AWS::SNS::Subscription", 0)
    probe.resource_count_is("AWS::CloudWatch::Alarm", 0)


def test_five_minute_interval_schedules_every_five_minutes(
    five_minutes: dict[str, Template],
) -> None:
    for region in REGIONS:
        five_minutes[f"arbiter-probe-{region}"].has_resource_properties(
            "AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"}
        )


def test_sub_minute_interval_schedules_every_minute(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    data = example_data()
    data["probe"]["interval"] = "10s"
    stacks = build_variant(data)
    for name in ("arbiter-control", *(f"arbiter-probe-{r}" for r in REGIONS)):
        stacks[name].has_resource_properties(
            "AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"}
        )


def test_probe_timeout_covers_one_round_and_the_queue_six_timeouts(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    """One round per invocation at every interval: the slowest check (100 s here) plus a
    5 s margin; the rounds queue hides a received message for six function timeouts."""
    data = example_data()
    data["probe"]["interval"] = "10s"
    data["decision"] = {**data.get("decision", {}), "stale_after": "3m"}
    for site in ("primary", "secondary"):
        for check in data["services"][0][site]["checks"]:
            check["timeout"] = "100s"
    templates = build_variant(data)
    probe = templates["arbiter-probe-us-east-1"]
    probe.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "arbiter.handlers.probe.handler", "Timeout": 105}
    )
    probe.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": "arbiter-rounds", "VisibilityTimeout": 630}
    )


# -- below 60 s: the ticker, the rounds queue, the event source mapping ------------------


@pytest.mark.parametrize("region", REGIONS)
def test_below_a_minute_the_schedule_invokes_a_small_ticker(
    ten_seconds: dict[str, Template], region: str
) -> None:
    stack = ten_seconds[f"arbiter-probe-{region}"]
    stack.resource_count_is("AWS::Lambda::Function", 2)
    stack.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "arbiter-tick",
            "Handler": "arbiter.handlers.tick.handler",
            "MemorySize": 128,
            "Architectures": ["arm64"],
            "Environment": {
                "Variables": {
                    "ARBITER_PROBE_INTERVAL": "10",
                    "ARBITER_ROUNDS_QUEUE_URL": {
                        "Ref": logical_id(stack, "AWS::SQS::Queue", "Rounds0")
                    },
                    "POWERTOOLS_SERVICE_NAME": "arbiter",
                    "POWERTOOLS_METRICS_NAMESPACE": "Arbiter",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                }
            },
        },
    )
    stack.resource_count_is("AWS::Events::Rule", 1)
    tick = logical_id(stack, "AWS::Lambda::Function", "Tick")
    assert "TracingConfig" not in stack.to_json()["Resources"][tick]["Properties"]
    stack.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "Targets": [{"Arn": {"Fn::GetAtt": [tick, "Arn"]}}],
        },
    )
    # A tick delivered after its minute is useless: not retried, not kept
    stack.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": tick}, "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 120},
    )


@pytest.mark.parametrize("region", REGIONS)
def test_the_rounds_queue_is_encrypted_tls_only_and_parks_what_fails_twice(
    ten_seconds: dict[str, Template], region: str
) -> None:
    stack = ten_seconds[f"arbiter-probe-{region}"]
    dlq = logical_id(stack, "AWS::SQS::Queue", "RoundsDeadLetters")
    rounds = logical_id(stack, "AWS::SQS::Queue", "Rounds0")
    stack.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": "arbiter-rounds",
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": 360,  # 6 x the probe's 60 s
            "MessageRetentionPeriod": 1200,  # past SQS's longest timer (900 s)
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": 2,
            },
        },
    )
    stack.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": "arbiter-rounds-dlq", "SqsManagedSseEnabled": True}
    )
    for queue in (rounds, dlq):
        stack.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": {
                    "Statement": [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                },
            },
        )


@pytest.mark.parametrize("region", REGIONS)
def test_the_queue_invokes_the_probe_one_message_at_a_time(
    ten_seconds: dict[str, Template], region: str
) -> None:
    stack = ten_seconds[f"arbiter-probe-{region}"]
    stack.resource_count_is("AWS::Lambda::EventSourceMapping", 1)
    stack.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 1,
            "MaximumBatchingWindowInSeconds": 0,
            "EventSourceArn": {
                "Fn::GetAtt": [logical_id(stack, "AWS::SQS::Queue", "Rounds0"), "Arn"]
            },
            "FunctionName": {"Ref": logical_id(stack, "AWS::Lambda::Function", "Probe")},
        },
    )


@pytest.mark.parametrize("region", REGIONS)
def test_the_ticker_may_only_send_to_its_queue_and_the_probe_only_read_it(
    ten_seconds: dict[str, Template], region: str
) -> None:
    stack = ten_seconds[f"arbiter-probe-{region}"]
    rounds = "${" + logical_id(stack, "AWS::SQS::Queue", "Rounds0") + ".Arn}"
    tick = policy_statements(stack, "Tick")  # untraced: not even X-Ray's "*"
    assert [(actions(s), resources(s)) for s in tick] == [(["sqs:SendMessage"], [rounds])]
    probe = [s for s in policy_statements(stack, "Probe") if not actions(s)[0].startswith("xray:")]
    assert [(actions(s), resources(s)) for s in probe] == [
        (["dynamodb:PutItem"], ["arn:aws:dynamodb:eu-west-1:123456789012:table/arbiter-table"]),
        (
            [
                "sqs:ReceiveMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueUrl",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            [rounds],
        ),
    ]
