"""``arbiter cost``: what a config costs a month on AWS, line by line, next to what Route 53
health checks would cost for the same checks at the same interval.

Pure: a Config and the ``Assumptions`` in, ``Item``s out (prices from ``local/prices.py``).
It models Arbiter's deployment as issue 10 leaves it:

- each probe region: the probe function (one round per invocation), started by an
  EventBridge rule (interval of 60 s and more) or, below 60 s, by a ticker function that
  sends each minute's rounds as delayed SQS messages (one message per round);
- the home region: the table (on-demand, stream on, TTL, point-in-time recovery), the decide
  function (one invocation per round, the stream trigger gathering the round's records from
  every probe region, plus its schedule), act / override / notify (rare), the alerts and ops
  topics, the alarms, the dashboard when ``monitoring.dashboard`` asks for it, and the
  Secrets Manager secrets the config names;
- with ``control.standby_regions``: the table becomes a global table with a replica in each
  standby region, each standby runs a follower decider (it reads the lease and stops), and a
  small lease table with multi-Region strong consistency spans home, standbys and witness;
- with ``Assumptions.data_plane``: Route 53 failover records driven by CloudWatch-alarm health
  checks the leader feeds with PutMetricData.

Every figure that is not a price or counted from the config is a field of ``Assumptions``
(the README lists them). A month is 730 hours, as AWS's calculator counts it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from arbiter.core.config import (
    LEASE_MARGIN,
    Check,
    Config,
    DnsCheck,
    HttpCheck,
    Service,
    SipCheck,
    SiteName,
    TcpCheck,
    fmt_seconds,
)
from arbiter.core.model import (
    CheckResult,
    Health,
    Observation,
    RegionTrack,
    ServiceState,
    SiteResult,
    SiteTrack,
    SiteVerdict,
    Transition,
)
from arbiter.local.prices import CHECKED, Price, price

MONTH_HOURS = 730
MONTH_SECONDS = MONTH_HOURS * 3600.0
MONTH_MINUTES = MONTH_SECONDS / 60
TARGET_PERCENT = 25.0
"""Issue 10's target: Arbiter at most this share of Route 53's cost for the same checks."""

MEMORY_MB = {"probe": 128, "ticker": 128, "decide": 256, "act": 256, "override": 256, "notify": 256}
"""Each function's memory: the probe and the ticker at Lambda's minimum (issue 10 sizes the
probe from measurement), the others at ``infra/lambdas.py``'s 256 MB."""
SQS_BATCH = 10
"""Messages in one SendMessageBatch request (SQS's maximum)."""
GB = 1_000_000_000


@dataclass(frozen=True)
class Assumptions:
    """What the model cannot count from the config. Each can be changed from the command
    line where it matters most (``arbiter cost --help``)."""

    probe_ms: float = 300.0
    """Billed duration of one probe round: about its slowest check's latency, plus the write."""
    decide_ms: float = 200.0
    """One decide invocation of the leader (its services are decided in parallel): a
    consistent Query of the state, a Query of the rounds, one transaction."""
    follower_ms: float = 50.0
    """One decide invocation in a standby region: read the lease, stop."""
    ticker_ms: float = 100.0
    """One ticker invocation: one SendMessageBatch."""
    init_ms: float = 600.0
    """A cold start's INIT phase (billed since August 2025): a handler's cold import was
    measured at 490-530 ms in issue 10."""
    cold_start_share: float = 0.01
    """Invocations that start a new execution environment (AWS: "under 1 %")."""
    esm_pollers: int = 5
    """Long polls an idle SQS event source mapping keeps open (AWS: "five", and "as few as 2"
    at low traffic)."""
    long_poll_s: float = 20.0
    """Each such poll's wait: an empty receive is billed every this many seconds per poller."""
    tracing: bool | None = None
    """X-Ray active tracing on every function but the ticker: each invocation is a trace,
    since no function gets more than the default rule's reservoir of one a second. ``None``:
    as the config's ``monitoring.tracing`` (off by default)."""
    dashboard: bool | None = None
    """The CloudWatch dashboard; ``None``: as the config's ``monitoring.dashboard`` (off by
    default)."""
    passes_per_round: float = 1.0
    """Decide invocations the stream starts per round: the trigger gathers a round's records
    for up to ``Config.decide_batch`` seconds, and every region's round starts at the same
    boundary; a region later than that adds a pass."""
    data_plane: bool = False
    """The optional data-plane failover mode (CloudWatch-alarm health checks)."""
    r53_latency: bool = False
    """Count Route 53's latency-measurement option (Arbiter logs each check's latency per
    region; off, the comparison leaves it out, which favours Route 53)."""
    alerts_per_month: float = 30.0
    """Alerts sent (each one SNS publish and one email per address), and as many ops messages."""
    switches_per_month: float = 2.0
    """Act invocations besides the drill's (``drill.schedule``)."""
    act_ms: float = 30_000.0
    override_calls_per_month: float = 100.0
    override_ms: float = 1_000.0
    notify_ms: float = 2_000.0
    rounds_per_pass: float | None = None
    """Observation items one decide pass reads (the rounds since the slowest region's newest
    one); ``None``: one per probe region."""


