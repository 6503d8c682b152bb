"""What the rest of a switch needs from the control stack (issue 8): the act function reads
exactly the VoIP and webhook secrets the runbook uses, may run Run Command on exactly the
documents and nodes SSM fences and hooks name, lives as long as the slowest switch, and is
started by the drill schedule. The templates still pass cdk-nag (building them runs it) and
cfn-lint."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from arbiter.core.config import act_seconds, parse_config
from infra.lambdas import act_spec, override_spec
from tests.infra.helpers import (
    actions,
    build_templates,
    example_data,
    logical_id,
    policy_statements,
    render,
    resources,
)

pytestmark = pytest.mark.infra

CONTROL = "arbiter-control"
ACCOUNT = "123456789012"
SHARED_DOCUMENT = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:document/ops-stop-app"
DRILL = "cron(0 8 ? * MON *)"


def switch_data() -> dict[str, Any]:
    """The example plus every kind of fence, hook and VoIP route, one unused provider of
    each sort, and a drill."""
    data = example_data()
    data["voip_providers"] = {
        "twilio": {
            "type": "twilio",
            "account_sid": "AC" + "0" * 32,
            "auth_token_secret": "arbiter/twilio-token",
        },
        "telnyx": {"type": "telnyx", "api_key_secret": "arbiter/telnyx-key"},
        "voipms": {
            "type": "voipms",
            "username": "noc@example.com",
            "api_password_secret": "arbiter/voipms-password",
        },
        "pbx": {"type": "webhook", "url": "https://pbx.example.com/route", "secret": "pbx/key"},
        "spare": {"type": "telnyx", "api_key_secret": "arbiter/unused-telnyx-key"},
    }
    service = data["services"][0]
    service["voip"] = [
        {
            "type": "twilio_number",
            "provider": "twilio",
            "numbers": ["+4930123456"],
            "voice_url": {
                "primary": "https://fra.example.com/voice",
                "secondary": "https://ams.example.com/voice",
            },
        },
        {
            "type": "telnyx_number",
            "provider": "telnyx",
            "numbers": ["+4930123457"],
            "connection_id": {"primary": "111", "secondary": "222"},
        },
        {
            "type": "voipms_did",
            "provider": "voipms",
            "numbers": ["5551234567"],
            "routing": {"primary": "account:100001_fra", "secondary": "account:100001_ams"},
        },
        {
            "type": "webhook",
            "provider": "pbx",
            "numbers": ["ext-100"],
            "target": {"primary": "fra", "secondary": "ams"},
        },
    ]
    service["primary"]["fence"] = {
        "type": "webhook",
        "url": "https://fra.example.com/arbiter/fence",
        "secret": "arbiter/fence-key",
        "timeout": "2m",
    }
    service["primary"]["hooks"] = {
        "post_release": [
            {
                "type": "ssm",
                "name": "notify-ops",
                "document": SHARED_DOCUMENT,
                "instance_ids": ["i-0123456789abcdef0"],
            },
        ]
    }
    service["secondary"]["fence"] = {
        "type": "ssm",
        "targets": {"role": ["db-ams", "app-ams"], "env": ["prod"]},
        "parameters": {"commands": ["systemctl stop app"]},
        "region": "eu-central-1",
    }
    service["secondary"]["hooks"] = {
        "pre_acquire": [
            {
                "type": "ssm",
                "name": "promote-db",
                "document": "arbiter-promote-db",
                "instance_ids": ["i-0123456789abcdef0", "mi-0123456789abcdef0"],
                "timeout": "2m",
            },
            {
                "type": "webhook",
                "name": "warm-cache",
                "url": "https://ams.example.com/warm",
                "secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:warm-AbCdEf",
            },
        ],
    }
    data["drill"] = {"schedule": DRILL}
    return data


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    tmp = tmp_path_factory.mktemp("switch")
    path = tmp / "arbiter.yaml"
    path.write_text(json.dumps(switch_data()), encoding="utf-8")
    return build_templates(path, asset_dir=tmp / "asset")


def statements_with(template: Template, role: str, prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for s in policy_statements(template, role)
        if any(a.startswith(prefix) for a in actions(s))
    ]


# --- secrets ----------------------------------------------------------------------------------


def test_act_reads_exactly_the_voip_and_webhook_secrets_in_use(
    switch: dict[str, Template],
) -> None:
    control = switch[CONTROL]
    (statement,) = statements_with(control, "Act", "secretsmanager:")
    assert actions(statement) == ["secretsmanager:GetSecretValue"]
    prefix = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:"
    assert sorted(resources(statement)) == sorted(
        [
            f"{prefix}arbiter/twilio-token-??????",
            f"{prefix}arbiter/telnyx-key-??????",
            f"{prefix}arbiter/voipms-password-??????",
            f"{prefix}pbx/key-??????",
            f"{prefix}arbiter/fence-key-??????",
            f"{prefix}warm-AbCdEf",
        ]
    )
    assert statements_with(control, "Decide", "secretsmanager:") == []
    assert statements_with(control, "Override", "secretsmanager:") == []


# --- SSM Run Command --------------------------------------------------------------------------


def test_act_may_run_exactly_the_configured_documents(switch: dict[str, Template]) -> None:
    documents = [
        s
        for s in statements_with(switch[CONTROL], "Act", "ssm:")
        if "ssm:DescribeDocument" in actions(s)
    ]
    (statement,) = documents
    assert actions(statement) == ["ssm:SendCommand", "ssm:DescribeDocument"]
    assert sorted(resources(statement)) == sorted(
        [
            # The fence names no document: AWS-RunShellScript, AWS-owned (no account).
            "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript",
            f"arn:aws:ssm:eu-west-1:{ACCOUNT}:document/arbiter-promote-db",
            SHARED_DOCUMENT,
        ]
    )


def test_act_may_send_to_the_instances_given_by_id(switch: dict[str, Template]) -> None:
    by_id = [
        s
        for s in statements_with(switch[CONTROL], "Act", "ssm:")
        if actions(s) == ["ssm:SendCommand"] and "Condition" not in s
    ]
    (statement,) = by_id
    assert sorted(resources(statement)) == [
        f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0123456789abcdef0",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:managed-instance/mi-0123456789abcdef0",
    ]


def test_act_may_send_to_tagged_nodes_only_under_the_tag_condition(
    switch: dict[str, Template],
) -> None:
    tagged = [s for s in statements_with(switch[CONTROL], "Act", "ssm:") if "Condition" in s]
    (statement,) = tagged
    assert actions(statement) == ["ssm:SendCommand"]
    assert sorted(resources(statement)) == [
        f"arn:aws:ec2:eu-central-1:{ACCOUNT}:instance/*",
        f"arn:aws:ssm:eu-central-1:{ACCOUNT}:managed-instance/*",
    ]
    # Every key must match (one of its values): as SendCommand's Targets select.
    assert statement["Condition"] == {
        "StringEquals": {
            "ssm:resourceTag/env": ["prod"],
            "ssm:resourceTag/role": ["app-ams", "db-ams"],
        }
    }


def test_command_reads_take_any_resource_as_aws_requires(switch: dict[str, Template]) -> None:
    (reads,) = [
        s
        for s in statements_with(switch[CONTROL], "Act", "ssm:")
        if "ssm:ListCommandInvocations" in actions(s)
    ]
    assert sorted(actions(reads)) == [
        "ssm:CancelCommand",
        "ssm:DescribeInstanceInformation",
        "ssm:GetCommandInvocation",
        "ssm:ListCommandInvocations",
    ]
    assert resources(reads) == ["*"]
    granted = {a for s in statements_with(switch[CONTROL], "Act", "ssm:") for a in actions(s)}
    assert granted == {
        "ssm:SendCommand",
        "ssm:DescribeDocument",
        "ssm:CancelCommand",
        "ssm:DescribeInstanceInformation",
        "ssm:GetCommandInvocation",
        "ssm:ListCommandInvocations",
    }
    for role in ("Decide", "Override"):
        assert statements_with(switch[CONTROL], role, "ssm:") == []


def test_no_ssm_action_no_ssm_permission(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    control = build_variant(example_data())[CONTROL]  # no fence or hook at all
    for role in ("Act", "Decide", "Override"):
        assert statements_with(control, role, "ssm:") == []


def test_an_action_region_defaults_to_the_home_region() -> None:
    from infra.grants import needs

    config = parse_config(switch_data())
    regions = {(u.region, u.document) for u in needs(config).act_ssm}
    assert regions == {
        ("eu-central-1", "AWS-RunShellScript"),
        ("eu-west-1", "arbiter-promote-db"),
        ("eu-west-1", SHARED_DOCUMENT),
    }


@pytest.mark.parametrize(
    ("document", "owned"),
    [
        ("AWS-RunShellScript", True),
        ("AWSSupport-TroubleshootSSH", True),
        ("AmazonCloudWatch-ManageAgent", True),
        ("arbiter-stop", False),
        ("awkward-doc", False),
        (f"arn:aws:ssm:eu-west-1:{ACCOUNT}:document/aws-like", False),
    ],
)
def test_aws_owned_documents_are_told_by_their_reserved_prefix(document: str, owned: bool) -> None:
    from infra.grants import SsmUse

    assert SsmUse("eu-west-1", document).aws_owned is owned


# --- the act function's timeout ---------------------------------------------------------------


def test_act_timeout_covers_the_slowest_switch(switch: dict[str, Template]) -> None:
    config = parse_config(switch_data())
    # primary -> secondary: webhook fence 120 s, promote-db 120 s, warm-cache 60 s,
    # notify-ops 60 s, DNS 120 s, 4 VoIP routes x 60 s, 120 s margin.
    assert act_seconds(config.services[0]) == 120 + 120 + 60 + 60 + 120 + 240 + 120
    assert act_spec(config).timeout_s == 840
    act = logical_id(switch[CONTROL], "AWS::Lambda::Function", "Act")
    properties = switch[CONTROL].to_json()["Resources"][act]["Properties"]
    assert properties["Timeout"] == 840


def test_act_timeout_is_never_under_300_s_and_rounds_up() -> None:
    data = example_data()
    assert act_spec(parse_config(data)).timeout_s == 300
    data["services"][0]["dns"]["verify_timeout"] = "190.5s"
    config = parse_config(data)
    assert act_seconds(config.services[0]) == 310.5
    assert act_spec(config).timeout_s == math.ceil(310.5)


# --- the drill schedule -----------------------------------------------------------------------


def test_drill_schedule_starts_the_act_function_with_the_drill_event(
    switch: dict[str, Template],
) -> None:
    control = switch[CONTROL]
    act = logical_id(control, "AWS::Lambda::Function", "Act")
    rules = control.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": DRILL}}
    )
    (rule,) = rules.values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [act, "Arn"]}
    assert json.loads(target["Input"]) == {"drill": {"service": None, "notify": "failures"}}
    (rule_id,) = rules
    control.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [act, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_no_drill_no_schedule(example: dict[str, Template]) -> None:
    rules = example[CONTROL].find_resources("AWS::Events::Rule")
    assert [render(r["Properties"]).get("ScheduleExpression") for r in rules.values()] == [
        "rate(1 minute)"  # the decider's
    ]


# --- cfn-lint ---------------------------------------------------------------------------------


def test_switch_templates_pass_cfn_lint(switch: dict[str, Template], tmp_path: Path) -> None:
    path = tmp_path / "control.template.json"
    path.write_text(json.dumps(switch[CONTROL].to_json()), encoding="utf-8")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--ignore-checks", "W3005", "--", path],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_override_function_outlives_the_act_function_it_waits_on_for_a_drill() -> None:
    config = parse_config(example_data())
    assert override_spec(config).timeout_s == act_spec(config).timeout_s + 30
    assert override_spec(config).timeout_s <= 900
