"""The simulator: the real core, in virtual time, against a scripted timeline of faults.

``arbiter simulate SCENARIO.yaml`` shows what a config would do before it is deployed:
each probe region rounds at its own phase, the decider runs after every round (as the
table's stream triggers it) and on a one-minute schedule (as EventBridge does), overrides
go through the same ``apply_override`` as the override function, and runbooks succeed or
fail as the scenario says. No AWS, no sockets, no clock: hours take seconds.

A scenario also states the truth (which site is really down, when), so the summary can
count false switches (away from a healthy site) and missed switches (an outage of the
active site, with the other site healthy, that went on past the detection bound with no
switch), and measure the time from each fault to its decision.
"""

from __future__ import annotations

import difflib
import heapq
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from arbiter.adapters.leadership import LeaseCluster, MemoryLeadership
from arbiter.core.config import (
    DAY,
    LEASE_SKEW,
    Check,
    Config,
    NonNegSeconds,
    Seconds,
    SiteName,
    at_most,
    fmt_seconds,
    parse_config,
    read_yaml,
    validation_messages,
)
from arbiter.core.errors import ArbiterError, ConfigError
from arbiter.core.ledger import Closed, adopt, with_adoption
from arbiter.core.machine import (
    COMMAND_NAMES,
    Command,
    DrillCommand,
    Refused,
    apply_override,
    decide,
)
from arbiter.core.model import (
    CheckResult,
    Event,
    Observation,
    ServiceState,
    SiteResult,
    Status,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = 60.0
"""The decider's own schedule (EventBridge), besides the stream."""

EVENT_KINDS = frozenset(
    {
        # decisions and the conditions of core/machine.py, each announced when it starts ...
        "verdict",
        "switch",
        "region_restarted",
        "runbook_restarted",
        "monitor_degraded",
        "impaired_vantage",
        "clock_skew",
        "tie",
        "both_down",
        "no_target",
        "standby_down",
        "awaiting_operator",
        "awaiting_sync",
        "flap_damped",
        "check_warning",
        # ... and when it clears
        "monitor_recovered",
        "vantage_recovered",
        "clock_skew_cleared",
        "tie_cleared",
        "both_recovered",
        "no_target_cleared",
        "standby_recovered",
        "awaiting_operator_cleared",
        "awaiting_sync_cleared",
        "flap_cleared",
        "check_warning_cleared",
        # operator overrides
        "override",
        "paused",
        "resumed",
        "acked",
        # the simulated runbooks
        "runbook_failed",
        # with standby regions: a switch taken from the ledger by a new leader
        "ledger_adopted",
    }
)
"""The event kinds a scenario's ``expect.events`` may count: what the core emits, and
``runbook_failed`` from the simulated runbooks. When the core emits a new kind, add it here
(a test holds this set against the kinds named in core/machine.py)."""


def _event_kind(kind: str) -> str:
    if kind not in EVENT_KINDS:
        close = difflib.get_close_matches(kind, EVENT_KINDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{kind!r} is not an event kind the simulation counts{hint}")
    return kind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteFault(_Model):
    """A site fails its checks, seen from some or all regions."""

    kind: Literal["down", "slow", "flap"]
    site: SiteName
    at: NonNegSeconds = 0
    until: Seconds | None = None
    regions: list[str] | None = Field(default=None, min_length=1)
    """Only these regions see it (a network cut between them and the site)."""
    checks: list[str] | None = Field(default=None, min_length=1)
    """Only these checks fail (default: every check of the site)."""
    probability: float = Field(default=0.5, ge=0, le=1)
    """For ``flap``: the chance that a round fails."""
    delay: Seconds | None = None
    """For ``slow``: how long responses take (fails the checks whose timeout is shorter)."""
    real: bool | None = None
    """Is the site really down (for false/missed switches)? Default: yes for a fault seen
    from every region on every required check, except ``flap``."""

    @model_validator(mode="after")
    def _slow_has_delay(self) -> SiteFault:
        if self.kind == "slow" and self.delay is None:
            raise ValueError("a slow fault needs delay (how long responses take)")
        return self


class RegionFault(_Model):
    """A probe region stops reporting (``stale``: its Lambda, its network, its whole region),
    or stamps its rounds ``ahead`` seconds late (``skew``: its clock runs ahead)."""

    kind: Literal["stale", "skew"]
    region: str
    at: NonNegSeconds = 0
    until: Seconds | None = None
    ahead: Seconds | None = None
    """For ``skew``: how far ahead the region's clock runs."""

    @model_validator(mode="after")
    def _skew_has_ahead(self) -> RegionFault:
        if self.kind == "skew" and self.ahead is None:
            raise ValueError("a skew fault needs ahead (how far the region's clock runs ahead)")
        return self


class OperatorAction(_Model):
    kind: Literal["operator"]
    at: NonNegSeconds = 0
    command: Command
    """An override payload, as sent to the override function (checked when the scenario
    loads, not when the simulation reaches it)."""


class GateAnswer(_Model):
    """From ``at`` on, the failback gate answers ``synced``."""

    kind: Literal["gate"]
    at: NonNegSeconds = 0
    synced: bool


class RunbookFailure(_Model):
    """Runbooks started in [at, until) fail (the service turns FAILED)."""

    kind: Literal["runbook_fails"]
    at: NonNegSeconds = 0
    until: Seconds | None = None


class ControlRegionLost(_Model):
    """A control region (``home_region`` or one of ``control.standby_regions``) is lost: its
    decider, act function and table replica stop, writes it had not yet replicated are lost,
    and it cannot reach the lease table. Its probe, if it has one, is a separate
    ``region_fault`` (``stale``)."""

    kind: Literal["control_region_lost"]
    region: str
    at: NonNegSeconds = 0
    until: Seconds | None = None


Step = Annotated[
    SiteFault | RegionFault | OperatorAction | GateAnswer | RunbookFailure | ControlRegionLost,
    Field(discriminator="kind"),
]


STEP_KINDS = {
    kind
    for model in (
        SiteFault,
        RegionFault,
        OperatorAction,
        GateAnswer,
        RunbookFailure,
        ControlRegionLost,
    )
    for kind in get_args(model.model_fields["kind"].annotation)
}
CHECK_KINDS = {
    kind
    for model in get_args(get_args(Check)[0])
    for kind in get_args(model.model_fields["type"].annotation)
}


class Expect(_Model):
    """What the scenario must produce; `arbiter simulate` fails when it does not."""

    switches: list[SiteName] | None = None
    """Targets of every switch, in order, e.g. ``[secondary, primary]``."""
    false_switches: int | None = Field(default=0, ge=0)
    missed_switches: int | None = Field(default=0, ge=0)
    double_switches: int | None = Field(default=0, ge=0)
    """Switches decided to the site the previous switch already went to (two regions each
    deciding the same failover)."""
    final_status: Status | None = None
    events: dict[Annotated[str, AfterValidator(_event_kind)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict
    )
    """Exact count of events of each kind named (one of EVENT_KINDS)."""
    max_detection: Seconds | None = None
    """Every failover decided within this long after its fault."""


class Scenario(_Model):
    name: str
    description: str = ""
    config: str | dict[str, Any] = "arbiter.example.yaml"
    """A config file (relative to the scenario file) or an inline config."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Deep-merged over the config: e.g. ``{decision: {fall: 2}}``."""
    service: str | None = None
    """Which service of the config to simulate (default: the first)."""
    duration: Annotated[Seconds, at_most(7 * DAY, "a week of virtual time shows every rule")]
    seed: int = 0
    phases: Literal["spread", "aligned"] = "spread"
    """``spread``: region i rounds at offset i x interval / n, as unsynchronized schedules
    do; ``aligned``: every region rounds at the same instants."""
    timeline: list[Step] = Field(default_factory=list)
    replication_lag: Annotated[NonNegSeconds, at_most(DAY, "a day of lag is a broken table")] = 1.0
    """With standby regions: how long the table's replication takes to carry a state
    write to the other control regions (a lost region's unreplicated writes are lost)."""
    expect: Expect = Field(default_factory=Expect)


# -- the run ---------------------------------------------------------------------------


@dataclass
class Switch:
    at: float
    to: SiteName
    by: str
    reason: str
    fault_at: float | None = None
    false: bool = False
    double: bool = False
    region: str = ""
    """The control region that decided it."""

    @property
    def detection(self) -> float | None:
        return None if self.fault_at is None else self.at - self.fault_at


@dataclass
class Result:
    scenario: Scenario
    config: Config
    timeline: list[tuple[float, str]] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[float, float]] = field(default_factory=list)
    final: ServiceState | None = None
    rounds: int = 0
    decide_passes: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def false_switches(self) -> int:
        return sum(s.false for s in self.switches)

    @property
    def double_switches(self) -> int:
        return sum(s.double for s in self.switches)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


UNIONS = {"timeline": STEP_KINDS, "checks": CHECK_KINDS, "command": set(COMMAND_NAMES)}


def load_scenario(path: str | Path) -> tuple[Scenario, Config]:
    """A scenario and its config, checked completely when they load: a bad file is one
    ConfigError naming the file and each field, never a traceback halfway through a run."""
    path = Path(path)
    data = read_yaml(path)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), validation_messages(exc, UNIONS)) from None
    config = _config_of(path, scenario)
    problems = list(_against_config(scenario, config))
    if problems:
        raise ConfigError(str(path), problems)
    return scenario, config


