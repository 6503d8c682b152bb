"""What the chaos suite breaks outside the sites: AWS calls, act invocations, a crashing act
process. Faults are injected at the boto3 client (so the adapters' own error translation runs)
and at the act invoker (a queue the harness drains, so invocations can be lost, duplicated,
delayed and replayed late)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import Any

from botocore.exceptions import ClientError

Hook = Callable[[], None]


class Crash(BaseException):
    """The act function's process died: no further call of that invocation reaches AWS.

    A BaseException, so that no ``except Exception`` (or ArbiterError) on the way can handle
    it: a dead process runs no recovery code."""


@dataclass
class Faults:
    """The faults in force. ``clear()`` ends them all (the final drain runs without any)."""

    sns_failing: bool = False
    """Every SNS Publish fails (InternalError)."""
    r53_throttle: int = 0
    """The next N ChangeResourceRecordSets calls are throttled."""
    r53_failing: bool = False
    """Every ChangeResourceRecordSets call fails (InternalError, retryable)."""
    on_r53_refused: Hook | None = None
    """Run once, inside the first refused change (e.g. an operator acting meanwhile)."""
    on_dns_wait: Hook | None = None
    """Run once, inside the first GetChange, which then answers PENDING."""
    probe_writes_failing: bool = False
    """DynamoDB refuses the probes' writes (ProvisionedThroughputExceeded)."""
    lose_acts: int = 0
    """The next N act invocations are lost."""
    duplicate_acts: bool = False
    """Every act invocation is delivered twice, both at once."""
    hold_acts: bool = False
    """Act invocations wait in the queue (delayed) until this is cleared."""
    crash_after_dns: int = 0
    """The next N act invocations die right after their last DNS change is applied."""
    stream_twice: bool = False
    """Every stream batch is delivered twice."""
    two_deciders: bool = False
    """Every stream batch goes to two deciders at once."""
    dead: bool = False
    """The current act invocation has crashed (set by the harness, not by scenarios)."""
    insync_seen: int = 0

    def clear(self) -> None:
        for f in fields(self):
            default = f.default
            setattr(self, f.name, default)


def client_error(op: str, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected by chaos"}}, op)


@dataclass
class FaultyClient:
    """A boto3 client whose calls pass through the fault plan first."""

    service: str
    client: Any
    faults: Faults
    dns_steps: int = 1
    """The DNS changes of one runbook: the crash comes after the last one is applied."""
    lock: AbstractContextManager[Any] = field(default_factory=contextlib.nullcontext)
    """Held during each call. moto's DynamoDB is not safe across threads (a failed
    transaction restores a copy of the whole table, undoing what another thread wrote
    meanwhile); DynamoDB applies each request atomically, so one request at a time is
    faithful."""

    def __getattr__(self, op: str) -> Any:
        real = getattr(self.client, op)
        if not callable(real):
            return real

        def call(**kwargs: Any) -> Any:
            if self.faults.dead:
                raise Crash(f"{self.service} {op} after the process died")
            check = getattr(self, f"_{self.service}_{op}", None)
            with self.lock:
                if check is not None:
                    return check(real, kwargs)
                return real(**kwargs)

        return call

    # -- DynamoDB ---------------------------------------------------------------------

    def _dynamodb_put_item(self, real: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        sk = kwargs.get("Item", {}).get("sk", {}).get("S", "")
        if self.faults.probe_writes_failing and sk.startswith("OBS#"):
            raise client_error("PutItem", "ProvisionedThroughputExceededException")
        return real(**kwargs)

    # -- SNS --------------------------------------------------------------------------

    def _sns_publish(self, real: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        if self.faults.sns_failing:
            raise client_error("Publish", "InternalError")
        return real(**kwargs)

    # -- Route 53 ---------------------------------------------------------------------

    def _route53_change_resource_record_sets(
        self, real: Callable[..., Any], kwargs: dict[str, Any]
    ) -> Any:
        faults = self.faults
        code = None
        if faults.r53_throttle > 0:
            faults.r53_throttle -= 1
            code = "Throttling"
        elif faults.r53_failing:
            code = "InternalError"
        if code is None:
            return real(**kwargs)
        hook, faults.on_r53_refused = faults.on_r53_refused, None
        if hook is not None:
            hook()
        raise client_error("ChangeResourceRecordSets", code)

    def _route53_get_change(self, real: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        faults = self.faults
        response = real(**kwargs)
        hook, faults.on_dns_wait = faults.on_dns_wait, None
        if hook is not None:
            hook()
            return {**response, "ChangeInfo": {**response["ChangeInfo"], "Status": "PENDING"}}
        if response["ChangeInfo"]["Status"] == "INSYNC":
            faults.insync_seen += 1
            if faults.crash_after_dns > 0 and faults.insync_seen >= self.dns_steps:
                faults.crash_after_dns -= 1
                faults.dead = True  # its answer still arrives; the next call never leaves
        return response


@dataclass
class QueueInvoker:
    """The act function's asynchronous invocations, queued for the harness to deliver."""

    faults: Faults
    queue: deque[tuple[str, int]] = field(default_factory=deque)
    started: list[tuple[str, int]] = field(default_factory=list)
    lost: list[tuple[str, int]] = field(default_factory=list)

    def start(self, service: str, transition_id: int) -> None:
        self.started.append((service, transition_id))
        if self.faults.lose_acts > 0:
            self.faults.lose_acts -= 1
            self.lost.append((service, transition_id))
            return
        self.queue.append((service, transition_id))
