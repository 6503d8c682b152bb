"""How the decider and the override function start the act function: asynchronously."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from arbiter.core.errors import ProviderError


class ActInvoker(Protocol):
    def start(self, service: str, transition_id: int) -> None: ...


class LambdaActInvoker:
    """``InvocationType=Event``: Lambda queues it and retries a failed run by itself."""

    def __init__(self, function_name: str, client_factory: Callable[[], Any]) -> None:
        self.function_name = function_name
        self._client_factory = client_factory
        self._client: Any = None

    def start(self, service: str, transition_id: int) -> None:
        if self._client is None:
            self._client = self._client_factory()
        payload = json.dumps({"service": service, "transition": transition_id})
        try:
            self._client.invoke(
                FunctionName=self.function_name, InvocationType="Event", Payload=payload
            )
        except (ClientError, BotoCoreError) as exc:
            raise ProviderError(f"cannot start the act function: {exc}") from exc


class InlineActInvoker:
    """Runs the act handler in this process: for the local demo and the simulator."""

    def __init__(self, run: Callable[[dict[str, Any]], Any]) -> None:
        self._run = run
        self.started: list[tuple[str, int]] = []

    def start(self, service: str, transition_id: int) -> None:
        self.started.append((service, transition_id))
        self._run({"service": service, "transition": transition_id})
