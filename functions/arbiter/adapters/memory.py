"""In-memory fakes of the services' ports: the store, the notifier and the act invoker.

Each keeps its port's contract: ``tests/contract/`` runs one suite per port against the real
adapter (on moto) and against the fake, so fast tests, the simulator and benchmarks can use
these and still mean something. Like ``dns/memory.py``, they hold no secrets and open no
sockets.

``MemoryStore`` keeps ``DynamoStore``'s semantics to the condition: the same writes land
together or not at all, a lost condition raises the same exception, and documents go through
the same JSON round trip (so nothing a caller holds is shared with the store). One lock makes
every call atomic, as each of DynamoStore's requests is, so act invocations in threads race
as they would against DynamoDB.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arbiter.adapters.store import (
    MAX_TRANSACTION,
    Claim,
    EventPage,
    Lease,
    RunRecord,
    Snapshot,
    StoreError,
    StoreRejected,
    _check_page_limit,
    _lost,
    _ts,
    decode_cursor,
    encode_cursor,
)
from arbiter.core.errors import ConflictError, ProviderError, ProviderRejected
from arbiter.core.model import Alert, Event, Observation, ServiceState
from arbiter.core.runbook import Plan, StepResult, StepStatus

# -- the store ------------------------------------------------------------------------


@dataclass
class _Pending:
    """One outbox entry: the alert, and who holds it for delivery until when."""

    doc: str
    claimed_until: str | None = None
    """A table stamp (``_ts``): compared as DynamoDB compares the strings."""
    attempts: int = 0


@dataclass
class _Run:
    plan: str | None = None
    steps: dict[str, str] = field(default_factory=dict)


@dataclass
class _Items:
    """One service's items, kept as the table keeps them: documents as JSON, times as the
    table's stamps, events and rounds under their sort keys."""

    state: str | None = None
    """The whole ``ServiceState`` (version, runbook_done and failed included)."""
    lease: Lease | None = None
    outbox: dict[str, _Pending] = field(default_factory=dict)
    runs: dict[int, _Run] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    """(sort key, document), kept in sort-key order."""
    rounds: dict[str, str] = field(default_factory=dict)
    """sort key -> document."""

    def current(self) -> ServiceState | None:
        return None if self.state is None else ServiceState.model_validate_json(self.state)

    def open_runbook(self) -> int | None:
        """What DynamoStore keeps in the state item's top-level ``open_runbook``."""
        state = self.current()
        return None if state is None else state.open_runbook


def _conflict(failed: list[int]) -> ConflictError:
    """The ConflictError DynamoStore's API makes of a cancelled transaction: ``failed`` are
    the indexes of the items whose condition failed."""
    exc = ConflictError()
    exc.failed_items = failed  # type: ignore[attr-defined]
    return exc


def _stamp(at: datetime) -> datetime:
    """A time as it comes back from the table: UTC, to the microsecond."""
    return datetime.fromisoformat(_ts(at))


_DELIVERED = "delivered"
"""Sorts after every table stamp; never compared, only matched."""


