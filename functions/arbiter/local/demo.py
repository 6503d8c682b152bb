"""The local demo: two data centers on loopback, three probe regions, moto-backed AWS.

The real handlers run (probe x 3 regions, decide from the table's real stream, act through
Route 53 and SNS); only the clock is virtual, so ten minutes of rounds take a few seconds.
The primary breaks, Arbiter fails over; the primary heals, Arbiter fails back. Each switch
is the whole runbook: the old site's ``pre_release`` hook and its fence (``fence_policy:
required``), the new site's ``pre_acquire`` hook, DNS, two phone numbers moved at a local
Telnyx API stand-in, then ``post_acquire`` and ``post_release``; every fence and hook is a
signed webhook to that site's reference receiver (``arbiter/receiver.py``), which runs a
small script per phase, and the report prints each step's answer.

With ``rehearsal=True`` (``arbiter demo --rehearsal``, ``make rehearsal``) the switch also
goes through a real BIND on loopback: a primary that takes RFC 2136 updates signed with a
TSIG key, and three secondaries it notifies. The runbook changes moto's Route 53 and BIND in
two steps, then its verify step asks all four BIND servers directly and the report lists
each one's answer.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

DEMO_CONFIG = """\
app: arbiter-demo
home_region: eu-west-1
probe_regions: [eu-west-1, eu-central-1, us-east-1]
probe: {{interval: 60s, retention: 1h}}
decision: {{fall: 2, rise: 2}}
dns_providers:
  route53: {{type: route53, verify: false}}  # moto's Route 53 serves no DNS to verify at
notifications: {{emails: [oncall@example.com]}}
voip_providers:
  telnyx: {{type: telnyx, api_key_secret: demo/telnyx, base_url: "{telnyx_url}", timeout: 5s}}
services:
  - name: web
    failback: {{policy: automatic, hold: 2m}}
    fence_policy: required
    voip:
      - {{type: telnyx_number, provider: telnyx, numbers: ["+4969123456", "+31201234567"],
          connection_id: {{primary: "{fra_connection}", secondary: "{ams_connection}"}}}}
    primary:
      label: Frankfurt DC
{fra_actions}      checks:
        - {{type: http, name: health, url: "{primary_url}", expect_status: [200],
            expect_body: "OK", timeout: 2s}}
        - {{type: tcp, name: ssh, host: 127.0.0.1, port: {primary_tcp},
            expect_banner: "SSH-", timeout: 2s}}
    secondary:
      label: Amsterdam DC
{ams_actions}      checks:
        - {{type: http, name: health, url: "{secondary_url}", expect_status: [200],
            expect_body: "OK", timeout: 2s}}
        - {{type: tcp, name: ssh, host: 127.0.0.1, port: {secondary_tcp},
            expect_banner: "SSH-", timeout: 2s}}
    dns:
      records:
        - {{zone: "{zone_id}", name: www.example.com, type: A, ttl: 60,
            values: {{primary: [203.0.113.10], secondary: [198.51.100.10]}}}}
{extra_records}"""

REHEARSAL_PROVIDER = """\
  office:
    type: rfc2136
    server: 127.0.0.1
    port: {port}
    key_name: {key_name}
    key_algorithm: {key_algorithm}
    key_secret: {key_secret}
    nameservers: [{servers}]
"""
REHEARSAL_RECORDS = """\
        - {provider: office, zone: corp.example, name: www.corp.example, type: A, ttl: 30,
            values: {primary: [203.0.113.10, 203.0.113.11], secondary: [198.51.100.10]}}
        - {provider: office, zone: corp.example, name: _sip._udp.corp.example, type: SRV,
            ttl: 30, values: {primary: ["10 5 5060 fra.corp.example"],
                               secondary: ["10 5 5060 ams.corp.example"]}}
        - {provider: office, zone: corp.example, name: corp.example, type: TXT, ttl: 30,
            values: {primary: ["active=fra"], secondary: ["active=ams"]}}
