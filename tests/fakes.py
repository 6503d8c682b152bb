"""A world of in-memory fakes for fast tests of the services: the store, the notifier, the
invoker, one ``MemoryDns`` per DNS provider, one ``MemoryVoip`` per VoIP provider (holding
every routed item at the primary site) and a ``MemoryActions`` for fences and hooks, wired
into a ``Runtime`` (never installed globally), with a settable clock. Each fake keeps its
port's contract (tests/contract/)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from arbiter.adapters.actions.memory import MemoryActions
from arbiter.adapters.dns import Change
from arbiter.adapters.dns.memory import MemoryDns
from arbiter.adapters.memory import MemoryNotifier, MemoryStore, RecordingInvoker
from arbiter.adapters.voip.memory import MemoryVoip
from arbiter.core.config import Config, SiteName, parse_config
from arbiter.core.records import RecordSet
from arbiter.runtime import Runtime
from arbiter.services import override
from arbiter.services.actor import ActResult, run_transition
from arbiter.services.decider import decide_service
from tests.factories import T0, at, config_dict, round_of

SERVICE = "web"
PRIMARY, SECONDARY = ("203.0.113.10",), ("198.51.100.10",)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


class LambdaTimedOut(Exception):
    """Lambda stopped the invocation: nothing after this point of it runs."""


class WatchedDns(MemoryDns):
    """A MemoryDns that records every upsert it is asked for (``asked``: zone and the values
    of each record set) and every one that changed something (``changed``), and runs
    ``before``/``after`` hooks around the change."""

    def __init__(self, label: str, zones: Sequence[str] = ()) -> None:
        super().__init__(label, zones)
        self.asked: list[tuple[str, list[tuple[str, ...]]]] = []
        self.changed: list[tuple[str, list[str]]] = []
        self.before: Callable[[str, Sequence[RecordSet]], None] | None = None
        self.after: Callable[[str, Sequence[RecordSet]], None] | None = None

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        self.asked.append((zone, [r.values for r in records]))
        if self.before is not None:
            self.before(zone, records)
        change = super().upsert(zone, records, comment)
        if change.changed:
            self.changed.append((zone, list(change.changed)))
        if self.after is not None:
            self.after(zone, records)
        return change

    def values(self, zone: str, name: str, rtype: str = "A") -> tuple[str, ...]:
        found = self.read(zone, name, rtype)
        return found.values if found else ()


def site_of(records: Sequence[RecordSet]) -> str:
    """Which site's values an upsert sets."""
    return "secondary" if records[0].values == SECONDARY else "primary"


@dataclass
class MemoryWorld:
    config: Config
    store: MemoryStore
    notifier: MemoryNotifier
    invoker: RecordingInvoker
    clock: Clock
    dns: dict[str, WatchedDns]
    rt: Runtime
    voip: dict[str, MemoryVoip]
    actions: MemoryActions

    def reconfigure(self, data: dict[str, Any]) -> None:
        """The operator deploys another config: the next invocation reads it."""
        self.config = self.rt.config = parse_config(_without_verify(data))

    def report_keys(self) -> list[str]:
        """The dedupe keys of what was published since the last call."""
        return [m.dedupe_key or "" for m in self.notifier.take()]

    def events(self, limit: int = 100) -> list[str]:
        return [e.kind for e in self.store.recent_events(SERVICE, limit)]


def _without_verify(data: dict[str, Any]) -> dict[str, Any]:
    """Verify steps off: no fake authority answers them here."""
    data = copy.deepcopy(data)
    for service in data["services"]:
        service.setdefault("dns", {}).setdefault("verify", {"enabled": False})
    return data


def memory_world(data: dict[str, Any]) -> MemoryWorld:
    """``data`` is a config (``tests.factories.config_dict``); each provider its records use
    gets a WatchedDns holding their zones."""
    config = parse_config(_without_verify(data))
    dns: dict[str, WatchedDns] = {}
    for service in config.services:
        for record in service.dns.records:
            dns.setdefault(record.provider, WatchedDns(record.provider)).add_zone(record.zone)
    voip: dict[str, MemoryVoip] = {}
    for service in config.services:
        for route in service.voip:
            fake = voip.setdefault(route.provider, MemoryVoip(f"{route.provider} (memory)"))
            for item, fields in route.wanted(SiteName.PRIMARY):
                fake.items[item] = dict(fields)
    actions = MemoryActions()
    store, notifier, invoker, clock = MemoryStore(), MemoryNotifier(), RecordingInvoker(), Clock()
    rt = Runtime(
        config=config,
        store=store,
        notifier=notifier,
        invoker=invoker,
        dns=dns,
        region="eu-west-1",
        clock=clock,
        sleep=lambda seconds: None,
        voip=voip,
        actions=actions,
    )
    return MemoryWorld(config, store, notifier, invoker, clock, dns, rt, voip, actions)


def seed(world: MemoryWorld, first: int, last: int, **kw: Any) -> None:
    """Store rounds ``first`` .. ``last - 1`` from every region (see ``round_of``)."""
    for n in range(first, last):
        for observation in round_of(n, **kw):
            world.store.put_observation(observation, observation.round_at + timedelta(days=1))


def failed_over(world: MemoryWorld) -> int:
    """Decide round by round until the switch to the secondary; return its id."""
    for n in range(5):
        seed(world, n, n + 1, primary=n < 3)
        world.clock.now = at(n)
        decided = decide_service(world.rt, SERVICE, at(n))
    assert decided.outcome.transition is not None
    return decided.outcome.transition.id


def switch_back(world: MemoryWorld, reason: str = "back home") -> int:
    """An operator switches to the primary (forced: the votes still say it is DOWN)."""
    command = {"command": "switch", "to": "primary", "reason": reason, "force": True}
    answer = operator(world, command)
    return int(answer["transition"])


def operator(world: MemoryWorld, command: dict[str, Any]) -> dict[str, Any]:
    answer = override.handle(world.rt, command, world.clock())
    assert answer["ok"], answer
    return answer


def act(
    world: MemoryWorld,
    tid: int,
    sleep: Callable[[float], None] = lambda seconds: None,
    seconds_left: float = 300.0,
) -> ActResult:
    """One act invocation with ``seconds_left`` of Lambda time."""
    return run_transition(
        world.rt, SERVICE, tid, world.clock, time.monotonic() + seconds_left, sleep
    )


def two_services() -> MemoryWorld:
    """The default config's ``web`` and a copy of it named ``api`` (its own record name)."""
    data = config_dict()
    api = copy.deepcopy(data["services"][0])
    api["name"] = "api"
    api["dns"]["records"][0]["name"] = "api.example.com"
    data["services"].append(api)
    return memory_world(data)
