"""The DynamoDB store: one table keyed by service.

Items (``pk`` = ``SVC#<service>``):

- ``OBS#<round_at>#<region>``: one probe round, expiring via ``expires_at``. A queued round
  (stamped with its boundary) is written only if absent, so a message delivered twice (SQS is
  at-least-once) is stored, and streamed, once; a scheduled round (stamped with the probe's
  clock) replaces what is there, so a real round replaces a phantom that a clock running ahead
  left on its stamp;
- ``STATE``: the decider's versioned memory; ``version`` is a top-level number and every
  write is conditional on it. ``open_runbook`` (top level) is the transition whose runbook
  may still act: every external change of a runbook is conditional on it;
- ``STATE#LEASE``: which act invocation holds the service's runbook, until when: at most one
  runbook per service runs at a time;
- ``STATE#OUT#<key>``: the outbox: alerts written in the same transaction as the change that
  caused them, deleted once delivered;
- ``EVT#<at>#<id>``: the event/audit log (decisions, overrides, runbook steps, alerts);
- ``RUN#<transition id>``: a runbook's frozen plan and its stored progress, one map entry
  per step.

Outside the services' partitions, ``pk`` = ``DELIVERY#<message key>/<channel>``, ``sk`` =
``DELIVERY``: the notify function's marker that one alert reached one channel (or is being
sent there until ``claimed_until``), expiring via ``expires_at``.

The control items share the ``STATE`` prefix, so one consistent Query reads the state, the
lease and the pending alerts together. The item shapes are this module's own; the core's
models are mapped at this boundary.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from arbiter.adapters.aws import AwsApi, error_code
from arbiter.core.errors import (
    ArbiterError,
    ConflictError,
    FatalError,
    RetryableError,
    Superseded,
)
from arbiter.core.model import Alert, Event, Observation, ServiceState

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

    from arbiter.core.runbook import Plan, StepResult

# The runbook's models are imported by the methods that read or write a run: only the act
# function calls them.

STATE_SK = "STATE"
LEASE_SK = "STATE#LEASE"
OUTBOX = "STATE#OUT#"
DELIVERY = "DELIVERY"
Claim = Literal["claimed", "delivered", "busy"]
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
    "TransactionCanceledException",
}
MAX_TRANSACTION = 100


class StoreError(RetryableError):
    """The state table could not be read or written."""


class StoreRejected(FatalError):
    """The state table refused the request (missing table, no permission)."""


class RunbookBusy(RetryableError):
    """Another act invocation holds this service's runbook."""


class BadCursor(FatalError):
    """The paging cursor is not one this store gave out for this service."""


MAX_PAGE = 200
"""The most events one ``events_page`` returns."""
_CURSOR_LIMIT = 200
_EVENT_SK = re.compile(r"EVT#\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#\d{4}-[0-9a-f]{8}")


@dataclass(frozen=True)
class EventPage:
    """One page of a service's event log, newest first; ``next`` continues it (None: no
    older event is left). ``cursors[i]`` continues right after ``events[i]``, so a reader
    that filters can stop mid-page without losing or repeating an event."""

    events: list[Event]
    next: str | None = None
    cursors: list[str] = field(default_factory=list)


def encode_cursor(service: str, sk: str) -> str:
    """An opaque cursor: the service and the sort key of the last event shown."""
    raw = f"{service}|{sk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(service: str, cursor: str) -> str:
    """The event sort key a cursor continues after. A cursor names its service: one made
    for another service is refused (it could only ever be read inside this service's
    partition anyway), and anything else that is not exactly what ``encode_cursor`` makes
    is refused too, so a forged key never reaches the table."""
    if not cursor or len(cursor) > _CURSOR_LIMIT or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise BadCursor("not a cursor that arbiter history gave out")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("not a cursor that arbiter history gave out") from None
    owner, _, sk = raw.partition("|")
    if not _EVENT_SK.fullmatch(sk):
        raise BadCursor("not a cursor that arbiter history gave out")
    if owner != service:
        raise BadCursor(f"this cursor belongs to another service ({owner[:40]!r}), not {service!r}")
    return sk