@dataclass(frozen=True)
class Item:
    """One line of the bill: ``quantity`` units at ``price``."""

    group: str
    what: str
    quantity: float
    price: Price

    @property
    def service(self) -> str:
        return self.price.service

    @property
    def monthly(self) -> float:
        return self.quantity * self.price.each


# --- Sizes of what the table holds -------------------------------------------------------------

EXAMPLE_AT = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE_LATENCY_MS = 1234.5678901234567
"""A latency with as many digits as a float prints: items are sized at their largest."""


def _attr_bytes(name: str, value: Mapping[str, str]) -> int:
    """DynamoDB's size of one attribute: the name's UTF-8 bytes plus the value's (a string's
    UTF-8 bytes; a number's one byte per two significant digits, plus one)."""
    if "S" in value:
        size = len(value["S"].encode())
    else:
        digits = value["N"].lstrip("-").replace(".", "").strip("0") or "0"
        size = (len(digits) + 1) // 2 + 1
    return len(name.encode()) + size


def item_bytes(item: Mapping[str, Mapping[str, str]]) -> int:
    """The size DynamoDB bills an item by (low-level ``{"S": ...}``/``{"N": ...}`` values)."""
    return sum(_attr_bytes(name, value) for name, value in item.items())


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _result(check: Check) -> CheckResult:
    https = isinstance(check, HttpCheck) and check.url.startswith("https:")
    return CheckResult(
        name=check.name,
        kind=check.type,
        ok=True,
        latency_ms=EXAMPLE_LATENCY_MS,
        reason="ok",
        required=check.required,
        cert_expires_at=EXAMPLE_AT if https else None,
    )


def observation_item(service: Service, region: str) -> dict[str, dict[str, str]]:
    """A healthy round's item, as ``adapters/store.py`` writes it (a failing check adds its
    reason, a few dozen bytes)."""
    obs = Observation(
        service=service.name,
        region=region,
        round_at=EXAMPLE_AT,
        sites={
            site: SiteResult.of([_result(c) for c in service.site(site).checks])
            for site in SiteName
        },
    )
    return {
        "pk": {"S": f"SVC#{service.name}"},
        "sk": {"S": f"OBS#{_ts(EXAMPLE_AT)}#{region}"},
        "region": {"S": region},
        "round_at": {"S": _ts(EXAMPLE_AT)},
        "doc": {"S": obs.model_dump_json()},
        "expires_at": {"N": str(int(EXAMPLE_AT.timestamp()) + 86_400)},
    }


def state_item(config: Config, service: Service) -> dict[str, dict[str, str]]:
    """The decider's state item after a switch has been made and finished (the largest a
    steady state gets: the last transition, with every region's vote, stays in it)."""
    at = EXAMPLE_AT
    regions = {
        r: RegionTrack(
            last_round_at=at,
            sites={s: SiteTrack(health=Health.UP, ok_streak=100_000) for s in SiteName},
        )
        for r in config.probe_regions
    }
    transition = Transition(
        id=999_999,
        from_site=SiteName.PRIMARY,
        to_site=SiteName.SECONDARY,
        reason=f"{service.site_label(SiteName.PRIMARY)} DOWN by quorum",
        decided_at=at,
        by="decider",
        votes={r: {s: Health.UP for s in SiteName} for r in config.probe_regions},
        failing={r: {SiteName.PRIMARY: "homepage: timeout after 3.0 s"} for r in regions},
    )
    state = ServiceState(
        service=service.name,
        version=1_000_000,
        since=at,
        reason="failback: primary UP for the hold",
        regions=regions,
        verdicts={s: SiteVerdict(health=Health.UP, since=at) for s in SiteName},
        transition=transition,
        runbook_done=transition.id,
        runbook_started_at=at,
        first_seen=at,
        quorate_once=True,
        switches=[at, at],
    )
    doc = state.model_dump_json(exclude={"version", "runbook_done", "failed"})
    return {
        "pk": {"S": f"SVC#{service.name}"},
        "sk": {"S": "STATE"},
        "version": {"N": str(state.version)},
        "status": {"S": state.status.value},
        "active": {"S": state.active.value},
        "doc": {"S": doc},
        "transition_id": {"N": str(transition.id)},
        "runbook_done": {"N": str(transition.id)},
    }


def write_units(size: int) -> int:
    """WRU (or rWRU) of one standard write: one per KB, rounded up."""
    return max(1, math.ceil(size / 1024))


def read_units(size: int) -> int:
    """RRU of one strongly consistent read (or Query page): one per 4 KB, rounded up."""
    return max(1, math.ceil(size / 4096))


# --- Log volume ------------------------------------------------------------------------------

LOG_PLATFORM_BYTES = 350
"""Lambda's own lines per invocation: START, END and REPORT."""
LOG_TRACE_BYTES = 110
"""What active tracing adds to the REPORT line (``XRAY TraceId: ... Sampled: true``)."""
LOG_CONTEXT_BYTES = 70
"""What ``observability.lambda_context`` adds to each log line: the request id and whether
it is a cold start."""
PROBE_LOG_LINE = 218
"""The ``round recorded`` line of a healthy round: its fixed part (plus the service's and the
region's names and each check's entry)."""
PROBE_CHECK_BYTES = 8
"""One check's latency on that line, ``"name":123,`` (plus the check's name)."""
DECIDED_LINE = 345
"""The ``decided`` line of a pass that changed nothing but the regions' tracks, with its
figures: its fixed part (plus the service's name and each probe region's age)."""
DECIDE_REGION_BYTES = 6
"""One probe region's age on that line, ``"eu-west-1":60,`` (plus the region's name)."""
SHORT_INVOCATION_LOGS = 700
"""A follower's or the ticker's one log line."""


