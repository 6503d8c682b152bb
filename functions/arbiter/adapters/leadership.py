"""Which region's decider leads, and the switch ledger: one item in a table with multi-Region
strong consistency (MRSC).

With ``control.standby_regions`` every control region runs a decider, but only the holder of
the lease decides, acts and alerts. The lease item (``pk`` = ``LEADER``) holds:

- ``holder`` (the leading region), ``until`` (epoch ms: the lease's end), ``fence`` (counts
  take-overs), ``since`` (epoch ms: when the holder took it);
- ``svc``: per service, the ledger entry (``core/ledger.py``) of its latest switch, as JSON;
  ``ids``: per service, that switch's id (a number, for the conditions).

Why it is safe (README "Surviving the loss of a region"):

- MRSC evaluates every condition against the latest version in all regions, and a region cut
  off from the other two cannot write at all. So two regions never both hold the lease, and a
  switch is in the ledger before any region acts on it.
- A standby takes the lease only ``LEASE_SKEW`` after it ended. The old leader starts no
  runbook step unless its lease covers the step's whole time (``cover``), so it has stopped
  before anyone else can start.
- Every write is a single-item conditional update: MRSC supports no transactions and no TTL,
  and this table needs neither.

``Solo`` is the single-region deployment's leadership: always the leader, nothing to record.
``MemoryLeadership`` shares one lease between the regions of a test or the simulator, and can
cut a region off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from arbiter.adapters.aws import AwsApi, error_code
from arbiter.core.config import LEASE_MARGIN, LEASE_SKEW
from arbiter.core.errors import ArbiterError, ConflictError, RetryableError, Superseded
from arbiter.core.ledger import Closed, Entry
from arbiter.core.model import Transition

LEADER_PK = "LEADER"


class LostLeadership(Superseded):
    """This region does not hold the lease (another took it, or this region cannot reach the
    other two): it must not decide, act or alert."""


class NoQuorum(RetryableError):
    """The lease table could not be read or written from this region."""


@dataclass(frozen=True)
class Term:
    """The lease as last read or written."""

    holder: str
    until: datetime
    fence: int
    since: datetime


class Leadership(Protocol):
    region: str

    def hold(self, now: datetime) -> bool:
        """Take the lease if it is free or lapsed, renew it if this region holds it and it is
        due; True when this region leads now."""
        ...

    def term(self) -> Term | None:
        """The lease as this pass last saw it (None: never read, or no lease yet)."""
        ...

    def entries(self) -> dict[str, Entry]:
        """The ledger as this pass last saw it."""
        ...

    def record(self, service: str, transition: Transition, now: datetime) -> None:
        """Put a switch in the ledger, while this region holds the lease. Raises
        LostLeadership (nothing written) otherwise."""
        ...

    def close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        """Record how a switch's runbook ended (best effort: a new leader re-runs a runbook
        it finds open, and finished steps are skipped)."""
        ...

    def cover(self, now: datetime, seconds: float) -> None:
        """Make sure this region's lease lasts ``seconds`` more (renewing it if needed), or
        raise LostLeadership: called before every runbook step."""
        ...


class Solo:
    """One control region: it always leads and has nothing to agree with anyone."""

    def __init__(self, region: str = "") -> None:
        self.region = region

    def hold(self, now: datetime) -> bool:
        return True

    def term(self) -> Term | None:
        return None

    def entries(self) -> dict[str, Entry]:
        return {}

    def record(self, service: str, transition: Transition, now: datetime) -> None:
        return None

    def close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        return None

    def cover(self, now: datetime, seconds: float) -> None:
        return None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class _Lease:
    """The rules both implementations share; only how the item is read and written differs."""

    region: str
    lease: float
    """Seconds a take or renewal lasts (``Config.lease_seconds``)."""
    skew: float = LEASE_SKEW
    _term: Term | None = None
    _entries: dict[str, Entry] = field(default_factory=dict)

    def term(self) -> Term | None:
        return self._term

    def entries(self) -> dict[str, Entry]:
        return dict(self._entries)

    def leads(self, now: datetime) -> bool:
        t = self._term
        return t is not None and t.holder == self.region and t.until > now

    def renewal_due(self, now: datetime) -> bool:
        """Renew once less than ``lease - LEASE_MARGIN`` is left: at most one write per
        ``LEASE_MARGIN`` seconds, and the lease never runs short between passes."""
        t = self._term
        return t is None or (t.until - now).total_seconds() < self.lease - LEASE_MARGIN

    def lapsed(self, now: datetime) -> bool:
        t = self._term
        return t is None or t.until + timedelta(seconds=self.skew) < now


class DynamoLeadership(_Lease):
    """The lease and ledger on the MRSC table ``table``, read and written in this region."""

    def __init__(
        self, table: str, client_factory: Callable[[], Any], region: str, lease: float
    ) -> None:
        super().__init__(region=region, lease=lease)
        self.table = table
        self.api = _LeaseApi(client_factory, "DynamoDB lease table", retry_error=NoQuorum)

    def _read(self) -> None:
        # Strongly consistent: on MRSC it needs the other regions, so a cut-off region
        # cannot read a lease it might then wrongly believe it holds.
        found = self.api.call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": LEADER_PK}},
            ConsistentRead=True,
        ).get("Item")
        self._load(found)

    def _load(self, item: dict[str, Any] | None) -> None:
        if not item or "holder" not in item:
            self._term, self._entries = None, {}
            return
        self._term = Term(
            holder=item["holder"]["S"],
            until=_at(int(item["until"]["N"])),
            fence=int(item["fence"]["N"]),
            since=_at(int(item["since"]["N"])),
        )
        svc = item.get("svc", {}).get("M", {})
        self._entries = {name: Entry.model_validate_json(value["S"]) for name, value in svc.items()}

    def hold(self, now: datetime) -> bool:
        self._read()
        if self.leads(now) and not self.renewal_due(now):
            return True
        if self.leads(now):
            return self._renew(now)
        if not self.lapsed(now):
            return False
        return self._take(now)

    def _update(self, condition: str, update: str, values: dict[str, Any], **extra: Any) -> bool:
        try:
            found = self.api.call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": LEADER_PK}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **extra,
            )
        except ConflictError:
            self._read()
            return False
        self._load(found.get("Attributes"))
        return True

    def _take(self, now: datetime) -> bool:
        stale = now - timedelta(seconds=self.skew)
        return self._update(
            "attribute_not_exists(pk) OR #u < :stale OR holder = :me",
            "SET holder = :me, #u = :until, since = :now, svc = if_not_exists(svc, :empty), "
            "ids = if_not_exists(ids, :empty) ADD fence :one",
            {
                ":me": {"S": self.region},
                ":stale": {"N": str(_ms(stale))},
                ":until": {"N": str(_ms(now + timedelta(seconds=self.lease)))},
                ":now": {"N": str(_ms(now))},
                ":empty": {"M": {}},
                ":one": {"N": "1"},
            },
            ExpressionAttributeNames={"#u": "until"},
        )

    def _renew(self, now: datetime) -> bool:
        t = self._term
        assert t is not None
        return self._update(
            "holder = :me AND fence = :fence AND #u > :now",
            "SET #u = :until",
            {
                ":me": {"S": self.region},
                ":fence": {"N": str(t.fence)},
                ":now": {"N": str(_ms(now))},
                ":until": {"N": str(_ms(now + timedelta(seconds=self.lease)))},
            },
            ExpressionAttributeNames={"#u": "until"},
        )

    def record(self, service: str, transition: Transition, now: datetime) -> None:
        t = self._term
        if t is None or not self.leads(now):
            raise LostLeadership(f"{self.region} does not hold the lease: switch not recorded")
        entry = Entry(transition=transition)
        ok = self._update(
            "holder = :me AND fence = :fence AND #u > :now AND "
            "(attribute_not_exists(ids.#s) OR ids.#s < :id)",
            "SET svc.#s = :entry, ids.#s = :id, #u = :until",
            {
                ":me": {"S": self.region},
                ":fence": {"N": str(t.fence)},
                ":now": {"N": str(_ms(now))},
                ":until": {"N": str(_ms(now + timedelta(seconds=self.lease)))},
                ":entry": {"S": entry.model_dump_json()},
                ":id": {"N": str(transition.id)},
            },
            ExpressionAttributeNames={"#u": "until", "#s": service},
        )
        if not ok:
            raise LostLeadership(
                f"{self.region} no longer holds the lease, or the ledger has a newer switch: "
                f"switch #{transition.id} not recorded"
            )

    def close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        try:
            self._close(service, transition_id, closed, now)
        except ArbiterError:
            return  # best effort: the next leader finds the runbook open and re-runs it

    def _close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        self._read()
        entry = self._entries.get(service)
        if entry is None or entry.transition.id != transition_id or not self.leads(now):
            return
        done = entry.model_copy(update={"closed": closed})
        self._update(
            "holder = :me AND ids.#s = :id",
            "SET svc.#s = :entry",
            {
                ":me": {"S": self.region},
                ":id": {"N": str(transition_id)},
                ":entry": {"S": done.model_dump_json()},
            },
            ExpressionAttributeNames={"#s": service},
        )

    def cover(self, now: datetime, seconds: float) -> None:
        try:
            self._read()
        except ArbiterError as exc:
            raise LostLeadership(f"{self.region} cannot read the lease: {exc}") from exc
        t = self._term
        if t is not None and self.leads(now) and (t.until - now).total_seconds() >= seconds:
            return
        if not self.leads(now) or not self._renew(now):
            holder = self._term.holder if self._term else "nobody"
            raise LostLeadership(f"{self.region} no longer holds the lease ({holder} does)")


class _LeaseApi(AwsApi):
    """A failed condition is a lost race; MRSC's ``ReplicatedWriteConflictException`` (another
    region writing the item at the same moment) too, and it is safe to read and try again."""

    def translate(self, op: str, exc: Any) -> ArbiterError:
        code = error_code(exc)
        if code in ("ConditionalCheckFailedException", "ReplicatedWriteConflictException"):
            return ConflictError(code)
        return super().translate(op, exc)


class LeaseCluster:
    """One lease item shared by the regions of a test or the simulator, with the rules of MRSC:
    every write is conditional on the latest version, and a region cut off from the others
    (``isolate``) can neither read consistently nor write."""

    def __init__(self) -> None:
        self.item: dict[str, Any] = {}
        self.cut: set[str] = set()
        self.writes = 0
        self._lock = threading.Lock()

    def isolate(self, region: str) -> None:
        self.cut.add(region)

    def rejoin(self, region: str) -> None:
        self.cut.discard(region)


class MemoryLeadership(_Lease):
    """A region's view of a ``LeaseCluster``."""

    def __init__(self, cluster: LeaseCluster, region: str, lease: float) -> None:
        super().__init__(region=region, lease=lease)
        self.cluster = cluster

    def _reach(self) -> dict[str, Any]:
        if self.region in self.cluster.cut:
            raise NoQuorum(f"{self.region} cannot reach the lease table's other regions")
        return self.cluster.item

    def _read(self) -> None:
        item = self._reach()
        if not item:
            self._term, self._entries = None, {}
            return
        self._term = Term(item["holder"], item["until"], item["fence"], item["since"])
        self._entries = {k: Entry.model_validate_json(v) for k, v in item["svc"].items()}

    def hold(self, now: datetime) -> bool:
        with self.cluster._lock:
            self._read()
            if self.leads(now) and not self.renewal_due(now):
                return True
            item = self.cluster.item
            if self.leads(now):
                item["until"] = now + timedelta(seconds=self.lease)
            elif self.lapsed(now):
                item.update(
                    holder=self.region,
                    until=now + timedelta(seconds=self.lease),
                    fence=item.get("fence", 0) + 1,
                    since=now,
                    svc=item.get("svc", {}),
                )
            else:
                return False
            self.cluster.writes += 1
            self._read()
            return True

    def record(self, service: str, transition: Transition, now: datetime) -> None:
        with self.cluster._lock:
            t = self._term
            self._read()
            if t is None or not self.leads(now) or self._term != t:
                raise LostLeadership(f"{self.region} does not hold the lease: switch not recorded")
            known = self._entries.get(service)
            if known is not None and known.transition.id >= transition.id:
                raise LostLeadership(f"ledger already has switch #{known.transition.id}")
            item = self.cluster.item
            item["svc"][service] = Entry(transition=transition).model_dump_json()
            item["until"] = now + timedelta(seconds=self.lease)
            self.cluster.writes += 1
            self._read()

    def close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        with self.cluster._lock:
            try:
                self._read()
            except NoQuorum:
                return
            entry = self._entries.get(service)
            if entry is None or entry.transition.id != transition_id or not self.leads(now):
                return
            done = entry.model_copy(update={"closed": closed})
            self.cluster.item["svc"][service] = done.model_dump_json()
            self.cluster.writes += 1
            self._read()

    def cover(self, now: datetime, seconds: float) -> None:
        with self.cluster._lock:
            try:
                self._read()
            except NoQuorum as exc:
                raise LostLeadership(str(exc)) from exc
            if not self.leads(now):
                holder = self._term.holder if self._term else "nobody"
                raise LostLeadership(f"{self.region} no longer holds the lease ({holder} does)")
            t = self._term
            if t is not None and (t.until - now).total_seconds() < seconds:
                self.cluster.item["until"] = now + timedelta(seconds=self.lease)
                self.cluster.writes += 1
                self._read()
