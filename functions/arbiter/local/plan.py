"""``arbiter plan``: what a switch would change, read from every provider, changing nothing.

Like ``octodns-sync`` without ``--doit``: for each provider and zone it reads the current
record sets and prints, per record, the current and the new values with their TTLs; for each
VoIP route, each number's current and new routing; then every step of the switch in order
(hooks and fences are listed, never called) and the checks it would run (the health gate of
an operator switch, the verify step's servers). A provider that cannot be read (bad
credentials, no such zone) or a record or number it does not hold is a problem: the plan
still prints what it could read, and the command exits 1.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arbiter.adapters.dns import DnsProvider
from arbiter.core import dataplane
from arbiter.core.config import DATAPLANE_PROVIDER, Config, Service, SiteName, parameter_ref
from arbiter.core.errors import ArbiterError
from arbiter.core.model import Transition
from arbiter.core.records import RecordSet
from arbiter.core.runbook import DnsStep, VerifyStep, VoipItem, VoipStep, plan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The decision time of the transition a plan is drawn for: it appears nowhere."""


@dataclass
class PlannedRecord:
    record: RecordSet
    """As the switch would set it."""
    current: RecordSet | None
    error: str | None = None

    @property
    def action(self) -> str:
        if self.error:
            return "unreadable"
        if self.current is None:
            return "missing"
        return "unchanged" if self.record.same_as(self.current) else "update"


@dataclass
class PlannedZone:
    provider: str
    kind: str
    zone: str
    records: list[PlannedRecord] = field(default_factory=list)


@dataclass
class PlannedRoute:
    step: VoipStep
    kind: str
    current: dict[str, dict[str, Any]] | None = None
    """Each item's current fields, as read (None: not read)."""
    error: str | None = None

    def action(self, item: VoipItem) -> str:
        if self.error:
            return "unreadable"
        if self.current is None or item.item not in self.current:
            return "unknown"
        return "unchanged" if item.served_by(self.current[item.item]) else "update"


@dataclass
class SwitchPlan:
    service: str
    to: SiteName
    zones: list[PlannedZone]
    checks: list[str]
    routes: list[PlannedRoute] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    """Every step of the switch, in order, with what it would do."""

    @property
    def problems(self) -> list[str]:
        found = [
            f"{route.step.provider} ({route.kind}) {route.step.name}: cannot read: {route.error}"
            for route in self.routes
            if route.error
        ]
        for zone in self.zones:
            where = f"{zone.provider} ({zone.kind}) zone {zone.zone}"
            for planned in zone.records:
                name = planned.record.label
                if planned.error:
                    found.append(f"{where}: cannot read {name}: {planned.error}")
                elif planned.current is None:
                    found.append(
                        f"{where}: {name} does not exist there; a switch would create it, "
                        "which means the record is not what the config expects"
                    )
        return found


def make_plan(
    config: Config,
    service: Service,
    to: SiteName,
    providers: Mapping[str, DnsProvider],
    voip: Mapping[str, Any] | None = None,
) -> SwitchPlan:
    """Read each record the switch would set, once, from its provider, and (with ``voip``,
    the VoIP providers by name) each route's numbers. Never writes, never calls a hook."""
    transition = Transition(
        id=0, from_site=to.other, to_site=to, reason="plan", decided_at=_EPOCH, by="plan"
    )
    steps = plan(config, service, transition).steps
    zones = []
    for step in steps:
        if not isinstance(step, DnsStep):
            continue
        planned = PlannedZone(step.provider, config.dns_provider(step.provider).type, step.zone)
        error: str | None = None
        try:
            provider = providers[step.provider]
        except (KeyError, ArbiterError) as exc:
            error = str(exc)
        for record in step.records:
            current = None
            if error is None:  # after one failure, the rest of the zone would say the same
                try:
                    current = provider.read(step.zone, record.name, record.type.value)
                except ArbiterError as exc:
                    error = str(exc)
            planned.records.append(PlannedRecord(record, current, error))
        zones.append(planned)
    routes = [_route(config, step, voip) for step in steps if isinstance(step, VoipStep)]
    order = [f"{s.name}{''.join(f'; {line}' for line in s.describe()[:1])}" for s in steps]
    return SwitchPlan(service.name, to, zones, _checks(config, service, to, steps), routes, order)


def _route(config: Config, step: VoipStep, voip: Mapping[str, Any] | None) -> PlannedRoute:
    planned = PlannedRoute(step, config.voip_providers[step.provider].type)
    if voip is None:
        return planned
    try:
        planned.current = voip[step.provider].read(step)
    except (KeyError, ArbiterError) as exc:
        planned.error = str(exc)
    return planned


