"""The channel port in memory: keeps what it was sent; ``fail(n)`` makes the next ``n`` sends
raise ``ProviderError`` (as a throttled or failing endpoint does), ``refuse(n)``
``ProviderRejected`` (as a removed webhook does)."""

from __future__ import annotations

import threading

from arbiter.adapters.channels import Sent
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.core.model import Alert


class MemoryChannel:
    def __init__(self, name: str, kind: str = "memory") -> None:
        self.name = name
        self.label = f"{name} ({kind})"
        self.sent: list[Alert] = []
        self._faults: list[Exception] = []
        self._lock = threading.Lock()

    def fail(self, times: int = 1) -> None:
        with self._lock:
            self._faults = [ProviderError(f"{self.label}: HTTP 503") for _ in range(times)]

    def refuse(self, times: int = 1) -> None:
        with self._lock:
            self._faults = [ProviderRejected(f"{self.label}: HTTP 404") for _ in range(times)]

    def send(self, alert: Alert) -> Sent:
        with self._lock:
            if self._faults:
                raise self._faults.pop(0)
            self.sent.append(alert)
            return Sent(f"kept ({len(self.sent)})")