class MemoryStore:
    """The Store port in memory, with DynamoStore's semantics and exceptions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[str, _Items] = {}
        self._deliveries: dict[str, str] = {}
        """Delivery key -> its claim's end (a table stamp), or _DELIVERED."""
        self.reads = 0
        """Read requests, counted as DynamoStore counts them (one per Query or GetItem)."""

    def _items(self, service: str) -> _Items:
        return self._services.setdefault(service, _Items())

    # -- observations ------------------------------------------------------------------

    def put_observation(self, obs: Observation, expires_at: datetime, once: bool = False) -> bool:
        """``expires_at`` is the table's TTL: DynamoDB deletes the item at some point after
        it, with no promise when; this keeps it (readers never rely on it being gone). With
        ``once``, a round already stored under the same key is kept, as DynamoStore's
        condition keeps it."""
        with self._lock:
            sk = f"OBS#{_ts(obs.round_at)}#{obs.region}"
            rounds = self._items(obs.service).rounds
            if once and sk in rounds:
                return False
            rounds[sk] = obs.model_dump_json()
            return True

    def rounds_since(self, service: str, since: datetime) -> list[Observation]:
        """Rounds stamped after ``since`` (to the microsecond), ordered by stamp then region:
        DynamoStore's key range, on the same keys."""
        with self._lock:
            self.reads += 1
            lo, hi = f"OBS#{_ts(since)}~", "OBS#~"
            rounds = self._items(service).rounds
            docs = [rounds[sk] for sk in sorted(rounds) if lo <= sk <= hi]
        return [Observation.model_validate_json(doc) for doc in docs]

    # -- state -------------------------------------------------------------------------

    def load(self, service: str) -> Snapshot:
        with self._lock:
            self.reads += 1
            items = self._items(service)
            state = items.current() or ServiceState(service=service)
            outbox = [Alert.model_validate_json(p.doc) for p in items.outbox.values()]
            lease = items.lease
        outbox.sort(key=lambda a: (a.at, a.key))
        return Snapshot(state, lease, outbox)

    def load_state(self, service: str) -> ServiceState:
        return self.load(service).state

    def save_state(
        self,
        state: ServiceState,
        expected_version: int,
        events: Iterable[Event],
        alerts: Iterable[Alert] = (),
    ) -> None:
        """Write the state if nobody else did since ``expected_version`` (0: if there is no
        state yet), with its alerts and events; else ConflictError and nothing written."""
        alerts, events = list(alerts), list(events)
        _check_transaction(1, alerts)
        with self._lock:
            items = self._items(state.service)
            current = items.current()
            if expected_version == 0:
                ok = current is None
            else:
                ok = current is not None and current.version == expected_version
            if not ok:
                raise ConflictError()
            items.state = state.model_dump_json()
            self._write(items, events, alerts)

    @staticmethod
    def _write(items: _Items, events: list[Event], alerts: list[Alert]) -> None:
        """Put the alerts (a put replaces an entry, its claim included) and the events."""
        for alert in alerts:
            items.outbox[alert.key] = _Pending(alert.model_dump_json())
        _add_events(items, events)

    def append_events(self, service: str, events: Iterable[Event], first_seq: int = 0) -> None:
        events = list(events)
        with self._lock:
            _add_events(self._items(service), events, first_seq)

    def recent_events(self, service: str, limit: int = 20) -> list[Event]:
        if limit < 1:  # botocore refuses it before sending; DynamoStore calls that retryable
            raise StoreError("DynamoDB query: ParamValidationError")
        with self._lock:
            self.reads += 1
            docs = [doc for _, doc in self._items(service).events[-limit:]]
        return [Event.model_validate_json(doc) for doc in docs]

    def events_page(self, service: str, limit: int, before: str | None = None) -> EventPage:
        """DynamoStore's page: the same sort keys, the same cursors, the same end."""
        _check_page_limit(limit)
        upper = decode_cursor(service, before) if before is not None else "EVT#~"
        with self._lock:
            self.reads += 1
            events = self._items(service).events
            older = events[: bisect.bisect_left(events, (upper, ""))]
            shown = list(reversed(older[-limit:]))
            more = len(older) > limit
        cursors = [encode_cursor(service, sk) for sk, _ in shown]
        return EventPage(
            [Event.model_validate_json(doc) for _, doc in shown],
            cursors[-1] if more else None,
            cursors,
        )

    # -- runbook progress --------------------------------------------------------------

    def load_steps(self, service: str, transition_id: int) -> dict[str, StepResult]:
        return self.load_run(service, transition_id).steps

    def load_run(self, service: str, transition_id: int) -> RunRecord:
        with self._lock:
            self.reads += 1
            run = self._items(service).runs.get(transition_id)
            if run is None:
                return RunRecord(None, {})
            plan, steps = run.plan, dict(run.steps)
        return RunRecord(
            Plan.model_validate_json(plan) if plan is not None else None,
            {name: StepResult.model_validate_json(doc) for name, doc in steps.items()},
        )

    def _guard(
        self,
        items: _Items,
        transition_id: int,
        owner: str,
        now: datetime,
        until: datetime,
    ) -> None:
        """DynamoStore's runbook transaction: item 0 checks the transition is still the
        service's open runbook, item 1 takes or renews the lease (free, expired, or already
        ours). A lost condition raises what ``_lost`` makes of it: Superseded or RunbookBusy.
        Call with the lock held; on success the lease is ours until ``until``."""
        failed = []
        if items.open_runbook() != transition_id:
            failed.append(0)
        lease = items.lease
        if lease is not None and not (_ts(lease.until) < _ts(now) or lease.owner == owner):
            failed.append(1)
        if failed:
            raise _lost(_conflict(failed))
        items.lease = Lease(owner=owner, transition=transition_id, until=_stamp(until))

    def acquire_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        now: datetime,
        until: datetime,
        plan: Plan,
    ) -> None:
        """Hold the lease for this transition and freeze ``plan``, unless an earlier
        acquisition froze one (that one stays)."""
        with self._lock:
            items = self._items(service)
            self._guard(items, transition_id, owner, now, until)
            run = items.runs.setdefault(transition_id, _Run())
            if run.plan is None:
                run.plan = plan.model_dump_json()

    def release_runbook(self, service: str, owner: str) -> None:
        with self._lock:
            items = self._items(service)
            if items.lease is not None and items.lease.owner == owner:
                items.lease = None

    def claim_step(
        self,
        service: str,
        transition_id: int,
        step: str,
        owner: str,
        now: datetime,
        until: datetime,
    ) -> StepResult:
        with self._lock:
            self.reads += 1  # DynamoStore reads the previous attempts first
            items = self._items(service)
            run = items.runs.get(transition_id)
            if run is None:  # as moto answers; DynamoDB's own answer is not a contract
                raise StoreRejected(_NO_RUN.format(op="transact_write_items"))
            previous = run.steps.get(step)
            before = StepResult.model_validate_json(previous) if previous else None
            attempts = before.attempts + 1 if before else 1
            self._guard(items, transition_id, owner, now, until)
            claim = StepResult(
                status=StepStatus.RUNNING,
                started_at=now,
                attempts=attempts,
                change=before.change if before else None,
            )
            run.steps[step] = claim.model_dump_json()
        return StepResult.model_validate_json(claim.model_dump_json())

    def finish_step(self, service: str, transition_id: int, step: str, result: StepResult) -> None:
        with self._lock:
            run = self._items(service).runs.get(transition_id)
            if run is None:
                raise StoreRejected(_NO_RUN.format(op="update_item"))
            run.steps[step] = result.model_dump_json()

    def close_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        failed: bool,
        events: Iterable[Event],
        alerts: Iterable[Alert],
    ) -> None:
        """Mark the transition done (or failed), bump the version, drop our lease and put the
        report in the outbox, all at once: Superseded when the transition is no longer the
        open runbook, RunbookBusy when the lease is not ours (or gone)."""
        alerts, events = list(alerts), list(events)
        _check_transaction(2, alerts)
        with self._lock:
            items = self._items(service)
            lost = []
            if items.open_runbook() != transition_id:
                lost.append(0)
            if items.lease is None or items.lease.owner != owner:
                lost.append(1)
            if lost:
                raise _lost(_conflict(lost))
            state = items.current()
            assert state is not None  # it has an open runbook
            mark = "failed" if failed else "runbook_done"
            items.state = state.model_copy(
                update={mark: transition_id, "version": state.version + 1}
            ).model_dump_json()
            items.lease = None
            self._write(items, events, alerts)

    # -- the outbox -------------------------------------------------------------------

    def claim_alert(self, service: str, key: str, now: datetime, until: datetime) -> bool:
        with self._lock:
            pending = self._items(service).outbox.get(key)
            if pending is None:
                return False
            if pending.claimed_until is not None and not pending.claimed_until < _ts(now):
                return False
            pending.claimed_until = _ts(until)
            pending.attempts += 1
            return True

    def release_alert(self, service: str, key: str) -> None:
        with self._lock:
            pending = self._items(service).outbox.get(key)
            if pending is not None:
                pending.claimed_until = None

    def delete_alert(self, service: str, key: str) -> None:
        with self._lock:
            self._items(service).outbox.pop(key, None)

    # -- channel deliveries ---------------------------------------------------------------

    def claim_delivery(self, key: str, now: datetime, until: datetime, expires: datetime) -> Claim:
        """DynamoStore's marker; ``expires`` is its TTL, kept here as the table may keep it."""
        with self._lock:
            held = self._deliveries.get(key)
            if held is not None:
                if held == _DELIVERED:
                    return "delivered"
                if not held < _ts(now):
                    return "busy"
            self._deliveries[key] = _ts(until)
            return "claimed"

    def settle_delivery(self, key: str, delivered: bool) -> None:
        with self._lock:
            if delivered:
                self._deliveries[key] = _DELIVERED
            else:
                self._deliveries.pop(key, None)

    # -- for tests ----------------------------------------------------------------------

    def alert_attempts(self, service: str, key: str) -> int | None:
        """How many times the alert was claimed for delivery (None: not in the outbox)."""
        with self._lock:
            pending = self._items(service).outbox.get(key)
            return None if pending is None else pending.attempts


