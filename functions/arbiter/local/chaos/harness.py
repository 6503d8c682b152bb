"""One scenario's world: moto-backed AWS, two loopback data centers, the real handlers.

Each round (a virtual minute): the scenario's steps for that round, a probe round in every
region that is not silent (each with its own runtime: a config whose checks of a site it is
cut off from point at a refused port, a clock that may be skewed), the decider on the new
rounds from the table's real stream, the queued act invocations, then the decider's schedule
30 s later and the act invocations again. The harness keeps the truth (which site is really
down, what each region can really see) and scores what Arbiter did against it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from arbiter import runtime
from arbiter.adapters.checks import live_workers
from arbiter.adapters.dns.route53 import Route53
from arbiter.adapters.notify import SnsNotifier
from arbiter.adapters.store import DynamoStore
from arbiter.core.config import Config, DnsRecord, SiteName
from arbiter.core.errors import ArbiterError
from arbiter.core.model import Alert, Event, Observation, ServiceState, Transition
from arbiter.handlers import act, decide, override, probe
from arbiter.local import aws
from arbiter.local.chaos.faults import Crash, Faults, FaultyClient, QueueInvoker
from arbiter.local.chaos.score import Figures, Outcome, Switch, Truth
from arbiter.local.chaos.world import (
    ACT_TIMEOUT,
    CHECK_TIMEOUT,
    DRAIN_PASSES,
    DRIP_EVERY,
    HOME,
    INTERVAL,
    MAX_ACTS,
    SCHEDULE_AT,
    SERVICE,
    SLOW_DELAY,
    STREAM_RETRIES,
    T0,
    TABLE,
    TARPIT_FOR,
    ChaosDns,
    ChaosStore,
    Scenario,
    Upsert,
    View,
    VirtualClock,
    alert_kind,
    build_config,
    context,
    is_round,
    read_stream,
    schedule_event,
)
from arbiter.local.sites import LocalSite, Mode


class Harness:
    def __init__(self, scenario: Scenario, boto3: Any) -> None:
        self.scenario = scenario
        self.boto3 = boto3
        self.clock = VirtualClock(T0)
        self.round = 0
        self.faults = Faults()
        self.invoker = QueueInvoker(self.faults)
        self.views = {region: View() for region in scenario.regions}
        self.truth = Truth()
        self.figures = Figures()
        self.switches: list[Switch] = []
        self.upserts: list[Upsert] = []
        self.written_keys: list[str] = []
        self.received: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.timeline: list[str] = []
        self.problems: list[str] = []
        self.lingering = 0
        self.conflicts = 0
        """State writes that lost a race (two writers at once)."""
        self._lock = threading.Lock()
        self._moto_lock = threading.Lock()
        self._inside_dns = 0
        self._rounds_written = 0
        self._gate: threading.Barrier | None = None
        self._gate_left = 0
        self._bad_since: datetime | None = None
        self._missed_counted = False
        self._cut_configs: dict[frozenset[SiteName], Config] = {}
        self.sites = {
            site: LocalSite(
                site.value, slow_delay=SLOW_DELAY, drip_every=DRIP_EVERY, tarpit_for=TARPIT_FOR
            )
            for site in SiteName
        }
        self._refused = socket.socket()  # bound, never listening: connections are refused

    # -- the world ------------------------------------------------------------------------

    def setup(self) -> None:
        for site in self.sites.values():
            site.start()
        self._refused.bind(("127.0.0.1", 0))
        b3 = self.boto3
        # The harness's own reads and setup: through the lock, never through a fault.
        raw = b3.client("dynamodb", region_name=HOME)
        dynamodb = FaultyClient("dynamodb", raw, Faults(), lock=self._moto_lock)
        self.stream_arn = aws.create_table(dynamodb, TABLE)
        self.streams = b3.client("dynamodbstreams", region_name=HOME)
        self.read: dict[str, str] = {}
        """The last stream record read, per shard."""
        self.sqs = b3.client("sqs", region_name=HOME)
        topic, self.inbox = aws.create_topic_with_inbox(
            b3.client("sns", region_name=HOME), self.sqs, "arbiter-chaos-alerts"
        )
        r53 = b3.client("route53", region_name="us-east-1")
        self.zones = [aws.create_zone(r53, "example.com"), aws.create_zone(r53, "example.net")]
        self.config = self._config(frozenset())
        self.service = self.config.service(SERVICE)
        self.observer = DynamoStore(TABLE, lambda: dynamodb)
        self.observer_dns = Route53(lambda: r53, poll_interval=0.01)
        for zone in self.zones:  # the records as they are before Arbiter ever acts
            records = [
                r.record_set(SiteName.PRIMARY) for r in self.service.dns.records if r.zone == zone
            ]
            self.observer_dns.upsert(zone, records, "the records before any switch")
        steps = len(self.zones)
        self.home = runtime.Runtime(
            config=self.config,
            store=ChaosStore(TABLE, self._faulty("dynamodb", HOME), self),
            notifier=SnsNotifier(topic, self._faulty("sns", HOME)),
            invoker=self.invoker,
            dns={"route53": ChaosDns(self._faulty("route53", "us-east-1", steps), self)},
            region=HOME,
            clock=self.clock,
        )
        runtime.install(self.home)

    def _faulty(self, name: str, region: str, dns_steps: int = 1) -> Callable[[], Any]:
        lock = self._moto_lock if name == "dynamodb" else contextlib.nullcontext()
        return lambda: FaultyClient(
            name, self.boto3.client(name, region_name=region), self.faults, dns_steps, lock
        )

    def _config(self, cut: frozenset[SiteName]) -> Config:
        ports = {site: (local.http_port, local.tcp_port) for site, local in self.sites.items()}
        return build_config(self.scenario, ports, self.zones, self._refused.getsockname()[1], cut)

    def region_runtime(self, region: str) -> runtime.Runtime:
        view = self.views[region]
        cut = frozenset(view.cut)
        if cut not in self._cut_configs:
            self._cut_configs[cut] = self._config(cut) if cut else self.config
        clock: Callable[[], datetime] = self.clock
        if view.skew:
            skew = timedelta(seconds=view.skew)
            clock = lambda: self.clock.now + skew  # noqa: E731
        return replace(self.home, region=region, config=self._cut_configs[cut], clock=clock)

    def close(self) -> None:
        runtime.install(None)
        for site in self.sites.values():
            site.stop()
        self._refused.close()

    # -- what scenarios do ----------------------------------------------------------------

    def note(self, text: str) -> None:
        at = self.clock.now
        self.timeline.append(f"[{self.round:02d} +{int((at - T0).total_seconds()):5d}s] {text}")

    def set_mode(self, site: SiteName, mode: Mode) -> None:
        self.sites[site].mode = mode
        self.note(f"*** {site.value} {mode}")

    def operator(self, payload: dict[str, Any]) -> dict[str, Any]:
        previous = runtime.current()
        runtime.install(self.home)
        try:
            answer = override.handler({"operator": "chaos", **payload}, context("override"))
        finally:
            runtime.install(previous)
        if answer.get("transition"):
            outcome = f"switch #{answer['transition']} started"
        elif not answer.get("ok"):
            outcome = f"refused: {answer.get('error')}"
        else:
            outcome = "done" if answer.get("changed") else "no change"
        command = " ".join(str(payload[k]) for k in ("command", "to") if k in payload)
        self.note(f"operator {command}: {outcome}")
        return answer

    def replay_act(self, switch_index: int) -> None:
        """Deliver an act invocation of an earlier switch again, late (Lambda's retry)."""
        tid = self.switches[switch_index].id
        self.note(f"act invocation of #{tid} delivered again, late")
        self.invoker.queue.append((SERVICE, tid))

    # -- one round --------------------------------------------------------------------------

    def run(self) -> None:
        for n in range(self.scenario.rounds):
            self.round = n
            self.clock.now = T0 + timedelta(seconds=INTERVAL * n)
            for step in self.scenario.steps.get(n, []):
                step(self)
            self.truth.record({site: self.site_down(site) for site in SiteName})
            self.probe_all()
            self.decide_stream()
            self.run_acts()
            self.read_inbox()
            self.evaluate()
            if self.scenario.schedule:
                self.clock.now += timedelta(seconds=SCHEDULE_AT)
                self.decide_schedule()
                self.run_acts()
                self.read_inbox()
                self.evaluate()
            self.lingering = max(self.lingering, live_workers())

    def site_down(self, site: SiteName) -> bool:
        mode = self.sites[site].mode
        return mode != "ok" and not (mode == "slow" and SLOW_DELAY <= CHECK_TIMEOUT)

    def probe_all(self) -> None:
        for region in self.scenario.regions:
            if self.views[region].silent:
                continue
            runtime.install(self.region_runtime(region))
            try:
                probe.handler(schedule_event(region, self.clock.now), context("probe"))
            except ArbiterError as exc:
                self.note(f"{region}: round lost: {exc}")
        runtime.install(self.home)

    def decide_stream(self) -> None:
        rounds = [r for r in read_stream(self.streams, self.stream_arn, self.read) if is_round(r)]
        if len(rounds) != self._rounds_written:  # the harness itself must be faithful
            self.problems.append(
                f"round {self.round}: the stream brought {len(rounds)} rounds, "
                f"{self._rounds_written} were written"
            )
        self._rounds_written = 0
        records = [r for r in rounds if r.get("eventName") == "INSERT"]
        if len(records) < len(rounds):
            self.note(
                f"{len(rounds) - len(records)} round(s) replaced an item with the same key: "
                "the decider's stream filter (new items only) drops them"
            )
        if not records:
            return
        batch = {"Records": records}
        for _ in range(2 if self.faults.stream_twice else 1):
            self._deliver_batch(batch)

    def _deliver_batch(self, batch: dict[str, Any]) -> None:
        deciders = 2 if self.faults.two_deciders else 1
        for attempt in range(1, STREAM_RETRIES + 1):  # Lambda retries a failed batch
            with self._lock:
                self._gate = threading.Barrier(deciders) if deciders > 1 else None
                self._gate_left = deciders
            try:
                calls = [partial(decide.handler, batch, context("decide")) for _ in range(deciders)]
                _at_once(calls)
                return
            except ArbiterError as exc:
                self.note(f"decide: batch failed (attempt {attempt}): {exc}")
        self.problems.append(f"round {self.round}: a stream batch failed {STREAM_RETRIES} times")

    def decide_schedule(self) -> None:
        decide.handler(schedule_event(HOME, self.clock.now), context("decide"))

    def run_acts(self) -> None:
        for _ in range(MAX_ACTS):  # bounded: a runbook's own invocations come after it
            if self.faults.hold_acts or not self.invoker.queue:
                return
            service, tid = self.invoker.queue.popleft()
            copies = 2 if self.faults.duplicate_acts else 1
            _at_once([partial(self._act, service, tid)] * copies)
        self.problems.append("act invocations kept coming")

    def _act(self, service: str, tid: int) -> None:
        self.faults.insync_seen = 0
        try:
            answer = act.handler(
                {"service": service, "transition": tid}, context("act", ACT_TIMEOUT)
            )
            self.note(f"act #{tid}: {answer.get('outcome')}")
        except Crash:
            self.note(f"act #{tid}: the process died after its DNS change")
        finally:
            self.faults.dead = False

    def read_inbox(self) -> None:
        for message in aws.read_inbox(self.sqs, self.inbox):
            key = message["key"]
            self.received[key] += 1
            kind = alert_kind(key, message["message"])
            self.kinds[kind] += 1
            self.note(f"alert {kind}: {message['subject']}")

    # -- what the instrumented adapters report ----------------------------------------------

    def read_state(self) -> None:
        """Two deciders at once: each waits after its first read until both have read, so
        both decide on the same state and their writes really race."""
        with self._lock:
            gate = self._gate
            if gate is None or self._gate_left == 0:
                return
            self._gate_left -= 1
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait(timeout=5)

    def lost_race(self) -> None:
        self.conflicts += 1
        self.note("a state write lost a race (conditional write failed): that writer retries")

    def observed(self, obs: Observation) -> None:
        self._rounds_written += 1
        view = self.views.get(obs.region)
        for site, result in obs.sites.items():
            reachable = view is None or site not in view.cut
            expected = reachable and not self.site_down(site)
            if result.ok != expected:
                self.figures.wrong_rounds += 1
                reasons = ", ".join(c.reason for c in result.failing()) or "ok"
                self.note(f"WRONG ROUND: {obs.region} saw {site.value} {reasons}")

    def written(self, alerts: Sequence[Alert]) -> None:
        self.written_keys.extend(a.key for a in alerts)

    def switched(self, transition: Transition, before: ServiceState | None) -> None:
        t = transition
        switch = Switch(t.id, t.by, t.from_site, t.to_site, t.decided_at, t.reason)
        self.switches.append(switch)
        self.note(f"switch #{t.id} by {t.by}: {t.from_site.value} -> {t.to_site.value}: {t.reason}")
        if t.by == "decider":
            why = self._false_switch(t, before)
            if why:
                self.figures.false += 1
                self.note(f"FALSE SWITCH #{t.id}: {why}")

    def _false_switch(self, t: Transition, before: ServiceState | None) -> str | None:
        old, new = t.from_site, t.to_site
        if self.truth.now(new):
            return f"to {new.value}, which is really down"
        if before is not None and before.pinned is old and not self.truth.now(old):
            return f"undid the operator's pin on {old.value} while it was up"
        # A failback leaves a healthy secondary by design (the machine's reason says so).
        failback = old is SiteName.SECONDARY and t.reason.startswith("failback")
        fall = self.config.decision.fall
        if not failback and not self.truth.down_for(old, fall):
            return f"away from {old.value}, which was not down for {fall} rounds"
        return None

    def dns_change_begins(self) -> Transition | None:
        with self._lock:
            self._inside_dns += 1
            if self._inside_dns > 1:
                self.figures.acted_twice += 1
                self.note("ACTED TWICE: two runbooks inside a DNS change at once")
        state = self.observer.load_state(SERVICE)
        return state.transition if state.open_runbook is not None else None

    def dns_change_ends(self) -> None:
        with self._lock:
            self._inside_dns -= 1

    def dns_changed(self, zone: str, site: SiteName, current: Transition | None) -> None:
        tid = current.id if current is not None else None
        self.upserts.append(Upsert(self.clock.now, zone, site, tid))
        if current is None or current.to_site is not site:
            self.figures.acted_twice += 1
            self.note(f"ACTED TWICE: {zone} set to {site.value} while #{tid} is current")

    # -- scoring ----------------------------------------------------------------------------

    def served(self) -> SiteName | None:
        """The site every record points at, or None when they are split."""
        for site in SiteName:
            if all(self._serves(record, site) for record in self.service.dns.records):
                return site
        return None

    def _serves(self, record: DnsRecord, site: SiteName) -> bool:
        found = self.observer_dns.read(record.zone, record.name, record.type.value)
        return record.record_set(site).same_as(found)

    def seeing(self) -> int:
        """Probe regions that report in time and can reach both sites."""
        if self.faults.probe_writes_failing:
            return 0
        allowance = self.config.decision.clock_skew
        return sum(
            1 for v in self.views.values() if not v.silent and not v.cut and v.skew <= allowance
        )

    def evaluate(self) -> None:
        """Missed switches: the served site really down while another is up, seen by a
        quorum, for longer than the detection bound."""
        state = self.observer.load_state(SERVICE)
        served = self.served()
        up = [site for site in SiteName if not self.truth.now(site)]
        bad = bool(up) and (served is None or served not in up)
        excused = state.paused or state.pinned is not None or state.failed is not None
        if not bad or excused or self.seeing() < self.config.quorum:
            self._bad_since, self._missed_counted = None, False
            return
        now = self.clock.now
        if self._bad_since is None:
            self._bad_since = now
        rule = self.config.decision
        bound = (rule.fall + 1) * self.config.probe.interval + 60
        if not self._missed_counted and (now - self._bad_since).total_seconds() > bound:
            self.figures.missed += 1
            self._missed_counted = True
            where = served.value if served else "a split between sites"
            alive = ", ".join(s.value for s in up)
            self.note(f"MISSED SWITCH: DNS on {where} over {bound:g} s while {alive} was up")

    def drain(self) -> None:
        """Every fault cleared: deliver what is pending until nothing is."""
        self.faults.clear()
        self.note("drain: every fault cleared")
        for _ in range(DRAIN_PASSES):
            self.run_acts()
            self.decide_schedule()
            self.run_acts()
            self.read_inbox()
            snap = self.observer.load(SERVICE)
            if not self.invoker.queue and snap.state.open_runbook is None and not snap.outbox:
                return
            self.clock.now += timedelta(seconds=SCHEDULE_AT)
        self.note("drain: still not settled")

    def finish(self) -> None:
        state = self.observer.load_state(SERVICE)
        for record in self.service.dns.records:
            if not self._serves(record, state.active):
                self.figures.mismatch += 1
                self.note(f"MISMATCH: {record.name} does not point at {state.active.value}")
        if state.open_runbook is not None:
            self.figures.mismatch += 1
            self.note(f"MISMATCH: runbook #{state.open_runbook} still open")
        received = set(self.received)
        lost = [key for key in dict.fromkeys(self.written_keys) if key not in received]
        self.figures.lost = len(lost)
        for key in lost:
            self.note(f"LOST ALERT: {key}")
        self.figures.duplicated = sum(n - 1 for n in self.received.values() if n > 1)
        self.problems.extend(self._expectations())

    def _expectations(self) -> list[str]:
        scenario = self.scenario
        problems = []
        got = [s.short() for s in self.switches]
        if got != scenario.expect:
            problems.append(f"switches {got or 'none'}, expected {scenario.expect or 'none'}")
        if scenario.alerts is not None and dict(self.kinds) != scenario.alerts:
            got_alerts = dict(sorted(self.kinds.items()))
            problems.append(f"alerts {got_alerts}, expected {scenario.alerts}")
        problems.extend(self._dns_on_time())
        if scenario.check is not None:
            problems.extend(scenario.check(self))
        return problems

    def _dns_on_time(self) -> list[str]:
        """Each switch that completed changed DNS within a minute of its decision."""
        problems = []
        for switch in self.switches:
            if f"{SERVICE}/run{switch.id:08d}/done" not in self.received:
                continue
            times = [u.at for u in self.upserts if u.transition == switch.id]
            if not times:
                problems.append(f"switch #{switch.id} reported done without a DNS change")
            elif (min(times) - switch.at).total_seconds() > self.scenario.dns_within:
                late = (min(times) - switch.at).total_seconds()
                problems.append(f"switch #{switch.id}: DNS changed {late:.0f} s after the decision")
        return problems

    def outcome(self, seconds: float) -> Outcome:
        return Outcome(
            name=self.scenario.name,
            title=self.scenario.title,
            figures=self.figures,
            switches=self.switches,
            expected=self.scenario.expect,
            problems=self.problems,
            seconds=seconds,
            alerts=self.kinds,
            timeline=self.timeline,
            lingering_checks=self.lingering,
        )

    def events(self, limit: int = 500) -> list[Event]:
        return self.observer.recent_events(SERVICE, limit)


def _at_once(calls: Sequence[Callable[[], Any]]) -> None:
    """Run the calls concurrently (one: inline); re-raise the first failure."""
    if len(calls) == 1:
        calls[0]()
        return
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=ACT_TIMEOUT)
    if errors:
        raise errors[0]
