"""An in-memory action runner: answers fences and hooks as a test scripts them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from arbiter.adapters.actions import ActionCall, ActionDone
from arbiter.core.config import Action
from arbiter.core.errors import ArbiterError


@dataclass
class MemoryActions:
    outcomes: dict[str, list[ActionDone | ArbiterError]] = field(default_factory=dict)
    """By step name (``fence:primary``): what its next calls answer, first in first out; a
    step with nothing scripted is confirmed at once."""
    calls: list[ActionCall] = field(default_factory=list)
    on_call: Callable[[ActionCall], None] | None = None
    """Called with each call before it is answered (a test's probe of the moment)."""

    def script(self, step: str, *outcomes: ActionDone | ArbiterError) -> None:
        self.outcomes.setdefault(step, []).extend(outcomes)

    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        queued = self.outcomes.get(call.step)
        outcome = queued.pop(0) if queued else ActionDone("confirmed", 0.0)
        if isinstance(outcome, ArbiterError):
            raise outcome
        return outcome

    def steps(self) -> list[str]:
        return [call.step for call in self.calls]
