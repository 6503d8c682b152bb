"""The control stack of the example config: table, topic, decide/act/override, monitoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.helpers import actions, example_data, logical_id, policy_statements, resources

pytestmark = pytest.mark.infra

CONTROL = "arbiter-control"
TABLE_ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


@pytest.fixture(scope="module")
def control(example: dict[str, Template]) -> Template:
    return example[CONTROL]


def test_table_keys_stream_ttl_pitr_and_retained(control: Template) -> None:
    control.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": "arbiter-table",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": Match.array_with(
                    [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ]
                ),
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
    )


def test_alerts_topic_has_one_email_subscription_per_address_and_enforces_ssl(
    control: Template,
) -> None:
    control.has_resource_properties("AWS::SNS::Topic", {"TopicName": "arbiter-alerts"})
    emails = [
        s["Properties"]
        for s in control.find_resources("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    ]
    assert [e["Endpoint"] for e in emails] == ["oncall@example.com"]
    topic = logical_id(control, "AWS::SNS::Topic", "Alerts")
    assert emails[0]["TopicArn"] == {"Ref": topic}
    control.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_decide_reads_the_stream_filtered_to_inserted_observations(control: Template) -> None:
    decide = logical_id(control, "AWS::Lambda::Function", "Decide")
    mappings = control.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    (mapping,) = (m["Properties"] for m in mappings.values())
    assert mapping["FunctionName"] == {"Ref": decide}
    assert mapping["EventSourceArn"] == {
        "Fn::GetAtt": [logical_id(control, "AWS::DynamoDB::Table", "Table"), "StreamArn"]
    }
    assert mapping["StartingPosition"] == "LATEST"
    # one round of every service from every probe region, gathered for up to 5 s: one pass
    # per round (Config.decide_batch)
    assert mapping["BatchSize"] == 3
    assert mapping["MaximumBatchingWindowInSeconds"] == 5
    assert mapping["MaximumRetryAttempts"] == 2
    assert mapping["BisectBatchOnFunctionError"] is True
    (pattern,) = (json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"])
    assert pattern == {
        "eventName": ["INSERT"],
        "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "OBS#"}]}}},
    }


def test_decide_also_runs_on_a_schedule(control: Template) -> None:
    decide = logical_id(control, "AWS::Lambda::Function", "Decide")
    control.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [decide, "Arn"]}})],
        },
    )


@pytest.mark.parametrize(
    ("role", "timeout", "memory"),
    [
        ("decide", 60, 256),
        # The example fences (60 s), runs hooks (2m on each side), waits 120 s for DNS and
        # moves one VoIP route (60 s): 60 + 120 + 120 + 60 + 120 s of margin.
        ("act", 480, 256),
        ("override", 510, 256),  # a drill waits on the act function
    ],
)
def test_functions_share_runtime_and_environment(
    control: Template, role: str, timeout: int, memory: int
) -> None:
    act = logical_id(control, "AWS::Lambda::Function", "Act")
    topic = logical_id(control, "AWS::SNS::Topic", "Alerts")
    env = {
        "ARBITER_CONFIG_FILE": "arbiter_config.json",
        "ARBITER_TABLE": "arbiter-table",
        "ARBITER_TABLE_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "arbiter",
        "POWERTOOLS_METRICS_NAMESPACE": "Arbiter",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "ARBITER_TOPIC_ARN": {"Ref": topic},
    }
    if role != "act":
        env["ARBITER_ACT_FUNCTION"] = {"Ref": act}
    control.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": f"arbiter-{role}",
            "Handler": f"arbiter.handlers.{role}.handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Timeout": timeout,
            "MemorySize": memory,
            "TracingConfig": Match.absent(),  # monitoring.tracing is off by default
            "LoggingConfig": {"LogGroup": Match.any_value()},
            "Environment": {"Variables": env},
        },
    )


def test_every_function_uses_one_asset(control: Template) -> None:
    codes = {
        json.dumps(f["Properties"]["Code"], sort_keys=True)
        for f in control.find_resources("AWS::Lambda::Function").values()
    }
    assert len(codes) == 1


def test_log_groups_have_retention(control: Template) -> None:
    control.resource_count_is("AWS::Logs::LogGroup", 4)  # decide, act, override, notify
    control.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


@pytest.mark.parametrize("role", ["Decide", "Act", "Override"])
def test_table_access_is_item_level_only(control: Template, role: str) -> None:
    table = logical_id(control, "AWS::DynamoDB::Table", "Table")
    statements = policy_statements(control, role)
    item = [s for s in statements if set(actions(s)) & TABLE_ITEM_ACTIONS]
    assert len(item) == 1
    assert set(actions(item[0])) == TABLE_ITEM_ACTIONS
    assert resources(item[0]) == [f"${{{table}.Arn}}"]
    table_actions = {a for s in statements for a in actions(s) if a.startswith("dynamodb:")}
    stream_actions = {
        "dynamodb:ListStreams",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    }
    allowed = TABLE_ITEM_ACTIONS | (stream_actions if role == "Decide" else set())
    assert table_actions == allowed


@pytest.mark.parametrize("role", ["Decide", "Override"])
def test_callers_can_invoke_only_act(control: Template, role: str) -> None:
    act = logical_id(control, "AWS::Lambda::Function", "Act")
    invoke = [s for s in policy_statements(control, role) if "lambda:InvokeFunction" in actions(s)]
    assert len(invoke) == 1
    # The function and its versions/aliases (``arn:...:function:name:*``), nothing else.
    assert resources(invoke[0]) == [f"${{{act}.Arn}}", f"${{{act}.Arn}}:*"]


def test_nobody_else_may_invoke(control: Template) -> None:
    for role in ("Act",):
        statements = policy_statements(control, role)
        assert not [s for s in statements if "lambda:InvokeFunction" in actions(s)]


def test_act_changes_only_the_configured_zones(control: Template) -> None:
    statements = policy_statements(control, "Act")
    change = [s for s in statements if "route53:ChangeResourceRecordSets" in actions(s)]
    assert len(change) == 1
    assert set(actions(change[0])) == {
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
    }
    assert resources(change[0]) == ["arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"]
    get_change = [s for s in statements if "route53:GetChange" in actions(s)]
    assert [resources(s) for s in get_change] == [["arn:aws:route53:::change/*"]]
    route53 = {a for s in statements for a in actions(s) if a.startswith("route53:")}
    assert route53 == {
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:GetChange",
    }
    for role in ("Decide", "Override"):
        statements = policy_statements(control, role)
        assert not [a for s in statements for a in actions(s) if a.startswith("route53:")]


def test_act_zones_are_deduplicated(five_minutes: dict[str, Template]) -> None:
    statements = policy_statements(five_minutes[CONTROL], "Act")
    (change,) = [s for s in statements if "route53:ChangeResourceRecordSets" in actions(s)]
    assert sorted(resources(change)) == [
        "arn:aws:route53:::hostedzone/Z0123456789EXAMPLE",
        "arn:aws:route53:::hostedzone/ZSECONDZONE",
    ]


def test_one_subscription_per_email(five_minutes: dict[str, Template]) -> None:
    control = five_minutes[CONTROL]
    emails = [
        s["Properties"]["Endpoint"]
        for s in control.find_resources("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    ]
    assert sorted(emails) == ["noc@example.org", "oncall@example.com"]
    for email in ("oncall@example.com", "noc@example.org"):
        control.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": email}
        )


def test_decide_schedule_is_never_faster_than_the_probes(
    five_minutes: dict[str, Template],
) -> None:
    five_minutes[CONTROL].has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"}
    )


@pytest.mark.parametrize("role", ["Decide", "Override"])
def test_functions_publish_only_to_the_alerts_topic(control: Template, role: str) -> None:
    topic = logical_id(control, "AWS::SNS::Topic", "Alerts")
    publish = [s for s in policy_statements(control, role) if "sns:Publish" in actions(s)]
    if role == "Decide":  # and failed stream batches, to the ops topic
        ops = logical_id(control, "AWS::SNS::Topic", "Ops")
        assert sorted(map(str, (resources(s) for s in publish))) == sorted(
            [str([f"${{{topic}}}"]), str([f"${{{ops}}}"])]
        )
    else:
        assert [resources(s) for s in publish] == [[f"${{{topic}}}"]]


def test_act_publishes_its_alerts_and_its_failed_invocations_to_the_ops_topic(
    control: Template,
) -> None:
    topic = logical_id(control, "AWS::SNS::Topic", "Alerts")
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    publish = [s for s in policy_statements(control, "Act") if "sns:Publish" in actions(s)]
    assert sorted(r for s in publish for r in resources(s)) == sorted(
        [f"${{{topic}}}", f"${{{ops}}}"]
    )
    act = logical_id(control, "AWS::Lambda::Function", "Act")
    control.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": act},
            "DestinationConfig": {"OnFailure": {"Destination": {"Ref": ops}}},
        },
    )


def test_failed_stream_batches_go_to_the_ops_topic(control: Template) -> None:
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    control.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"DestinationConfig": {"OnFailure": {"Destination": {"Ref": ops}}}},
    )


def test_act_retries_async_invocations_twice(control: Template) -> None:
    act = logical_id(control, "AWS::Lambda::Function", "Act")
    control.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": act}, "MaximumRetryAttempts": 2},
    )


def test_override_is_reachable_through_iam_only(control: Template) -> None:
    override = logical_id(control, "AWS::Lambda::Function", "Override")
    control.resource_count_is("AWS::Lambda::Url", 0)
    for permission in control.find_resources("AWS::Lambda::Permission").values():
        assert permission["Properties"]["FunctionName"] != {"Fn::GetAtt": [override, "Arn"]}
        assert permission["Properties"]["FunctionName"] != {"Ref": override}


def test_every_alarm_announces_firing_and_recovery_to_ops_or_alerts(control: Template) -> None:
    """The notify function's dead letters go to the alerts topic (email works without it);
    every other alarm to the ops topic, which the notify function renders."""
    topic = logical_id(control, "AWS::SNS::Topic", "Alerts")
    ops = logical_id(control, "AWS::SNS::Topic", "Ops")
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in control.find_resources("AWS::CloudWatch::Alarm").values()
    }
    direct = {"arbiter-NotifyDeadLetterQueue"}
    assert set(alarms) == {
        "arbiter-DecideErrors",
        "arbiter-DecideStale",
        "arbiter-StreamIteratorAge",
        "arbiter-RegionSilent",
        "arbiter-AlertsPending",
        *direct,
    }
    for name, alarm in alarms.items():
        target = [{"Ref": topic if name in direct else ops}]
        assert alarm["AlarmActions"] == target, name
        assert alarm["OKActions"] == target, name


def test_outputs(control: Template, dashboarded: dict[str, Template]) -> None:
    outputs = control.find_outputs("*")
    assert set(outputs) == {
        "TableName",
        "TopicArn",
        "OpsTopicArn",
        "OverrideFunctionName",
        "NotifyFunctionName",
    }
    outputs = dashboarded["arbiter-control"].find_outputs("*")
    assert outputs["DashboardUrl"]["Value"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/arbiter"
    )


def test_act_timeout_covers_the_total_dns_wait_and_its_margins() -> None:
    """dns.verify_timeout is the act function's total wait for DNS: its timeout adds the
    wait for an older runbook's lease and the 30 s kept to record the outcome."""
    from arbiter.core.config import parse_config
    from infra.lambdas import act_spec
    from tests.infra.helpers import example_data

    data = example_data()
    assert act_spec(parse_config(data)).timeout_s == 300
    data["services"][0]["dns"]["verify_timeout"] = "10m"
    spec = act_spec(parse_config(data))
    assert spec.timeout_s == 720 and spec.timeout_s <= 900


def test_monitoring_tracing_turns_x_ray_on_for_every_function_but_the_ticker(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    """Off by default ($5 per million traces, one per round and per pass); on, every
    function records traces, and cdk-nag still passes the synth."""
    data = example_data()
    data["probe"]["interval"] = "10s"
    data["monitoring"] = {"tracing": True}
    templates = build_variant(data)
    modes = {
        f["Properties"]["FunctionName"]: f["Properties"].get("TracingConfig", {}).get("Mode")
        for t in templates.values()
        for f in t.find_resources("AWS::Lambda::Function").values()
    }
    assert modes.pop("arbiter-tick") is None
    assert set(modes) == {f"arbiter-{r}" for r in ("decide", "act", "override", "notify", "probe")}
    assert set(modes.values()) == {"Active"}