_NO_RUN = (
    "DynamoDB {op}: ValidationException: The document path provided in the update "
    "expression is invalid for update"
)
"""What the table answers a step written to a runbook that was never acquired."""


def _check_transaction(head: int, alerts: list[Alert]) -> None:
    """What DynamoDB refuses before any condition: more than MAX_TRANSACTION items (the
    events that do not fit are written after the transaction, never refused), or two
    writes of one outbox entry."""
    if head + len(alerts) > MAX_TRANSACTION:
        raise StoreRejected(f"{len(alerts)} alerts do not fit in one transaction")
    if len({a.key for a in alerts}) < len(alerts):
        raise StoreRejected(
            "DynamoDB transact_write_items: ValidationException: Transaction request cannot "
            "include multiple operations on one item"
        )


def _add_events(items: _Items, events: list[Event], first_seq: int = 0) -> None:
    """Under DynamoStore's sort key: the stamp, then ``seq`` (the order within one write),
    then a random tail, so two writes at the same instant interleave as they do there."""
    for seq, event in enumerate(events, start=first_seq):
        sk = f"EVT#{_ts(event.at)}#{seq:04d}-{uuid.uuid4().hex[:8]}"
        bisect.insort(items.events, (sk, event.model_dump_json()))


# -- the notifier ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    subject: str
    message: str
    dedupe_key: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)