def probe_report_bytes(config: Config, region: str) -> int:
    """What ``handlers/probe.py::_report`` prints for one round of every service, without
    the Lambda context fields (``tests/unit/test_cost.py`` measures it against the real
    handler)."""
    total = 0
    for s in config.services:
        total += PROBE_LOG_LINE + len(s.name) + len(region)
        for site in SiteName:
            total += sum(PROBE_CHECK_BYTES + len(c.name) for c in s.site(site).checks)
    return total


def platform_bytes(a: Assumptions) -> int:
    return LOG_PLATFORM_BYTES + (LOG_TRACE_BYTES if a.tracing else 0)


def probe_log_bytes(config: Config, region: str, a: Assumptions) -> int:
    """One probe invocation's logs: Lambda's lines and each service's line (with the Lambda
    context)."""
    context = LOG_CONTEXT_BYTES * len(config.services)
    return platform_bytes(a) + context + probe_report_bytes(config, region)


def decided_bytes(config: Config) -> int:
    """What ``handlers/decide.py::_record`` prints for every service after a quiet pass
    (``tests/unit/test_cost.py`` measures it against the real handler)."""
    regions = sum(DECIDE_REGION_BYTES + len(r) for r in config.probe_regions)
    return sum(DECIDED_LINE + len(s.name) + regions for s in config.services)


def decide_log_bytes(config: Config, a: Assumptions) -> int:
    """One leader invocation deciding every service (a stream invocation decides the services
    of its batch: one round holds every service)."""
    context = LOG_CONTEXT_BYTES * len(config.services)
    return platform_bytes(a) + context + decided_bytes(config)


# --- Counting from the config ------------------------------------------------------------------


def rounds_per_month(config: Config) -> float:
    return MONTH_SECONDS / config.probe.interval


