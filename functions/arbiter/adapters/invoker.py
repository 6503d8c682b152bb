"""How the decider and the override function start the act function: asynchronously."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from arbiter.adapters.aws import AwsApi
from arbiter.core.errors import ProviderError


class ActInvoker(Protocol):
    def start(self, service: str, transition_id: int) -> None: ...


class LambdaActInvoker:
    """``InvocationType=Event``: Lambda queues it and retries a failed run by itself."""

    def __init__(self, function_name: str, client_factory: Callable[[], Any]) -> None:
        self.function_name = function_name
        # Any failure to queue the runbook is worth retrying: the decision is already stored.
        self.api = AwsApi(client_factory, "Lambda", reject_error=ProviderError)

    def start(self, service: str, transition_id: int) -> None:
        payload = json.dumps({"service": service, "transition": transition_id})
        self.api.call(
            "invoke", FunctionName=self.function_name, InvocationType="Event", Payload=payload
        )


class InlineActInvoker:
    """Runs the act handler in this process: for the local demo and the simulator."""

    def __init__(self, run: Callable[[dict[str, Any]], Any]) -> None:
        self._run = run
        self.started: list[tuple[str, int]] = []

    def start(self, service: str, transition_id: int) -> None:
        self.started.append((service, transition_id))
        self._run({"service": service, "transition": transition_id})
