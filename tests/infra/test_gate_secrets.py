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