def _checks(config: Config, service: Service, to: SiteName, steps: list[Any]) -> list[str]:
    site = service.site(to)
    label = service.site_label(to)
    lines = [
        f"health gate: an operator switch (without --force) needs the {to.value} site "
        f"({label}) UP by the vote: its checks "
        + ", ".join(f"{c.type} {c.name}" for c in site.checks)
    ]
    verify = [s for s in steps if isinstance(s, VerifyStep)]
    for step in verify:
        where = ", ".join(step.servers) if step.servers else "the servers of the zone's NS records"
        lines.append(
            f"{step.name}: ask {where} until each serves the new values "
            f"(within dns.verify_timeout {service.dns.verify_timeout:g} s; policy "
            f"{service.dns.verify.policy})"
        )
    if not verify:
        lines.append("no verify step: dns.verify is off for this service or its providers")
    return lines


def _values(record: RecordSet | None) -> str:
    if record is None:
        return "(none)"
    return f"{', '.join(record.values)} (TTL {record.ttl})"


def render(plan: SwitchPlan, config: Config) -> str:
    service = config.service(plan.service)
    lines = [f"Plan: switch {plan.service} to {plan.to.value} ({service.site_label(plan.to)})"]
    counts = {"update": 0, "unchanged": 0, "missing": 0, "unreadable": 0, "unknown": 0}
    for zone in plan.zones:
        bar = "*" * 78
        lines += ["", bar, f"* {zone.provider} ({zone.kind}) zone {zone.zone}", bar]
        if zone.kind == DATAPLANE_PROVIDER:
            lines += [f"* {line}" for line in dataplane.describe(config, plan.service, plan.to)]
        for planned in zone.records:
            counts[planned.action] += 1
            name = planned.record.label
            if planned.action == "update":
                lines += [
                    f"* Update    {name}",
                    f"*   current {_values(planned.current)}",
                    f"*   new     {_values(planned.record)}",
                ]
            elif planned.action == "unchanged":
                lines.append(f"* No change {name}  {_values(planned.current)}")
            elif planned.action == "missing":
                lines += [
                    f"* MISSING   {name}: the provider has no such record set",
                    f"*   new     {_values(planned.record)}",
                ]
            else:
                lines.append(f"* UNREADABLE {name}: {planned.error}")
    for route in plan.routes:
        bar = "*" * 78
        lines += ["", bar, f"* {route.step.provider} ({route.kind}) {route.step.name}", bar]
        for item in route.step.items:
            action = route.action(item)
            counts[action] = counts.get(action, 0) + 1
            new = item.text()
            if action == "update":
                assert route.current is not None
                lines += [
                    f"* Update    {item.item}",
                    f"*   current {item.seen_in(route.current[item.item])}",
                    f"*   new     {new}",
                ]
            elif action == "unchanged":
                lines.append(f"* No change {item.item}  {new}")
            elif action == "unknown":
                lines.append(f"* Set       {item.item}  {new} (current routing not read)")
            else:
                lines.append(f"* UNREADABLE {item.item}: {route.error}")
    if plan.steps:
        lines += ["", "Steps, in order (hooks and fences are not called by a plan):"]
        lines += [f"  {n}. {step}" for n, step in enumerate(plan.steps, 1)]
    lines += ["", "Checks the switch would run:", *(f"  {c}" for c in plan.checks), ""]
    lines.append(
        f"Summary: {counts['update']} to change, {counts['unchanged']} already right, "
        f"{counts['missing']} missing, {counts['unreadable']} unreadable, at "
        f"{len({z.provider for z in plan.zones} | {r.step.provider for r in plan.routes})} "
        "provider(s); nothing was changed"
    )
    for problem in plan.problems:
        lines.append(f"error: {problem}")
    return "\n".join(lines) + "\n"


_ENV_SAFE = re.compile(r"[^A-Za-z0-9]")


def secret_env_name(ref: str) -> str:
    """``arbiter/cloudflare-token`` -> ``ARBITER_SECRET_ARBITER_CLOUDFLARE_TOKEN``; a Parameter
    Store name the same way without ``ssm:`` and its leading ``/`` (``ssm:/arbiter/twilio`` ->
    ``ARBITER_SECRET_ARBITER_TWILIO``, as for the secret ``arbiter/twilio``)."""
    parameter = parameter_ref(ref)
    name = ref if parameter is None else parameter.removeprefix("/")
    return "ARBITER_SECRET_" + _ENV_SAFE.sub("_", name).upper()


def local_secrets(region: str, environ: Mapping[str, str] = os.environ) -> Callable[[str], str]:
    """For commands run on an operator's machine: a secret from the environment variable
    named after its reference (``secret_env_name``), else with the operator's own AWS
    credentials from where the functions read it: Secrets Manager, or Parameter Store for an
    ``ssm:`` reference, in ``region`` (a parameter ARN: in its own region)."""
    from arbiter.adapters.hooks import SecretKeys
    from arbiter.runtime import _client

    # Its clients are made on first use and its values cached: one lookup per secret.
    keys = SecretKeys(
        lambda: _client("secretsmanager", region), lambda r: _client("ssm", r or region), region
    )

    def secret(ref: str) -> str:
        given = environ.get(secret_env_name(ref))
        return given if given is not None else keys.get(ref).decode()

    return secret
