"""The switch ledger: what every region's decider must agree on, and how a new leader adopts it.

With standby regions (``control.standby_regions``) the table is replicated between regions
asynchronously, so a region that takes over may lack its predecessor's last writes. The one
thing that must never be lost or decided twice is a switch: each one is written to the ledger
(an item with multi-Region strong consistency, ``adapters/leadership.py``) before the local
state records it and before any runbook step runs. A leader whose state lags the ledger adopts
the ledger's switch (``adopt``) before it decides anything: the same switch is carried on (its
runbook restarted, finished steps skipped), never a second one decided in its place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict

from arbiter.core.deferred import DeferredModel
from arbiter.core.model import Event, ServiceState, Transition

if TYPE_CHECKING:  # not at import: every function imports this module, few decide
    from arbiter.core.machine import Outcome

Closed = Literal["done", "failed", "settled"]


class Entry(DeferredModel):
    """The ledger's view of one service: its latest switch, and how its runbook ended. Built
    on first use (``core/deferred.py``): every function imports the leadership adapter."""

    model_config = ConfigDict(extra="forbid")

    transition: Transition
    closed: Closed | None = None
    """None while the runbook may still run."""


def adopt(state: ServiceState, entry: Entry | None) -> tuple[ServiceState, Event | None]:
    """``state`` brought up to the ledger: the ledger's switch when the state does not know it
    (the region it was decided in was lost before the table replicated it), and its end when
    the state still has it open. Returns the state unchanged (and no event) when it is current.

    The version moves past the adopted switch's id, so a switch decided later gets a larger id
    than any the old leader used."""
    if entry is None:
        return state, None
    t = entry.transition
    known = state.transition.id if state.transition is not None else 0
    if t.id > known:
        update: dict[str, object] = {
            "transition": t,
            "active": t.to_site,
            "since": t.decided_at,
            "reason": t.reason,
            "runbook_started_at": None,
            "version": max(state.version, t.id),
        }
        update.update(_closed_fields(state, entry))
        adopted = state.model_copy(update=update)
        ending = f" (its runbook {entry.closed})" if entry.closed else "; its runbook resumes"
        return adopted, Event(
            at=t.decided_at,
            kind="ledger_adopted",
            message=f"switch #{t.id} {t.from_site.value} -> {t.to_site.value} was decided in "
            f"another region and is not in this region's copy of the table yet: taken from "
            f"the ledger{ending}",
            detail={"transition": t.id},
        )
    if t.id == known and entry.closed is not None and state.open_runbook == t.id:
        return state.model_copy(update=_closed_fields(state, entry)), Event(
            at=t.decided_at,
            kind="ledger_adopted",
            message=f"switch #{t.id}: its runbook {entry.closed} in another region",
            detail={"transition": t.id},
        )
    return state, None


def _closed_fields(state: ServiceState, entry: Entry) -> dict[str, object]:
    tid = entry.transition.id
    if entry.closed == "done":
        return {"runbook_done": tid}
    if entry.closed == "failed":
        return {"failed": tid}
    if entry.closed == "settled":
        return {"settled": tid, "failed": None if state.failed == tid else state.failed}
    return {}


def with_adoption(outcome: Outcome, adopted: Event, version: int) -> Outcome:
    """A pass's outcome on top of an adopted switch (``version``: the adopted state's):
    always written (the adoption is a change even when the machine changed nothing more),
    the adoption logged first. The decider, the override service and the simulator use it."""
    new = outcome.state.model_copy(update={"version": max(outcome.state.version, version + 1)})
    return outcome.model_copy(update={"state": new, "events": [adopted, *outcome.events]})
