"""An in-memory DNS provider that keeps the port's contract: for fast tests, the simulator
and benchmarks. ``faults`` queues errors for the next calls; ``apply_delay`` makes a change
take that long (on its clock) before ``wait_applied`` sees it live."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

from arbiter.adapters.dns import Change
from arbiter.core.errors import DeadlineExceeded, ProviderRejected
from arbiter.core.records import RecordSet, RecordType, fqdn


def _zone_key(zone: str) -> str:
    return zone.lower().removesuffix(".")


class MemoryDns:
    def __init__(
        self,
        label: str = "memory",
        zones: Sequence[str] = (),
        apply_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.zones: dict[str, dict[tuple[str, str], RecordSet]] = {_zone_key(z): {} for z in zones}
        self.apply_delay = apply_delay
        self.faults: list[Exception] = []
        self.calls: list[str] = []
        self._live_at: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._clock = clock
        self._sleep = sleep

    def add_zone(self, zone: str) -> None:
        self.zones.setdefault(_zone_key(zone), {})

    def _zone(self, op: str, zone: str) -> dict[tuple[str, str], RecordSet]:
        self.calls.append(op)
        if self.faults:
            raise self.faults.pop(0)
        try:
            return self.zones[_zone_key(zone)]
        except KeyError:
            raise ProviderRejected(f"{self.label} {op}: no zone {zone}") from None

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        sets = self._zone("upsert", zone)
        change = Change(id=None)
        for record in records:
            key = (record.name.lower(), record.type.value)
            if record.same_as(sets.get(key)):
                change.unchanged.append(record.label)
            else:
                sets[key] = record
                change.changed.append(record.label)
        if change.changed:
            change.id = f"memory-{next(self._ids)}"
            self._live_at[change.id] = self._clock() + self.apply_delay
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        if change.id is None:
            return 0.0
        start = self._clock()
        live = self._live_at[change.id]
        if live > deadline:
            self._sleep(max(0.0, deadline - start))
            raise DeadlineExceeded(f"{self.label} change {change.id} not live by the deadline")
        self._sleep(max(0.0, live - start))
        return max(0.0, live - start)

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        return self._zone("read", zone).get((fqdn(name).lower(), RecordType(rtype).value))
