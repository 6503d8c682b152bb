"""The input models of sub-minute probing: the ticker's schedule event and the rounds
queue's SQS event. Plain pydantic, no config import: the ticker loads only this (its cold
start stays small)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, Json, field_validator

from arbiter.core.deferred import DeferredModel


class TickEvent(DeferredModel):
    """The EventBridge scheduled event that invokes the ticker; only ``time`` is used: its
    minute is the scheduled minute (``core/schedule.py::owned_boundaries``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type", min_length=1)
    time: AwareDatetime


class RoundMessage(DeferredModel):
    """A round message's body: ``{"round_at": "2026-01-01T12:01:10Z"}`` (services/tick.py)."""

    model_config = ConfigDict(extra="forbid")

    round_at: AwareDatetime

    @field_validator("round_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class QueuedRound(DeferredModel):
    """One SQS record of the event source mapping (the fields Arbiter reads)."""

    model_config = ConfigDict(extra="ignore")

    messageId: str = Field(min_length=1)
    eventSource: Literal["aws:sqs"]
    body: Json[RoundMessage]
    attributes: dict[str, str] = Field(default_factory=dict)

    @property
    def receive_count(self) -> int:
        """SQS's ApproximateReceiveCount: above 1, the message was delivered before."""
        value = self.attributes.get("ApproximateReceiveCount", "1")
        return int(value) if value.isdigit() else 1


class RoundsEvent(DeferredModel):
    """What the rounds queue's event source mapping sends the probe: one record (batch
    size 1); more are run one after the other, each checked for lateness when its turn
    comes."""

    model_config = ConfigDict(extra="ignore")

    Records: list[QueuedRound] = Field(min_length=1)
