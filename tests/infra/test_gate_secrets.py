"""The decider may read exactly the failback gates' signing keys, and nothing reads others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import actions, example_data, policy_statements, resources

pytestmark = pytest.mark.infra


def secret_statements(template: Template, role: str) -> list[dict[str, Any]]:
    return [
        s
        for s in policy_statements(template, role)
        if any(a.startswith("secretsmanager:") for a in actions(s))
    ]


def test_gate_secret_is_readable_by_decide_only(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    data = example_data()
    data["services"][0]["failback"]["gate"] = {
        "url": "https://fra.example.com/arbiter/synced",
        "secret": "arbiter/gate-key",
    }
    control = build_variant(data)["arbiter-control"]
    (statement,) = secret_statements(control, "Decide")
    assert actions(statement) == ["secretsmanager:GetSecretValue"]
    assert resources(statement) == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arbiter/gate-key-??????"
    ]
    assert secret_statements(control, "Act") == []
    assert secret_statements(control, "Override") == []


def test_no_gate_no_secret_access(example: dict[str, Template]) -> None:
    assert secret_statements(example["arbiter-control"], "Decide") == []


def test_act_reads_exactly_the_secrets_of_the_providers_records_use(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    """Permissions come from the config in one place (infra/grants.py): the act function may
    read the secrets of the DNS providers that records point at, and change only the Route 53
    zones records use; a defined but unused provider grants nothing."""
    data = example_data()
    data["dns_providers"] = {
        "edge": {"type": "cloudflare", "token_secret": "arbiter/cf-token"},
        "office": {
            "type": "rfc2136",
            "server": "192.0.2.10",
            "key_name": "arbiter-key",
            "key_secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsig-AbCdEf",
        },
        "unused": {"type": "powerdns", "url": "http://192.0.2.20:8081", "api_key_secret": "x/y"},
    }
    records = data["services"][0]["dns"]["records"]
    records.append(
        {
            "provider": "edge",
            "zone": "0123456789abcdef0123456789abcdef",
            "name": "cdn.example.com",
            "type": "CNAME",
            "values": {"primary": ["fra.example.net"], "secondary": ["ams.example.net"]},
        }
    )
    records.append(
        {
            "provider": "office",
            "zone": "corp.example",
            "name": "sip.corp.example",
            "type": "A",
            "values": {"primary": ["10.0.0.1"], "secondary": ["10.1.0.1"]},
        }
    )
    control = build_variant(data)["arbiter-control"]
    (statement,) = secret_statements(control, "Act")
    assert actions(statement) == ["secretsmanager:GetSecretValue"]
    assert sorted(resources(statement)) == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arbiter/cf-token-??????",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsig-AbCdEf",
    ]
    assert secret_statements(control, "Decide") == []
    assert secret_statements(control, "Override") == []
    zones = [
        r
        for s in policy_statements(control, "Act")
        if "route53:ChangeResourceRecordSets" in actions(s)
        for r in resources(s)
    ]
    assert zones == ["arn:aws:route53:::hostedzone/Z0123456789EXAMPLE"]
