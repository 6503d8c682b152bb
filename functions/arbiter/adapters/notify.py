"""The notifier: SNS, which fans out to email and chat subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from arbiter.adapters.aws import AwsApi

DEDUPE_ATTRIBUTE = "arbiter_dedupe_key"


class Notifier(Protocol):
    def publish(
        self,
        subject: str,
        message: str,
        dedupe_key: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> str: ...


class SnsNotifier:
    def __init__(self, topic_arn: str, client_factory: Callable[[], Any]) -> None:
        self.topic_arn = topic_arn
        self.api = AwsApi(client_factory, "SNS", {"KMSThrottlingException"})

    def publish(
        self,
        subject: str,
        message: str,
        dedupe_key: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """``attributes`` (``Alert.attributes()``: service, kind, severity, incident, action)
        travel as String message attributes, for the channels that subscribe to the topic."""
        values = {**(attributes or {}), **({DEDUPE_ATTRIBUTE: dedupe_key} if dedupe_key else {})}
        response = self.api.call(
            "publish",
            TopicArn=self.topic_arn,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in values.items()
                if value
            },
        )
        return str(response["MessageId"])
