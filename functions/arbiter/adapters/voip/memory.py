"""An in-memory VoIP provider: the fake the runbook's unit tests and the demo use. It
follows the same contract as the real adapters (``tests/contract/voip_contract.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.errors import ArbiterError, ProviderRejected, RetryableError
from arbiter.core.runbook import VoipItem, VoipStep


@dataclass
class MemoryVoip:
    label: str = "memory (voip)"
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each number (or origination URL) and its fields; an item not here does not exist."""
    faults: list[ArbiterError] = field(default_factory=list)
    """Raised by the next calls, one each, first in first out."""
    applied: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(key, item, fields) of every change made."""
    reads: int = 0

    attempts: int = 3
    """Like an HTTP adapter, a call tries a retryable fault this many times in all."""

    def _fault(self) -> None:
        for attempt in range(1, self.attempts + 1):
            if not self.faults:
                return
            fault = self.faults.pop(0)
            if not isinstance(fault, RetryableError) or attempt == self.attempts:
                raise fault

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        self._fault()
        self.reads += 1
        found = {}
        for wanted in step.items:
            if wanted.item not in self.items:
                raise ProviderRejected(f"{self.label}: {wanted.item} is not on this account")
            have = self.items[wanted.item]
            found[wanted.item] = {k: have.get(k) for k in wanted.fields}
        return found

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        self._fault()
        for change in changes:
            if change.item not in self.items:
                raise ProviderRejected(f"{self.label}: {change.item} is not on this account")
            self.items[change.item].update(change.fields)
            self.applied.append((key, change.item, dict(change.fields)))
