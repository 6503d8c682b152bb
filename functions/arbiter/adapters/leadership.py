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
    """The rules, once: when to take, renew, record, close and cover. Each implementation
    only reads the item (``_read``) and makes the four conditional writes (``_take``,
    ``_renew``, ``_put``, ``_set_closed``), each returning False, with the item read again,
    when its condition fails."""

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

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease)

    # -- what each implementation provides ------------------------------------------------

    def _read(self) -> None:
        raise NotImplementedError

    def _take(self, now: datetime) -> bool:
        """If the lease is free, lapsed (``until`` + skew before ``now``) or this region's:
        hold it until ``now`` + lease, one more take counted in ``fence``."""
        raise NotImplementedError

    def _renew(self, now: datetime, fence: int) -> bool:
        """If this region holds it under ``fence`` and it has not ended: extend it."""
        raise NotImplementedError

    def _put(self, service: str, transition: Transition, fence: int, now: datetime) -> bool:
        """If this region holds it under ``fence``, it has not ended, and the ledger has no
        switch of ``service`` as new as this one: the switch, and the lease extended."""
        raise NotImplementedError

    def _set_closed(self, service: str, entry: Entry) -> bool:
        """If this region holds it and the ledger's switch of ``service`` is ``entry``'s."""
        raise NotImplementedError

    # -- the rules ----------------------------------------------------------------------------

    def hold(self, now: datetime) -> bool:
        self._read()
        t = self._term
        if t is not None and self.leads(now):
            return not self.renewal_due(now) or self._renew(now, t.fence)
        return self.lapsed(now) and self._take(now)

    def record(self, service: str, transition: Transition, now: datetime) -> None:
        t = self._term
        if t is None or not self.leads(now):
            raise LostLeadership(f"{self.region} does not hold the lease: switch not recorded")
        if not self._put(service, transition, t.fence, now):
            raise LostLeadership(
                f"{self.region} no longer holds the lease, or the ledger has a newer switch: "
                f"switch #{transition.id} not recorded"
            )

    def close(self, service: str, transition_id: int, closed: Closed, now: datetime) -> None:
        try:
            self._read()
            entry = self._entries.get(service)
            if entry is None or entry.transition.id != transition_id or not self.leads(now):
                return
            self._set_closed(service, entry.model_copy(update={"closed": closed}))
        except ArbiterError:
            return  # best effort: the next leader finds the runbook open and re-runs it

    def cover(self, now: datetime, seconds: float) -> None:
        try:
            self._read()
        except ArbiterError as exc:
            raise LostLeadership(f"{self.region} cannot read the lease: {exc}") from exc
        t = self._term
        if t is not None and self.leads(now) and (t.until - now).total_seconds() >= seconds:
            return
        if t is None or not self.leads(now) or not self._renew(now, t.fence):
            holder = self._term.holder if self._term else "nobody"
            raise LostLeadership(f"{self.region} no longer holds the lease ({holder} does)")


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
                ":until": {"N": str(_ms(self._until(now)))},
                ":now": {"N": str(_ms(now))},
                ":empty": {"M": {}},
                ":one": {"N": "1"},
            },
            ExpressionAttributeNames={"#u": "until"},
        )

    def _renew(self, now: datetime, fence: int) -> bool:
        return self._update(
            "holder = :me AND fence = :fence AND #u > :now",
            "SET #u = :until",
            {
                ":me": {"S": self.region},
                ":fence": {"N": str(fence)},
                ":now": {"N": str(_ms(now))},
                ":until": {"N": str(_ms(self._until(now)))},
            },
            ExpressionAttributeNames={"#u": "until"},
        )

    def _put(self, service: str, transition: Transition, fence: int, now: datetime) -> bool:
        return self._update(
            "holder = :me AND fence = :fence AND #u > :now AND "
            "(attribute_not_exists(ids.#s) OR ids.#s < :id)",
            "SET svc.#s = :entry, ids.#s = :id, #u = :until",
            {
                ":me": {"S": self.region},
                ":fence": {"N": str(fence)},
                ":now": {"N": str(_ms(now))},
                ":until": {"N": str(_ms(self._until(now)))},
                ":entry": {"S": Entry(transition=transition).model_dump_json()},
                ":id": {"N": str(transition.id)},
            },
            ExpressionAttributeNames={"#u": "until", "#s": service},
        )

    def _set_closed(self, service: str, entry: Entry) -> bool:
        return self._update(
            "holder = :me AND ids.#s = :id",
            "SET svc.#s = :entry",
            {
                ":me": {"S": self.region},
                ":id": {"N": str(entry.transition.id)},
                ":entry": {"S": entry.model_dump_json()},
            },
            ExpressionAttributeNames={"#s": service},
        )


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
    """A region's view of a ``LeaseCluster``: the same conditions as DynamoLeadership's,
    evaluated under the cluster's lock."""

    def __init__(self, cluster: LeaseCluster, region: str, lease: float) -> None:
        super().__init__(region=region, lease=lease)
        self.cluster = cluster

    def _reach(self) -> dict[str, Any]:
        if self.region in self.cluster.cut:
            raise NoQuorum(f"{self.region} cannot reach the lease table's other regions")
        return self.cluster.item

    def _load(self, item: dict[str, Any]) -> None:
        if not item:
            self._term, self._entries = None, {}
            return
        self._term = Term(item["holder"], item["until"], item["fence"], item["since"])
        self._entries = {k: Entry.model_validate_json(v) for k, v in item["svc"].items()}

    def _read(self) -> None:
        with self.cluster._lock:
            self._load(self._reach())

    def _cas(
        self, condition: Callable[[dict[str, Any]], bool], change: Callable[[dict[str, Any]], None]
    ) -> bool:
        with self.cluster._lock:
            item = self._reach()
            done = condition(item)
            if done:
                change(item)
                self.cluster.writes += 1
            self._load(item)
            return done

    def _held(self, item: dict[str, Any], fence: int, now: datetime) -> bool:
        return (
            bool(item)
            and item["holder"] == self.region
            and item["fence"] == fence
            and (item["until"] > now)
        )

    def _take(self, now: datetime) -> bool:
        stale = now - timedelta(seconds=self.skew)
        return self._cas(
            lambda item: not item or item["until"] < stale or item["holder"] == self.region,
            lambda item: item.update(
                holder=self.region,
                until=self._until(now),
                fence=item.get("fence", 0) + 1,
                since=now,
                svc=item.get("svc", {}),
            ),
        )

    def _renew(self, now: datetime, fence: int) -> bool:
        return self._cas(
            lambda item: self._held(item, fence, now),
            lambda item: item.update(until=self._until(now)),
        )

    def _put(self, service: str, transition: Transition, fence: int, now: datetime) -> bool:
        def newer(item: dict[str, Any]) -> bool:
            known = item["svc"].get(service)
            return known is None or Entry.model_validate_json(known).transition.id < transition.id

        def change(item: dict[str, Any]) -> None:
            item["svc"][service] = Entry(transition=transition).model_dump_json()
            item["until"] = self._until(now)

        return self._cas(lambda item: self._held(item, fence, now) and newer(item), change)

    def _set_closed(self, service: str, entry: Entry) -> bool:
        def same(item: dict[str, Any]) -> bool:
            if not item or item["holder"] != self.region or service not in item["svc"]:
                return False
            known = Entry.model_validate_json(item["svc"][service])
            return known.transition.id == entry.transition.id

        return self._cas(
            same, lambda item: item["svc"].__setitem__(service, entry.model_dump_json())
        )
