"""The chaos suite's world: the config every scenario runs with, what a scenario is, and
the real adapters instrumented to tell the harness what they did (each write of the store,
each DNS change)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from arbiter.adapters.dns import Change
from arbiter.adapters.dns.route53 import Route53
from arbiter.adapters.store import DynamoStore, Snapshot
from arbiter.core.config import Config, SiteName, parse_config
from arbiter.core.errors import ConflictError
from arbiter.core.model import Alert, Event, Observation, ServiceState, Transition
from arbiter.core.records import RecordSet
from arbiter.local.context import LocalContext

if TYPE_CHECKING:
    from arbiter.local.chaos.harness import Harness

SERVICE = "web"
HOME = "eu-west-1"
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1")
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
INTERVAL = 60.0
SCHEDULE_AT = 30.0
"""Seconds into each round at which the decider's one-minute schedule fires."""
CHECK_TIMEOUT = 0.8
SLOW_DELAY = 1.5
"""A slow site answers after this: beyond the checks' timeout."""
DRIP_EVERY = 0.5
"""A tarpit sends a byte this often: within the timeout, so no single read ever times out."""
TARPIT_FOR = 30.0
ACT_TIMEOUT = 300.0
"""The act function's Lambda timeout (the infra's minimum): how long a dead invocation's
runbook lease outlives it."""
STREAM_RETRIES = 3
MAX_ACTS = 50
DRAIN_PASSES = 16
TABLE = "arbiter-chaos"
VALUES = {
    "www.example.com": ("203.0.113.10", "198.51.100.10"),
    "api.example.com": ("203.0.113.11", "198.51.100.11"),
    "www.example.net": ("203.0.113.12", "198.51.100.12"),
}
_EVENT_LINE = re.compile(r"^Event:\s+(\S+)", re.M)

Step = Callable[["Harness"], None]
"""Something that happens at the start of a round: a site breaks, a region goes silent."""


@dataclass
class Scenario:
    name: str
    title: str
    rounds: int
    expect: list[str]
    """The switches it must produce, in order: ``dec>S`` (the decider, to the secondary),
    ``op>P`` (an operator, to the primary)."""
    steps: dict[int, list[Step]] = field(default_factory=dict)
    """Round -> what happens at its start."""
    regions: Sequence[str] = REGIONS
    quorum: int | None = None
    alerts: dict[str, int] | None = None
    """The alerts the inbox must hold at the end, by kind (``report_done`` for a switch's
    report), exactly; None: not checked."""
    check: Callable[[Harness], list[str]] | None = None
    """Scenario-specific problems, if any."""
    schedule: bool = True
    """Run the decider's one-minute schedule (a deliberately broken harness turns it off)."""
    dns_within: float = INTERVAL
    """Each switch that completes must change DNS within this many seconds of its decision."""


@dataclass
class View:
    """How one probe region sees the world."""

    silent: bool = False
    cut: set[SiteName] = field(default_factory=set)
    """Sites this region cannot reach (its checks of them hit a refused port)."""
    skew: float = 0.0
    """Seconds its clock is ahead."""


@dataclass(frozen=True)
class Upsert:
    at: datetime
    zone: str
    site: SiteName
    transition: int | None
    """The state's current transition when the change was made."""


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class Recorder(Protocol):
    """What the instrumented adapters tell (the harness)."""

    observer: DynamoStore

    def read_state(self) -> None: ...
    def lost_race(self) -> None: ...
    def observed(self, obs: Observation) -> None: ...
    def written(self, alerts: Sequence[Alert]) -> None: ...
    def switched(self, transition: Transition, before: ServiceState | None) -> None: ...
    def dns_change_begins(self) -> Transition | None: ...
    def dns_change_ends(self) -> None: ...
    def dns_changed(self, zone: str, site: SiteName, current: Transition | None) -> None: ...


class ChaosStore(DynamoStore):
    """The real store, telling the harness what it wrote: observations, alerts, switches."""

    def __init__(self, table: str, client_factory: Callable[[], Any], harness: Recorder) -> None:
        super().__init__(table, client_factory)
        self.harness = harness

    def put_observation(self, obs: Observation, expires_at: datetime, once: bool = False) -> bool:
        written = super().put_observation(obs, expires_at, once)
        if written:
            self.harness.observed(obs)
        return written

    def load(self, service: str) -> Snapshot:
        snapshot = super().load(service)
        self.harness.read_state()
        return snapshot

    def save_state(
        self,
        state: ServiceState,
        expected_version: int,
        events: Iterable[Event],
        alerts: Iterable[Alert] = (),
    ) -> None:
        alerts = list(alerts)
        new = state.transition
        if new is not None and new.id != state.version:
            new = None  # a transition recorded earlier, carried along
        before = self.harness.observer.load_state(state.service) if new else None
        try:
            super().save_state(state, expected_version, events, alerts)
        except ConflictError:
            self.harness.lost_race()
            raise
        self.harness.written(alerts)
        if new is not None:
            self.harness.switched(new, before)

    def close_runbook(
        self,
        service: str,
        transition_id: int,
        owner: str,
        failed: bool,
        events: Iterable[Event],
        alerts: Iterable[Alert],
    ) -> None:
        alerts = list(alerts)
        super().close_runbook(service, transition_id, owner, failed, events, alerts)
        self.harness.written(alerts)


