"""The DynamoDB store: one table keyed by service.

Items (``pk`` = ``SVC#<service>``):

- ``OBS#<round_at>#<region>``: one probe round, expiring via ``expires_at``;
- ``STATE``: the decider's versioned memory; ``version`` is a top-level number and every
  write is conditional on it;
- ``EVT#<at>#<id>``: the event/audit log (decisions, overrides, runbook steps, alerts);
- ``RUN#<transition id>``: a runbook's stored progress, one map entry per step.

The item shapes are this module's own; the core's models are mapped at this boundary.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from arbiter.adapters.aws import AwsApi, error_code
from arbiter.core.errors import ArbiterError, ConflictError, FatalError, RetryableError
from arbiter.core.model import Event, Observation, ServiceState
from arbiter.core.runbook import StepResult, StepStatus

STATE_SK = "STATE"
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


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pk(service: str) -> str:
    return f"SVC#{service}"


class Store(Protocol):
    def put_observation(self, obs: Observation, expires_at: datetime) -> None: ...
    def load_state(self, service: str) -> ServiceState: ...
    def rounds_since(self, service: str, since: datetime) -> list[Observation]: ...
    def save_state(
        self, state: ServiceState, expected_version: int, events: Iterable[Event]
    ) -> None: ...
    def append_events(self, service: str, events: Iterable[Event]) -> None: ...
    def recent_events(self, service: str, limit: int = 20) -> list[Event]: ...
    def load_steps(self, service: str, transition_id: int) -> dict[str, StepResult]: ...
    def claim_step(
        self, service: str, transition_id: int, step: str, now: datetime, lease: float
    ) -> StepResult | None: ...
    def finish_step(
        self, service: str, transition_id: int, step: str, result: StepResult
    ) -> None: ...
    def mark_runbook_done(self, service: str, transition_id: int) -> None: ...
    def mark_failed(self, service: str, transition_id: int) -> None: ...


class _DynamoApi(AwsApi):
    """A failed condition is a conflict (someone wrote first), not a failure."""

    def translate(self, op: str, exc: ClientError) -> ArbiterError:
        code = error_code(exc)
        reasons = exc.response.get("CancellationReasons") or []
        if code == "ConditionalCheckFailedException" or any(
            r.get("Code") == "ConditionalCheckFailed" for r in reasons
        ):
            return ConflictError()
        return super().translate(op, exc)


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

    def put_observation(self, obs: Observation, expires_at: datetime) -> None:
        self._call(
            "put_item",
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

    def load_state(self, service: str) -> ServiceState:
        self.reads += 1
        item = self._call(
            "get_item",
            Key={"pk": {"S": _pk(service)}, "sk": {"S": STATE_SK}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return ServiceState(service=service)
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
        return item

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
        self, state: ServiceState, expected_version: int, events: Iterable[Event]
    ) -> None:
        """Write the state if nobody else did since ``expected_version``, with its events,
        in one transaction: all of it lands or none of it does."""
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version == 0
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": {"N": str(expected_version)}},
            }
        )
        events = list(events)
        together = events[: MAX_TRANSACTION - 1]  # a transaction holds 100 items at most
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": self._state_item(state), **condition}},
            *(
                {"Put": {"TableName": self.table, "Item": self._event_item(state.service, e, i)}}
                for i, e in enumerate(together)
            ),
        ]
        self.api.call("transact_write_items", TransactItems=items)
        # More events than one pass ever makes: the rest are log lines after the fact.
        self.append_events(state.service, events[len(together) :], first_seq=len(together))

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

    # -- runbook progress --------------------------------------------------------------

    def _run_key(self, service: str, transition_id: int) -> dict[str, Any]:
        return {"pk": {"S": _pk(service)}, "sk": {"S": f"RUN#{transition_id:012d}"}}

    def load_steps(self, service: str, transition_id: int) -> dict[str, StepResult]:
        self.reads += 1
        item = self._call(
            "get_item", Key=self._run_key(service, transition_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return {}
        return {
            name: StepResult.model_validate_json(value["S"])
            for name, value in item.get("steps", {}).get("M", {}).items()
        }

    def claim_step(
        self, service: str, transition_id: int, step: str, now: datetime, lease: float
    ) -> StepResult | None:
        """Mark a step running unless it is done or another invocation holds a live lease.

        Returns the claim, or None when the step must not be run by this invocation.
        """
        key = self._run_key(service, transition_id)
        self._call(
            "update_item",
            Key=key,
            UpdateExpression="SET steps = if_not_exists(steps, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        previous = self.load_steps(service, transition_id).get(step)
        if previous is not None and previous.status is StepStatus.DONE:
            return None
        if previous is not None and previous.status is StepStatus.RUNNING:
            lease_end = previous.started_at + timedelta(seconds=lease)
            if lease_end > now:
                return None
        attempts = previous.attempts + 1 if previous else 1
        claim = StepResult(status=StepStatus.RUNNING, started_at=now, attempts=attempts)
        values = {":claim": {"S": claim.model_dump_json()}}
        if previous is None:
            condition = "attribute_not_exists(steps.#s)"
        else:
            condition = "steps.#s = :prev"
            values[":prev"] = {"S": previous.model_dump_json()}
        try:
            self._call(
                "update_item",
                Key=key,
                UpdateExpression="SET steps.#s = :claim",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": step},
                ExpressionAttributeValues=values,
            )
        except ConflictError:
            return None  # another invocation claimed it between our read and write
        return claim

    def finish_step(self, service: str, transition_id: int, step: str, result: StepResult) -> None:
        self._call(
            "update_item",
            Key=self._run_key(service, transition_id),
            UpdateExpression="SET steps.#s = :r",
            ExpressionAttributeNames={"#s": step},
            ExpressionAttributeValues={":r": {"S": result.model_dump_json()}},
        )

    def mark_runbook_done(self, service: str, transition_id: int) -> None:
        """Record on the state item that this transition's runbook finished."""
        self._mark(service, transition_id, "runbook_done")

    def mark_failed(self, service: str, transition_id: int) -> None:
        """Record on the state item that this transition's runbook failed: FAILED."""
        self._mark(service, transition_id, "failed_transition")

    def _mark(self, service: str, transition_id: int, attribute: str) -> None:
        """Set a top-level mark on the state item. It bumps the version, so a decider holding
        an older copy retries instead of overwriting the mark; it only applies while the
        transition is still the current one."""
        try:
            self._call(
                "update_item",
                Key={"pk": {"S": _pk(service)}, "sk": {"S": STATE_SK}},
                UpdateExpression=f"SET {attribute} = :id, version = version + :one",
                ConditionExpression="transition_id = :id",
                ExpressionAttributeValues={":id": {"N": str(transition_id)}, ":one": {"N": "1"}},
            )
        except ConflictError:
            pass  # superseded by a newer transition: its own runbook will report
