"""Secret references: a Secrets Manager name or ARN, or ``ssm:`` and a Parameter Store name or
ARN, checked against Parameter Store's documented naming rules. An error names the field and
never echoes the value: it may be the secret itself, pasted in by mistake."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.config import parameter_arn_parts, parameter_ref, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import config_dict

FIFTEEN = "/" + "/".join(f"L{n}" for n in range(1, 15)) + "/parameter-name"
SIXTEEN = "/" + "/".join(f"L{n}" for n in range(1, 16)) + "/parameter-name"
ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/arbiter/twilio"


def with_gate(secret: str) -> dict[str, Any]:
    data = config_dict()
    data["services"][0]["failback"]["gate"] = {"url": "https://fra.example.com/g", "secret": secret}
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


@pytest.mark.parametrize(
    "ref",
    [
        "ssm:/arbiter/twilio",
        "ssm:twilio",  # a name outside any hierarchy
        "ssm:/Arbiter/Twilio_2.key-B",  # case is kept: names are case-sensitive
        f"ssm:{FIFTEEN}",  # fifteen levels, the most AWS allows
        "ssm:/" + "a" * 1010,  # 1011 characters
        f"ssm:{ARN}",
        "ssm:arn:aws-cn:ssm:cn-north-1:123456789012:parameter/twilio",
        "arbiter/twilio",  # Secrets Manager, unchanged
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arbiter/twilio-AbCdEf",
    ],
)
def test_a_secret_may_live_in_parameter_store_or_secrets_manager(ref: str) -> None:
    config = parse_config(with_gate(ref))
    gate = config.services[0].failback.gate
    assert gate is not None and gate.secret == ref


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("ssm:", "a Parameter Store parameter name such as /arbiter/twilio"),
        ("ssm:/arbiter/my twilio", "only letters, digits and _.-/ (no spaces)"),
        ("ssm:/arbiter/twílio", "only letters, digits and _.-/"),
        ("ssm:/arbiter/twilio:3", "only letters, digits and _.-/"),
        ("ssm:arbiter/twilio", "a Parameter Store name in a hierarchy starts with /"),
        ("ssm:/arbiter//twilio", "no empty level"),
        ("ssm:/arbiter/", "no empty level"),
        (f"ssm:{SIXTEEN}", "at most 15 levels"),
        ("ssm:/" + "a" * 1011, "at most 1011 characters"),
        ("ssm:/aws/testparam1", "may not start with aws or ssm"),
        ("ssm:awsTestParameter", "may not start with aws or ssm"),
        ("ssm:SSM-testparameter", "may not start with aws or ssm"),
        ("ssm:/aws/reference/secretsmanager/arbiter/twilio", "name the secret itself"),
        ("ssm:arn:aws:ssm:eu-west-1:1234:parameter/x", "a Parameter Store ARN such as"),
        ("ssm:arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", "Parameter Store ARN"),
        ("ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/aws/x", "may not start with aws"),
        (ARN, "a Parameter Store ARN takes the prefix ssm:"),
    ],
)
def test_a_bad_reference_is_refused_by_its_field_with_the_rule_it_breaks(
    ref: str, why: str
) -> None:
    (problem,) = problems(with_gate(ref))
    assert problem.startswith("services[0].failback.gate.secret: ")
    assert why in problem
    assert "never the secret itself" in problem


@pytest.mark.parametrize(
    ("pasted", "marker"),
    [
        ("ssm:hunter2 with spaces", "hunter2"),
        ("ssm:/aws-" + "k" * 40, "kkkkkkkk"),
        ("ssm:" + "Zq9-" * 300, "Zq9-"),  # too long
        ("ssm:arn:aws:ssm:eu-west-1:12:parameter/s3cr3t-Value", "s3cr3t"),
        ("sk_live_0123456789abcdef with a space", "sk_live"),
    ],
)
def test_the_value_is_never_echoed(pasted: str, marker: str) -> None:
    data = config_dict()
    data["notifications"]["channels"] = [
        {"type": "webhook", "name": "hook", "url": "https://h.example.com/", "secret": pasted},
        {"type": "slack", "name": "chat", "webhook_url_secret": pasted},
    ]
    found = problems(data)
    assert [p.split(":")[0] for p in found] == [
        "notifications.channels[0].webhook.secret",
        "notifications.channels[1].slack.webhook_url_secret",
    ]
    assert marker not in " ".join(found)


def test_every_secret_field_takes_a_parameter() -> None:
    data = config_dict()
    data["dns_providers"] = {
        "edge": {"type": "cloudflare", "token_secret": "ssm:/arbiter/cf-token"},
        "office": {
            "type": "rfc2136",
            "server": "192.0.2.10",
            "key_name": "k",
            "key_secret": f"ssm:{ARN}",
        },
    }
    data["voip_providers"] = {
        "pbx": {"type": "twilio", "account_sid": "AC" + "0" * 32, "auth_token_secret": "ssm:/t"}
    }
    config = parse_config(data)
    assert config.dns_providers["edge"].token_secret == "ssm:/arbiter/cf-token"  # type: ignore[union-attr]
    assert config.voip_providers["pbx"].auth_token_secret == "ssm:/t"  # type: ignore[union-attr]


def test_the_parts_of_a_reference() -> None:
    assert parameter_ref("ssm:/arbiter/twilio") == "/arbiter/twilio"
    assert parameter_ref("arbiter/twilio") is None
    assert parameter_ref("arn:aws:secretsmanager:eu-west-1:1:secret:x") is None
    # An ARN drops a hierarchical name's leading slash; the name keeps it.
    assert parameter_arn_parts(ARN) == ("eu-west-1", "/arbiter/twilio")
    assert parameter_arn_parts(ARN.replace("arbiter/twilio", "twilio")) == ("eu-west-1", "twilio")
    assert parameter_arn_parts("/arbiter/twilio") is None
