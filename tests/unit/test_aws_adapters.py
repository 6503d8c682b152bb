"""Route 53 and SNS adapters: vendor errors become the project's own, waits are bounded.

botocore's Stubber answers in place of AWS: no network, real request validation."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from arbiter.adapters.dns import Change
from arbiter.adapters.dns.route53 import Route53
from arbiter.adapters.invoker import LambdaActInvoker
from arbiter.adapters.notify import SnsNotifier
from arbiter.adapters.store import DynamoStore, StoreError, StoreRejected
from arbiter.core.config import SiteName
from arbiter.core.errors import (
    ConflictError,
    DeadlineExceeded,
    ProviderError,
    ProviderRejected,
    RetryableError,
)
from arbiter.core.model import Event, ServiceState
from arbiter.core.runbook import StepResult, StepStatus
from tests.factories import T0, make_config

RECORDS = [r.record_set(SiteName.SECONDARY) for r in make_config().services[0].dns.records]
EMPTY = {"ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "1"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1")
    return client, Stubber(client)


def change(status: str) -> dict[str, Any]:
    return {"ChangeInfo": {"Id": "/change/C1", "Status": status, "SubmittedAt": "2026-01-01"}}


def test_upsert_sends_one_batch_with_the_site_values() -> None:
    client, stub = stubbed("route53")
    expected = {
        "HostedZoneId": "ZEXAMPLE",
        "ChangeBatch": {
            "Comment": "arbiter: switch to secondary",
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "www.example.com.",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "198.51.100.10"}],
                    },
                }
            ],
        },
    }
    listed = {
        "HostedZoneId": "ZEXAMPLE",
        "StartRecordName": "www.example.com.",
        "StartRecordType": "A",
        "MaxItems": "1",
    }
    stub.add_response("list_resource_record_sets", EMPTY, listed)
    stub.add_response("change_resource_record_sets", change("PENDING"), expected)
    with stub:
        done = Route53(lambda: client).upsert("ZEXAMPLE", RECORDS, "arbiter: switch to secondary")
    assert done.id == "/change/C1" and done.changed == ["www.example.com. A"]
    stub.assert_no_pending_responses()


def test_upsert_of_a_set_already_right_sends_no_change() -> None:
    client, stub = stubbed("route53")
    current = {
        "ResourceRecordSets": [
            {
                "Name": "www.example.com.",
                "Type": "A",
                "TTL": 60,
                "ResourceRecords": [{"Value": "198.51.100.10"}],
            }
        ],
        "IsTruncated": False,
        "MaxItems": "1",
    }
    stub.add_response("list_resource_record_sets", current)
    with stub:
        done = Route53(lambda: client).upsert("ZEXAMPLE", RECORDS, "again")
    assert done.id is None and done.unchanged == ["www.example.com. A"]
    stub.assert_no_pending_responses()


def test_wait_polls_until_insync() -> None:
    client, stub = stubbed("route53")
    clock = FakeClock()
    for status in ("PENDING", "PENDING", "INSYNC"):
        stub.add_response("get_change", change(status), {"Id": "/change/C1"})
    with stub:
        waited = Route53(lambda: client, "r53", 2.0, clock, clock.sleep).wait_applied(
            Change("/change/C1"), clock.now + 60
        )
    assert waited == 4.0 and clock.slept == [2.0, 2.0]


def test_wait_is_bounded_by_its_deadline() -> None:
    client, stub = stubbed("route53")
    clock = FakeClock()
    for _ in range(4):
        stub.add_response("get_change", change("PENDING"), {"Id": "/change/C1"})
    with stub, pytest.raises(DeadlineExceeded, match="still PENDING after 5 s"):
        Route53(lambda: client, "r53", 2.0, clock, clock.sleep).wait_applied(
            Change("/change/C1"), clock.now + 5
        )
    assert clock.slept == [2.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("Throttling", 400, ProviderError),
        ("PriorRequestNotComplete", 400, ProviderError),
        ("ServiceUnavailable", 503, ProviderError),
        ("NoSuchHostedZone", 404, ProviderRejected),
        ("InvalidChangeBatch", 400, ProviderRejected),
        ("AccessDenied", 403, ProviderRejected),
    ],
)
def test_route53_errors_are_translated(code: str, status: int, error: type) -> None:
    client, stub = stubbed("route53")
    stub.add_response("list_resource_record_sets", EMPTY)
    stub.add_client_error(
        "change_resource_record_sets", service_error_code=code, http_status_code=status
    )
    with stub, pytest.raises(error) as caught:
        Route53(lambda: client).upsert("ZEXAMPLE", RECORDS, "x")
    assert code in str(caught.value)
    assert isinstance(caught.value, RetryableError) == (error is ProviderError)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("Throttling", ProviderError),
        ("InternalError", ProviderError),
        ("AuthorizationError", ProviderRejected),
    ],
)
def test_sns_errors_are_translated(code: str, error: type) -> None:
    client, stub = stubbed("sns")
    stub.add_client_error("publish", service_error_code=code)
    with stub, pytest.raises(error, match=code):
        SnsNotifier("arn:aws:sns:us-east-1:123456789012:t", lambda: client).publish("s", "m")


def test_sns_subject_is_cut_to_its_limit() -> None:
    client, stub = stubbed("sns")
    arn = "arn:aws:sns:us-east-1:123456789012:t"
    stub.add_response(
        "publish",
        {"MessageId": "m1"},
        {"TopicArn": arn, "Subject": "x" * 100, "Message": "body", "MessageAttributes": {}},
    )
    with stub:
        assert SnsNotifier(arn, lambda: client).publish("x" * 150, "body") == "m1"


def test_sns_message_carries_its_dedupe_key() -> None:
    client, stub = stubbed("sns")
    arn = "arn:aws:sns:us-east-1:123456789012:t"
    attributes = {"arbiter_dedupe_key": {"DataType": "String", "StringValue": "web/v1/00"}}
    stub.add_response(
        "publish",
        {"MessageId": "m2"},
        {"TopicArn": arn, "Subject": "s", "Message": "b", "MessageAttributes": attributes},
    )
    with stub:
        assert SnsNotifier(arn, lambda: client).publish("s", "b", "web/v1/00") == "m2"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ConditionalCheckFailedException", ConflictError),
        ("ProvisionedThroughputExceededException", StoreError),
        ("ThrottlingException", StoreError),
        ("InternalServerError", StoreError),
        ("ResourceNotFoundException", StoreRejected),
        ("AccessDeniedException", StoreRejected),
    ],
)
def test_store_errors_are_translated(code: str, error: type) -> None:
    client, stub = stubbed("dynamodb")
    stub.add_client_error("update_item", service_error_code=code)
    store = DynamoStore("t", lambda: client)
    done = StepResult(status=StepStatus.DONE, started_at=T0)
    with stub, pytest.raises(error):
        store.finish_step("web", 1, "notify", done)


SWITCHED = [Event(at=T0, kind="switch", message="switched")]


def test_a_transaction_lost_to_another_writer_is_a_conflict() -> None:
    client, stub = stubbed("dynamodb")
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"}]},
    )
    state = ServiceState(service="web", version=2)
    with stub, pytest.raises(ConflictError):
        DynamoStore("t", lambda: client).save_state(state, 1, SWITCHED)


def test_a_transaction_cancelled_otherwise_is_retryable() -> None:
    client, stub = stubbed("dynamodb")
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}]},
    )
    state = ServiceState(service="web", version=2)
    with stub, pytest.raises(StoreError, match="TransactionCanceledException"):
        DynamoStore("t", lambda: client).save_state(state, 1, SWITCHED)


def test_a_pass_without_events_or_alerts_is_one_conditional_put() -> None:
    """Half a transaction's write units, the same version condition."""
    client, stub = stubbed("dynamodb")
    stub.add_response("put_item", {})
    with stub:
        DynamoStore("t", lambda: client).save_state(ServiceState(service="web", version=2), 1, [])
        stub.assert_no_pending_responses()
    client, stub = stubbed("dynamodb")
    stub.add_client_error("put_item", service_error_code="ConditionalCheckFailedException")
    with stub, pytest.raises(ConflictError):
        DynamoStore("t", lambda: client).save_state(ServiceState(service="web", version=2), 1, [])


def test_act_is_started_asynchronously_with_service_and_transition() -> None:
    client, stub = stubbed("lambda")
    stub.add_response(
        "invoke",
        {"StatusCode": 202},
        {
            "FunctionName": "arbiter-act",
            "InvocationType": "Event",
            "Payload": '{"service": "web", "transition": 7}',
        },
    )
    with stub:
        LambdaActInvoker("arbiter-act", lambda: client).start("web", 7)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["TooManyRequestsException", "ResourceNotFoundException"])
def test_a_failed_start_of_act_is_retryable(code: str) -> None:
    """The decision is already stored: starting its runbook is always worth another try."""
    client, stub = stubbed("lambda")
    stub.add_client_error("invoke", service_error_code=code)
    with stub, pytest.raises(ProviderError, match=code):
        LambdaActInvoker("arbiter-act", lambda: client).start("web", 7)