"""
REHEARSAL_ZONE = """\
$TTL 30
corp.example. IN SOA ns1.corp.example. hostmaster.corp.example. 1 3600 600 86400 30
corp.example. IN NS ns1.corp.example.
ns1.corp.example. IN A 127.0.0.1
fra.corp.example. IN A 203.0.113.10
ams.corp.example. IN A 198.51.100.10
www.corp.example. 30 IN A 203.0.113.10
www.corp.example. 30 IN A 203.0.113.11
_sip._udp.corp.example. 30 IN SRV 10 5 5060 fra.corp.example.
corp.example. 30 IN TXT "active=fra"
"""


SITE_ACTIONS = """\
      fence: {{type: webhook, url: "{url}", secret: {secret}, timeout: 20s}}
      hooks:
        pre_release: [{{name: drain, type: webhook, url: "{url}", secret: {secret}, timeout: 20s}}]
        pre_acquire: [{{name: warm, type: webhook, url: "{url}", secret: {secret}, timeout: 20s}}]
        post_acquire: [{{name: promote, type: webhook, url: "{url}", secret: {secret},
                         timeout: 20s}}]
        post_release: [{{name: tell-ops, type: webhook, url: "{url}", secret: {secret},
                         timeout: 20s, on_failure: continue}}]
"""
"""Each site's fence and one hook per phase, all through that site's reference receiver."""
SCRIPT = """#!/bin/sh
# The operator's script for one phase: here it only says what it would do.
echo "{site}: {what} (switch #$ARBITER_TRANSITION, $ARBITER_FROM -> $ARBITER_TO)"
"""
PHASE_WORDS = {
    "pre_release": "draining connections",
    "fence": "app stopped, no longer serving",
    "pre_acquire": "caches warmed",
    "post_acquire": "database promoted, app started",
    "post_release": "ops told",
}
CONNECTIONS = {"primary": "1684641123236054244", "secondary": "1684641123236054255"}
"""The Telnyx connection of each site's PBX."""
NUMBERS = ("+4969123456", "+31201234567")


def _values(dns: Any, zone: str, name: str) -> list[str]:
    found = dns.read(zone, name, "A")
    return list(found.values) if found else []