def _config_of(path: Path, scenario: Scenario) -> Config:
    """The base config must be valid on its own; what breaks once the overrides are merged
    in is the overrides' doing."""
    if isinstance(scenario.config, str):
        base_path = path.parent / scenario.config
        try:
            base = read_yaml(base_path)
            parse_config(base, str(base_path))
        except ConfigError as exc:
            prefix = f"config: {exc.source}: "
            raise ConfigError(str(path), [prefix + p for p in exc.problems]) from None
    else:
        base = scenario.config
        try:
            parse_config(base)
        except ConfigError as exc:
            raise ConfigError(str(path), [f"config.{p}" for p in exc.problems]) from None
    try:
        return parse_config(_merge(base, scenario.overrides))
    except ConfigError as exc:
        raise ConfigError(str(path), [f"overrides.{p}" for p in exc.problems]) from None


def _against_config(scenario: Scenario, config: Config) -> Iterator[str]:
    """What only the config can tell: the service, regions and checks each step names."""
    names = [service.name for service in config.services]
    if scenario.service is not None and scenario.service not in names:
        yield f"service: {scenario.service!r} is not a service of the config ({', '.join(names)})"
        return
    service = config.service(scenario.service or names[0])
    regions = config.probe_regions
    for i, step in enumerate(scenario.timeline):
        where = f"timeline[{i}]"
        yield from _times(step, where, scenario.duration)
        if isinstance(step, SiteFault):
            for j, region in enumerate(step.regions or []):
                if region not in regions:
                    yield f"{where}.regions[{j}]: {_not_a_probe_region(region, regions)}"
            checks = [check.name for check in service.site(step.site).checks]
            for j, name in enumerate(step.checks or []):
                if name not in checks:
                    yield (
                        f"{where}.checks[{j}]: {name!r} is not a check of the "
                        f"{step.site.value} site ({', '.join(checks)})"
                    )
        elif isinstance(step, RegionFault) and step.region not in regions:
            yield f"{where}.region: {_not_a_probe_region(step.region, regions)}"
        elif isinstance(step, ControlRegionLost) and step.region not in config.control_regions:
            yield (
                f"{where}.region: {step.region!r} is not a control region of the config "
                f"({', '.join(config.control_regions)}: home_region and "
                "control.standby_regions)"
            )
        elif isinstance(step, OperatorAction) and isinstance(step.command, DrillCommand):
            yield (
                f"{where}.command.command: a drill reaches the real providers and hooks and "
                "changes no state: there is nothing to simulate"
            )
        elif isinstance(step, OperatorAction) and step.command.service not in (None, service.name):
            yield (
                f"{where}.command.service: {step.command.service!r} is not the simulated "
                f"service {service.name!r}"
            )


