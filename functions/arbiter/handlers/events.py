"""The input models of the four functions (Powertools Parser models where AWS defines them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from arbiter.core.config import validation_messages
from arbiter.core.deferred import DeferredModel
from arbiter.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel


def parse(event: Any, model: Any) -> Any:
    """Powertools' ``parse``, imported by the first call: its parser package (with pydantic's
    networks and importlib.metadata) costs a cold import a fifth of boto3's."""
    from aws_lambda_powertools.utilities.parser import parse as powertools_parse

    return powertools_parse(event=event, model=model)


def __getattr__(name: str) -> Any:
    """``ScheduleEvent`` (Powertools' EventBridgeModel) and ``StreamEvent`` (its
    DynamoDBStreamModel), imported when a function names them: the act function imports this
    module and uses neither, and the stream's models alone cost the probe's cold start more
    than the whole schedule event."""
    if name == "ScheduleEvent":
        from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

        return EventBridgeModel
    if name == "StreamEvent":
        from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

        return DynamoDBStreamModel
    # Anything else, the import system's own probes too (``__path__``), is not here.
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ActEvent(DeferredModel):
    """What the decider and the override function send the act function: strict types."""

    model_config = ConfigDict(extra="forbid", strict=True)

    service: str = Field(min_length=1, max_length=40)
    transition: int = Field(ge=1)


class DrillRequest(DeferredModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    service: str | None = Field(default=None, min_length=1, max_length=40)
    """One service, or None: every service in the config, one after the other."""
    notify: Literal["always", "failures", "never"] = "failures"
    """``failures``: one notification per service with a failing item (what the weekly
    schedule sends); ``always``: one per service; ``never``: the answer only (what the
    override function sends, as it returns the checklist itself)."""


class DrillEvent(DeferredModel):
    """What the drill schedule and the override function send the act function:
    ``{"drill": {"service": "web", "notify": "failures"}}``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    drill: DrillRequest


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


def refused(what: str, exc: ValidationError) -> dict[str, Any]:
    """A malformed ``what`` event (``act``, ``decide``, ``notify`` ...): logged, and answered
    ``{"ok": false, ...}`` with one problem per field. Never raised: Lambda would retry it
    twice more, to the same end."""
    problems = validation_messages(exc)
    logger.error(f"malformed {what} event refused", problems=problems)
    return {"ok": False, "error": f"malformed {what} event", "problems": problems}
