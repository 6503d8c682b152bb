"""The data-plane failover mode's resources, synthesized from a config whose ``www`` record is
at a ``route53_failover`` provider: the alarms (home stack, one small stack per other alarm
region), the CLOUDWATCH_METRIC and CALCULATED health checks, the two failover record sets,
the PutMetricData grant; with and without standby regions; cfn-lint clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk.assertions import Template

from infra.app import build_app
from tests.infra.helpers import (
    NO_STAGING,
    actions,
    cfn_lint,
    example_data,
    policy_statements,
    templates,
)

pytestmark = pytest.mark.infra

ZONE = "Z0123456789EXAMPLE"
ALARM = {
    "AlarmName": "arbiter-dataplane-web",
    "Namespace": "Arbiter/DataPlane",
    "MetricName": "PrimaryWanted",
    "Dimensions": [{"Name": "App", "Value": "arbiter"}, {"Name": "Service", "Value": "web"}],
    "Period": 60,
    "Statistic": "Minimum",
    "Threshold": 1,
    "ComparisonOperator": "LessThanThreshold",
    "EvaluationPeriods": 1,
    "DatapointsToAlarm": 1,
    "TreatMissingData": "ignore",
}


def dataplane_data(standbys: bool) -> dict[str, Any]:
    data = example_data()
    data["dns_providers"] = {"failover": {"type": "route53_failover"}}
    data["services"][0]["dns"]["records"][0]["provider"] = "failover"
    data["services"][0]["dns"]["verify_timeout"] = "5m"
    if standbys:
        data["home_region"] = "us-east-1"
        data["probe_regions"] = ["us-east-1", "us-east-2", "us-west-2"]
        data["control"] = {"standby_regions": ["us-east-2"], "witness_region": "us-west-2"}
    return data


def build(tmp: Path, data: dict[str, Any]) -> tuple[cdk.App, dict[str, Template]]:
    path = tmp / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    app = build_app(path, asset_dir=tmp / "asset", context=NO_STAGING)
    return app, templates(app)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, dict[str, Template]]:
    return build(tmp_path_factory.mktemp("dp-single"), dataplane_data(standbys=False))


@pytest.fixture(scope="module")
def standby(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, dict[str, Template]]:
    return build(tmp_path_factory.mktemp("dp-standby"), dataplane_data(standbys=True))


def of_type(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template.find_resources(kind).items()}


def health_checks(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {
        k: p["HealthCheckConfig"]
        for k, p in of_type(template, "AWS::Route53::HealthCheck").items()
        if p["HealthCheckConfig"]["Type"] == kind
    }


def dataplane_alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        k: p
        for k, p in of_type(template, "AWS::CloudWatch::Alarm").items()
        if p.get("Namespace") == "Arbiter/DataPlane"
    }


def record_sets(template: Template) -> dict[str, dict[str, Any]]:
    return {p["Failover"]: p for p in of_type(template, "AWS::Route53::RecordSet").values()}


def test_single_region_one_alarm_one_metric_check_on_the_primary_record(
    single: tuple[cdk.App, dict[str, Template]],
) -> None:
    _, stacks = single
    assert sorted(stacks) == [
        "arbiter-control",
        "arbiter-probe-eu-central-1",
        "arbiter-probe-eu-west-1",
        "arbiter-probe-us-east-1",
    ]
    control = stacks["arbiter-control"]
    ((alarm_id, alarm),) = dataplane_alarms(control).items()
    assert {k: alarm.get(k) for k in ALARM} == ALARM
    assert "AlarmActions" not in alarm  # Arbiter's own alerts report the switch
    ((check_id, check),) = health_checks(control, "CLOUDWATCH_METRIC").items()
    assert check["AlarmIdentifier"] == {"Name": {"Ref": alarm_id}, "Region": "eu-west-1"}
    assert check["InsufficientDataHealthStatus"] == "LastKnownStatus"
    assert health_checks(control, "CALCULATED") == {}
    records = record_sets(control)
    assert records["PRIMARY"] == {
        "HostedZoneId": ZONE,
        "Name": "www.example.com.",
        "Type": "A",
        "TTL": "60",
        "ResourceRecords": ["203.0.113.10"],
        "SetIdentifier": "arbiter-primary",
        "Failover": "PRIMARY",
        "HealthCheckId": {"Ref": check_id},
        "Comment": "Arbiter (arbiter): the primary site, data-plane failover",
    }
    secondary = records["SECONDARY"]
    assert "HealthCheckId" not in secondary
    assert (secondary["ResourceRecords"], secondary["SetIdentifier"]) == (
        ["198.51.100.10"],
        "arbiter-secondary",
    )
    assert len(of_type(control, "AWS::Route53::RecordSet")) == 2  # sip.example.com: not here


def test_decide_and_act_may_put_metric_data_in_the_dataplane_namespace_only(
    single: tuple[cdk.App, dict[str, Template]],
) -> None:
    control = single[1]["arbiter-control"]
    wanted = {
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "Arbiter/DataPlane"}},
    }
    for role in ("Decide", "Act"):
        assert wanted in policy_statements(control, role)
    for role in ("Override", "Notify"):
        found = [
            s for s in policy_statements(control, role) if "cloudwatch:PutMetricData" in actions(s)
        ]
        assert found == []
    # The failover record never needs ChangeResourceRecordSets; the simple sip record does.
    act = policy_statements(control, "Act")
    changes = [s for s in act if "route53:ChangeResourceRecordSets" in actions(s)]
    assert len(changes) == 1


def test_with_standbys_three_alarm_regions_and_a_two_of_three_calculated_check(
    standby: tuple[cdk.App, dict[str, Template]],
) -> None:
    app, stacks = standby
    for region in ("us-east-2", "us-west-2"):
        alarms = stacks[f"arbiter-dataplane-{region}"]
        (alarm,) = dataplane_alarms(alarms).values()
        assert {k: alarm.get(k) for k in ALARM} == ALARM
        assert len(alarms.to_json()["Resources"]) == 1
    control = stacks["arbiter-control"]
    (home_alarm_id,) = dataplane_alarms(control)
    children = health_checks(control, "CLOUDWATCH_METRIC")
    identifiers = sorted(
        (c["AlarmIdentifier"]["Region"], json.dumps(c["AlarmIdentifier"]["Name"]))
        for c in children.values()
    )
    assert identifiers == [
        ("us-east-1", json.dumps({"Ref": home_alarm_id})),
        ("us-east-2", '"arbiter-dataplane-web"'),
        ("us-west-2", '"arbiter-dataplane-web"'),
    ]
    assert {c["InsufficientDataHealthStatus"] for c in children.values()} == {"LastKnownStatus"}
    ((calculated_id, calculated),) = health_checks(control, "CALCULATED").items()
    assert calculated["HealthThreshold"] == 2
    assert sorted(c["Ref"] for c in calculated["ChildHealthChecks"]) == sorted(children)
    records = record_sets(control)
    assert records["PRIMARY"]["HealthCheckId"] == {"Ref": calculated_id}
    assert "HealthCheckId" not in records["SECONDARY"]
    # The home stack waits for the alarm stacks: its health checks name their alarms.
    home = next(
        s
        for s in app.node.children
        if isinstance(s, cdk.Stack) and s.stack_name == "arbiter-control"
    )
    assert sorted(d.stack_name for d in home.dependencies) == [
        "arbiter-dataplane-us-east-2",
        "arbiter-dataplane-us-west-2",
    ]


def test_the_dataplane_templates_pass_cfn_lint(
    standby: tuple[cdk.App, dict[str, Template]], tmp_path: Path
) -> None:
    linted = {
        name: template
        for name, template in standby[1].items()
        if name == "arbiter-control" or name.startswith("arbiter-dataplane-")
    }
    paths, problems = cfn_lint(linted, tmp_path)
    assert problems is None, problems
    assert len(paths) == 3
