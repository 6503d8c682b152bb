"""Override function: the operator's commands (status, history, switch, pause, resume, ack,
drill), through IAM."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from arbiter import runtime
from arbiter.observability import lambda_context, logger, metrics
from arbiter.services import override


@lambda_context
@metrics.log_metrics
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rt = runtime.current()
    result = override.handle(rt, event, rt.clock())
    logger.info(
        "override",
        ok=result["ok"],
        command=_field(event, "command"),
        service=_field(event, "service"),
        operator=_field(event, "operator"),
        changed=result.get("changed"),
        problems=result.get("problems"),
    )
    return result


def _field(event: Any, name: str) -> str | None:
    """A field of the event for the log line (the timeline reads it): a string of a sane
    length, else nothing; never a megabyte of whatever was sent."""
    value = event.get(name) if isinstance(event, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else None