class ChaosDns(Route53):
    """The real Route 53 adapter, telling the harness about every change it makes."""

    def __init__(self, client_factory: Callable[[], Any], harness: Recorder) -> None:
        super().__init__(client_factory, poll_interval=0.01)
        self.harness = harness

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        current = self.harness.dns_change_begins()
        try:
            change = super().upsert(zone, records, comment)
        except BaseException:
            self.harness.dns_change_ends()
            raise
        site = SiteName.SECONDARY if "to secondary" in comment else SiteName.PRIMARY
        self.harness.dns_changed(zone, site, current)
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        try:
            return super().wait_applied(change, deadline)
        finally:
            self.harness.dns_change_ends()


def build_config(
    scenario: Scenario,
    ports: dict[SiteName, tuple[int, int]],
    zones: Sequence[str],
    refused: int,
    cut: frozenset[SiteName] = frozenset(),
) -> Config:
    """The config of every scenario: ``ports`` are each site's HTTP and TCP ports; the checks
    of a site in ``cut`` aim at ``refused`` instead (a region cut off from it)."""

    def checks(site: SiteName) -> list[dict[str, Any]]:
        http, tcp = (refused, refused) if site in cut else ports[site]
        return [
            {"type": "http", "name": "health", "url": f"http://127.0.0.1:{http}/health",
             "expect_status": [200], "expect_body": "OK", "timeout": CHECK_TIMEOUT},
            {"type": "tcp", "name": "ssh", "host": "127.0.0.1", "port": tcp,
             "expect_banner": "SSH-", "timeout": CHECK_TIMEOUT},
        ]  # fmt: skip

    records = [
        {
            "zone": zones[0] if name.endswith(".com") else zones[1],
            "name": name,
            "type": "A",
            "ttl": 60,
            "values": {"primary": [primary], "secondary": [secondary]},
        }
        for name, (primary, secondary) in VALUES.items()
    ]
    decision: dict[str, Any] = {"fall": 2, "rise": 2}
    if scenario.quorum is not None:
        decision["quorum"] = scenario.quorum
    site = {
        SiteName.PRIMARY: {"label": "Frankfurt DC", "checks": checks(SiteName.PRIMARY)},
        SiteName.SECONDARY: {"label": "Amsterdam DC", "checks": checks(SiteName.SECONDARY)},
    }
    service = {
        "name": SERVICE,
        "failback": {"policy": "automatic", "hold": 120},
        "primary": site[SiteName.PRIMARY],
        "secondary": site[SiteName.SECONDARY],
        "dns": {"records": records},
    }
    return parse_config(
        {
            "app": "arbiter-chaos",
            "home_region": HOME,
            "probe_regions": list(scenario.regions),
            "probe": {"interval": INTERVAL, "retention": 86400},
            "decision": decision,
            "notifications": {"emails": ["oncall@example.com"]},
            # moto's Route 53 serves no DNS: there is no authoritative server to verify at.
            "dns_providers": {"route53": {"type": "route53", "verify": False}},
            "services": [service],
        },
        "chaos config",
    )


def context(function: str, timeout: float = 60.0) -> Any:
    return LocalContext(function_name=f"arbiter-{function}", timeout_s=timeout)


def read_stream(streams: Any, stream_arn: str, after: dict[str, str]) -> list[dict[str, Any]]:
    """The stream's new records, shaped as the decider's Lambda event receives them; ``after``
    holds the last sequence number seen per shard. A fresh iterator each time: moto rolls a
    failed transaction back by putting a copy of the table (and of its stream shard) in its
    place, which an iterator taken before would never see again."""
    records: list[dict[str, Any]] = []
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        shard_id = shard["ShardId"]
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after[shard_id]}
            if shard_id in after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id, **position)
        token = iterator["ShardIterator"]
        for _ in range(1000):  # bounded: pages of up to 1,000 records
            page = streams.get_records(ShardIterator=token)
            if not page["Records"]:
                break
            for record in page["Records"]:
                records.append(
                    {
                        **record,
                        "eventVersion": record.get("eventVersion", "1.1"),
                        "eventSource": "aws:dynamodb",
                        "eventSourceARN": stream_arn,
                    }
                )
            after[shard_id] = page["Records"][-1]["dynamodb"]["SequenceNumber"]
            token = page["NextShardIterator"]
    return records


def is_round(record: dict[str, Any]) -> bool:
    """An observation's stream record. The decider's trigger (infra/stacks.py) takes only
    those that are INSERTs: new items."""
    sk = record.get("dynamodb", {}).get("Keys", {}).get("sk", {}).get("S", "")
    return str(sk).startswith("OBS#")


def alert_kind(key: str, body: str) -> str:
    if key.endswith("/done"):
        return "report_done"
    if key.endswith("/failed"):
        return "report_failed"
    match = _EVENT_LINE.search(body)
    return match.group(1) if match else "unknown"


def schedule_event(region: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "chaos",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/arbiter-chaos"],
        "detail": {},
    }
