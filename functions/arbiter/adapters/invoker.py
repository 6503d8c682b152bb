"""How the decider and the override function start the act function: a runbook
asynchronously (``start``), a drill synchronously (``drill``, its checklist is the answer)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from arbiter.adapters.aws import AwsApi
from arbiter.core.errors import ProviderError, ProviderRejected


class ActInvoker(Protocol):
    def start(self, service: str, transition_id: int) -> None: ...


@runtime_checkable
class DrillInvoker(Protocol):
    """An ActInvoker that can also run a drill (every one here; the chaos harness's queue
    does not)."""

    def drill(self, service: str) -> dict[str, Any]:
        """Run the service's drill in the act function (which holds the runbook's
        credentials) and return its answer (``{"ok": ..., "drills": [...]}``), never
        notifying. Raises ``ProviderError`` when it could not run or answer."""
        ...


def drill_event(service: str | None, notify: str = "never") -> dict[str, Any]:
    """The act function's drill request (``handlers/events.py::DrillEvent``)."""
    return {"drill": {"service": service, "notify": notify}}


class LambdaActInvoker:
    """``start``: ``InvocationType=Event``, Lambda queues it and retries a failed run by
    itself. ``drill``: ``RequestResponse``, the override function waits for the checklist."""

    def __init__(
        self,
        function_name: str,
        client_factory: Callable[[], Any],
        drill_client_factory: Callable[[], Any] | None = None,
    ) -> None:
        """``drill_client_factory``: a Lambda client whose read timeout outlasts the act
        function and that does not retry on its own (a drill may take minutes; a retried
        one runs twice); default: the ``start`` client."""
        self.function_name = function_name
        # Any failure to queue the runbook is worth retrying: the decision is already stored.
        self.api = AwsApi(client_factory, "Lambda", reject_error=ProviderError)
        self.drill_api = AwsApi(drill_client_factory or client_factory, "Lambda")

    def start(self, service: str, transition_id: int) -> None:
        payload = json.dumps({"service": service, "transition": transition_id})
        self.api.call(
            "invoke", FunctionName=self.function_name, InvocationType="Event", Payload=payload
        )

    def drill(self, service: str) -> dict[str, Any]:
        response = self.drill_api.call(
            "invoke",
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(drill_event(service)),
        )
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            # The act function's own error (a crash, its timeout): its type only, never its
            # message, which may quote anything.
            try:
                kind = json.loads(raw).get("errorType", "unknown")
            except (ValueError, AttributeError):
                kind = "unknown"
            raise ProviderError(
                f"the act function failed running the drill ({response['FunctionError']}: "
                f"{str(kind)[:80]})"
            )
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ProviderRejected("the act function answered the drill with no JSON") from None
        if not isinstance(answer, dict):
            raise ProviderRejected("the act function answered the drill with no JSON object")
        return answer


class InlineActInvoker:
    """Runs the act handler in this process: for the local demo and the simulator."""

    def __init__(self, run: Callable[[dict[str, Any]], Any]) -> None:
        self._run = run
        self.started: list[tuple[str, int]] = []

    def start(self, service: str, transition_id: int) -> None:
        self.started.append((service, transition_id))
        self._run({"service": service, "transition": transition_id})

    def drill(self, service: str) -> dict[str, Any]:
        answer = self._run(drill_event(service))
        if not isinstance(answer, dict):
            raise ProviderRejected("the act function answered the drill with no JSON object")
        return answer