def decide_schedule_per_month(config: Config) -> float:
    """The decide schedule's invocations: every minute, or every whole interval from 60 s up
    (``infra/stacks.py::schedule_minutes``)."""
    return MONTH_MINUTES / max(1, int(config.probe.interval) // 60)


def checks(config: Config) -> Iterator[tuple[Service, SiteName, Check]]:
    for service in config.services:
        for site in SiteName:
            for check in service.site(site).checks:
                yield service, site, check


def event_metric_hours(config: Config, a: Assumptions) -> float:
    """Hours in which a custom metric is sent, summed over metrics. No metric is sent every
    round or every pass: only when something happens, and CloudWatch prorates a metric by
    the hours it is sent in. Counted: each alert (``AlertsSent`` and one
    ``ChannelDeliveries`` per channel), each switch (``Switches`` and the runbook's outcome)
    and each drill (``DrillFailures``). Failures (``AlertsPending``, ``RegionsSilent``,
    ``ObservationWriteFailures`` ...) are left out: a month without them is the one priced."""
    alerts = a.alerts_per_month * (1 + len(config.notifications.channels))
    return alerts + 2 * a.switches_per_month + drill_runs_per_month(config)


def alarms(config: Config) -> int:
    """The alarms ``infra/stacks.py`` creates in the home region: ``DecideErrors``,
    ``NotifyDeadLetterQueue``, ``DecideStale``, ``StreamIteratorAge``, ``RegionSilent``,
    ``AlertsPending`` and ``ChannelFailures-<channel>`` per channel."""
    return 6 + len(config.notifications.channels)


STANDBY_ALARMS = 2
"""A standby control region's: ``DecideErrors`` and ``NotifyDeadLetterQueue``."""


def secret_names(config: Config) -> list[str]:
    """Every Secrets Manager secret the config names (keys ``secret`` and ``*_secret``). An
    ``ssm:`` reference is a Parameter Store parameter: a standard one, read at standard
    throughput, costs nothing, so it is not counted."""
    from arbiter.core.config import parameter_ref

    found: set[str] = set()
    todo: list[Any] = [config.model_dump()]
    for _ in range(1_000_000):  # bounded: a config is a finite tree
        if not todo:
            break
        node = todo.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and (key == "secret" or key.endswith("_secret")):
                    if parameter_ref(value) is None:
                        found.add(value)
                else:
                    todo.append(value)
        elif isinstance(node, list):
            todo.extend(node)
    return sorted(found)


def drill_runs_per_month(config: Config) -> float:
    """The drill's runs: weekly unless its schedule says ``rate(N unit)``."""
    if config.drill is None:
        return 0.0
    expression = config.drill.schedule
    if expression.startswith("rate("):
        amount, unit = expression[5:-1].split()
        seconds = {"minute": 60, "hour": 3600, "day": 86_400}[unit.rstrip("s")]
        return MONTH_SECONDS / (int(amount) * seconds)
    return MONTH_HOURS / (7 * 24)


# --- The bill --------------------------------------------------------------------------------


class Bill:
    """Items added group by group, in the order they print."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def add(self, group: str, key: str, what: str, quantity: float) -> None:
        """One line; none for nothing (a standby's act function that never runs)."""
        if quantity:
            self.items.append(Item(group, what, quantity, price(key)))

    def function(
        self,
        group: str,
        role: str,
        invocations: float,
        ms: float,
        a: Assumptions,
        what: str | None = None,
    ) -> None:
        """A function's requests, its duration (cold starts' INIT included) and its traces."""
        name = what or role
        gb = MEMORY_MB[role] / 1024
        seconds = invocations * (ms + a.cold_start_share * a.init_ms) / 1000
        self.add(group, "lambda_request", f"{name} requests", invocations)
        self.add(
            group,
            "lambda_arm_gb_s",
            f"{name} duration ({MEMORY_MB[role]} MB x {ms:g} ms)",
            seconds * gb,
        )
        if a.tracing:
            self.add(group, "xray_trace", f"{name} traces (active tracing)", invocations)


def _probe_region(bill: Bill, config: Config, region: str, a: Assumptions) -> None:
    group = f"probe {region}"
    rounds = rounds_per_month(config)
    bill.function(group, "probe", rounds, a.probe_ms, a)
    if config.probe.interval < 60:
        _ticker(bill, config, group, a)
    else:
        bill.add(group, "eventbridge_schedule", "schedule: one round per invocation", rounds)
    logs = rounds * probe_log_bytes(config, region, a) / GB
    if config.probe.interval < 60:
        logs += MONTH_MINUTES * (LOG_PLATFORM_BYTES + SHORT_INVOCATION_LOGS) / GB
    bill.add(group, "logs_ingest", "probe and ticker logs", logs)
    bill.add(group, "logs_storage", "logs kept a month", logs)
    if region != config.home_region:
        sent = sum(item_bytes(observation_item(s, region)) for s in config.services)
        bill.add(
            group, "transfer_inter_region", "observations to the home table", rounds * sent / GB
        )


def _ticker(bill: Bill, config: Config, group: str, a: Assumptions) -> None:
    per_minute = round(60 / config.probe.interval)
    messages = MONTH_MINUTES * per_minute
    bill.add(group, "eventbridge_schedule", "schedule: the ticker every minute", MONTH_MINUTES)
    bill.function(group, "ticker", MONTH_MINUTES, a.ticker_ms, a)
    sends = MONTH_MINUTES * math.ceil(per_minute / SQS_BATCH)
    bill.add(group, "sqs_request", f"SendMessageBatch ({per_minute} delayed rounds)", sends)
    bill.add(group, "sqs_request", "receives and deletes, one each per round", 2 * messages)
    idle = a.esm_pollers * MONTH_SECONDS / a.long_poll_s
    bill.add(
        group,
        "sqs_request",
        f"idle long polls ({a.esm_pollers} pollers, {a.long_poll_s:g} s)",
        idle,
    )


def _obs_bytes(config: Config, service: Service) -> float:
    """One service's observation item, averaged over the probe regions (their names differ)."""
    sizes = [item_bytes(observation_item(service, r)) for r in config.probe_regions]
    return sum(sizes) / len(sizes)


def _obs_wru(config: Config) -> int:
    """WRU of one round's observations in one region (every service's item)."""
    return sum(write_units(math.ceil(_obs_bytes(config, s))) for s in config.services)


def _state_wru(config: Config) -> int:
    """WRU of one standard write of every service's state item (a transaction costs twice)."""
    return sum(write_units(item_bytes(state_item(config, s))) for s in config.services)


def _stream_passes(config: Config, a: Assumptions) -> float:
    """Decide invocations from the stream: ``passes_per_round`` per round (one: the trigger
    gathers the round's records from every probe region)."""
    return rounds_per_month(config) * a.passes_per_round


def _decide_invocations(config: Config, a: Assumptions) -> float:
    return _stream_passes(config, a) + decide_schedule_per_month(config)


def _stored_gb(config: Config) -> float:
    """What the table holds: ``probe.retention`` of rounds and each service's state (each item
    with DynamoDB's 100 bytes of overhead). The event log grows by a few items a switch."""
    kept = config.probe.retention / config.probe.interval * len(config.probe_regions)
    total = 0.0
    for s in config.services:
        total += kept * (_obs_bytes(config, s) + 100)
        total += item_bytes(state_item(config, s)) + 100
    return total / GB


def _reads_per_pass(config: Config, a: Assumptions) -> tuple[int, float]:
    """RRU of one pass over every service: the state (a consistent Query), and the rounds
    since the slowest region's newest one (an eventually consistent Query, half price)."""
    rounds = a.rounds_per_pass if a.rounds_per_pass is not None else len(config.probe_regions)
    state = sum(read_units(item_bytes(state_item(config, s))) for s in config.services)
    window = sum(
        0.5 * read_units(math.ceil(rounds * _obs_bytes(config, s))) for s in config.services
    )
    return state, window


def _table(bill: Bill, config: Config, a: Assumptions) -> None:
    """The home replica: observation writes, the decider's reads and state writes, storage."""
    group = f"table {config.home_region}"
    observations = rounds_per_month(config) * len(config.probe_regions) * _obs_wru(config)
    bill.add(group, "dynamodb_wru", "observations: 1 put per service per round", observations)
    state = _stream_passes(config, a) * _state_wru(config)
    bill.add(group, "dynamodb_wru", "state: 1 conditional put per stream pass", state)
    passes = _decide_invocations(config, a)
    state_rru, window_rru = _reads_per_pass(config, a)
    bill.add(group, "dynamodb_rru", "state reads: consistent Query per pass", passes * state_rru)
    bill.add(group, "dynamodb_rru", "round reads: eventual Query per pass", passes * window_rru)
    bill.add(group, "dynamodb_stream_lambda", "stream reads by the decide trigger", passes)
    stored = _stored_gb(config)
    bill.add(group, "dynamodb_storage", "observations kept for probe.retention, state", stored)
    bill.add(group, "dynamodb_pitr", "point-in-time recovery of the same", stored)


def _decide(bill: Bill, config: Config, a: Assumptions) -> None:
    group = f"decide {config.home_region}"
    invocations = _decide_invocations(config, a)
    bill.function(group, "decide", invocations, a.decide_ms, a)
    bill.add(group, "eventbridge_schedule", "schedule", decide_schedule_per_month(config))
    logs = invocations * decide_log_bytes(config, a) / GB
    bill.add(group, "logs_ingest", "decide logs", logs)
    bill.add(group, "logs_storage", "logs kept a month", logs)


def _operations(bill: Bill, config: Config, a: Assumptions, group: str, home: bool) -> None:
    """Alarms, topics, the rare functions and the secrets, in every control region; a
    standby's stand idle (no alert, no run) until it leads."""
    bill.add(group, "cw_alarm", "alarms", alarms(config) if home else STANDBY_ALARMS)
    alerts = a.alerts_per_month if home else 0.0
    bill.add(group, "sns_publish", "alerts and ops messages", 2 * alerts)
    addresses = len(config.notifications.emails)
    plural = "es" if addresses != 1 else ""
    bill.add(group, "sns_email", f"alert emails ({addresses} address{plural})", alerts * addresses)
    acts = drill_runs_per_month(config) + a.switches_per_month if home else 0.0
    bill.function(group, "act", acts, a.act_ms, a)
    bill.function(group, "override", a.override_calls_per_month * home, a.override_ms, a)
    bill.function(group, "notify", 2 * alerts, a.notify_ms, a)
    secrets = secret_names(config)
    bill.add(group, "secret", f"secrets the config names ({len(secrets)})", len(secrets))
    bill.add(group, "secret_api", "secret reads (one per secret per act run)", acts * len(secrets))


def _home(bill: Bill, config: Config, a: Assumptions) -> None:
    group = f"operations {config.home_region}"
    _operations(bill, config, a, group, home=True)
    bill.add(
        group,
        "cw_metric_hour",
        "event metrics (hours with alerts, switches, drills)",
        event_metric_hours(config, a),
    )
    if a.dashboard:
        bill.add(group, "cw_dashboard", "dashboard (monitoring.dashboard)", 1)


def _standby(bill: Bill, config: Config, region: str, a: Assumptions) -> None:
    """A standby region: its replica of the table, its follower decider, its idle copy of
    everything else."""
    group = f"standby {region}"
    rounds = rounds_per_month(config) * len(config.probe_regions)
    bill.add(group, "dynamodb_rwru", "replicated observations", rounds * _obs_wru(config))
    state = _stream_passes(config, a) * _state_wru(config)
    bill.add(group, "dynamodb_rwru", "replicated state writes", state)
    bill.add(
        group, "dynamodb_rwru", "replicated TTL deletes of observations", rounds * _obs_wru(config)
    )
    sent = rounds * sum(_obs_bytes(config, s) for s in config.services)
    sent += _stream_passes(config, a) * sum(
        item_bytes(state_item(config, s)) for s in config.services
    )
    bill.add(group, "transfer_inter_region", "replication from the home region", sent / GB)
    stored = _stored_gb(config)
    bill.add(group, "dynamodb_storage", "replica storage", stored)
    bill.add(group, "dynamodb_pitr", "replica point-in-time recovery", stored)
    invocations = MONTH_MINUTES  # its schedule only: a standby has no stream trigger
    bill.function(group, "decide", invocations, a.follower_ms, a, what="follower decide")
    bill.add(group, "dynamodb_rru", "lease reads: eventual, 1 per invocation", 0.5 * invocations)
    logs = invocations * (platform_bytes(a) + SHORT_INVOCATION_LOGS) / GB
    bill.add(group, "logs_ingest", "follower logs", logs)
    bill.add(group, "logs_storage", "logs kept a month", logs)
    _operations(bill, config, a, group, home=False)


def _lease(bill: Bill, config: Config) -> None:
    """The lease table (multi-Region strong consistency): the leader renews every
    (lease - LEASE_MARGIN) seconds, one rWRU per replica (a witness has no write cost)."""
    replicas = config.control_regions
    witness = config.control.witness_region
    group = "lease table " + "+".join([*replicas, *([f"witness {witness}"] if witness else [])])
    renewals = MONTH_SECONDS / max(1.0, config.lease_seconds - LEASE_MARGIN)
    bill.add(
        group,
        "dynamodb_rwru",
        f"renewals every {fmt_seconds(config.lease_seconds - LEASE_MARGIN)}, "
        f"{len(replicas)} replicas",
        renewals * len(replicas),
    )


def alarm_regions(config: Config) -> list[str]:
    """Where the data-plane mode's alarms live: every control region and the witness."""
    witness = config.control.witness_region
    return [*config.control_regions, *([witness] if witness else [])]


def _data_plane(bill: Bill, config: Config) -> None:
    """Failover records whose PRIMARY has a CALCULATED health check over one
    CLOUDWATCH_METRIC health check per alarm region; each alarm watches a metric the leader
    sends once a minute per service into that region."""
    regions = alarm_regions(config)
    group = f"data plane ({len(regions)} alarm regions)"
    records = {
        s.name: sum(1 for r in s.dns.records if config.dns_provider(r.provider).type == "route53")
        for s in config.services
    }
    services = sum(1 for n in records.values() if n)
    total = sum(records.values())
    per_minute = MONTH_MINUTES * services * len(regions)
    bill.add(group, "cw_api", "PutMetricData: 1 per service per minute per region", per_minute)
    bill.add(group, "cw_metric", "vote metrics: 1 per service per region", services * len(regions))
    bill.add(group, "cw_alarm", "alarms: 1 per record per region", total * len(regions))
    bill.add(
        group,
        "r53_check_metric",
        "health checks: per record, 1 per region + 1 CALCULATED",
        total * (len(regions) + 1),
    )


def arbiter_items(config: Config, a: Assumptions) -> list[Item]:
    """Every line of Arbiter's monthly bill for this config."""
    bill = Bill()
    for region in config.probe_regions:
        _probe_region(bill, config, region, a)
    _table(bill, config, a)
    _decide(bill, config, a)
    _home(bill, config, a)
    for region in config.control.standby_regions:
        _standby(bill, config, region, a)
    if config.control.standby_regions:
        _lease(bill, config)
    if a.data_plane:
        _data_plane(bill, config)
    return bill.items


# --- Route 53 health checks for the same checks ---------------------------------------------

FAST_BELOW = 30.0
"""Route 53 checks every 30 s or every 10 s ("fast interval"): below 30 s only the fast one
is as frequent as Arbiter."""


@dataclass(frozen=True)
class Route53Check:
    """The Route 53 health check that does what one Arbiter check does, as near as it can."""

    where: str
    kind: str
    type: str
    features: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def monthly(self) -> float:
        basic = price("r53_check_non_aws").each
        return basic + len(self.features) * price("r53_feature_non_aws").each


@dataclass(frozen=True)
class Unmatched:
    """An Arbiter check Route 53 cannot do."""

    where: str
    kind: str
    why: str


def _where(service: Service, site: SiteName, check: Check) -> str:
    return f"{service.name} {site.value} {check.name}"


def _http_notes(check: HttpCheck) -> list[str]:
    notes = []
    if check.expect_body_not:
        notes.append("expect_body_not: Route 53 has no negative match (left out)")
    if any(not 200 <= code < 400 for code in check.expect_status):
        notes.append("expect_status: Route 53 takes any 2xx/3xx only")
    if check.method == "HEAD":
        notes.append("method HEAD: Route 53 sends GET")
    if check.headers:
        notes.append("headers: Route 53 sends none of its own choosing")
    return notes


def route53_check(
    service: Service, site: SiteName, check: Check, config: Config, a: Assumptions
) -> Route53Check | Unmatched:
    """The equivalent health check: HTTP/HTTPS (string matching for ``expect_body``) or TCP,
    fast when Arbiter probes more often than every 30 s, on a non-AWS endpoint (the data
    centers are outside AWS)."""
    where = _where(service, site, check)
    if isinstance(check, DnsCheck | SipCheck):
        return Unmatched(where, check.type, f"Route 53 health checks cannot do {check.type}")
    features: list[str] = []
    notes: list[str] = []
    if isinstance(check, HttpCheck):
        https = check.url.startswith("https:")
        matched = check.expect_body is not None
        kind = ("HTTPS" if https else "HTTP") + ("_STR_MATCH" if matched else "")
        features += ["HTTPS"] * https + ["string matching"] * matched
        notes += _http_notes(check)
    else:
        assert isinstance(check, TcpCheck)
        kind = "TCP"
        if check.expect_banner:
            notes.append("expect_banner: Route 53 only connects (left out)")
    if config.probe.interval < FAST_BELOW:
        features.append("fast interval")
    if a.r53_latency:
        features.append("latency measurement")
    return Route53Check(where, check.type, kind, tuple(features), tuple(notes))


def route53(config: Config, a: Assumptions) -> tuple[list[Route53Check], list[Unmatched]]:
    found: list[Route53Check] = []
    missing: list[Unmatched] = []
    for service, site, check in checks(config):
        done = route53_check(service, site, check, config, a)
        if isinstance(done, Unmatched):
            missing.append(done)
        else:
            found.append(done)
    return found, missing


def without_unmatched(config: Config) -> Config:
    """The config less the checks Route 53 cannot do: Arbiter's side of the comparison.
    (Built with ``model_copy``, unvalidated: a site may be left with no check.)"""
    kept = (TcpCheck, HttpCheck)

    def site(s: Any) -> Any:
        return s.model_copy(update={"checks": [c for c in s.checks if isinstance(c, kept)]})

    services = [
        s.model_copy(update={"primary": site(s.primary), "secondary": site(s.secondary)})
        for s in config.services
    ]
    return config.model_copy(update={"services": services})


# --- The report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    source: str
    config: Config
    assumptions: Assumptions
    items: list[Item]
    route53: list[Route53Check]
    unmatched: list[Unmatched]
    comparable: float
    """Arbiter's total for the config less the checks Route 53 cannot do."""
    target: float = TARGET_PERCENT

    @property
    def total(self) -> float:
        return sum(i.monthly for i in self.items)

    @property
    def route53_total(self) -> float:
        return sum(c.monthly for c in self.route53)

    @property
    def percent(self) -> float | None:
        if not self.route53:
            return None
        return 100 * self.comparable / self.route53_total

    @property
    def meets_target(self) -> bool | None:
        percent = self.percent
        return None if percent is None else percent <= self.target

    def groups(self) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for item in self.items:
            out.setdefault(item.group, []).append(item)
        return out

    def largest(self, count: int = 3) -> list[tuple[str, float]]:
        """The costliest kinds of item across regions (``CloudWatch custom metrics``)."""
        kinds: dict[str, float] = {}
        for item in self.items:
            key = f"{item.price.service} {item.price.what}"
            kinds[key] = kinds.get(key, 0.0) + item.monthly
        return sorted(kinds.items(), key=lambda kv: -kv[1])[:count]


def resolved(config: Config, a: Assumptions) -> Assumptions:
    """``tracing`` and ``dashboard`` as the config deploys them, unless given."""
    tracing = config.monitoring.tracing if a.tracing is None else a.tracing
    dashboard = config.monitoring.dashboard if a.dashboard is None else a.dashboard
    return replace(a, tracing=tracing, dashboard=dashboard)


def estimate(config: Config, source: str = "config", a: Assumptions | None = None) -> Report:
    """The bill, Route 53's for the same checks, and Arbiter's for the checks Route 53 can do
    (the two sides of the percentage)."""
    a = resolved(config, a or Assumptions())
    items = arbiter_items(config, a)
    found, missing = route53(config, a)
    comparable = sum(i.monthly for i in items)
    if missing:
        comparable = sum(i.monthly for i in arbiter_items(without_unmatched(config), a))
    return Report(source, config, a, items, found, missing, comparable)


def _qty(q: float) -> str:
    if q == int(q):
        return f"{int(q):,}"
    if q >= 100:
        return f"{q:,.0f}"
    return f"{q:.4g}"


def _usd(amount: float) -> str:
    """Cents from $0.10 up; below, four decimals (a line of $0.0088 is not $0.01)."""
    if amount == 0:
        return "$0"
    return f"${amount:,.2f}" if amount >= 0.1 else f"${amount:.4f}"


ROW = "  {service:<15} {what:<52} {qty:>11} {unit:<14} {each:>14} {monthly:>9}"


def _row(item: Item) -> str:
    return ROW.format(
        service=item.service,
        what=item.what,
        qty=_qty(item.quantity),
        unit=item.price.unit,
        each=item.price.label(),
        monthly=_usd(item.monthly),
    )


def _summary(report: Report) -> list[str]:
    c = report.config
    regions = ", ".join(c.probe_regions)
    standbys = c.control.standby_regions
    control = (
        f"; standby {', '.join(standbys)}, witness {c.control.witness_region or 'none'}"
        if standbys
        else ""
    )
    count = sum(1 for _ in checks(c))
    return [
        f"Monthly cost of {report.source}: {len(c.services)} service(s), {count} checks every "
        f"{fmt_seconds(c.probe.interval)} from {len(c.probe_regions)} regions ({regions}); "
        f"home {c.home_region}{control}"
        + ("; data-plane mode" if report.assumptions.data_plane else ""),
        f"{_qty(rounds_per_month(c))} rounds per region in a {MONTH_HOURS} h month; us-east-1 "
        f"list prices checked {CHECKED}; free tiers not counted",
    ]


WIDTH = len(ROW.format(service="", what="", qty="", unit="", each="", monthly=""))


def _total(label: str, amount: float, indent: int = 0) -> str:
    """``label`` on the left, ``amount`` under the table's monthly column."""
    return " " * indent + f"{label:<{WIDTH - 10 - indent}} {_usd(amount):>9}"


def render(report: Report) -> str:
    """The table: line items by group with subtotals, the total, Route 53's checks and the
    percentage against the target."""
    lines = [*_summary(report), ""]
    header = ROW.format(
        service="service", what="what", qty="quantity", unit="unit", each="unit price",
        monthly="monthly",
    )  # fmt: skip
    lines.append(header)
    for group, items in report.groups().items():
        lines.append(group)
        lines += [_row(i) for i in items]
        lines.append(_total("subtotal", sum(i.monthly for i in items), indent=4))
    lines.append(_total("Arbiter, total", report.total))
    lines += ["", *_render_route53(report), "", *_verdict(report)]
    return "\n".join(lines) + "\n"


def _render_route53(report: Report) -> list[str]:
    fast = report.config.probe.interval < FAST_BELOW
    lines = [
        "Route 53 health checks for the same checks (non-AWS endpoints, "
        + ("fast 10 s interval)" if fast else "standard 30 s interval)")
    ]
    basic, feature = price("r53_check_non_aws"), price("r53_feature_non_aws")
    for check in report.route53:
        features = ", ".join(check.features) or "no option"
        cost = f"{basic.label()} + {len(check.features)} x {feature.label()}"
        lines.append(_total(f"  {check.where}: {check.type} ({features}), {cost}", check.monthly))
        lines += [f"      {note}" for note in check.notes]
    for gone in report.unmatched:
        lines.append(f"  {gone.where}: {gone.kind}: no Route 53 equivalent ({gone.why})")
    lines.append(_total("Route 53, total", report.route53_total))
    return lines


def _verdict(report: Report) -> list[str]:
    lines = []
    if report.unmatched:
        lines.append(
            f"Arbiter without the {len(report.unmatched)} check(s) Route 53 cannot do: "
            f"{_usd(report.comparable)} (the comparison leaves them out on both sides)"
        )
    percent = report.percent
    if percent is None:
        lines.append("No check has a Route 53 equivalent: nothing to compare.")
    else:
        verdict = "within target" if report.meets_target else "OVER TARGET"
        lines.append(
            f"Arbiter costs {percent:.0f}% of Route 53 for the same checks "
            f"({_usd(report.comparable)} vs {_usd(report.route53_total)}); "
            f"target: at most {report.target:g}%: {verdict}"
        )
    total = report.total or 1.0
    largest = ", ".join(
        f"{what} {_usd(usd)} ({100 * usd / total:.0f}%)" for what, usd in report.largest()
    )
    lines.append(f"Largest items: {largest}")
    a = report.assumptions
    if not a.dashboard and percent is not None and report.route53_total:
        board = price("cw_dashboard").each
        with_board = 100 * (report.comparable + board) / report.route53_total
        lines.append(
            f"The dashboard is off (monitoring.dashboard: true adds {_usd(board)} a month, "
            f"{with_board:.0f}% of Route 53 with it; free as one of an account's first three)"
        )
    lines.append(
        f"Assumed: probe round {a.probe_ms:g} ms, decide invocation {a.decide_ms:g} ms, "
        f"{a.passes_per_round:g} decide pass per round, cold starts "
        f"{100 * a.cold_start_share:g}% x {a.init_ms:g} ms, X-Ray tracing "
        f"{'on' if a.tracing else 'off'} (see the README for every assumption)"
    )
    return lines


def to_json(report: Report) -> dict[str, Any]:
    """``arbiter cost --json``: the same numbers as the table."""
    used = {f"{i.price.service}: {i.price.what}": i.price for i in report.items}
    return {
        "ok": True,
        "file": report.source,
        "currency": "USD",
        "month_hours": MONTH_HOURS,
        "prices_checked": CHECKED,
        "config": _config_json(report.config),
        "assumptions": dict(vars(report.assumptions)),
        "arbiter": {
            "total": report.total,
            "groups": [
                {
                    "name": name,
                    "subtotal": sum(i.monthly for i in items),
                    "items": [_item_json(i) for i in items],
                }
                for name, items in report.groups().items()
            ],
        },
        "route53": _route53_json(report),
        "comparison": {
            "arbiter_total": report.total,
            "arbiter_comparable": report.comparable,
            "route53_total": report.route53_total,
            "percent": report.percent,
            "target_percent": report.target,
            "meets_target": report.meets_target,
        },
        "largest": [{"what": w, "monthly": usd} for w, usd in report.largest()],
        "prices": [
            {
                "what": key,
                "usd": p.usd,
                "per": p.per,
                "unit": p.unit,
                "source": p.source,
                "status": p.status,
                "checked": p.checked,
            }
            for key, p in used.items()
        ],
    }


def _config_json(c: Config) -> dict[str, Any]:
    return {
        "home_region": c.home_region,
        "probe_regions": list(c.probe_regions),
        "standby_regions": list(c.control.standby_regions),
        "witness_region": c.control.witness_region,
        "interval_s": c.probe.interval,
        "services": len(c.services),
        "checks": sum(1 for _ in checks(c)),
    }


def _route53_json(report: Report) -> dict[str, Any]:
    return {
        "total": report.route53_total,
        "interval_s": 10 if report.config.probe.interval < FAST_BELOW else 30,
        "checks": [
            {
                "where": r.where,
                "kind": r.kind,
                "type": r.type,
                "features": list(r.features),
                "monthly": r.monthly,
                "notes": list(r.notes),
            }
            for r in report.route53
        ],
        "no_equivalent": [
            {"where": u.where, "kind": u.kind, "why": u.why} for u in report.unmatched
        ],
    }


def _item_json(item: Item) -> dict[str, Any]:
    return {
        "service": item.service,
        "what": item.what,
        "quantity": item.quantity,
        "unit": item.price.unit,
        "unit_price": item.price.each,
        "monthly": item.monthly,
        "price_status": item.price.status,
    }
