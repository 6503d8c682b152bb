"""What the chaos suite counts, and the table it prints.

The harness knows the truth (which site is really down, which region can really see it); the
counters compare what Arbiter did against it:

- **false switches**: a switch decided by the decider away from a site that was not really
  down (down for the last ``fall`` rounds; a failback excepted), to a site that was really
  down, or undoing an operator's pin while the pinned site was up;
- **missed switches**: the site DNS serves really down (or DNS split between sites) while a
  site is really up, for longer than the detection bound ``(fall + 1) x interval + 60 s``,
  while a quorum of probe regions was fresh and could see it, and the service was not
  paused, pinned or FAILED;
- **acted twice**: a DNS change made while the state's current transition targets another
  site (a superseded runbook acting), or two runbooks inside a DNS change of one service at
  once;
- **alerts lost / duplicated**: a dedupe key written to the outbox that never reached the
  inbox after the final drain; a key received more than once;
- **mismatches**: after the drain, a record whose served value is not the one of the
  state's active site, or a runbook still open;
- **wrong rounds**: a probe round that saw a reachable healthy site fail, or a broken site
  pass.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from arbiter.core.config import SiteName

FIGURES = ("false", "missed", "acted_twice", "lost", "duplicated", "mismatch", "wrong_rounds")
HEADINGS = {
    "false": "false",
    "missed": "missed",
    "acted_twice": "acted 2x",
    "lost": "lost",
    "duplicated": "dup",
    "mismatch": "mismatch",
    "wrong_rounds": "wrong rnd",
}


@dataclass
class Figures:
    false: int = 0
    missed: int = 0
    acted_twice: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatch: int = 0
    wrong_rounds: int = 0

    def total(self) -> int:
        return sum(getattr(self, name) for name in FIGURES)

    def add(self, other: Figures) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Switch:
    """A transition as it was written: who decided it, where to, when and why."""

    id: int
    by: str
    from_site: SiteName
    to_site: SiteName
    at: datetime
    reason: str

    def short(self) -> str:
        return f"{'op' if self.by == 'operator' else 'dec'}>{self.to_site.value[0].upper()}"


@dataclass
class Truth:
    """Which site was really down at each round (by round index), for the counters."""

    down: list[dict[SiteName, bool]] = field(default_factory=list)

    def record(self, down: dict[SiteName, bool]) -> None:
        self.down.append(dict(down))

    def now(self, site: SiteName) -> bool:
        return bool(self.down) and self.down[-1][site]

    def down_for(self, site: SiteName, rounds: int) -> bool:
        """Down in each of the last ``rounds`` rounds."""
        recent = self.down[-rounds:]
        return len(recent) == rounds and all(r[site] for r in recent)


@dataclass
class Outcome:
    """One scenario's result."""

    name: str
    title: str
    figures: Figures
    switches: list[Switch]
    expected: list[str]
    problems: list[str]
    seconds: float
    alerts: Counter[str] = field(default_factory=Counter)
    timeline: list[str] = field(default_factory=list)
    lingering_checks: int = 0
    """Check threads still alive at the end of a round (a check that outlived its deadline)."""

    @property
    def ok(self) -> bool:
        return self.figures.total() == 0 and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "ok": self.ok,
            "switches": [s.short() for s in self.switches],
            "expected": self.expected,
            "figures": asdict(self.figures),
            "problems": self.problems,
            "alerts": dict(sorted(self.alerts.items())),
            "lingering_checks": self.lingering_checks,
            "seconds": round(self.seconds, 1),
        }


def header(width: int) -> str:
    cells = "".join(f"{HEADINGS[n]:>10}" for n in FIGURES)
    return f"{'scenario':<{width}}  {'switches':<16}{cells}  {'as expected':<11}  time"


def row(outcome: Outcome, width: int) -> str:
    switches = " ".join(s.short() for s in outcome.switches) or "-"
    cells = "".join(f"{getattr(outcome.figures, n):>10}" for n in FIGURES)
    verdict = "yes" if not outcome.problems else "NO"
    return f"{outcome.name:<{width}}  {switches:<16}{cells}  {verdict:<11}  {outcome.seconds:4.1f}s"


def totals(outcomes: list[Outcome]) -> Figures:
    total = Figures()
    for outcome in outcomes:
        total.add(outcome.figures)
    return total


def total_row(outcomes: list[Outcome], width: int) -> str:
    total = totals(outcomes)
    cells = "".join(f"{getattr(total, n):>10}" for n in FIGURES)
    count = sum(len(o.switches) for o in outcomes)
    expected = sum(1 for o in outcomes if not o.problems)
    seconds = sum(o.seconds for o in outcomes)
    label = f"TOTAL ({len(outcomes)} scenarios)"
    return (
        f"{label:<{width}}  {f'{count} switches':<16}{cells}  "
        f"{f'{expected}/{len(outcomes)}':<11}  {seconds:4.0f}s"
    )


def as_json(outcomes: list[Outcome]) -> str:
    return json.dumps(
        {
            "scenarios": [o.as_dict() for o in outcomes],
            "totals": asdict(totals(outcomes)),
            "ok": all(o.ok for o in outcomes),
        },
        indent=2,
    )
