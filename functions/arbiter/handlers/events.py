"""The input models of the four functions (Powertools Parser models where AWS defines them)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

ScheduleEvent = EventBridgeModel
StreamEvent = DynamoDBStreamModel


class ActEvent(BaseModel):
    """What the decider and the override function send the act function: strict types."""

    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1, max_length=40)
    transition: int = Field(ge=1)


def stream_services(event: DynamoDBStreamModel) -> list[str]:
    """The services whose observations arrived in this batch, once each, in order."""
    seen: dict[str, None] = {}
    for record in event.Records:
        keys: dict[str, Any] = (record.dynamodb.Keys or {}) if record.dynamodb else {}
        pk = keys.get("pk")
        pk = pk.get("S") if isinstance(pk, dict) else pk
        if isinstance(pk, str) and pk.startswith("SVC#"):
            seen[pk.removeprefix("SVC#")] = None
    return list(seen)