BREAK_AT = 3
"""Round at which the primary starts answering 503 "maintenance"."""
HEAL_AT = 7
MAX_ROUNDS = 20


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _aws_env() -> None:
    """Point boto3 at moto with harmless fake credentials."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_SESSION_TOKEN": "demo",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)


def run(out: TextIO = sys.stdout, rehearsal: bool = False) -> int:
    _aws_env()
    import tempfile
    from pathlib import Path

    import boto3
    from moto import mock_aws

    from arbiter.local.sites import LocalSite

    with contextlib.ExitStack() as stack:
        fleet = None
        if rehearsal:
            from arbiter.local.bind import BindFleet

            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arbiter-")))
            zones = {"corp.example": REHEARSAL_ZONE}
            fleet = stack.enter_context(BindFleet(directory, zones, secondaries=3).start())
        stack.enter_context(mock_aws())
        primary = stack.enter_context(LocalSite("primary"))
        secondary = stack.enter_context(LocalSite("secondary"))
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="arbiter-demo-")))
        receivers = {
            site: stack.enter_context(_receiver(work / site, label))
            for site, label in (("primary", "Frankfurt DC"), ("secondary", "Amsterdam DC"))
        }
        telnyx = stack.enter_context(_telnyx())
        demo = _Demo(boto3, primary, secondary, out, fleet)
        demo.receivers, demo.telnyx = receivers, telnyx
        return demo.run()


HOOK_KEY = "demo-signing-key-0123456789abcdef"
TELNYX_KEY = "KEYdemo0123456789"


@contextlib.contextmanager
def _receiver(directory: Any, label: str) -> Iterator[Any]:
    """A site's reference receiver (``arbiter/receiver.py``) on loopback, with one script
    per phase; yields its server (``.url``, and ``.log``: the lines its scripts printed)."""
    import threading

    from arbiter import receiver

    directory.mkdir(parents=True)
    (directory / "key").write_text(HOOK_KEY)
    (directory / "key").chmod(0o600)
    phases = {}
    for phase, what in PHASE_WORDS.items():
        script = directory / f"{phase}.sh"
        script.write_text(SCRIPT.format(site=label, what=what))
        script.chmod(0o755)
        phases[phase] = {"argv": [str(script)], "timeout": 10, "sync_wait": 5}
    settings = receiver.parse_settings(
        {"key_file": "key", "state_dir": "state", "port": 0, "phases": phases}, directory
    )
    server = receiver.Server(receiver.Receiver(settings))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.receiver.close()
        thread.join(timeout=5)


@contextlib.contextmanager
def _telnyx() -> Iterator[Any]:
    """The Telnyx API v2 stand-in, holding the demo's two numbers on the primary's PBX."""
    from arbiter.local.standins.telnyx import TelnyxStandIn

    standin = TelnyxStandIn(TELNYX_KEY, dict.fromkeys(NUMBERS, CONNECTIONS["primary"]))
    with standin:
        yield standin


class _Demo:
    receivers: dict[str, Any]
    telnyx: Any

    def __init__(
        self, boto3: Any, primary: Any, secondary: Any, out: TextIO, fleet: Any = None
    ) -> None:
        self.fleet = fleet
        """The BIND servers of a rehearsal (None: the plain demo)."""
        self.boto3 = boto3
        self.primary = primary
        self.secondary = secondary
        self.out = out

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def _provider(self) -> str:
        if not self.fleet:
            return ""
        primary = self.fleet.primary
        from arbiter.local.bind import SECRET_NAME

        return REHEARSAL_PROVIDER.format(
            port=primary.port,
            key_name=primary.key.name,
            key_algorithm=primary.key.algorithm,
            key_secret=SECRET_NAME,
            servers=", ".join(f'"{s}"' for s in self.fleet.servers),
        )

    def _providers(self, config: Any, route53: Any) -> Any:
        from arbiter.adapters.dns import Deps, Providers

        secret = self.fleet.primary.secret if self.fleet else _no_secret
        return Providers(config, Deps(aws=_no_aws, secret=secret), {"route53": route53})

    def _bind_view(self) -> str:
        """What every BIND server answers for www.corp.example A."""
        from arbiter.local.bind import lookup

        answers = {
            server: ", ".join(sorted(lookup(server, "www.corp.example.", "A") or []))
            for server in self.fleet.servers
        }
        if len(set(answers.values())) == 1:
            return f"all {len(answers)} servers: www.corp.example A {next(iter(answers.values()))}"
        return "; ".join(f"{server} {values}" for server, values in answers.items())

    @staticmethod
    def _step_order(store: Any, state: Any) -> dict[Any, int]:
        """Each step of the latest runbook and its place in the plan: its events share one
        virtual instant, so the plan orders them."""
        if state.transition is None:
            return {}
        plan = store.load_run("web", state.transition.id).plan
        return {step.name: i for i, step in enumerate(plan.steps)} if plan else {}

    def _numbers(self) -> str:
        """Each number and the site whose PBX its connection is."""
        site = {v: k for k, v in CONNECTIONS.items()}
        return ", ".join(
            f"{n} -> {site.get(self.telnyx.connection_of(n), '?')} PBX" for n in NUMBERS
        )

    def client(self, name: str) -> Callable[[], Any]:
        return lambda: self.boto3.client(name, region_name="eu-west-1")

    def run(self) -> int:
        from arbiter import runtime
        from arbiter.adapters.actions import Actions
        from arbiter.adapters.dns import Deps
        from arbiter.adapters.dns.route53 import Route53
        from arbiter.adapters.hooks import SecretKeys, WebhookClient
        from arbiter.adapters.invoker import InlineActInvoker
        from arbiter.adapters.notify import SnsNotifier
        from arbiter.adapters.store import DynamoStore
        from arbiter.adapters.voip import VoipProviders
        from arbiter.core.config import load_config_text
        from arbiter.handlers import act, decide, probe
        from arbiter.local import aws
        from arbiter.local.context import LocalContext

        b3 = self.boto3
        stream_arn = aws.create_table(b3.client("dynamodb", region_name="eu-west-1"), "demo")
        topic, inbox = aws.create_topic_with_inbox(
            b3.client("sns", region_name="eu-west-1"),
            b3.client("sqs", region_name="eu-west-1"),
            "arbiter-demo-alerts",
        )
        r53 = b3.client("route53", region_name="us-east-1")
        zone_id = aws.create_zone(r53, "example.com")
        config = load_config_text(
            DEMO_CONFIG.format(
                primary_url=self.primary.url,
                primary_tcp=self.primary.tcp_port,
                secondary_url=self.secondary.url,
                secondary_tcp=self.secondary.tcp_port,
                zone_id=zone_id,
                extra_records=REHEARSAL_RECORDS if self.fleet else "",
                telnyx_url=self.telnyx.url,
                fra_connection=CONNECTIONS["primary"],
                ams_connection=CONNECTIONS["secondary"],
                fra_actions=SITE_ACTIONS.format(
                    url=self.receivers["primary"].url, secret="demo/hooks-fra"
                ),
                ams_actions=SITE_ACTIONS.format(
                    url=self.receivers["secondary"].url, secret="ssm:/demo/hooks-ams"
                ),
            ).replace("notifications:", self._provider() + "notifications:", 1),
            "demo config",
        )
        sm = b3.client("secretsmanager", region_name="eu-west-1")
        for name, value in (("demo/hooks-fra", HOOK_KEY), ("demo/telnyx", TELNYX_KEY)):
            sm.create_secret(Name=name, SecretString=value)
        # The secondary site's key is a Parameter Store SecureString: both stores in one run.
        b3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/demo/hooks-ams", Value=HOOK_KEY, Type="SecureString"
        )
        keys = SecretKeys(
            self.client("secretsmanager"),
            lambda region: b3.client("ssm", region_name=region),
            "eu-west-1",
        )
        dns = Route53(self.client("route53"), poll_interval=0.05)
        clock = VirtualClock(datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
        home = runtime.Runtime(
            config=config,
            store=DynamoStore("demo", self.client("dynamodb")),
            notifier=SnsNotifier(topic, self.client("sns")),
            invoker=InlineActInvoker(lambda event: act.handler(event, LocalContext())),
            dns=self._providers(config, dns),
            region=config.home_region,
            clock=clock,
            authority=_authority() if self.fleet else None,
            hooks=WebhookClient(keys),
            voip=VoipProviders(config, Deps(aws=_no_aws, secret=lambda n: keys.get(n).decode())),
            actions=Actions(keys.get, _no_aws, config.home_region),
        )
        store = home.store
        sqs = b3.client("sqs", region_name="eu-west-1")
        streams = b3.client("dynamodbstreams", region_name="eu-west-1")
        iterators: dict[str, str] = {}
        record = config.services[0].dns.records[0]

        self.say("Arbiter demo: service 'web', primary Frankfurt DC, secondary Amsterdam DC")
        self.say(f"  primary   {self.primary.url}  tcp {self.primary.tcp_port}")
        self.say(f"  secondary {self.secondary.url}  tcp {self.secondary.tcp_port}")
        self.say(
            f"  probes in {', '.join(config.probe_regions)}; every 60 s (virtual); "
            f"fall {config.decision.fall}, rise {config.decision.rise}, quorum {config.quorum}; "
            f"failback automatic after {int(config.services[0].failback.hold)} s"
        )
        self.say(f"  DNS {record.name} A in moto Route 53 zone {zone_id}")
        self.say(
            f"  VoIP {', '.join(NUMBERS)} at Telnyx (local stand-in {self.telnyx.url}), "
            "connection of each site's PBX"
        )
        self.say(
            "  fence and one hook per phase on each site, through its reference receiver: "
            f"Frankfurt {self.receivers['primary'].url}, Amsterdam "
            f"{self.receivers['secondary'].url} (fence_policy required)"
        )
        if self.fleet:
            self.say(
                "  DNS zone corp.example on BIND: primary "
                f"{self.fleet.primary.server} (RFC 2136 + TSIG), secondaries "
                + ", ".join(s.server for s in self.fleet.secondaries)
            )
        self.say()

        switches: list[tuple[str, str]] = []
        failback_seen_at: int | None = None
        start = clock.now
        for n in range(MAX_ROUNDS):
            clock.now = start + timedelta(seconds=60 * n)
            stamp = f"[{clock.now:%H:%M}]"
            if n == BREAK_AT:
                self.primary.healthy = False
                self.say(f"{stamp} *** primary breaks: /health now answers 503 'maintenance'")
            if n == HEAL_AT:
                self.primary.healthy = True
                self.say(f"{stamp} *** primary repaired: /health answers 200 'OK' again")

            with _quiet():  # the handlers' EMF metrics and JSON logs go to stdout in Lambda
                for region in config.probe_regions:
                    runtime.install(replace(home, region=region))
                    probe.handler(_schedule_event(region, clock.now), LocalContext())
                runtime.install(home)
            rounds = store.rounds_since("web", clock.now - timedelta(seconds=1))
            self.say(f"{stamp} round {n}: " + "  ".join(_round_cell(o) for o in rounds))

            with _quiet():
                event = aws.stream_events(streams, stream_arn, iterators)
                result = decide.handler(event, LocalContext())
            state = store.load_state("web")
            verdict = ", ".join(f"{s.value} {v.health.value}" for s, v in state.verdicts.items())
            self.say(f"{' ' * len(stamp)} vote: {verdict}; status {state.status.value}")
            now_events = [e for e in store.recent_events("web", 50) if e.at == clock.now]
            # The decision, then its runbook's steps, then its close.
            order = {"runbook_step": 1, "runbook_done": 2, "runbook_failed": 2}
            has_steps = any(e.kind == "runbook_step" for e in now_events)
            steps = self._step_order(store, state) if has_steps else {}
            now_events.sort(
                key=lambda e: (order.get(e.kind, 0), steps.get(e.detail.get("step"), 0))
            )
            for logged in now_events:
                if logged.kind != "verdict":
                    self.say(f"{' ' * len(stamp)} {logged.kind}: {logged.message}")
            decided = result.get("web", {}).get("transition")
            if decided:
                assert state.transition is not None
                switches.append((state.transition.from_site.value, state.transition.to_site.value))
                values = _values(dns, zone_id, record.name)
                self.say(f"{' ' * len(stamp)} Route 53: {record.name.rstrip('.')} A -> {values}")
                if self.fleet:
                    self.say(f"{' ' * len(stamp)} BIND: {self._bind_view()}")
                self.say(f"{' ' * len(stamp)} Telnyx: {self._numbers()}")
                for msg in aws.read_inbox(sqs, inbox):
                    self.say(f"{' ' * len(stamp)} notification: {msg['subject']}")
                    for line in msg["message"].rstrip().splitlines():
                        self.say(f"{' ' * len(stamp)}   | {line}")
                if state.transition.to_site.value == "primary":
                    failback_seen_at = n
            if failback_seen_at is not None and n > failback_seen_at:
                break

        self.say()
        final = _values(dns, zone_id, record.name)
        expected = [("primary", "secondary"), ("secondary", "primary")]
        ok = switches == expected and final == ["203.0.113.10"]
        if self.fleet:
            view = self._bind_view()
            self.say(f"BIND now: {view}")
            ok = ok and view == "all 4 servers: www.corp.example A 203.0.113.10, 203.0.113.11"
        numbers = {n: self.telnyx.connection_of(n) for n in NUMBERS}
        ok = ok and set(numbers.values()) == {CONNECTIONS["primary"]}
        self.say(f"Telnyx now: {self._numbers()}")
        self.say(f"Switches: {', '.join(f'{a} -> {b}' for a, b in switches) or 'none'}")
        self.say(f"Route 53 now: {record.name.rstrip('.')} A {final}")
        self.say("Demo " + ("PASSED: failover and failback both happened." if ok else "FAILED."))
        return 0 if ok else 1


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _round_cell(obs: Any) -> str:
    cells = []
    for site, result in obs.sites.items():
        mark = "ok" if result.ok else "FAIL(" + ", ".join(c.reason for c in result.failing()) + ")"
        cells.append(f"{site.value[0].upper()}:{mark}")
    return f"{obs.region} {' '.join(cells)}"


def _schedule_event(region: str, at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "demo",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/arbiter-probe"],
        "detail": {},
    }


def _authority() -> Any:
    from arbiter.adapters.dns.authority import DnsAuthority

    return DnsAuthority(poll=0.2)


def _no_secret(name: str) -> str:
    raise KeyError(name)


def _no_aws(name: str) -> Any:
    raise RuntimeError(f"the demo builds no {name} client here")


def main() -> None:
    sys.exit(run())
