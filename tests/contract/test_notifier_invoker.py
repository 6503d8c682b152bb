"""The Notifier and ActInvoker ports' contracts, each run against the real adapter and the
in-memory fake: SNS on moto (an SQS queue subscribed stands in for the operators' inbox)
vs ``MemoryNotifier``; Lambda behind botocore's Stubber (moto's Lambda invoke needs Docker)
vs ``RecordingInvoker``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from arbiter.adapters.invoker import ActInvoker, LambdaActInvoker
from arbiter.adapters.memory import MemoryNotifier, RecordingInvoker
from arbiter.adapters.notify import Notifier, SnsNotifier
from arbiter.core.errors import RetryableError
from arbiter.local.aws import create_topic_with_inbox, read_inbox

REGION = "eu-west-1"

# -- the notifier -------------------------------------------------------------------------


@dataclass
class NotifierRig:
    notifier: Notifier
    inbox: Callable[[], list[dict[str, str]]]
    """What was delivered since the last call: [{"subject", "message", "key"}] (``key``: the
    dedupe key, "" when there is none)."""
    fail: Callable[[int], None]
    """The next ``n`` publishes fail the way the service signals "try later"."""


class NotifierContract:
    def test_a_message_arrives_with_its_subject_and_dedupe_key(self, rig: NotifierRig) -> None:
        first = rig.notifier.publish("[arbiter] web: switched", "line one\nline two\n", "web/k1")
        second = rig.notifier.publish("[arbiter] web: paused", "paused\n", "web/k2")
        assert first and second and first != second  # message ids
        assert rig.inbox() == [
            {
                "subject": "[arbiter] web: switched",
                "message": "line one\nline two\n",
                "key": "web/k1",
            },
            {"subject": "[arbiter] web: paused", "message": "paused\n", "key": "web/k2"},
        ]

    def test_the_subject_is_cut_to_100_characters(self, rig: NotifierRig) -> None:
        subject = "[arbiter] " + "x" * 200
        rig.notifier.publish(subject, "body", "web/k")
        [got] = rig.inbox()
        assert got["subject"] == subject[:100] and got["message"] == "body"

    @pytest.mark.parametrize("key", [None, ""])
    def test_without_a_dedupe_key_none_travels(self, rig: NotifierRig, key: str | None) -> None:
        rig.notifier.publish("subject", "body", key)
        assert rig.inbox() == [{"subject": "subject", "message": "body", "key": ""}]

    def test_a_failed_publish_is_retryable_and_delivers_nothing(self, rig: NotifierRig) -> None:
        rig.fail(2)
        for _ in range(2):
            with pytest.raises(RetryableError):
                rig.notifier.publish("subject", "body", "web/k")
        assert rig.inbox() == []
        rig.notifier.publish("subject", "body", "web/k")
        assert [m["key"] for m in rig.inbox()] == ["web/k"]


class FlakyClient:
    """A boto3 client whose next ``failures`` publishes are throttled."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failures = 0

    def publish(self, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish"
            )
        return self._client.publish(**kwargs)


class TestSnsNotifier(NotifierContract):
    @pytest.fixture
    def rig(self) -> Iterator[NotifierRig]:
        with mock_aws():
            sqs = boto3.client("sqs", region_name=REGION)
            topic, queue = create_topic_with_inbox(
                boto3.client("sns", region_name=REGION), sqs, "contract"
            )
            client = FlakyClient(boto3.client("sns", region_name=REGION))

            def fail(n: int) -> None:
                client.failures = n

            notifier = SnsNotifier(topic, lambda: client)
            yield NotifierRig(notifier, lambda: read_inbox(sqs, queue), fail)


class TestMemoryNotifier(NotifierContract):
    @pytest.fixture
    def rig(self) -> NotifierRig:
        notifier = MemoryNotifier()

        def inbox() -> list[dict[str, str]]:
            return [
                {"subject": m.subject, "message": m.message, "key": m.dedupe_key or ""}
                for m in notifier.take()
            ]

        return NotifierRig(notifier, inbox, notifier.fail)


# -- the act invoker ----------------------------------------------------------------------


@dataclass
class InvokerRig:
    invoker: ActInvoker
    expect: Callable[[bool], None]
    """The next start succeeds (True) or fails the way the service refuses (False); a test
    expects its failures before its successes."""
    started: Callable[[], list[tuple[str, int]]]
    """The starts that were queued, in order (a failed one is not)."""


class InvokerContract:
    def test_each_start_is_queued_once_in_order(self, rig: InvokerRig) -> None:
        for _ in range(3):
            rig.expect(True)
        rig.invoker.start("web", 5)
        rig.invoker.start("api", 7)
        rig.invoker.start("web", 5)  # a repeat is another start: the act function dedupes
        assert rig.started() == [("web", 5), ("api", 7), ("web", 5)]

    def test_a_failed_start_is_retryable_and_queues_nothing(self, rig: InvokerRig) -> None:
        rig.expect(False)
        rig.expect(True)
        with pytest.raises(RetryableError):
            rig.invoker.start("web", 5)
        assert rig.started() == []
        rig.invoker.start("web", 5)
        assert rig.started() == [("web", 5)]


class TestLambdaActInvoker(InvokerContract):
    @pytest.fixture
    def rig(self) -> Iterator[InvokerRig]:
        client = boto3.client("lambda", region_name=REGION)
        calls: list[dict[str, Any]] = []
        outcomes: list[bool] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            calls.append(dict(params))

        client.meta.events.register("provide-client-params.lambda.Invoke", record)
        stubber = Stubber(client)

        def expect(ok: bool) -> None:
            outcomes.append(ok)
            if ok:
                stubber.add_response(
                    "invoke",
                    {"StatusCode": 202},
                    {"FunctionName": "arbiter-act", "InvocationType": "Event", "Payload": ANY},
                )
            else:
                stubber.add_client_error(
                    "invoke", "TooManyRequestsException", "Rate exceeded", http_status_code=429
                )

        def started() -> list[tuple[str, int]]:
            out = []
            for params, ok in zip(calls, outcomes, strict=False):
                assert params["InvocationType"] == "Event"  # asynchronous: Lambda retries it
                payload = json.loads(params["Payload"])
                assert set(payload) == {"service", "transition"}
                if ok:
                    out.append((payload["service"], payload["transition"]))
            return out

        with stubber:
            yield InvokerRig(LambdaActInvoker("arbiter-act", lambda: client), expect, started)
            stubber.assert_no_pending_responses()


class TestRecordingInvoker(InvokerContract):
    @pytest.fixture
    def rig(self) -> InvokerRig:
        invoker = RecordingInvoker()

        def expect(ok: bool) -> None:
            if not ok:
                invoker.fail(invoker.failures + 1)

        return InvokerRig(invoker, expect, lambda: list(invoker.started))


def test_the_recording_invoker_calls_back_after_recording() -> None:
    seen: list[tuple[str, int, int]] = []
    invoker = RecordingInvoker()
    invoker.on_start = lambda service, tid: seen.append((service, tid, len(invoker.started)))
    invoker.start("web", 5)
    assert seen == [("web", 5, 1)]
