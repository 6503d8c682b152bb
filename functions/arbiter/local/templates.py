"""``arbiter simulate --config FILE``: the operator's own config through a built-in set of
scenarios, without writing one.

Each template is a scenario (``local/simulator.py``) built in code from the config: its
times follow the config's probe interval, fall, rise, staleness and failback rule, and its
expectations follow the failback policy (automatic, gated or manual). What a template
expects is what a correct monitor does with *any* config; when the config makes it do
something else (a quorum of 1 that lets one region's broken network switch, a fall of 1
that switches on a single failed round), the template says so and the command exits 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbiter.core.config import Config, Service
from arbiter.local.simulator import SCHEDULE, Result, Scenario, Simulation


@dataclass(frozen=True)
class Timing:
    """The config's clock, in seconds."""

    interval: float
    fall: int
    rise: int
    stale_after: float
    hold: float

    @property
    def detection(self) -> float:
        """The longest a correct monitor may take to fail over (the simulator's bound):
        ``fall`` rounds, one interval of phase, one decider schedule of slack."""
        return (self.fall + 1) * self.interval + SCHEDULE

    @property
    def warm_up(self) -> float:
        """When the first fault starts: every region has reported and the vote settled."""
        return _minutes(max(600.0, 2 * self.stale_after + (self.rise + 1) * self.interval))

    @property
    def outage(self) -> float:
        return _minutes(max(1800.0, 4 * self.detection))

    @property
    def failback(self) -> float:
        """Enough for an automatic failback after the primary is back: rise rounds, the
        hold, and slack."""
        return _minutes((self.rise + 2) * self.interval + self.hold + 3 * SCHEDULE)


def _minutes(seconds: float) -> float:
    return math.ceil(seconds / 60) * 60


def timing(config: Config, service: Service) -> Timing:
    return Timing(
        interval=config.probe.interval,
        fall=config.decision.fall,
        rise=config.decision.rise,
        stale_after=config.stale_after,
        hold=service.failback.hold,
    )


Template = Callable[[Config, Service, Timing], dict[str, Any]]
"""A scenario as the simulator's YAML would hold it; with ``skip``, why it does not apply
to this config."""


def primary_down_and_back(config: Config, service: Service, t: Timing) -> dict[str, Any]:
    start, end = t.warm_up, t.warm_up + t.outage
    timeline: list[dict[str, Any]] = [
        {"kind": "down", "site": "primary", "at": start, "until": end}
    ]
    policy, gated = service.failback.policy, service.failback.gate is not None
    expect: dict[str, Any] = {"max_detection": t.detection}
    if policy == "manual":
        expect.update(
            switches=["secondary"],
            final_status="ACTIVE_SECONDARY",
            events={"awaiting_operator": 1},
        )
        what = "failover, then it waits for an operator to switch back (failback: manual)"
    else:
        if gated:  # the gate says synced once the primary is back
            timeline.append({"kind": "gate", "at": end, "synced": True})
        expect.update(switches=["secondary", "primary"], final_status="ACTIVE_PRIMARY")
        what = "failover, then automatic failback after the hold" + (
            " once the gate says synced" if gated else ""
        )
    return {
        "name": "primary down, then back",
        "description": f"The primary is down for {_fmt(t.outage)}: {what}.",
        "duration": end + t.failback,
        "timeline": timeline,
        "expect": expect,
    }


def region_cut_off(config: Config, service: Service, t: Timing) -> dict[str, Any]:
    region = config.probe_regions[0]
    start = t.warm_up
    return {
        "name": "one probe region cut off",
        "description": f"{region} loses its path to the primary for {_fmt(t.outage)}; the "
        "other regions still see it UP: no quorum for DOWN, no switch.",
        "duration": start + t.outage + t.failback,
        "timeline": [
            {
                "kind": "down",
                "site": "primary",
                "regions": [region],
                "at": start,
                "until": start + t.outage,
            }
        ],
        "expect": {"switches": [], "final_status": "ACTIVE_PRIMARY"},
    }


def flapping_primary(config: Config, service: Service, t: Timing) -> dict[str, Any]:
    duration = _minutes(max(7200.0, 100 * t.interval))
    return {
        "name": "a flapping primary",
        "description": "The primary fails 10% of its rounds at random (seed 7): noise, not "
        "an outage; fall filters it: no switch.",
        "duration": duration,
        "seed": 7,
        "timeline": [{"kind": "flap", "site": "primary", "probability": 0.1, "at": 0}],
        "expect": {"switches": [], "final_status": "ACTIVE_PRIMARY"},
    }


def both_down(config: Config, service: Service, t: Timing) -> dict[str, Any]:
    start, end = t.warm_up, t.warm_up + t.outage
    return {
        "name": "both sites down",
        "description": "Both sites fail at once: nowhere to go; one 'both down' alert, no "
        "switch, one 'recovered' when they come back.",
        "duration": end + t.failback,
        "timeline": [
            {"kind": "down", "site": "primary", "at": start, "until": end},
            {"kind": "down", "site": "secondary", "at": start, "until": end},
        ],
        "expect": {
            "switches": [],
            "events": {"both_down": 1, "both_recovered": 1},
            "final_status": "ACTIVE_PRIMARY",
        },
    }


def short_blip(config: Config, service: Service, t: Timing) -> dict[str, Any]:
    if t.fall < 2:
        return {
            "name": "a blip shorter than fall",
            "skip": "fall is 1: every failed round counts, so no blip is shorter than fall",
        }
    blip = (t.fall - 1) * t.interval - 1
    start = t.warm_up
    return {
        "name": "a blip shorter than fall",
        "description": f"The primary is down for {_fmt(blip)}: fewer than fall ({t.fall}) "
        "rounds in every region see it; no switch.",
        "duration": start + t.outage,
        "timeline": [{"kind": "down", "site": "primary", "at": start, "until": start + blip}],
        "expect": {"switches": [], "final_status": "ACTIVE_PRIMARY"},
    }


TEMPLATES: tuple[Template, ...] = (
    primary_down_and_back,
    region_cut_off,
    flapping_primary,
    both_down,
    short_blip,
)


@dataclass
class Run:
    name: str
    result: Result | None = None
    skipped: str | None = None
    """Why the template does not apply to this config."""

    @property
    def ok(self) -> bool:
        return self.result is None or self.result.ok


def run_templates(path: str | Path, config: Config, service: Service) -> list[Run]:
    """Every template against ``service`` of ``config``: nothing is written anywhere."""
    t = timing(config, service)
    runs = []
    for template in TEMPLATES:
        built = template(config, service, t)
        if "skip" in built:
            runs.append(Run(built["name"], skipped=built["skip"]))
            continue
        scenario = Scenario.model_validate({**built, "config": str(path), "service": service.name})
        runs.append(Run(scenario.name, Simulation(scenario, config).run()))
    return runs


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"
