"""The Route 53 adapter keeps the DNS port's contract against moto (in-process), and its
errors read as AWS said them: throttling retryable, a missing zone or a refusal fatal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from arbiter.adapters.dns.route53 import Route53
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.local import aws as local_aws
from tests.contract.dns_contract import DnsContract, Throttle, applied, rs

ZONE_NAME = "example.test."


class Flaky:
    """A boto3 Route 53 client whose next ``failing`` calls raise ``error`` instead."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.failing = 0
        self.only: str | None = None
        """Fail only this operation (e.g. ``change_resource_record_sets``)."""
        self.error: Exception = ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "op"
        )

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.failing > 0 and self.only in (None, name):
                self.failing -= 1
                raise self.error
            return real(*args, **kwargs)

        return call


@pytest.fixture
def moto() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("route53", region_name="us-east-1")


@pytest.fixture
def flaky(moto: Any) -> Flaky:
    return Flaky(moto)


class TestRoute53(DnsContract):
    @pytest.fixture
    def provider(self, flaky: Flaky) -> Route53:
        return Route53(lambda: flaky, label="route53", poll_interval=0.01)

    @pytest.fixture
    def zone(self, moto: Any) -> str:
        return local_aws.create_zone(moto, "example.test")

    @pytest.fixture
    def zone_name(self) -> str:
        return ZONE_NAME

    @pytest.fixture
    def missing_zone(self) -> str:
        return "ZNOSUCHZONE1234"

    @pytest.fixture
    def throttle(self, flaky: Flaky) -> Throttle:
        def throttle(n: int) -> None:
            flaky.failing = n

        return throttle


def test_route53_errors_name_the_code_and_never_a_credential(moto: Any, flaky: Flaky) -> None:
    zone = local_aws.create_zone(moto, "example.test")
    r53 = Route53(lambda: flaky, poll_interval=0.01)
    record = rs(ZONE_NAME, "www", "A", "192.0.2.1")
    flaky.failing, flaky.error = (
        1,
        ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized"}},
            "ListResourceRecordSets",
        ),
    )
    with pytest.raises(ProviderRejected, match="AccessDenied: not authorized"):
        r53.upsert(zone, [record], "x")
    flaky.failing, flaky.error = 1, EndpointConnectionError(endpoint_url="https://route53")
    with pytest.raises(ProviderError, match="EndpointConnectionError"):
        r53.upsert(zone, [record], "x")
    flaky.failing, flaky.error = (
        1,
        ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "later"}}, "op"),
    )
    with pytest.raises(ProviderError, match="ServiceUnavailable"):
        r53.upsert(zone, [record], "x")
    applied(r53, zone, [record])  # then it works
    flaky.only, flaky.failing, flaky.error = (
        "change_resource_record_sets",
        1,
        ClientError(
            {"Error": {"Code": "InvalidChangeBatch", "Message": "RRSet of type CNAME ..."}}, "op"
        ),
    )
    with pytest.raises(ProviderRejected, match="InvalidChangeBatch: RRSet of type CNAME"):
        r53.upsert(zone, [rs(ZONE_NAME, "www", "A", "192.0.2.2")], "x")
    assert r53.read(zone, f"www.{ZONE_NAME}", "A") == record  # the refused change changed nothing
