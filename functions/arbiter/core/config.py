"""The operator's config file: one YAML document, validated by pydantic.

The same model is read by the CLI (`arbiter validate`), by the CDK app at synth time and by
every Lambda (the asset carries the validated config as JSON), so a file that deploys is a
file the functions can read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from arbiter.core.errors import ConfigError

_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|api[-_]?key|password", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _parse_duration(value: Any) -> Any:
    """Accept seconds as a number, or a string such as ``"30s"``, ``"5m"``, ``"2h"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '30s', '5m' or '1h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30, '30s', '5m' or '1h'")
        return float(match.group(1)) * _UNIT[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0)]
NonNegSeconds = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0)]

AWS_REGION = r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$"
NAME = r"^[a-z][a-z0-9-]{0,39}$"


class SiteName(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"

    @property
    def other(self) -> SiteName:
        return SiteName.SECONDARY if self is SiteName.PRIMARY else SiteName.PRIMARY


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpCheck(_Model):
    """An haproxy-style HTTP check: expected status codes and optional body strings."""

    type: Literal["http"]
    name: str = Field(min_length=1, max_length=64)
    url: str = Field(pattern=r"^https?://[^\s/]+")
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    expect_body: str | None = Field(default=None, min_length=1)
    """The response body must contain this string (haproxy ``http-check expect string``)."""
    expect_body_not: str | None = Field(default=None, min_length=1)
    """The response body must not contain this string (haproxy ``expect ! string``)."""
    timeout: Seconds = 5.0
    verify_tls: bool = True
    required: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    cert_warning_days: int = Field(default=14, ge=0)
    """For https: warn (never fail) when the server's certificate expires within this many days."""

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HttpCheck:
        if self.method == "HEAD" and (self.expect_body or self.expect_body_not):
            raise ValueError("a HEAD check has no body to match: drop expect_body/expect_body_not")
        return self


class TcpCheck(_Model):
    """Connect to host:port; optionally read a banner and compare its prefix."""

    type: Literal["tcp"]
    name: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    expect_banner: str | None = Field(default=None, min_length=1)
    timeout: Seconds = 5.0
    required: bool = True


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


DNS_NAME = r"^\.$|^(?:[^.\s]{1,63}\.)*[^.\s]{1,63}\.?$"
DnsQueryType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV"]
DnsRcode = Literal[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
]  # fmt: skip


class DnsCheck(_Model):
    """Ask one DNS server directly (never the system resolver); check its rcode and answer."""

    type: Literal["dns"]
    name: str = Field(min_length=1, max_length=64)
    query: str = Field(max_length=254, pattern=DNS_NAME)
    """The name asked for, e.g. ``www.example.com``."""
    record_type: Annotated[DnsQueryType, BeforeValidator(_upper)] = "A"
    server: Annotated[str, AfterValidator(_ip_address)]
    """The IP address of the server asked (an authoritative server, or a resolver)."""
    port: int = Field(default=53, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    expect_rcode: Annotated[DnsRcode, BeforeValidator(_upper)] = "NOERROR"
    expect_answer: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None, min_length=1
    )
    """Each string must be a whole record value or word in the answer (``203.0.113.1`` does
    not match ``203.0.113.10``)."""
    timeout: Seconds = 5.0
    required: bool = True


class SipCheck(_Model):
    """Send a SIP OPTIONS request (a "SIP ping") and check the final response's status."""

    type: Literal["sip"]
    name: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1)
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    expect_status: list[Annotated[int, Field(ge=200, le=699)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    timeout: Seconds = 5.0
    required: bool = True
    uri: str | None = Field(default=None, pattern=r"^sips?:[^\s<>]+$")
    """The Request-URI; default ``sip:<host>:<port>``."""
    from_user: str = Field(default="arbiter", pattern=r"^[A-Za-z0-9._~!*'()&=+$,;?/-]{1,64}$")


Check = Annotated[HttpCheck | TcpCheck | DnsCheck | SipCheck, Field(discriminator="type")]
_CHECK_TAGS = {"http", "tcp", "dns", "sip"}


class Site(_Model):
    label: str | None = None
    """A human name for the data center, used in notifications ("Frankfurt DC")."""
    checks: list[Check] = Field(min_length=1)

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[Check]) -> list[Check]:
        _reject_duplicates(c.name for c in checks)
        return checks


class RecordType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"


class DnsRecord(_Model):
    provider: Literal["route53"] = "route53"
    zone_id: str = Field(pattern=r"^[A-Z0-9]{1,32}$")
    name: str = Field(min_length=1, max_length=253)
    type: RecordType
    ttl: int = Field(default=60, ge=1, le=86400)
    values: dict[SiteName, list[str]]
    """The record's values when each site is active."""

    @field_validator("name")
    @classmethod
    def _fqdn(cls, name: str) -> str:
        return name if name.endswith(".") else name + "."

    @model_validator(mode="after")
    def _values_for_both_sites(self) -> DnsRecord:
        for site in SiteName:
            values = self.values.get(site)
            if not values:
                raise ValueError(f"no value for the {site.value} site (values.{site.value})")
            for value in values:
                _check_record_value(self.type, value, site)
        if self.type is RecordType.CNAME and any(len(v) != 1 for v in self.values.values()):
            raise ValueError("a CNAME record has exactly one value per site")
        return self


def _check_record_value(rtype: RecordType, value: str, site: SiteName) -> None:
    try:
        if rtype is RecordType.A:
            ipaddress.IPv4Address(value)
        elif rtype is RecordType.AAAA:
            ipaddress.IPv6Address(value)
    except ValueError:
        raise ValueError(
            f"values.{site.value}: {value!r} is not an {rtype.value} record value"
        ) from None


class Dns(_Model):
    records: list[DnsRecord] = Field(default_factory=list)
    verify_timeout: Seconds = 120.0
    """How long the act function waits for Route 53 to report a change INSYNC."""


class Webhook(_Model):
    """An operator's endpoint, called with a JSON body signed by HMAC-SHA256 over
    ``<timestamp>.<body>`` (headers ``X-Arbiter-Timestamp``, ``X-Arbiter-Signature``)."""

    url: str = Field(pattern=r"^https?://[^\s/]+")
    secret: str | None = Field(default=None, min_length=1)
    """Name or ARN of the Secrets Manager secret holding the signing key (never the key)."""
    timeout: Seconds = 10.0
    verify_tls: bool = True


class Failback(_Model):
    policy: Literal["automatic", "manual"] = "automatic"
    hold: NonNegSeconds = 300.0
    """How long the primary must have been UP before an automatic failback."""
    gate: Webhook | None = None
    """Asked before an automatic failback; must answer ``{"synced": true}`` (data written on
    the secondary is back home), or Arbiter waits and asks again next round."""


class Service(_Model):
    name: str = Field(pattern=NAME)
    primary: Site
    secondary: Site
    dns: Dns = Field(default_factory=Dns)
    failback: Failback = Field(default_factory=Failback)

    def site(self, name: SiteName) -> Site:
        return self.primary if name is SiteName.PRIMARY else self.secondary

    def site_label(self, name: SiteName) -> str:
        return self.site(name).label or name.value


class Probe(_Model):
    interval: Seconds = 60.0
    """Seconds between rounds. Below 60 it must divide 60: one scheduled invocation runs
    several rounds, since EventBridge schedules have a one-minute granularity."""
    retention: Seconds = 86400.0
    """How long observations are kept before DynamoDB's TTL removes them."""

    @field_validator("interval")
    @classmethod
    def _schedulable(cls, interval: float) -> float:
        if interval < 60 and (interval < 1 or 60 % interval):
            raise ValueError("below 60 s the interval must divide 60 (e.g. 10, 15, 20, 30)")
        if interval >= 60 and interval % 60:
            raise ValueError("from 60 s up the interval must be a whole number of minutes")
        return interval


class Decision(_Model):
    fall: int = Field(default=3, ge=1, le=100)
    rise: int = Field(default=2, ge=1, le=100)
    quorum: int | None = Field(default=None, ge=1)
    """Regions that must agree; default: a strict majority of the probe regions."""
    stale_after: Seconds | None = None
    """A region whose latest round is older than this does not vote (default: 3 intervals)."""
    max_switches: int = Field(default=3, ge=1)
    """Flap damping: at most this many automatic switches per ``switch_window``; past it
    automatic actions pause and an alert says why."""
    switch_window: Seconds = 3600.0
    clock_skew: Annotated[NonNegSeconds, Field(le=300)] = 30.0
    """How far ahead of the decider's clock a round may be stamped. A round stamped later than
    that is ignored and reported (one alert per region), never applied."""


class Notifications(_Model):
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list
    )