def _check_page_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: {limit} is outside 1..{MAX_PAGE}")


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pk(service: str) -> str:
    return f"SVC#{service}"


@dataclass(frozen=True)
class Lease:
    """An act invocation's hold on the service's runbook."""

    owner: str
    transition: int
    until: datetime


@dataclass
class RunRecord:
    """A runbook's stored plan and its progress, one entry per step."""

    plan: Plan | None
    steps: dict[str, StepResult]


@dataclass(frozen=True)
class Snapshot:
    """What one consistent read of the service's control items returns."""

    state: ServiceState
    lease: Lease | None = None
    outbox: list[Alert] = field(default_factory=list)

    def runbook_live(self, now: datetime) -> bool:
        """An act invocation holds the service's runbook now."""
        return self.lease is not None and self.lease.until > now


class Store(Protocol):
    def put_observation(self, obs: Observation, expires_at: datetime, once: bool = False) -> bool:
        """Store one round. With ``once`` (a queued round, stamped with its boundary), only if
        no round of that service, stamp and region is stored: False when one is (it is kept
        as first written: a duplicate delivery, or a retried write whose first attempt
        landed). Without, it replaces what is stored under its key."""
        ...

    def load(self, service: str) -> Snapshot: ...
    def load_state(self, service: str) -> ServiceState: ...
    def rounds_since(self, service: str, since: datetime) -> list[Observation]: ...
    def save_state(
        self,
        state: ServiceState,
        expected_version: int,
        events: Iterable[Event],
        alerts: Iterable[Alert] = (),
    ) -> None: ...
    def append_events(self, service: str, events: Iterable[Event]) -> None: ...
    def recent_events(self, service: str, limit: int = 20) -> list[Event]: ...
    def events_page(self, service: str, limit: int, before: str | None = None) -> EventPage:
        """Up to ``limit`` (1..MAX_PAGE) events older than the cursor ``before`` (None: the
        newest), newest first. Raises BadCursor for a cursor it did not give out."""
        ...

    def load_steps(self, service: str, transition_id: int) -> dict[str, StepResult]: ...
    def load_run(self, service: str, transition_id: int) -> RunRecord: ...
    def acquire_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        now: datetime,
        until: datetime,
        plan: Plan,
    ) -> None: ...
    def release_runbook(self, service: str, owner: str) -> None: ...
    def claim_step(
        self,
        service: str,
        transition_id: int,
        step: str,
        owner: str,
        now: datetime,
        until: datetime,
    ) -> StepResult: ...
    def finish_step(
        self, service: str, transition_id: int, step: str, result: StepResult
    ) -> None: ...
    def close_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        failed: bool,
        events: Iterable[Event],
        alerts: Iterable[Alert],
    ) -> None: ...
    def claim_alert(self, service: str, key: str, now: datetime, until: datetime) -> bool: ...
    def release_alert(self, service: str, key: str) -> None: ...
    def delete_alert(self, service: str, key: str) -> None: ...
    def claim_delivery(
        self, key: str, now: datetime, until: datetime, expires: datetime
    ) -> Claim: ...
    def settle_delivery(self, key: str, delivered: bool) -> None: ...


class _DynamoApi(AwsApi):
    """A failed condition is a conflict (someone wrote first), not a failure."""

    def translate(self, op: str, exc: ClientError) -> ArbiterError:
        code = error_code(exc)
        reasons = exc.response.get("CancellationReasons") or []
        failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
        if code == "ConditionalCheckFailedException" or failed:
            conflict = ConflictError()
            conflict.failed_items = failed  # type: ignore[attr-defined]
            return conflict
        return super().translate(op, exc)


