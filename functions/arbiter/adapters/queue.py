"""The rounds queue: the ticker sends each round boundary as one delayed SQS message.

The port is one call, ``send_batch``: up to ten messages (SQS's batch limit), each with its
own delay; it answers which entries failed and why, so the caller can retry just those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from arbiter.adapters.aws import AwsApi
from arbiter.core.errors import ArbiterError

BATCH_LIMIT = 10
"""SQS SendMessageBatch: at most ten entries per request."""


@dataclass(frozen=True)
class Delayed:
    id: str
    """Unique within one batch: letters, digits, ``-`` and ``_``, up to 80 characters."""
    body: str
    delay: int
    """Seconds, 0..900."""


class RoundQueue(Protocol):
    def send_batch(self, messages: Sequence[Delayed]) -> dict[str, str]:
        """Send up to ``BATCH_LIMIT`` messages; returns why each one not sent was not, by id.
        Never raises for a failed send: a whole failed request fails every entry."""
        ...


class SqsRoundQueue:
    """The RoundQueue on an SQS standard queue (FIFO queues have no per-message timers)."""

    def __init__(self, queue_url: str, client_factory: Callable[[], Any]) -> None:
        self.queue_url = queue_url
        self.api = AwsApi(client_factory, "SQS", {"KmsThrottled", "RequestThrottled"})

    def send_batch(self, messages: Sequence[Delayed]) -> dict[str, str]:
        if not messages:
            return {}
        if len(messages) > BATCH_LIMIT:
            raise ValueError(f"{len(messages)} messages: SQS takes at most {BATCH_LIMIT}")
        try:
            answer = self.api.call(
                "send_message_batch",
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": m.id, "MessageBody": m.body, "DelaySeconds": m.delay} for m in messages
                ],
            )
        except ArbiterError as exc:
            return {m.id: str(exc) for m in messages}
        return {str(entry.get("Id")): _why(entry) for entry in answer.get("Failed", [])}


def _why(entry: dict[str, Any]) -> str:
    """One failed entry, as SQS explains it (code and message; a body is never quoted)."""
    message = str(entry.get("Message") or "")
    detail = f": {message}" if message else ""
    return f"SQS send_message_batch: {entry.get('Code', 'failed')}{detail}"[:300]