class Config(_Model):
    app: str = Field(default="arbiter", pattern=NAME)
    """Prefix of stack, table, topic and function names."""
    home_region: str = Field(pattern=AWS_REGION)
    probe_regions: list[Annotated[str, Field(pattern=AWS_REGION)]] = Field(min_length=3)
    probe: Probe = Field(default_factory=Probe)
    decision: Decision = Field(default_factory=Decision)
    notifications: Notifications = Field(default_factory=Notifications)
    services: list[Service] = Field(min_length=1)

    @field_validator("probe_regions")
    @classmethod
    def _unique_regions(cls, regions: list[str]) -> list[str]:
        _reject_duplicates(regions)
        return regions

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: list[Service]) -> list[Service]:
        _reject_duplicates(s.name for s in services)
        return services

    @model_validator(mode="after")
    def _quorum_fits(self) -> Config:
        if self.decision.quorum is not None and self.decision.quorum > len(self.probe_regions):
            raise ValueError(
                f"decision.quorum: {self.decision.quorum} is more than the number of "
                f"probe_regions ({len(self.probe_regions)})"
            )
        return self

    @property
    def quorum(self) -> int:
        return self.decision.quorum or len(self.probe_regions) // 2 + 1

    @property
    def stale_after(self) -> float:
        return self.decision.stale_after or 3 * self.probe.interval

    @property
    def lookback(self) -> float:
        """How far back a decide pass reads rounds: what staleness and fall/rise can use."""
        d = self.decision
        return self.stale_after + max(d.fall, d.rise) * self.probe.interval

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def warnings(self) -> list[str]:
        """Things that validate but that an operator probably does not want."""
        found = []
        for i, service in enumerate(self.services):
            for j, record in enumerate(service.dns.records):
                if record.ttl > 300:
                    found.append(
                        f"services[{i}].dns.records[{j}].ttl: {record.ttl} s is above 300 s; "
                        "resolvers may keep the old address that long after a switch"
                    )
            for site in SiteName:
                for k, check in enumerate(service.site(site).checks):
                    for header in getattr(check, "headers", {}):
                        if _SECRET_HEADER.search(header):
                            found.append(
                                f"services[{i}].{site.value}.checks[{k}].headers.{header}: "
                                "looks like a credential; the config is bundled into the "
                                "Lambda asset, so use a health URL that needs none"
                            )
        if self.quorum * 2 <= len(self.probe_regions):
            found.append(
                f"decision.quorum: {self.quorum} of {len(self.probe_regions)} regions is not a "
                "majority; two disagreeing halves could both reach it"
            )
        return found


