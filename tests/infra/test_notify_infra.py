"""The notify function and what surrounds it: subscribed to the alerts and ops topics, exactly
the channels' secrets, a dead-letter queue with its own alarm, AWS Chatbot for ``chatbot``
channels, and one email subscription per address in the whole app (no probe-region topics).
Building the channel variant also runs cdk-nag on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import (
    actions,
    example_data,
    logical_id,
    policy_statements,
    render,
    resources,
)

pytestmark = pytest.mark.infra

CONTROL = "arbiter-control"
CHANNELS = [
    {"type": "webhook", "name": "ops-hook", "url": "https://hooks.example.com/a",
     "secret": "arbiter/hook"},
    {"type": "slack", "name": "slack-oncall", "webhook_url_secret": "arbiter/slack-url"},
    {"type": "pagerduty", "name": "pd", "routing_key_secret": "arbiter/pd-key"},
    {
        "type": "chatbot",
        "name": "chat-ops",
        "slack_workspace_id": "T0123456789",
        "slack_channel_id": "C0123456789",
    },
]  # fmt: skip


@pytest.fixture(scope="module")
def control(example: dict[str, Template]) -> Template:
    return example[CONTROL]


@pytest.fixture
def with_channels(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> dict[str, Template]:
    data = example_data()
    data["notifications"]["emails"] = ["oncall@example.com", "noc@example.org"]
    data["notifications"]["channels"] = CHANNELS
    return build_variant(data)


def _notify(template: Template) -> dict[str, Any]:
    (props,) = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "arbiter.handlers.notify.handler"
    ]
    return props


def test_notify_function_shape_and_environment(control: Template) -> None:
    props = _notify(control)
    assert props["FunctionName"] == "arbiter-notify"
    assert props["Timeout"] == 60 and props["MemorySize"] == 256
    env = render(props["Environment"]["Variables"])
    alerts = logical_id(control, "AWS::SNS::Topic", "Alerts")
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    assert env["ARBITER_TOPIC_ARN"] == f"${{{alerts}}}"
    assert env["ARBITER_OPS_TOPIC_ARN"] == f"${{{ops}}}"
    assert "ARBITER_CHATBOT_TOPIC_ARN" not in env  # no chatbot channel in the example


def test_notify_is_subscribed_to_the_alerts_and_the_ops_topic(control: Template) -> None:
    notify = logical_id(control, "AWS::Lambda::Function", "Notify")
    subscribed = sorted(
        render(s["Properties"]["TopicArn"])
        for s in control.find_resources("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "lambda"
        and s["Properties"]["Endpoint"] == {"Fn::GetAtt": [notify, "Arn"]}
    )
    alerts = logical_id(control, "AWS::SNS::Topic", "Alerts")
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    assert subscribed == sorted([f"${{{alerts}}}", f"${{{ops}}}"])
    control.has_resource_properties("AWS::SNS::Topic", {"TopicName": "arbiter-ops"})


def test_notify_retries_twice_then_dead_letters_to_an_encrypted_queue(control: Template) -> None:
    notify = logical_id(control, "AWS::Lambda::Function", "Notify")
    queue = logical_id(control, "AWS::SQS::Queue", "NotifyDeadLetters")
    control.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": notify},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )
    control.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": "arbiter-notify-dlq", "SqsManagedSseEnabled": True}
    )
    (policy,) = control.find_resources("AWS::SQS::QueuePolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (alarm,) = [
        a["Properties"]
        for a in control.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    alerts = logical_id(control, "AWS::SNS::Topic", "Alerts")
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": alerts}]


def test_notify_grants_without_channels(control: Template) -> None:
    statements = policy_statements(control, "Notify")
    assert not [s for s in statements if "secretsmanager:GetSecretValue" in actions(s)]
    alerts = logical_id(control, "AWS::SNS::Topic", "Alerts")
    publish = [r for s in statements if "sns:Publish" in actions(s) for r in resources(s)]
    assert publish == [f"${{{alerts}}}"]
    table = logical_id(control, "AWS::DynamoDB::Table", "Table")
    items = [s for s in statements if "dynamodb:GetItem" in actions(s)]
    assert [resources(s) for s in items] == [[f"${{{table}.Arn}}"]]


def test_notify_reads_exactly_the_channels_secrets_and_publishes_to_chatbot(
    with_channels: dict[str, Template],
) -> None:
    control = with_channels[CONTROL]
    statements = policy_statements(control, "Notify")
    (secrets,) = [s for s in statements if "secretsmanager:GetSecretValue" in actions(s)]
    assert actions(secrets) == ["secretsmanager:GetSecretValue"]
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:{}-??????"
    assert sorted(resources(secrets)) == sorted(
        arn.format(n) for n in ("arbiter/hook", "arbiter/pd-key", "arbiter/slack-url")
    )
    chat = logical_id(control, "AWS::SNS::Topic", "Chatbot")
    alerts = logical_id(control, "AWS::SNS::Topic", "Alerts")
    publish = sorted(r for s in statements if "sns:Publish" in actions(s) for r in resources(s))
    assert publish == sorted([f"${{{alerts}}}", f"${{{chat}}}"])
    env = render(_notify(control)["Environment"]["Variables"])
    assert env["ARBITER_CHATBOT_TOPIC_ARN"] == f"${{{chat}}}"
    # No other function reads a channel's secret.
    for role in ("Decide", "Act", "Override"):
        found = [r for s in policy_statements(control, role) for r in map(str, resources(s))]
        assert not [r for r in found if "slack-url" in r or "pd-key" in r]


def test_chatbot_channel_configuration_posts_only(with_channels: dict[str, Template]) -> None:
    control = with_channels[CONTROL]
    chat = logical_id(control, "AWS::SNS::Topic", "Chatbot")
    (config,) = control.find_resources("AWS::Chatbot::SlackChannelConfiguration").values()
    props = config["Properties"]
    assert props["ConfigurationName"] == "arbiter-chat-ops"
    assert props["SlackWorkspaceId"] == "T0123456789"
    assert props["SlackChannelId"] == "C0123456789"
    assert props["SnsTopicArns"] == [{"Ref": chat}]
    assert render(props["GuardrailPolicies"]) == ["arn:aws:iam::aws:policy/AWSDenyAll"]
    role = props["IamRoleArn"]["Fn::GetAtt"][0]
    (role_props,) = [
        r["Properties"] for i, r in control.find_resources("AWS::IAM::Role").items() if i == role
    ]
    assert "ManagedPolicyArns" not in role_props and "Policies" not in role_props
    assert not [
        p
        for p in control.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"].get("Roles", [])
    ]


def test_one_alarm_per_channel_to_the_ops_topic(with_channels: dict[str, Template]) -> None:
    control = with_channels[CONTROL]
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    found = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in control.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ChannelFailures"
    }
    assert set(found) == {f"arbiter-ChannelFailures-{c['name']}" for c in CHANNELS}
    for channel in CHANNELS:
        alarm = found[f"arbiter-ChannelFailures-{channel['name']}"]
        assert sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]) == [
            ("channel", channel["name"]),
            ("service", "arbiter"),
        ]
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": ops}]


def test_each_address_gets_exactly_one_confirmation_email(
    with_channels: dict[str, Template],
) -> None:
    """Across every stack of the app: one email subscription per address."""
    emails = sorted(
        s["Properties"]["Endpoint"]
        for template in with_channels.values()
        for s in template.find_resources("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    )
    assert emails == ["noc@example.org", "oncall@example.com"]