def _not_a_probe_region(region: str, regions: list[str]) -> str:
    return f"{region!r} is not a probe region of the config ({', '.join(regions)})"


def _times(step: Any, where: str, duration: float) -> Iterator[str]:
    end = f"the end of the scenario (duration {fmt_seconds(duration)})"
    if step.at > duration:
        yield f"{where}.at: {fmt_seconds(step.at)} is after {end}"
    until = getattr(step, "until", None)
    if until is not None and until > duration:
        yield f"{where}.until: {fmt_seconds(until)} is after {end}"
    if until is not None and until <= step.at:
        yield f"{where}.until: {fmt_seconds(until)} is not after at ({fmt_seconds(step.at)})"


class Simulation:
    def __init__(self, scenario: Scenario, config: Config) -> None:
        self.s = scenario
        self.config = config
        self.service = config.service(scenario.service or config.services[0].name)
        self.rng = random.Random(scenario.seed)
        self.state = ServiceState(service=self.service.name)
        self.result = Result(scenario, config)
        self.pending: list[Observation] = []
        self.stored_ahead: list[Observation] = []
        # With standby regions: one replica of the state per control region, the lease and
        # ledger they share (with MRSC's rules), and the table's replication in flight.
        self.control = config.control_regions
        self.multi = len(self.control) > 1
        self.cluster = LeaseCluster()
        self.leases = {
            r: MemoryLeadership(self.cluster, r, config.lease_seconds) for r in self.control
        }
        self.replicas = {r: self.state for r in self.control}
        self.inbox: dict[str, list[Observation]] = {r: [] for r in self.control}
        self.replicating: list[tuple[float, str, ServiceState]] = []
        self.leader: str | None = None

    # ground truth and fault effects ------------------------------------------------------

    def _active(self, step: Any, t: float) -> bool:
        return step.at <= t and (step.until is None or t < step.until)

    def _site_faults(self, t: float) -> Iterator[SiteFault]:
        for step in self.s.timeline:
            if isinstance(step, SiteFault) and self._active(step, t):
                yield step

    def _fault_is_real(self, fault: SiteFault) -> bool:
        if fault.real is not None:
            return fault.real
        if fault.kind == "flap" or fault.regions is not None:
            return False
        required = {c.name for c in self.service.site(fault.site).checks if c.required}
        hit = set(fault.checks) if fault.checks is not None else required
        if fault.kind == "slow":
            hit = {
                c.name
                for c in self.service.site(fault.site).checks
                if c.name in hit and fault.delay is not None and fault.delay > c.timeout
            }
        return bool(hit & required)

    def truly_down(self, site: SiteName, t: float) -> bool:
        return any(f.site is site and self._fault_is_real(f) for f in self._site_faults(t))

    def _stale(self, region: str, t: float) -> bool:
        return any(
            isinstance(step, RegionFault)
            and step.kind == "stale"
            and step.region == region
            and self._active(step, t)
            for step in self.s.timeline
        )

    def _ahead(self, region: str, t: float) -> float:
        """How far ahead the region's clock runs at ``t`` (0 when it is right)."""
        for step in self.s.timeline:
            if (
                isinstance(step, RegionFault)
                and step.kind == "skew"
                and step.region == region
                and self._active(step, t)
            ):
                return step.ahead or 0.0
        return 0.0

    def _gate(self, t: float) -> bool:
        answer = False
        for step in self.s.timeline:
            if isinstance(step, GateAnswer) and step.at <= t:
                answer = step.synced
        return answer

    def _runbook_fails(self, t: float) -> bool:
        return any(
            isinstance(step, RunbookFailure) and self._active(step, t) for step in self.s.timeline
        )

    def observe(self, region: str, t: float) -> Observation:
        sites = {}
        for site in SiteName:
            results = []
            for check in self.service.site(site).checks:
                ok, reason = True, "ok"
                for fault in self._site_faults(t):
                    if fault.site is not site:
                        continue
                    if fault.regions is not None and region not in fault.regions:
                        continue
                    if fault.checks is not None and check.name not in fault.checks:
                        continue
                    if fault.kind == "down":
                        ok, reason = False, "connection refused"
                    elif fault.kind == "slow" and fault.delay and fault.delay > check.timeout:
                        ok, reason = False, f"timeout after {check.timeout:.1f} s"
                    elif fault.kind == "flap" and self.rng.random() < fault.probability:
                        ok, reason = False, "status 503"
                results.append(
                    CheckResult(
                        name=check.name,
                        kind=check.type,
                        ok=ok,
                        latency_ms=0.0 if not ok else 20.0,
                        reason=reason,
                        required=check.required,
                    )
                )
            sites[site] = SiteResult.of(results)
        stamped = EPOCH + _td(t + self._ahead(region, t))
        return Observation(service=self.service.name, region=region, round_at=stamped, sites=sites)

    # the loop ---------------------------------------------------------------------------

    def run(self) -> Result:
        interval = self.config.probe.interval
        regions = self.config.probe_regions
        queue: list[tuple[float, int, str, str]] = []
        for i, region in enumerate(regions):
            offset = interval * i / len(regions) if self.s.phases == "spread" else 0.0
            heapq.heappush(queue, (offset, 1, "round", region))
        heapq.heappush(queue, (SCHEDULE, 2, "schedule", ""))
        operator_steps = [s for s in self.s.timeline if isinstance(s, OperatorAction)]
        for step in self.s.timeline:
            self._log_fault(step)
        for index, step in enumerate(operator_steps):
            heapq.heappush(queue, (step.at, 0, "operator", str(index)))

        limit = int(self.s.duration / min(interval, SCHEDULE) * (len(regions) + 2)) + 1000
        for _ in range(limit):  # bounded
            if not queue:
                break
            t, _prio, kind, what = heapq.heappop(queue)
            if t > self.s.duration:
                break
            self._track_missed(t)
            if kind == "round":
                heapq.heappush(queue, (t + interval, 1, "round", what))
                if self._stale(what, t):
                    continue
                observed = self.observe(what, t)
                self.pending.append(observed)
                for region in self.control:  # the probe writes to a live replica; it spreads
                    if not self._lost(region, t):
                        self.inbox[region].append(observed)
                if observed.round_at > EPOCH + _td(t):
                    self.stored_ahead.append(observed)
                self.result.rounds += 1
                self._decide(t, stream=True)
            elif kind == "schedule":
                heapq.heappush(queue, (t + SCHEDULE, 2, "schedule", ""))
                self._decide(t)
            else:
                self._override(operator_steps[int(what)], t)
        self._track_missed(self.s.duration, final=True)
        self.result.final = self.state
        self._check_expectations()
        return self.result

    def _log_fault(self, step: Any) -> None:
        if isinstance(step, SiteFault):
            where = f" from {', '.join(step.regions)}" if step.regions else ""
            if step.kind == "slow":
                what = f"slow ({step.delay or 0:g} s per response)"
            elif step.kind == "flap":
                what = f"flapping ({step.probability:.0%} of rounds fail)"
            else:
                what = "down"
            checks = f" (checks: {', '.join(step.checks)})" if step.checks else ""
            self._log(step.at, f"*** {step.site.value} {what}{where}{checks}")
            if step.until is not None:
                self._log(step.until, f"*** {step.site.value} healthy again{where}")
        elif isinstance(step, RegionFault) and step.kind == "skew":
            ahead = _fmt(step.ahead or 0)
            self._log(step.at, f"*** {step.region}'s clock runs {ahead} ahead")
            if step.until is not None:
                self._log(step.until, f"*** {step.region}'s clock is right again")
        elif isinstance(step, RegionFault):
            self._log(step.at, f"*** {step.region} stops reporting")
            if step.until is not None:
                self._log(step.until, f"*** {step.region} reports again")
        elif isinstance(step, ControlRegionLost):
            self._log(step.at, f"*** control region {step.region} lost (decider, table replica)")
            if step.until is not None:
                self._log(step.until, f"*** control region {step.region} back")
        elif isinstance(step, GateAnswer):
            self._log(step.at, f"*** failback gate now answers synced={str(step.synced).lower()}")
        elif isinstance(step, RunbookFailure):
            self._log(step.at, "*** runbooks fail from here")
            if step.until is not None:
                self._log(step.until, "*** runbooks succeed again")

    def _lost(self, region: str, t: float) -> bool:
        return any(
            isinstance(step, ControlRegionLost) and step.region == region and self._active(step, t)
            for step in self.s.timeline
        )

    def _replicate(self, t: float) -> None:
        """Deliver the state writes whose replication is due; a write whose region was lost
        before it replicated never arrives (the table replicates asynchronously)."""
        due = [item for item in self.replicating if item[0] <= t]
        self.replicating = [item for item in self.replicating if item[0] > t]
        for at, source, state in due:
            if self._lost(source, at):
                continue
            for region in self.control:
                if region != source and state.version >= self.replicas[region].version:
                    self.replicas[region] = state
        for region in self.control:
            if self._lost(region, t):
                self.cluster.isolate(region)
            else:
                self.cluster.rejoin(region)

    def _leading(self, t: float, stream: bool = False) -> str | None:
        """The control region that holds the lease at ``t`` (taking or renewing it as the
        real decide function does at the start of a pass), or None. A round (``stream``)
        starts a pass only in the home region: a standby's decider runs on its one-minute
        schedule (its replica's stream has no trigger)."""
        now = EPOCH + _td(t)
        self._replicate(t)
        for region in self.control[:1] if stream else self.control:
            if self._lost(region, t):
                continue
            try:
                leads = self.leases[region].hold(now)
            except ArbiterError:
                continue
            if leads:
                if self.leader != region:
                    self._log(t, f"lease: {region} leads the decider")
                    self.leader = region
                return region
        return None

    def _decide_multi(self, t: float, stream: bool) -> None:
        region = self._leading(t, stream)
        if region is None:
            return
        now = EPOCH + _td(t)
        lease = self.leases[region]
        state, adopted = adopt(self.replicas[region], lease.entries().get(self.service.name))
        floor = now - _td(self.config.lookback)
        batch = [o for o in self.inbox[region] if o.round_at >= floor]
        self.inbox[region] = []
        outcome = decide(self.config, self.service, state, batch, now)
        if outcome.needs_gate:
            outcome = decide(self.config, self.service, state, batch, now, self._gate(t))
        if adopted is not None:
            outcome = with_adoption(outcome, adopted, state.version)
        if outcome.transition is not None:
            try:
                lease.record(self.service.name, outcome.transition, now)
            except ArbiterError as exc:
                self._log(t, f"{region}: switch not recorded ({exc})")
                return
        self.result.decide_passes += 1
        self._apply(outcome.state, outcome.events, outcome.transition, t, region)
        self._wrote(region, t, outcome.transition)

    def _wrote(self, region: str, t: float, transition: Any) -> None:
        """This region's state write: the ledger hears how a runbook ended, and the table
        replicates the state to the other regions after ``replication_lag``."""
        self.replicas[region] = self.state
        if transition is not None:
            closed: Closed = "failed" if self.state.failed == transition.id else "done"
            self.leases[region].close(self.service.name, transition.id, closed, EPOCH + _td(t))
        self.replicating.append((t + self.s.replication_lag, region, self.state))

    def _decide(self, t: float, stream: bool = False) -> None:
        if self.multi:
            self._decide_multi(t, stream)
            return
        now = EPOCH + _td(t)
        # As the table's query would: rounds stamped ahead come back every pass until they
        # are older than the decider's look-back.
        floor = now - _td(self.config.lookback)
        self.stored_ahead = [o for o in self.stored_ahead if o.round_at >= floor]
        batch = self.pending + [o for o in self.stored_ahead if o not in self.pending]
        outcome = decide(self.config, self.service, self.state, batch, now)
        if outcome.needs_gate:
            outcome = decide(self.config, self.service, self.state, batch, now, self._gate(t))
        self.pending = []
        self.result.decide_passes += 1
        self._apply(outcome.state, outcome.events, outcome.transition, t)

    def _override(self, step: OperatorAction, t: float) -> None:
        now = EPOCH + _td(t)
        command = step.command
        who = f"operator {command.command}"
        region = self._leading(t) if self.multi else None
        if self.multi and region is None:
            self._log(t, f"{who}: refused: no control region holds the lease")
            return
        state = self.replicas[region] if region is not None else self.state
        if region is not None:
            state, _ = adopt(state, self.leases[region].entries().get(self.service.name))
        try:
            outcome = apply_override(state, command, self.service, now)
        except Refused as exc:
            self._log(t, f"{who}: refused: {exc}")
            return
        if region is not None and outcome.transition is not None:
            self.leases[region].record(self.service.name, outcome.transition, now)
        reason = getattr(command, "reason", None) if "reason" in command.model_fields_set else None
        self._log(t, who + (f" ({reason})" if reason else ""))
        self._apply(outcome.state, outcome.events, outcome.transition, t, region or "")
        if region is not None:
            self._wrote(region, t, outcome.transition)

    def _apply(
        self, state: ServiceState, events: list[Event], transition: Any, t: float, region: str = ""
    ) -> None:
        self.state = state
        for event in events:
            self.result.events[event.kind] += 1
            if event.kind not in {"verdict"}:
                self._log(t, f"{event.kind}: {event.message}")
        if transition is None:
            return
        switch = Switch(t, transition.to_site, transition.by, transition.reason, region=region)
        before = self.result.switches[-1] if self.result.switches else None
        if transition.by == "decider" and before is not None and before.to is transition.to_site:
            switch.double = True
        if transition.by == "decider":
            left = transition.from_site
            failback = transition.to_site is SiteName.PRIMARY
            switch.false = self.truly_down(transition.to_site, t) or (
                not self.truly_down(left, t) and not failback
            )
            switch.fault_at = self._fault_start(left, t)
        self.result.switches.append(switch)
        if self._runbook_fails(t):
            self.state = self.state.model_copy(update={"failed": transition.id})
            self.result.events["runbook_failed"] += 1
            self._log(t, f"runbook #{transition.id} FAILED: service FAILED until an operator acks")
        else:
            self.state = self.state.model_copy(update={"runbook_done": transition.id})

    def _fault_start(self, site: SiteName, t: float) -> float | None:
        starts = [
            f.at
            for f in self.s.timeline
            if isinstance(f, SiteFault) and f.site is site and f.at <= t
            and self._fault_is_real(f)
            and (f.until is None or f.until > t - self.config.stale_after - 1)
        ]  # fmt: skip
        return max(starts) if starts else None

    # missed switches: the active site really down, the other really up, nobody paused ---

    _outage_since: float | None = None
    _outage_site: SiteName = SiteName.PRIMARY

    def _track_missed(self, t: float, final: bool = False) -> None:
        active = self.state.active
        outage = (
            self.truly_down(active, t)
            and not self.truly_down(active.other, t)
            and not self.state.paused
            and self.state.failed is None
        )
        if outage and not final:
            if self._outage_since is None:
                self._outage_since, self._outage_site = t, active
            return
        if self._outage_since is not None:
            bound = self._detection_bound()
            if t - self._outage_since > bound:
                self.result.missed.append((self._outage_since, t))
                self._log(
                    self._outage_since,
                    f"MISSED: {self._outage_site.value} down from here to {_fmt(t)} with no switch",
                )
            self._outage_since = None

    def _detection_bound(self) -> float:
        """The longest a correct monitor may take: fall rounds, one interval of phase, and
        one schedule period of slack."""
        bound = (self.config.decision.fall + 1) * self.config.probe.interval + SCHEDULE
        if any(isinstance(step, ControlRegionLost) for step in self.s.timeline):
            # A standby takes the lease once it lapsed: the takeover bound of the README.
            bound += takeover_bound(self.config)
        return bound

    def _log(self, t: float, line: str) -> None:
        self.result.timeline.append((t, line))

    def _check_expectations(self) -> None:
        e = self.s.expect
        r = self.result
        fail = r.failures.append
        if e.switches is not None and [s.to for s in r.switches] != e.switches:
            expected = [site.value for site in e.switches]
            fail(f"switches {[s.to.value for s in r.switches]}, expected {expected}")
        if e.false_switches is not None and r.false_switches != e.false_switches:
            fail(f"{r.false_switches} false switches, expected {e.false_switches}")
        if e.double_switches is not None and r.double_switches != e.double_switches:
            fail(f"{r.double_switches} double switches, expected {e.double_switches}")
        if e.missed_switches is not None and len(r.missed) != e.missed_switches:
            fail(f"{len(r.missed)} missed switches, expected {e.missed_switches}")
        if e.final_status is not None and r.final and r.final.status is not e.final_status:
            fail(f"final status {r.final.status.value}, expected {e.final_status.value}")
        for kind, count in e.events.items():
            if r.events[kind] != count:
                fail(f"{r.events[kind]} {kind} events, expected {count}")
        if e.max_detection is not None:
            for s in r.switches:
                if s.detection is not None and s.detection > e.max_detection:
                    fail(f"switch at {_fmt(s.at)} took {s.detection:.0f} s after its fault")


