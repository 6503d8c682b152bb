"""Benchmark: time from fault to decision, from the simulator (virtual time).

The primary dies at 20 different instants within one probe interval (so every phase
between the regions' schedules and the fault is tried); prints min / mean / max time to
the failover decision for the example config and for a fast one, beside Route 53 health
checks' default (request interval 30 s, failure threshold 3).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from arbiter.local.simulator import Scenario, Simulation, load_scenario

ROOT = Path(__file__).resolve().parents[1]

OFFSETS = 20


def detection(path: Path, overrides: dict | None = None) -> tuple[list[float], str, float]:
    _, config = load_scenario(path)
    if overrides:
        config = config.model_copy(update=overrides)
    times = []
    began = time.perf_counter()
    virtual = 0.0
    for i in range(OFFSETS):
        fault = 600 + config.probe.interval * i / OFFSETS
        scenario = Scenario.model_validate(
            {
                "name": "detection",
                "config": {},
                "duration": fault + 900,
                "timeline": [{"kind": "down", "site": "primary", "at": fault}],
            }
        )
        result = Simulation(scenario, config).run()
        virtual += scenario.duration
        switch = next(s for s in result.switches if s.to.value == "secondary")
        assert switch.detection is not None
        times.append(switch.detection)
    label = (
        f"interval {config.probe.interval:g} s, fall {config.decision.fall}, "
        f"{len(config.probe_regions)} regions, quorum {config.quorum}"
    )
    return times, label, virtual / (time.perf_counter() - began)


def main() -> int:
    rows = [
        ("example config", *detection(ROOT / "scenarios" / "01-primary-down-and-back.yaml")),
        ("fast config", *detection(ROOT / "scenarios" / "17-fast-config.yaml")),
    ]
    for name, times, label, speed in rows:
        print(
            f"fault -> decision, {name} ({label}): min {min(times):.0f} s, "
            f"mean {statistics.mean(times):.0f} s, max {max(times):.0f} s "
            f"[simulated at {speed:,.0f}x real time]"
        )
    print(
        "Route 53 health check default (30 s interval x 3 failures): ~90 s to unhealthy, "
        "up to ~120 s with the phase of the first failed check"
    )
    fast = rows[1][1]
    return 0 if max(fast) < 90 else 1


if __name__ == "__main__":
    sys.exit(main())