def _reject_duplicates(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{name!r} appears more than once")
        seen.add(name)


def format_loc(
    loc: tuple[int | str, ...], unions: Mapping[str, Collection[str]] | None = None
) -> str:
    """``('services', 0, 'dns', 'records', 1, 'ttl')`` -> ``services[0].dns.records[1].ttl``.

    ``unions`` names lists of discriminated unions and their tags: pydantic puts the tag
    after the item's index (``checks[0].http.url``), which says nothing to a reader.
    """
    unions = {"checks": _CHECK_TAGS} if unions is None else unions
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and part in unions.get(str(loc[i - 2]), ()):
            continue  # a union's tag (but services[0].dns stays)
        elif part.startswith("function-"):
            continue  # the discriminator tag pydantic adds to a union's path
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def validation_messages(
    exc: ValidationError, unions: Mapping[str, Collection[str]] | None = None
) -> list[str]:
    messages = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        loc = tuple(error["loc"])
        # A model-level check names its own fields in the message.
        messages.append(f"{format_loc(loc, unions)}: {message}" if loc else message)
    return messages


def parse_config(data: Any, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_messages(exc)) from None


def load_config_text(text: str, source: str = "config") -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"not valid YAML: {where}{problem}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of keys to values"])
    return parse_config(data, source)


def load_config(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    return load_config_text(text, path)