def takeover_bound(config: Config) -> float:
    """The longest a standby takes to lead after the leader's region is lost: the rest of
    the lease, the skew allowance, and one decider schedule for its next pass."""
    return config.lease_seconds + LEASE_SKEW + SCHEDULE


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def simulate(path: str | Path) -> Result:
    scenario, config = load_scenario(path)
    return Simulation(scenario, config).run()


def report(result: Result) -> str:
    s, c = result.scenario, result.config
    lines = [
        f"Scenario: {s.name}",
        *([f"  {s.description.strip()}"] if s.description else []),
        f"  {len(c.probe_regions)} regions, interval {c.probe.interval:g} s, fall "
        f"{c.decision.fall}, rise {c.decision.rise}, quorum {c.quorum}; "
        f"{_fmt(s.duration)} of virtual time",
        "",
    ]
    lines += [f"  {_fmt(t)}  {line}" for t, line in sorted(result.timeline, key=lambda x: x[0])]
    lines += ["", "Summary:"]
    for sw in result.switches:
        detect = f"; {sw.detection:.0f} s after the fault" if sw.detection is not None else ""
        flag = "  FALSE SWITCH" if sw.false else ""
        flag += "  DOUBLE SWITCH" if sw.double else ""
        where = f" in {sw.region}" if sw.region else ""
        lines.append(f"  switch to {sw.to.value} at {_fmt(sw.at)} by {sw.by}{where}{detect}{flag}")
    if not result.switches:
        lines.append("  no switch")
    lines.append(f"  false switches: {result.false_switches}")
    lines.append(f"  missed switches: {len(result.missed)}")
    if len(c.control_regions) > 1:
        lines.append(f"  double switches: {result.double_switches}")
    final = result.final.status.value if result.final else "?"
    lines.append(
        f"  final status: {final}; {result.rounds} rounds, {result.decide_passes} decide passes"
    )
    if result.failures:
        lines += ["", "NOT AS EXPECTED:", *(f"  - {f}" for f in result.failures)]
    else:
        lines.append("  as expected")
    return "\n".join(lines) + "\n"
