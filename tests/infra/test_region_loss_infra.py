"""With ``control.standby_regions``: the global table's replicas, the MRSC lease table, a
standby control stack per standby region, and probes that may write to any replica."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.infra.helpers import example_data

HOME, STANDBY, WITNESS = "eu-west-1", "eu-west-2", "eu-west-3"


@pytest.fixture
def stacks(build_variant: Callable[[dict[str, Any]], dict[str, Template]]) -> dict[str, Template]:
    data = example_data()
    data["control"] = {"standby_regions": [STANDBY], "witness_region": WITNESS}
    return build_variant(data)


def test_the_table_is_a_global_table_with_a_replica_in_the_standby_region(
    stacks: dict[str, Template],
) -> None:
    home = stacks["arbiter-control"]
    home.resource_count_is("AWS::DynamoDB::Table", 0)
    tables = home.find_resources(
        "AWS::DynamoDB::GlobalTable", {"Properties": {"TableName": "arbiter-table"}}
    )
    (table,) = tables.values()
    props = table["Properties"]
    assert {r["Region"] for r in props["Replicas"]} == {HOME, STANDBY}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert "MultiRegionConsistency" not in props or props["MultiRegionConsistency"] == "EVENTUAL"


def test_the_lease_table_has_strong_consistency_over_three_regions_and_no_ttl(
    stacks: dict[str, Template],
) -> None:
    home = stacks["arbiter-control"]
    (lease,) = home.find_resources(
        "AWS::DynamoDB::GlobalTable", {"Properties": {"TableName": "arbiter-lease"}}
    ).values()
    props = lease["Properties"]
    assert props["MultiRegionConsistency"] == "STRONG"
    assert {r["Region"] for r in props["Replicas"]} == {HOME, STANDBY}
    assert props["GlobalTableWitnesses"] == [{"Region": WITNESS}]
    assert "TimeToLiveSpecification" not in props  # MRSC supports no TTL


def test_every_control_region_runs_decide_act_override_notify_with_the_lease(
    stacks: dict[str, Template],
) -> None:
    for name in ("arbiter-control", f"arbiter-control-{STANDBY}"):
        template = stacks[name]
        functions = template.find_resources("AWS::Lambda::Function")
        envs = [f["Properties"]["Environment"]["Variables"] for f in functions.values()]
        handlers = {f["Properties"]["Handler"] for f in functions.values()}
        assert {h.split(".")[2] for h in handlers if h.startswith("arbiter.handlers.")} >= {
            "decide",
            "act",
            "override",
            "notify",
        }
        assert all(e["ARBITER_LEASE_TABLE"] == "arbiter-lease" for e in envs)
    standby = stacks[f"arbiter-control-{STANDBY}"]
    envs = [
        f["Properties"]["Environment"]["Variables"]
        for f in standby.find_resources("AWS::Lambda::Function").values()
    ]
    # Its own replica, its own secrets: nothing it needs is in the home region.
    assert all(e["ARBITER_TABLE_REGION"] == STANDBY for e in envs)
    standby.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    standby.resource_count_is("AWS::Lambda::EventSourceMapping", 0)
    standby.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    standby.resource_count_is("AWS::SNS::Topic", 2)  # its own alerts and ops topics


def test_the_lease_grant_is_get_and_update_on_the_lease_table_only(
    stacks: dict[str, Template],
) -> None:
    for name in ("arbiter-control", f"arbiter-control-{STANDBY}"):
        policies = stacks[name].find_resources("AWS::IAM::Policy")
        text = json.dumps(policies)
        assert "table/arbiter-lease" in text
        for policy in policies.values():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if "table/arbiter-lease" in json.dumps(statement["Resource"]):
                    assert sorted(statement["Action"]) == [
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem",
                    ]


def test_probes_write_to_any_replica_home_first(stacks: dict[str, Template]) -> None:
    probe = stacks["arbiter-probe-us-east-1"]
    probe.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like({"ARBITER_TABLE_REGIONS": f"{HOME},{STANDBY}"})
            }
        },
    )
    text = json.dumps(probe.find_resources("AWS::IAM::Policy"))
    assert f":dynamodb:{HOME}:" in text and f":dynamodb:{STANDBY}:" in text


def test_without_standby_regions_nothing_changes(example: dict[str, Template]) -> None:
    home = example["arbiter-control"]
    home.resource_count_is("AWS::DynamoDB::Table", 1)
    home.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    assert set(example) == {
        "arbiter-control",
        "arbiter-probe-eu-west-1",
        "arbiter-probe-eu-central-1",
        "arbiter-probe-us-east-1",
    }
    assert "ARBITER_LEASE_TABLE" not in json.dumps(home.to_json())
