"""``SecretKeys`` on botocore's Stubber (no network, real request validation): an ``ssm:``
reference is one decrypting GetParameter, in the home region or the ARN's; AWS's errors become
the same kinds as Secrets Manager's, naming the reference and never a value; clients are made
on the first read that needs them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from arbiter.adapters.hooks import SecretKeys, SecretsManagerKeys
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.local.plan import local_secrets, secret_env_name

HOME = "eu-west-1"
VALUE = "tw-auth-token-0123456789"
ARN = "arn:aws:ssm:us-east-1:123456789012:parameter/arbiter/twilio"


def parameter(name: str, value: str = VALUE, kind: str = "SecureString") -> dict[str, Any]:
    return {"Parameter": {"Name": name, "Type": kind, "Value": value, "Version": 1}}


class Clients:
    """Stubbed clients, one per (service, region), made only when asked for."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str | None]] = []
        self.stubs: dict[tuple[str, str | None], Stubber] = {}

    def stub(self, service: str, region: str | None) -> Stubber:
        if (service, region) not in self.stubs:
            client = boto3.client(service, region_name=region or HOME)
            self.stubs[service, region] = Stubber(client)
            self.stubs[service, region].activate()
        return self.stubs[service, region]

    def client(self, service: str, region: str | None) -> Any:
        self.made.append((service, region))
        return self.stub(service, region).client

    def keys(self) -> SecretKeys:
        return SecretKeys(
            lambda: self.client("secretsmanager", HOME),
            lambda region: self.client("ssm", region),
            HOME,
        )


@pytest.fixture
def aws() -> Iterator[Clients]:
    clients = Clients()
    yield clients
    for stub in clients.stubs.values():
        stub.assert_no_pending_responses()


def test_a_parameter_is_read_decrypted_once_in_the_home_region(aws: Clients) -> None:
    aws.stub("ssm", HOME).add_response(
        "get_parameter",
        parameter("/arbiter/twilio"),
        {"Name": "/arbiter/twilio", "WithDecryption": True},
    )
    keys = aws.keys()
    assert aws.made == []  # nothing is made before the first read
    assert keys.get("ssm:/arbiter/twilio") == VALUE.encode()
    assert keys.get("ssm:/arbiter/twilio") == VALUE.encode()  # cached: no second call
    assert aws.made == [("ssm", HOME)]


def test_a_parameter_arn_is_read_in_its_own_region(aws: Clients) -> None:
    aws.stub("ssm", "us-east-1").add_response(
        "get_parameter", parameter("/arbiter/twilio"), {"Name": ARN, "WithDecryption": True}
    )
    assert aws.keys().get(f"ssm:{ARN}") == VALUE.encode()
    assert aws.made == [("ssm", "us-east-1")]


def test_secrets_manager_is_read_as_before_and_only_it(aws: Clients) -> None:
    aws.stub("secretsmanager", HOME).add_response(
        "get_secret_value",
        {"Name": "arbiter/hooks", "SecretString": "hook-key"},
        {"SecretId": "arbiter/hooks"},
    )
    keys = SecretsManagerKeys(lambda: aws.client("secretsmanager", HOME))  # the earlier name
    assert keys.get("arbiter/hooks") == b"hook-key"
    assert aws.made == [("secretsmanager", HOME)]
    with pytest.raises(ProviderRejected, match="no Parameter Store client"):
        keys.get("ssm:/arbiter/hooks")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ParameterNotFound", ProviderRejected),
        ("AccessDeniedException", ProviderRejected),
        ("ThrottlingException", ProviderError),
        ("InternalServerError", ProviderError),
    ],
)
def test_errors_are_the_secrets_manager_kinds_and_name_the_reference(
    aws: Clients, code: str, kind: type[Exception]
) -> None:
    aws.stub("ssm", HOME).add_client_error("get_parameter", service_error_code=code)
    aws.stub("secretsmanager", HOME).add_client_error(
        "get_secret_value",
        service_error_code=code.replace("ParameterNotFound", "ResourceNotFoundException"),
    )
    keys = aws.keys()
    with pytest.raises(kind) as ssm_error:
        keys.get("ssm:/arbiter/twilio")
    with pytest.raises(kind) as sm_error:
        keys.get("arbiter/twilio")
    assert type(ssm_error.value) is type(sm_error.value)
    assert str(ssm_error.value).startswith(
        f"secret ssm:/arbiter/twilio: Parameter Store get_parameter: {code}"
    )
    assert str(sm_error.value).startswith(
        "secret arbiter/twilio: Secrets Manager get_secret_value:"
    )


def test_a_failed_read_is_not_cached(aws: Clients) -> None:
    stub = aws.stub("ssm", HOME)
    stub.add_client_error("get_parameter", service_error_code="ThrottlingException")
    stub.add_response("get_parameter", parameter("/arbiter/twilio"))
    keys = aws.keys()
    with pytest.raises(ProviderError):
        keys.get("ssm:/arbiter/twilio")
    assert keys.get("ssm:/arbiter/twilio") == VALUE.encode()


@pytest.mark.parametrize("kind", ["String", "StringList"])
def test_a_parameter_that_is_not_encrypted_is_refused_without_its_value(
    aws: Clients, kind: str
) -> None:
    aws.stub("ssm", HOME).add_response("get_parameter", parameter("/arbiter/twilio", kind=kind))
    with pytest.raises(ProviderRejected) as refused:
        aws.keys().get("ssm:/arbiter/twilio")
    message = str(refused.value)
    assert f"is a {kind}, not a SecureString" in message
    assert "ssm:/arbiter/twilio" in message and VALUE not in message


@pytest.mark.parametrize(
    ("ref", "variable"),
    [
        ("arbiter/twilio", "ARBITER_SECRET_ARBITER_TWILIO"),
        ("ssm:/arbiter/twilio", "ARBITER_SECRET_ARBITER_TWILIO"),  # the same name as above
        ("ssm:twilio", "ARBITER_SECRET_TWILIO"),
        (
            "ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/arbiter/twilio",
            "ARBITER_SECRET_ARN_AWS_SSM_EU_WEST_1_123456789012_PARAMETER_ARBITER_TWILIO",
        ),
    ],
)
def test_a_local_command_takes_a_parameter_from_the_environment_first(
    ref: str, variable: str
) -> None:
    """``arbiter plan``, ``drill --config`` and ``notify-test``: the variable named after the
    reference wins (sockets are off here: no AWS call is made for it)."""
    assert secret_env_name(ref) == variable
    assert local_secrets("eu-west-1", {variable: VALUE})(ref) == VALUE
