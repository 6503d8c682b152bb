"""The notifier: SNS, which fans out to email and chat subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from arbiter.core.errors import ProviderError, ProviderRejected


class Notifier(Protocol):
    def publish(self, subject: str, message: str) -> str: ...


class SnsNotifier:
    def __init__(self, topic_arn: str, client_factory: Callable[[], Any]) -> None:
        self.topic_arn = topic_arn
        self._client_factory = client_factory
        self._client: Any = None

    def publish(self, subject: str, message: str) -> str:
        if self._client is None:
            self._client = self._client_factory()
        try:
            response = self._client.publish(
                TopicArn=self.topic_arn, Subject=subject[:100], Message=message
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"Throttling", "ThrottledException", "InternalError", "KMSThrottling"}:
                raise ProviderError(f"SNS publish: {code}") from exc
            raise ProviderRejected(f"SNS publish: {code}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"SNS publish: {type(exc).__name__}") from exc
        return str(response["MessageId"])