class MemoryNotifier:
    """The Notifier port in memory: records what was published, as SNS would deliver it
    (the subject cut to 100 characters; an empty dedupe key is no key). ``fail(n)`` makes
    the next ``n`` publishes raise ``ProviderError``, as SNS's throttling does."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.failures = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def fail(self, times: int = 1) -> None:
        with self._lock:
            self.failures = times

    def publish(
        self,
        subject: str,
        message: str,
        dedupe_key: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                raise ProviderError("memory notifier publish: failing as told")
            values = {k: v for k, v in (attributes or {}).items() if v}
            self.sent.append(Sent(subject[:100], message, dedupe_key or None, values))
            return f"memory-{next(self._ids)}"

    def take(self) -> list[Sent]:
        """What was published since the last call (an inbox read empties it)."""
        with self._lock:
            sent, self.sent = self.sent, []
        return sent


# -- the act invoker ------------------------------------------------------------------


class RecordingInvoker:
    """The ActInvoker port in memory: records each start (``started``) and calls
    ``on_start`` if given (e.g. to run the act function inline, or in a thread); records
    each drill (``drilled``) and answers it with ``on_drill`` (e.g. the act handler run
    inline). ``fail(n)`` makes the next ``n`` starts or drills raise ``ProviderError``, as
    Lambda's refusal does; a failed call is not recorded."""

    def __init__(
        self,
        on_start: Callable[[str, int], None] | None = None,
        on_drill: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.started: list[tuple[str, int]] = []
        self.drilled: list[str] = []
        self.on_start = on_start
        self.on_drill = on_drill
        self.failures = 0
        self._lock = threading.Lock()

    def fail(self, times: int = 1) -> None:
        with self._lock:
            self.failures = times

    def start(self, service: str, transition_id: int) -> None:
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                raise ProviderError("memory invoker: failing as told")
            self.started.append((service, transition_id))
        if self.on_start is not None:
            self.on_start(service, transition_id)

    def drill(self, service: str) -> dict[str, Any]:
        if self.on_drill is None:
            raise ProviderRejected("memory invoker: no act function to run the drill (on_drill)")
        with self._lock:
            if self.failures > 0:
                self.failures -= 1
                raise ProviderError("memory invoker: failing as told")
            self.drilled.append(service)
        return self.on_drill(service)


if TYPE_CHECKING:
    from arbiter.adapters.invoker import ActInvoker, DrillInvoker
    from arbiter.adapters.notify import Notifier
    from arbiter.adapters.store import Store

    def _implements(
        store: MemoryStore, notifier: MemoryNotifier, invoker: RecordingInvoker
    ) -> tuple[Store, Notifier, ActInvoker]:
        """mypy checks each fake implements its whole port."""
        return store, notifier, invoker

    def _drills(invoker: RecordingInvoker) -> DrillInvoker:
        return invoker
