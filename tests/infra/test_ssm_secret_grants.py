"""Parameter Store secrets (``ssm:`` references): each function may GetParameter exactly the
parameters its config uses, in its own control region (where ``runtime.from_env`` reads them),
and gets no Secrets Manager grant for them; Secrets Manager references beside them keep theirs.
No ``kms:Decrypt``: the AWS managed key ``aws/ssm`` lets the account's principals decrypt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import actions, cfn_lint, example_data, policy_statements, resources

pytestmark = pytest.mark.infra

HOME, STANDBY, WITNESS = "eu-west-1", "eu-west-2", "eu-west-3"
SLACK_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/arbiter/slack"


def with_parameters() -> dict[str, Any]:
    """The gate (decide), a DNS provider (act) and a channel (notify) read Parameter Store; a
    second DNS provider (act) keeps Secrets Manager."""
    data = example_data()
    data["services"][0]["failback"]["gate"] = {
        "url": "https://fra.example.com/arbiter/synced",
        "secret": "ssm:/arbiter/gate-key",
    }
    data["dns_providers"] = {
        "edge": {"type": "cloudflare", "token_secret": "ssm:/arbiter/cf-token"},
        "office": {
            "type": "rfc2136",
            "server": "192.0.2.10",
            "key_name": "arbiter-key",
            "key_secret": "arbiter/tsig",
        },
    }
    records = data["services"][0]["dns"]["records"]
    for provider, zone, name in (
        ("edge", "0123456789abcdef0123456789abcdef", "cdn.example.com"),
        ("office", "corp.example", "sip.corp.example"),
    ):
        records.append(
            {
                "provider": provider,
                "zone": zone,
                "name": name,
                "type": "A",
                "values": {"primary": ["192.0.2.1"], "secondary": ["198.51.100.1"]},
            }
        )
    data["notifications"]["channels"] = [
        {"type": "slack", "name": "oncall", "webhook_url_secret": f"ssm:{SLACK_ARN}"}
    ]
    return data


def secret_statements(template: Template, role: str) -> list[dict[str, Any]]:
    """The function's statements that read a secret (either store) or use a KMS key."""
    reads = ("secretsmanager:", "ssm:GetParameter", "kms:")
    return [
        {"Action": actions(s), "Resource": resources(s)}
        for s in policy_statements(template, role)
        if any(a.startswith(reads) for a in actions(s))
    ]


def parameter(region: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:123456789012:parameter/{name}"


def test_each_function_may_read_exactly_its_parameters(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]], tmp_path: Path
) -> None:
    stacks = build_variant(with_parameters())
    control = stacks["arbiter-control"]
    assert secret_statements(control, "Decide") == [
        {"Action": ["ssm:GetParameter"], "Resource": [parameter(HOME, "arbiter/gate-key")]}
    ]
    assert secret_statements(control, "Act") == [
        {
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [f"arn:aws:secretsmanager:{HOME}:123456789012:secret:arbiter/tsig-??????"],
        },
        {"Action": ["ssm:GetParameter"], "Resource": [parameter(HOME, "arbiter/cf-token")]},
    ]
    # A parameter given by ARN is granted as given.
    assert secret_statements(control, "Notify") == [
        {"Action": ["ssm:GetParameter"], "Resource": [SLACK_ARN]}
    ]
    assert secret_statements(control, "Override") == []
    _, problems = cfn_lint(stacks, tmp_path)
    assert problems is None, problems


def test_a_standby_region_reads_its_own_copy_of_a_named_parameter(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    data = with_parameters()
    data["control"] = {"standby_regions": [STANDBY], "witness_region": WITNESS}
    standby = build_variant(data)[f"arbiter-control-{STANDBY}"]
    assert secret_statements(standby, "Decide") == [
        {"Action": ["ssm:GetParameter"], "Resource": [parameter(STANDBY, "arbiter/gate-key")]}
    ]
    assert secret_statements(standby, "Notify") == [
        {"Action": ["ssm:GetParameter"], "Resource": [SLACK_ARN]}
    ]