def _lost(exc: ConflictError) -> ArbiterError:
    """A runbook's transaction whose condition failed: its first item is always the 'still
    current' check (Superseded); otherwise the lease was another invocation's (RunbookBusy)."""
    failed = list(getattr(exc, "failed_items", []))
    if 0 in failed or not failed:
        return Superseded("a newer switch superseded this runbook")
    return RunbookBusy("another act invocation holds this service's runbook")


class DynamoStore:
    """The Store port on a DynamoDB table, through a low-level boto3 client."""

    def __init__(self, table: str, client_factory: Callable[[], Any]) -> None:
        self.table = table
        self.api = _DynamoApi(
            client_factory,
            "DynamoDB",
            _RETRYABLE,
            retry_error=StoreError,
            reject_error=StoreRejected,
        )
        self.reads = 0
        """Read requests made (GetItem and Query pages), for the benchmark and tests."""

    def _call(self, op: str, **kwargs: Any) -> Any:
        return self.api.call(op, TableName=self.table, **kwargs)

    # -- observations ------------------------------------------------------------------

    def put_observation(self, obs: Observation, expires_at: datetime, once: bool = False) -> bool:
        """One PutItem; with ``once``, conditional: a failed condition costs what the
        duplicate's write would have, adds no stream record (so no second decider pass), and
        no read is made first."""
        condition = {"ConditionExpression": "attribute_not_exists(sk)"} if once else {}
        try:
            self._put_observation(obs, expires_at, condition)
        except ConflictError:
            return False
        return True

    def _put_observation(
        self, obs: Observation, expires_at: datetime, condition: dict[str, str]
    ) -> None:
        self._call(
            "put_item",
            **condition,
            Item={
                "pk": {"S": _pk(obs.service)},
                "sk": {"S": f"OBS#{_ts(obs.round_at)}#{obs.region}"},
                "region": {"S": obs.region},
                "round_at": {"S": _ts(obs.round_at)},
                "doc": {"S": obs.model_dump_json()},
                "expires_at": {"N": str(int(expires_at.timestamp()))},
            },
        )

    def rounds_since(self, service: str, since: datetime) -> list[Observation]:
        """Every round after ``since``, all regions, in one paginated Query."""
        out: list[Observation] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": _pk(service)},
                ":lo": {"S": f"OBS#{_ts(since)}~"},
                ":hi": {"S": "OBS#~"},
            },
            "ProjectionExpression": "doc",
        }
        for _ in range(1000):  # bounded: 1 MB pages
            self.reads += 1
            page = self._call("query", **kwargs)
            out.extend(Observation.model_validate_json(i["doc"]["S"]) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return out

    # -- state -------------------------------------------------------------------------

    def load(self, service: str) -> Snapshot:
        """The state, the runbook lease and the pending alerts: one consistent Query."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :state)",
            "ExpressionAttributeValues": {":pk": {"S": _pk(service)}, ":state": {"S": STATE_SK}},
            "ConsistentRead": True,
        }
        for _ in range(1000):  # bounded: 1 MB pages
            self.reads += 1
            page = self._call("query", **kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        state, lease, outbox = ServiceState(service=service), None, []
        for item in items:
            sk = item["sk"]["S"]
            if sk == STATE_SK:
                state = self._state_from(item)
            elif sk == LEASE_SK:
                lease = Lease(
                    owner=item["owner"]["S"],
                    transition=int(item["transition"]["N"]),
                    until=datetime.fromisoformat(item["until"]["S"]),
                )
            elif sk.startswith(OUTBOX):
                outbox.append(Alert.model_validate_json(item["doc"]["S"]))
        outbox.sort(key=lambda a: (a.at, a.key))
        return Snapshot(state, lease, outbox)

    def load_state(self, service: str) -> ServiceState:
        return self.load(service).state

    @staticmethod
    def _state_from(item: dict[str, Any]) -> ServiceState:
        data = json.loads(item["doc"]["S"])
        data["version"] = int(item["version"]["N"])
        if "runbook_done" in item:
            data["runbook_done"] = int(item["runbook_done"]["N"])
        if "failed_transition" in item:
            data["failed"] = int(item["failed_transition"]["N"])
        return ServiceState.model_validate(data)

    def _state_item(self, state: ServiceState) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": _pk(state.service)},
            "sk": {"S": STATE_SK},
            "version": {"N": str(state.version)},
            "status": {"S": state.status.value},
            "active": {"S": state.active.value},
            "doc": {"S": state.model_dump_json(exclude={"version", "runbook_done", "failed"})},
        }
        if state.transition is not None:
            item["transition_id"] = {"N": str(state.transition.id)}
        if state.runbook_done is not None:
            item["runbook_done"] = {"N": str(state.runbook_done)}
        if state.failed is not None:
            item["failed_transition"] = {"N": str(state.failed)}
        if state.open_runbook is not None:
            item["open_runbook"] = {"N": str(state.open_runbook)}
        return item

    def _alert_item(self, service: str, alert: Alert) -> dict[str, Any]:
        return {
            "pk": {"S": _pk(service)},
            "sk": {"S": f"{OUTBOX}{alert.key}"},
            "doc": {"S": alert.model_dump_json()},
        }

    def _event_item(self, service: str, event: Event, seq: int) -> dict[str, Any]:
        """``seq`` keeps the events of one write in their order; the random tail keeps two
        writers at the same instant apart."""
        return {
            "pk": {"S": _pk(service)},
            "sk": {"S": f"EVT#{_ts(event.at)}#{seq:04d}-{uuid.uuid4().hex[:8]}"},
            "kind": {"S": event.kind},
            "doc": {"S": event.model_dump_json()},
        }

    def save_state(
        self,
        state: ServiceState,
        expected_version: int,
        events: Iterable[Event],
        alerts: Iterable[Alert] = (),
    ) -> None:
        """Write the state if nobody else did since ``expected_version``, with its alerts (the
        outbox) and its events, in one transaction: all of it lands or none of it does. A
        pass with neither (most passes: only the regions' tracks moved) is one conditional
        PutItem, at half a transaction's write units and with the same guarantee."""
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version == 0
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        )
        state_put = {"TableName": self.table, "Item": self._state_item(state), **condition}
        events, alerts = list(events), list(alerts)
        if not events and not alerts:
            self.api.call("put_item", **state_put)
            return
        self._transact(state.service, [{"Put": state_put}], events, alerts)

    def _transact(
        self,
        service: str,
        head: list[dict[str, Any]],
        events: Iterable[Event],
        alerts: Iterable[Alert],
    ) -> None:
        """``head`` (the conditional writes), every alert and as many events as fit in one
        transaction (100 items at most); the rest of the events are log lines after it."""
        outbox = [
            {"Put": {"TableName": self.table, "Item": self._alert_item(service, a)}} for a in alerts
        ]
        if len(head) + len(outbox) > MAX_TRANSACTION:
            raise StoreRejected(f"{len(outbox)} alerts do not fit in one transaction")
        events = list(events)
        room = MAX_TRANSACTION - len(head) - len(outbox)
        together = events[:room]
        items = [
            *head,
            *outbox,
            *(
                {"Put": {"TableName": self.table, "Item": self._event_item(service, e, i)}}
                for i, e in enumerate(together)
            ),
        ]
        self.api.call("transact_write_items", TransactItems=items)
        self.append_events(service, events[len(together) :], first_seq=len(together))

    def append_events(self, service: str, events: Iterable[Event], first_seq: int = 0) -> None:
        for seq, event in enumerate(events, start=first_seq):
            self._call("put_item", Item=self._event_item(service, event, seq))

    def recent_events(self, service: str, limit: int = 20) -> list[Event]:
        self.reads += 1
        page = self._call(
            "query",
            KeyConditionExpression="pk = :pk AND begins_with(sk, :evt)",
            ExpressionAttributeValues={":pk": {"S": _pk(service)}, ":evt": {"S": "EVT#"}},
            ScanIndexForward=False,
            Limit=limit,
        )
        events = [Event.model_validate_json(i["doc"]["S"]) for i in page["Items"]]
        return list(reversed(events))

    def events_page(self, service: str, limit: int, before: str | None = None) -> EventPage:
        """One Query, newest first, for ``limit + 1`` items: the extra one only tells whether
        an older event is left, so ``next`` is None exactly at the end of the log. The
        cursor's key is checked before it is used, and the key condition keeps the read
        inside this service's events whatever it holds."""
        _check_page_limit(limit)
        upper = decode_cursor(service, before) if before is not None else "EVT#~"
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": _pk(service)},
                ":lo": {"S": "EVT#"},
                ":hi": {"S": upper},
            },
            "ProjectionExpression": "sk, doc",
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        items: list[dict[str, Any]] = []
        for _ in range(100):  # bounded: a 1 MB page may hold fewer than asked for
            self.reads += 1
            page = self._call("query", **kwargs)
            items.extend(i for i in page["Items"] if i["sk"]["S"] != upper)
            if len(items) > limit or "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] = limit + 1 - len(items)
        shown = items[:limit]
        events = [Event.model_validate_json(i["doc"]["S"]) for i in shown]
        cursors = [encode_cursor(service, i["sk"]["S"]) for i in shown]
        return EventPage(events, cursors[-1] if len(items) > limit else None, cursors)

    # -- runbook progress --------------------------------------------------------------

    def _run_key(self, service: str, transition_id: int) -> dict[str, Any]:
        return {"pk": {"S": _pk(service)}, "sk": {"S": f"RUN#{transition_id:012d}"}}

    def load_steps(self, service: str, transition_id: int) -> dict[str, StepResult]:
        return self.load_run(service, transition_id).steps

    def load_run(self, service: str, transition_id: int) -> RunRecord:
        """The runbook's frozen plan (None before it was first acquired) and its progress."""
        self.reads += 1
        item = self._call(
            "get_item", Key=self._run_key(service, transition_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return RunRecord(None, {})
        from arbiter.core.runbook import Plan, StepResult

        steps = {
            name: StepResult.model_validate_json(value["S"])
            for name, value in item.get("steps", {}).get("M", {}).items()
        }
        plan = Plan.model_validate_json(item["plan"]["S"]) if "plan" in item else None
        return RunRecord(plan, steps)

    def _state_key(self, service: str, sk: str = STATE_SK) -> dict[str, Any]:
        return {"pk": {"S": _pk(service)}, "sk": {"S": sk}}

    def _still_current(self, service: str, transition_id: int) -> dict[str, Any]:
        """The condition every external change of a runbook is written under."""
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": self._state_key(service),
                "ConditionExpression": "open_runbook = :tid",
                "ExpressionAttributeValues": {":tid": {"N": str(transition_id)}},
            }
        }

    def _hold_lease(
        self, service: str, transition_id: int, owner: str, now: datetime, until: datetime
    ) -> dict[str, Any]:
        """Take or renew the service's runbook lease: free, expired, or already ours."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": self._state_key(service, LEASE_SK),
                "UpdateExpression": "SET #owner = :owner, #tid = :tid, #until = :until",
                "ConditionExpression": (
                    "attribute_not_exists(pk) OR #until < :now OR #owner = :owner"
                ),
                "ExpressionAttributeNames": {
                    "#owner": "owner",
                    "#tid": "transition",
                    "#until": "until",
                },
                "ExpressionAttributeValues": {
                    ":owner": {"S": owner},
                    ":tid": {"N": str(transition_id)},
                    ":until": {"S": _ts(until)},
                    ":now": {"S": _ts(now)},
                },
            }
        }

    def _guarded(
        self,
        service: str,
        transition_id: int,
        owner: str,
        now: datetime,
        until: datetime,
        progress: dict[str, Any],
    ) -> None:
        """Update the runbook's RUN item with ``progress`` in one transaction with the 'still
        current' check and the lease: raises Superseded or RunbookBusy."""
        run = {"TableName": self.table, "Key": self._run_key(service, transition_id), **progress}
        items = [
            self._still_current(service, transition_id),
            self._hold_lease(service, transition_id, owner, now, until),
            {"Update": run},
        ]
        try:
            self.api.call("transact_write_items", TransactItems=items)
        except ConflictError as exc:
            raise _lost(exc) from exc

    def acquire_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        now: datetime,
        until: datetime,
        plan: Plan,
    ) -> None:
        """Hold the service's runbook lease for this transition and create its progress item
        with ``plan``, unless an earlier invocation already froze one (that one stays):
        raises Superseded or RunbookBusy."""
        self._guarded(
            service,
            transition_id,
            owner,
            now,
            until,
            {
                "UpdateExpression": "SET steps = if_not_exists(steps, :empty), "
                "#plan = if_not_exists(#plan, :plan)",
                "ExpressionAttributeNames": {"#plan": "plan"},
                "ExpressionAttributeValues": {
                    ":empty": {"M": {}},
                    ":plan": {"S": plan.model_dump_json()},
                },
            },
        )

    def release_runbook(self, service: str, owner: str) -> None:
        """Give the lease up, if it is still ours."""
        try:
            self._call(
                "delete_item",
                Key=self._state_key(service, LEASE_SK),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ConflictError:
            pass  # not ours any more

    def claim_step(
        self,
        service: str,
        transition_id: int,
        step: str,
        owner: str,
        now: datetime,
        until: datetime,
    ) -> StepResult:
        """Mark a step running, renewing the lease, only while the transition is still the
        service's current one and the lease still ours (raises Superseded / RunbookBusy)."""
        from arbiter.core.runbook import StepResult, StepStatus

        previous = self.load_steps(service, transition_id).get(step)
        attempts = previous.attempts + 1 if previous else 1
        claim = StepResult(
            status=StepStatus.RUNNING,
            started_at=now,
            attempts=attempts,
            change=previous.change if previous else None,
        )
        self._guarded(
            service,
            transition_id,
            owner,
            now,
            until,
            {
                "UpdateExpression": "SET steps.#s = :claim",
                "ExpressionAttributeNames": {"#s": step},
                "ExpressionAttributeValues": {":claim": {"S": claim.model_dump_json()}},
            },
        )
        return claim

    def finish_step(self, service: str, transition_id: int, step: str, result: StepResult) -> None:
        self._call(
            "update_item",
            Key=self._run_key(service, transition_id),
            UpdateExpression="SET steps.#s = :r",
            ExpressionAttributeNames={"#s": step},
            ExpressionAttributeValues={":r": {"S": result.model_dump_json()}},
        )

    def close_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        failed: bool,
        events: Iterable[Event],
        alerts: Iterable[Alert],
    ) -> None:
        """Record on the state item that this transition's runbook finished (or failed: the
        service is FAILED), give the lease up, and put its report in the outbox: one
        transaction, only while the transition is still current. It bumps the version, so a
        decider holding an older copy retries instead of overwriting the mark."""
        attribute = "failed_transition" if failed else "runbook_done"
        head = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": self._state_key(service),
                    "UpdateExpression": f"SET {attribute} = :tid, version = version + :one "
                    "REMOVE open_runbook",
                    "ConditionExpression": "open_runbook = :tid",
                    "ExpressionAttributeValues": {
                        ":tid": {"N": str(transition_id)},
                        ":one": {"N": "1"},
                    },
                }
            },
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": self._state_key(service, LEASE_SK),
                    "ConditionExpression": "#owner = :owner",
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": {":owner": {"S": owner}},
                }
            },
        ]
        try:
            self._transact(service, head, events, alerts)
        except ConflictError as exc:
            raise _lost(exc) from exc

    # -- the outbox -------------------------------------------------------------------

    def claim_alert(self, service: str, key: str, now: datetime, until: datetime) -> bool:
        """Take one pending alert for delivery, unless another deliverer holds it."""
        try:
            self._call(
                "update_item",
                Key=self._state_key(service, f"{OUTBOX}{key}"),
                UpdateExpression="SET claimed_until = :until ADD attempts :one",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(claimed_until) OR claimed_until < :now)",
                ExpressionAttributeValues={
                    ":until": {"S": _ts(until)},
                    ":now": {"S": _ts(now)},
                    ":one": {"N": "1"},
                },
            )
        except ConflictError:
            return False
        return True

    def release_alert(self, service: str, key: str) -> None:
        """Delivery failed: the next deliverer may try at once."""
        try:
            self._call(
                "update_item",
                Key=self._state_key(service, f"{OUTBOX}{key}"),
                UpdateExpression="REMOVE claimed_until",
                ConditionExpression="attribute_exists(pk)",
            )
        except ConflictError:
            pass

    def delete_alert(self, service: str, key: str) -> None:
        self._call("delete_item", Key=self._state_key(service, f"{OUTBOX}{key}"))

    # -- channel deliveries (the notify function) ---------------------------------------

    def _delivery_key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"{DELIVERY}#{key}"}, "sk": {"S": DELIVERY}}

    def claim_delivery(self, key: str, now: datetime, until: datetime, expires: datetime) -> Claim:
        """Take ``key`` (one alert to one channel) for sending until ``until``: ``delivered``
        when it was sent already, ``busy`` while another invocation holds it."""
        try:
            self._call(
                "put_item",
                Item={
                    **self._delivery_key(key),
                    "claimed_until": {"S": _ts(until)},
                    "expires_at": {"N": str(int(expires.timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk) OR "
                "(attribute_not_exists(delivered) AND claimed_until < :now)",
                ExpressionAttributeValues={":now": {"S": _ts(now)}},
            )
        except ConflictError:
            self.reads += 1
            item = self._call("get_item", Key=self._delivery_key(key), ConsistentRead=True)
            return "delivered" if "delivered" in item.get("Item", {}) else "busy"
        return "claimed"

    def settle_delivery(self, key: str, delivered: bool) -> None:
        """Sent: mark it, so a redelivered message skips this channel. Not sent: let the next
        attempt claim it at once."""
        if delivered:
            self._call(
                "update_item",
                Key=self._delivery_key(key),
                UpdateExpression="SET delivered = :yes REMOVE claimed_until",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        else:
            self._call("delete_item", Key=self._delivery_key(key))


class ReplicaWriter(DynamoStore):
    """A probe's store when the table has replicas (``control.standby_regions``): a round goes
    to the first replica that takes it, and the table's replication carries it to the others.
    A replica that failed is tried again only after ``RETRY_FIRST_AFTER`` writes went to
    another, so a lost home region costs one failed attempt, not one per round."""

    RETRY_FIRST_AFTER = 20

    def __init__(self, replicas: list[DynamoStore]) -> None:
        first = replicas[0]
        super().__init__(first.table, first.api._factory)
        self.replicas = replicas
        self.current = 0
        self._since_failover = 0

    def put_observation(self, obs: Observation, expires_at: datetime, once: bool = False) -> bool:
        """``once`` is checked in the replica written to: a duplicate written to another
        replica at the same moment is stored once all the same (same key, same round)."""
        if self.current and self._since_failover >= self.RETRY_FIRST_AFTER:
            self.current, self._since_failover = 0, 0
        try:
            stored = self.replicas[self.current].put_observation(obs, expires_at, once)
        except RetryableError:
            # The caller's next attempt (services/probe.py) goes to the next replica.
            self.current = (self.current + 1) % len(self.replicas)
            self._since_failover = 0
            raise
        if self.current:
            self._since_failover += 1
        return stored
