"""One probe stack per probe region: schedule, least privilege, its own alarms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import actions, example_data, policy_statements, resources

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
            "TracingConfig": {"Mode": "Active"},
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
    probe.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})


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


def test_probe_timeout_covers_every_round_of_an_invocation(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    """A 10 s interval runs 6 rounds per scheduled invocation: the last starts at 50 s and
    may take its slowest check (10 s here) plus a 5 s margin."""
    data = example_data()
    data["probe"]["interval"] = "10s"
    for site in ("primary", "secondary"):
        for check in data["services"][0][site]["checks"]:
            check["timeout"] = "10s"
    templates = build_variant(data)
    probe = templates["arbiter-probe-us-east-1"]
    probe.has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "arbiter.handlers.probe.handler", "Timeout": 65}
    )
