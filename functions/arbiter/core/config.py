"""The operator's config file: one YAML document, validated by pydantic.

The same model is read by the CLI (`arbiter validate`), by the CDK app at synth time and by
every Lambda (the asset carries the validated config as JSON), so a file that deploys is a
file the functions can read.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from arbiter.core.deferred import DeferredModel
from arbiter.core.errors import ConfigError
from arbiter.core.records import RecordSet, RecordType, presentation
from arbiter.core.records import key as record_key

_SECRET_HEADER = re.compile(r"authorization|cookie|token|secret|api[-_]?key|password", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
LONGEST = 3650 * DAY
"""No duration, bounded or not, goes past this: a datetime plus it cannot overflow."""
LAMBDA_MAX_TIMEOUT = 900.0
"""AWS Lambda stops any function after 15 minutes."""


def _parse_duration(value: Any) -> Any:
    """Accept seconds as a number, or a string such as ``"30s"``, ``"5m"``, ``"2h"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, '30s', '5m' or '1h'")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30, '30s', '5m' or '1h'")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    else:
        return value
    if math.isnan(seconds):
        raise ValueError("expected a number of seconds, not NaN")
    if abs(seconds) > LONGEST:
        shown = repr(value) if isinstance(value, str) else f"{seconds:g}"
        raise ValueError(f"{shown} is longer than any setting allows ({fmt_seconds(LONGEST)})")
    return seconds


def fmt_seconds(seconds: float) -> str:
    """``600.0`` -> ``10m``; ``90.0`` -> ``90s``; ``1.5`` -> ``1.5s``."""
    for unit, size in (("d", DAY), ("h", HOUR), ("m", MINUTE)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def at_most(limit: float, why: str) -> AfterValidator:
    """A duration's upper bound, with the reason in the message."""

    def check(seconds: float) -> float:
        if seconds > limit:
            raise ValueError(f"{fmt_seconds(seconds)} is more than {fmt_seconds(limit)}: {why}")
        return seconds

    return AfterValidator(check)


Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0)]
NonNegSeconds = Annotated[float, BeforeValidator(_parse_duration), Field(ge=0)]
CheckTimeout = Annotated[
    Seconds,
    at_most(
        LAMBDA_MAX_TIMEOUT,
        "a round runs inside one probe function invocation, which Lambda stops at 15m",
    ),
]

_PARTITION_REGIONS = {
    "aws": """
        us-east-1 us-east-2 us-west-1 us-west-2 ca-central-1 ca-west-1 mx-central-1 sa-east-1
        eu-west-1 eu-west-2 eu-west-3 eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2
        af-south-1 il-central-1 me-south-1 me-central-1 ap-south-1 ap-south-2 ap-east-1
        ap-east-2 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-southeast-1 ap-southeast-2
        ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-6 ap-southeast-7
    """,
    "aws-us-gov": "us-gov-west-1 us-gov-east-1",
    "aws-cn": "cn-north-1 cn-northwest-1",
}
AWS_REGIONS = {
    region: partition
    for partition, regions in _PARTITION_REGIONS.items()
    for region in regions.split()
}
"""The AWS regions Arbiter can run in (commercial, GovCloud, China), by partition. When AWS
opens a region, add it here (botocore's ``data/endpoints.json`` lists them)."""


def _aws_region(name: str) -> str:
    if name not in AWS_REGIONS:
        close = difflib.get_close_matches(name, AWS_REGIONS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (e.g. eu-west-1, us-east-1)"
        raise ValueError(f"{name!r} is not an AWS region{hint}")
    return name


AwsRegion = Annotated[str, AfterValidator(_aws_region)]
NAME = r"^[a-z][a-z0-9-]{0,39}$"
_UNPRINTABLE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
"""Control, format and line-separator characters: they break a log or notification line."""


def _printable(text: str) -> str:
    for char in text:
        if unicodedata.category(char) in _UNPRINTABLE:
            raise ValueError(f"{text!r} contains a control character (U+{ord(char):04X})")
    return text


Label = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_printable)]
"""A name a person reads in notifications and logs (a site's label, a check's name)."""


def _dns_name(name: str) -> str:
    """A domain name as Route 53 takes it: printable ASCII without spaces, labels of 1 to 63
    characters, at most 253 in all, and an optional trailing dot."""
    for char in name:
        if not "!" <= char <= "~":
            if char == " ":
                what = "a space"
            elif char.isprintable():
                what = "a non-ASCII character: write the name in its punycode form (xn--...)"
            else:
                what = f"a control character (U+{ord(char):04X})"
            raise ValueError(f"{name!r} contains {what}")
    bare = name.removesuffix(".")
    if not bare:
        raise ValueError("a DNS name needs at least one label")
    if len(bare) > 253:
        raise ValueError(f"the name has {len(bare)} characters; a DNS name has at most 253")
    for label in bare.split("."):
        if not label:
            raise ValueError(f"{name!r} has an empty label (a leading dot, or two in a row)")
        if len(label) > 63:
            raise ValueError(
                f"the label {label[:20]!r}... has {len(label)} characters; a label has at most 63"
            )
    return name


_HOST_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")


def _host(host: str) -> str:
    """An IP address or a host name: what the probe's resolver can look up."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    _dns_name(host)
    if not all(_HOST_LABEL.fullmatch(label) for label in host.removesuffix(".").split(".")):
        hint = "; give the port in `port`" if ":" in host else ""
        raise ValueError(
            f"{host!r} is neither an IP address nor a host name "
            f"(letters, digits, '-' and '_' between dots){hint}"
        )
    return host


Host = Annotated[str, AfterValidator(_host)]


def _query_name(name: str) -> str:
    return name if name == "." else _dns_name(name)


def _web_url(url: str) -> str:
    """A URL that requests can fetch as it is. Never echoed: it may hold a password."""
    if any(char.isspace() or unicodedata.category(char) in _UNPRINTABLE for char in url):
        raise ValueError("the URL contains a space or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"the URL does not parse ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the URL must start with http:// or https:// and a host")
    if "@" in parts.netloc:
        raise ValueError(
            "the URL holds credentials (user:password@host): the config is bundled into the "
            "Lambda asset and logged; use a URL that needs none"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        shown = parts.netloc.rpartition("]")[2].partition(":")[2]
        raise ValueError(f"the URL's port {shown[:12]!r} is not a number from 1 to 65535")
    _host(parts.hostname or "")
    return url


WebUrl = Annotated[str, AfterValidator(_web_url)]
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _header_problem(name: str, value: str) -> str | None:
    """What requests or the HTTP wire would do wrong with this header. Values may be secret:
    never echoed."""
    if any(char in "\r\n" for char in name + value):
        return "a line break (CR or LF) in a header would inject another header"
    if not _HEADER_NAME.fullmatch(name):
        return "a header name is letters, digits and !#$%&'*+.^_`|~-"
    if any(unicodedata.category(char) == "Cc" and char != "\t" for char in value):
        return "the value contains a control character"
    if value[:1].isspace():
        return "the value starts with a space, which requests refuses"
    if any(ord(char) > 0xFF for char in value):
        return "the value has characters beyond Latin-1, which HTTP headers cannot carry"
    return None


def _headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        problem = _header_problem(name, value)
        if problem:
            raise ValueError(f"header {name!r}: {problem}")
    return headers


class SiteName(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"

    @property
    def other(self) -> SiteName:
        return SiteName.SECONDARY if self is SiteName.PRIMARY else SiteName.PRIMARY


class _Model(DeferredModel):
    """Built on first validation (``core/deferred.py``): the functions load the config
    already validated (``runtime.config_from_env``), so they never build these ~50
    validators, which cost a cold import more than boto3's."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpCheck(_Model):
    """An haproxy-style HTTP check: expected status codes and optional body strings."""

    type: Literal["http"]
    name: Label
    url: WebUrl
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    expect_body: str | None = Field(default=None, min_length=1)
    """The response body must contain this string (haproxy ``http-check expect string``)."""
    expect_body_not: str | None = Field(default=None, min_length=1)
    """The response body must not contain this string (haproxy ``expect ! string``)."""
    timeout: CheckTimeout = 5.0
    verify_tls: bool = True
    required: bool = True
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)
    cert_warning_days: int = Field(default=14, ge=0, le=365)
    """For https: warn (never fail) when the server's certificate expires within this many days."""

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HttpCheck:
        if self.method == "HEAD" and (self.expect_body or self.expect_body_not):
            raise ValueError("a HEAD check has no body to match: drop expect_body/expect_body_not")
        return self


class TcpCheck(_Model):
    """Connect to host:port; optionally read a banner and compare its prefix."""

    type: Literal["tcp"]
    name: Label
    host: Host
    port: int = Field(ge=1, le=65535)
    expect_banner: str | None = Field(default=None, min_length=1)
    timeout: CheckTimeout = 5.0
    required: bool = True


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


DnsQueryType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV"]
DnsRcode = Literal[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
]  # fmt: skip


class DnsCheck(_Model):
    """Ask one DNS server directly (never the system resolver); check its rcode and answer."""

    type: Literal["dns"]
    name: Label
    query: Annotated[str, AfterValidator(_query_name)]
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
    timeout: CheckTimeout = 5.0
    required: bool = True


class SipCheck(_Model):
    """Send a SIP OPTIONS request (a "SIP ping") and check the final response's status."""

    type: Literal["sip"]
    name: Label
    host: Host
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    expect_status: list[Annotated[int, Field(ge=200, le=699)]] = Field(
        default_factory=lambda: [200], min_length=1
    )
    timeout: CheckTimeout = 5.0
    required: bool = True
    uri: Annotated[str, Field(pattern=r"^sips?:[^\s<>]+$"), AfterValidator(_printable)] | None = (
        None
    )
    """The Request-URI; default ``sip:<host>:<port>``."""
    from_user: str = Field(default="arbiter", pattern=r"^[A-Za-z0-9._~!*'()&=+$,;?/-]{1,64}$")


Check = Annotated[HttpCheck | TcpCheck | DnsCheck | SipCheck, Field(discriminator="type")]
_CHECK_TAGS = {"http", "tcp", "dns", "sip"}


class DnsRecord(_Model):
    provider: str = Field(default="route53", pattern=NAME)
    """The name of a provider in ``dns_providers`` (``route53`` needs no entry)."""
    zone: str = Field(min_length=1, max_length=255)
    """The zone in the provider's own terms: a Route 53 hosted zone id (``Z0123...``), a
    Cloudflare zone id (32 hex digits) or zone name, a zone name for PowerDNS and RFC 2136."""
    name: Annotated[str, AfterValidator(_dns_name)]
    type: RecordType
    ttl: int = Field(default=60, ge=1, le=86400)
    values: dict[SiteName, list[str]]
    """The record's values when each site is active (several: round robin); they must
    differ, or a switch would change nothing. Kept in presentation format."""

    @model_validator(mode="before")
    @classmethod
    def _zone_id_is_zone(cls, data: Any) -> Any:
        """``zone_id`` is the key's name before providers other than Route 53 existed."""
        if isinstance(data, dict) and "zone_id" in data and "zone" not in data:
            data = {("zone" if k == "zone_id" else k): v for k, v in data.items()}
        return data

    @field_validator("name")
    @classmethod
    def _fqdn(cls, name: str) -> str:
        return name if name.endswith(".") else name + "."

    @field_validator("values", mode="before")
    @classmethod
    def _canonical(cls, values: Any, info: ValidationInfo) -> Any:
        rtype = info.data.get("type")
        if not isinstance(values, dict) or rtype is None:
            return values
        out: dict[Any, Any] = {}
        for site, given in values.items():
            if not isinstance(given, list):
                out[site] = given
                continue
            shown = []
            for k, value in enumerate(given):
                if not isinstance(value, str):
                    raise ValueError(f"{site}[{k}]: expected text, not {value!r}")
                try:
                    shown.append(presentation(rtype, value))
                except ValueError as exc:
                    raise ValueError(f"{site}[{k}]: {exc}") from None
            out[site] = shown
        return out

    @model_validator(mode="after")
    def _values_for_both_sites(self) -> DnsRecord:
        keys = {}
        for site in SiteName:
            values = self.values.get(site)
            if not values:
                raise ValueError(f"no value for the {site.value} site (values.{site.value})")
            keys[site] = [record_key(self.type, value) for value in values]
            for k, key in enumerate(keys[site]):
                if key in keys[site][:k]:
                    raise ValueError(f"values.{site.value}: {values[k]!r} appears more than once")
        if self.type is RecordType.CNAME and any(len(v) != 1 for v in self.values.values()):
            raise ValueError("a CNAME record has exactly one value per site")
        if set(keys[SiteName.PRIMARY]) == set(keys[SiteName.SECONDARY]):
            raise ValueError(
                "values.primary and values.secondary are the same: a switch would change nothing"
            )
        return self

    def record_set(self, site: SiteName) -> RecordSet:
        return RecordSet(self.name, self.type, self.ttl, tuple(self.values[site]))


class Verify(_Model):
    """After a DNS step: ask every authoritative server of the zone for the new values."""

    enabled: bool = True
    policy: Literal["warn", "fail"] = "warn"
    """A server still serving the old values at the deadline: ``warn`` reports it and the
    switch goes on (done, with the lagging servers named in the report); ``fail`` fails the
    runbook (the service is FAILED until an operator sends ``ack``)."""


class Dns(_Model):
    records: list[DnsRecord] = Field(default_factory=list)
    verify_timeout: Annotated[
        Seconds,
        at_most(
            600.0,
            "it is the act function's whole wait for a change across its retries, and Lambda "
            "stops that function at 15m",
        ),
    ] = 120.0
    """The act function's whole wait, across its steps and retries, for providers to apply a
    change and for the authoritative servers to serve it (the function's own timeout adds the
    fence's and hooks' timeouts, 60 s per VoIP route and 120 s: ``act_seconds``)."""
    verify: Verify = Field(default_factory=Verify)


_SECRET_REF = re.compile(
    r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$"
)
SSM_PREFIX = "ssm:"
"""A secret reference that starts so names a Parameter Store parameter (a SecureString):
``ssm:/arbiter/twilio`` or ``ssm:arn:aws:ssm:<region>:<account>:parameter/arbiter/twilio``."""
_SSM_NAME = re.compile(r"[A-Za-z0-9_./-]+")
_SSM_ARN = re.compile(r"arn:aws[a-z-]*:ssm:(?P<region>[a-z0-9-]+):[0-9]{12}:parameter/(?P<name>.+)")
SSM_NAME_MAX = 1011
"""Parameter Store's longest name (AWS counts the ARN's leading part in it too, so PutParameter
may refuse a name a little shorter)."""
SSM_DEPTH_MAX = 15
"""Levels of a parameter hierarchy (``/a/b/c`` has three)."""


def parameter_ref(ref: str) -> str | None:
    """The Parameter Store name or ARN an ``ssm:`` secret reference holds; None for a
    Secrets Manager reference."""
    return ref[len(SSM_PREFIX) :] if ref.startswith(SSM_PREFIX) else None


def parameter_arn_parts(parameter: str) -> tuple[str, str] | None:
    """A parameter ARN's region and name (``parameter/a/b`` is ``/a/b``: an ARN drops a
    hierarchical name's leading slash); None for a plain name."""
    match = _SSM_ARN.fullmatch(parameter)
    if match is None:
        return None
    name = match["name"]
    return match["region"], ("/" + name if "/" in name else name)


def _parameter_problem(parameter: str) -> str | None:
    """What Parameter Store would refuse in a name (or the name in an ARN): the documented
    characters, length, hierarchy depth and reserved prefixes. Never echoes the value."""
    if parameter.startswith("arn:"):
        parts = parameter_arn_parts(parameter)
        if parts is None:
            return (
                "expected ssm: and a Parameter Store ARN such as "
                "arn:aws:ssm:<region>:<account>:parameter/<name>"
            )
        parameter = parts[1]
    if not parameter:
        return "expected ssm: and a Parameter Store parameter name such as /arbiter/twilio"
    if len(parameter) > SSM_NAME_MAX:
        return f"a Parameter Store name has at most {SSM_NAME_MAX} characters"
    if not _SSM_NAME.fullmatch(parameter):
        return "a Parameter Store name holds only letters, digits and _.-/ (no spaces)"
    levels = parameter.removeprefix("/").split("/")
    if "/" in parameter and not parameter.startswith("/"):
        return "a Parameter Store name in a hierarchy starts with / (/arbiter/twilio)"
    if "" in levels:
        return "a Parameter Store name has no empty level (no // and no / at the end)"
    if len(levels) > SSM_DEPTH_MAX:
        return f"a Parameter Store hierarchy has at most {SSM_DEPTH_MAX} levels"
    if levels[0].lower().startswith(("aws", "ssm")):
        return (
            "a Parameter Store name may not start with aws or ssm (reserved by AWS; for a "
            "Secrets Manager secret, name the secret itself without ssm:)"
        )
    return None


def _secret_ref(ref: str) -> str:
    """Never echoed: someone may have pasted the secret itself."""
    parameter = parameter_ref(ref)
    if parameter is not None:
        problem = _parameter_problem(parameter)
        if problem:
            raise ValueError(f"{problem}; never the secret itself")
        return ref
    if not _SECRET_REF.fullmatch(ref):
        hint = (
            " (a Parameter Store ARN takes the prefix ssm:)"
            if ref.startswith("arn:") and ":ssm:" in ref
            else ""
        )
        raise ValueError(
            "expected the name or ARN of a Secrets Manager secret (letters, digits and "
            "/_+=.@-), or ssm: and a Parameter Store SecureString's name or ARN, never the "
            f"secret itself{hint}"
        )
    return ref


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
"""Where a secret lives, never its value: the name or ARN of a Secrets Manager secret, or
``ssm:`` and the name or ARN of a Parameter Store SecureString parameter."""
ApiTimeout = Annotated[Seconds, at_most(60.0, "one provider call may not hold a runbook longer")]


def _nameserver(value: str) -> str:
    """``192.0.2.53``, ``192.0.2.53:5300``, ``[2001:db8::53]:53`` or ``2001:db8::53``."""
    host, port = value, 53
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{value!r}: expected [address]:port")
            port = int(rest[1:])
    elif value.count(":") == 1:
        host, _, text = value.partition(":")
        if not text.isdigit():
            raise ValueError(f"{value!r}: the port is not a number")
        port = int(text)
    _ip_address(host)
    if not 1 <= port <= 65535:
        raise ValueError(f"{value!r}: the port is not from 1 to 65535")
    return value


Nameserver = Annotated[str, AfterValidator(_nameserver)]


class _DnsProviderBase(_Model):
    nameservers: list[Nameserver] | None = Field(default=None, min_length=1)
    """The zone's authoritative servers, asked by the verify step (``address`` or
    ``address:port``). Default: found from the zone's NS records through the resolver; list
    them for a private zone, or one the public DNS does not delegate to."""
    verify: bool = True
    """Whether the runbook's verify step asks this provider's servers (``false``: they cannot
    be reached from where the act function runs)."""


class Route53Provider(_DnsProviderBase):
    type: Literal["route53"]


DATAPLANE_PROVIDER = "route53_failover"
DATAPLANE_TYPES = (RecordType.A, RecordType.AAAA, RecordType.CNAME)
DATAPLANE_TTL = 60
"""AWS recommends a TTL of 60 s or less for records that DNS failover moves."""
DATAPLANE_VERIFY = 300.0
"""The ``dns.verify_timeout`` a data-plane switch is given at least: an alarm period of
60 s, the health checks' reaction and Route 53's propagation (AWS bounds neither)."""


class Route53FailoverProvider(_DnsProviderBase):
    """Route 53 failover records switched on Route 53's data plane: the stack creates a
    PRIMARY and a SECONDARY record set per record and health checks that follow a CloudWatch
    alarm; a switch publishes a metric datapoint (PutMetricData) in each alarm region and
    never calls the Route 53 API (README "Data-plane failover")."""

    type: Literal["route53_failover"]


class CloudflareProvider(_DnsProviderBase):
    """Cloudflare API v4, with an API token (Zone.DNS edit) kept in Secrets Manager or
    Parameter Store (``SecretRef``)."""

    type: Literal["cloudflare"]
    token_secret: SecretRef
    base_url: WebUrl = "https://api.cloudflare.com/client/v4"
    timeout: ApiTimeout = 10.0
    proxied: bool = False
    """Cloudflare's proxy for A, AAAA and CNAME records. Off: a failover record must
    resolve to the site itself."""


class PowerDnsProvider(_DnsProviderBase):
    """The PowerDNS Authoritative HTTP API (``/api/v1``), with its X-API-Key."""

    type: Literal["powerdns"]
    url: WebUrl
    """The API's base, e.g. ``http://ns1.example.net:8081`` (``/api/v1`` is added)."""
    server_id: str = Field(default="localhost", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    api_key_secret: SecretRef
    timeout: ApiTimeout = 10.0
    verify_tls: bool = True


TsigAlgorithm = Literal[
    "hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5"
]


class Rfc2136Provider(_DnsProviderBase):
    """RFC 2136 dynamic updates signed with a TSIG key (RFC 8945), e.g. to BIND."""

    type: Literal["rfc2136"]
    server: Annotated[str, AfterValidator(_ip_address)]
    """The primary server that takes updates (it notifies its secondaries itself)."""
    port: int = Field(default=53, ge=1, le=65535)
    key_name: Annotated[str, AfterValidator(_dns_name)]
    key_algorithm: TsigAlgorithm = "hmac-sha256"
    key_secret: SecretRef
    """The secret holds the key in base64, as ``tsig-keygen`` prints it."""
    timeout: ApiTimeout = 5.0


DnsProviderConfig = Annotated[
    Route53Provider
    | Route53FailoverProvider
    | CloudflareProvider
    | PowerDnsProvider
    | Rfc2136Provider,
    Field(discriminator="type"),
]
_PROVIDER_TAGS = {"route53", DATAPLANE_PROVIDER, "cloudflare", "powerdns", "rfc2136"}


@functools.cache
def default_dns_provider() -> Route53Provider:
    """What ``provider: route53`` means when ``dns_providers`` does not define it: every field
    at its default, so it is constructed, not validated (which would build a validator, at
    import the process's first, and pydantic's plugin scan with it)."""
    return Route53Provider.model_construct(type="route53")


class Webhook(_Model):
    """An operator's endpoint, called with a JSON body signed by HMAC-SHA256 over
    ``<timestamp>.<body>`` (headers ``X-Arbiter-Timestamp``, ``X-Arbiter-Signature``)."""

    url: WebUrl
    secret: SecretRef
    """Where the signing key is (``SecretRef``: a Secrets Manager secret or ``ssm:`` and a
    Parameter Store SecureString), never the key: every call Arbiter makes to an operator's
    endpoint is signed."""
    timeout: Annotated[
        Seconds, at_most(10.0, "the decider asks the gate inside its own 60 s pass")
    ] = 10.0
    verify_tls: bool = True


# --- The rest of a switch: fencing, hooks per phase, VoIP routing ------------------------

ACTION_TIMEOUT_MAX = 600.0
PHASES = ("pre_release", "post_release", "pre_acquire", "post_acquire")
"""The hook phases: ``*_release`` on the site losing the role, ``*_acquire`` on the one
gaining it."""
Phase = Literal["pre_release", "post_release", "pre_acquire", "post_acquire"]
ActionTimeout = Annotated[
    Seconds,
    at_most(
        ACTION_TIMEOUT_MAX,
        "a switch's fence, hooks, DNS wait and VoIP steps all run inside the act function, "
        "which Lambda stops at 15m",
    ),
]
ExpectValue = Annotated[str, Field(max_length=256)] | bool | int


class WebhookAction(_Model):
    """A signed call to an operator's endpoint (HMAC-SHA256 over ``<timestamp>.<body>``, key
    from Secrets Manager or Parameter Store). The endpoint answers a JSON object;
    ``{"status": "pending"}`` means "still working": the call is repeated (same idempotency
    key) until another answer or the timeout."""

    type: Literal["webhook"]
    url: WebUrl
    secret: SecretRef
    """Where the signing key is (``SecretRef``), never the key."""
    call_timeout: ApiTimeout = 10.0
    """One HTTP call's total deadline (the ``timeout`` bounds the whole wait)."""
    verify_tls: bool = True
    expect: dict[Annotated[str, Field(min_length=1, max_length=64)], ExpectValue] = Field(
        default_factory=lambda: dict[str, ExpectValue](ok=True)
    )
    """Keys and values the JSON answer must hold (``{}``: any 2xx answer will do)."""


_SSM_DOCUMENT = re.compile(
    r"^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document/)?[A-Za-z0-9_.:/-]{3,128}$"
)
_INSTANCE_ID = r"^(i|mi)-[0-9a-f]{8,17}$"
_TAG_KEY = r"^[\w .:/=+@-]{1,128}$"


def _ssm_document(name: str) -> str:
    if not _SSM_DOCUMENT.fullmatch(name):
        raise ValueError(f"{name[:80]!r} is not an SSM document name or ARN")
    return name


class SsmAction(_Model):
    """AWS Systems Manager Run Command: a document sent to instances (EC2, or on-premises
    servers registered as managed nodes, ``mi-...``) by id or by tag; done when every
    invocation ends ``Success``."""

    type: Literal["ssm"]
    document: Annotated[str, AfterValidator(_ssm_document)] = "AWS-RunShellScript"
    instance_ids: list[Annotated[str, Field(pattern=_INSTANCE_ID)]] | None = Field(
        default=None, min_length=1, max_length=50
    )
    targets: (
        dict[
            Annotated[str, Field(pattern=_TAG_KEY)],
            list[Annotated[str, Field(min_length=1, max_length=256)]],
        ]
        | None
    ) = Field(default=None, min_length=1, max_length=5)
    """Tag key -> values (``{role: [db-fra]}``): the managed nodes carrying those tags."""
    parameters: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")],
        list[Annotated[str, Field(max_length=4096)]],
    ] = Field(default_factory=dict)
    """The document's parameters (``{commands: ["systemctl stop app"]}``). ``{service}``,
    ``{transition}``, ``{phase}``, ``{from}``, ``{to}``, ``{site}``, ``{idempotency_key}`` and
    ``{dry_run}`` in a value are replaced by the call's own."""
    region: AwsRegion | None = None
    """Where the nodes are registered (default: home_region)."""
    expect_output: str | None = Field(default=None, min_length=1, max_length=256)
    """Every invocation's standard output must contain this string."""

    @model_validator(mode="after")
    def _one_target(self) -> SsmAction:
        if (self.instance_ids is None) == (self.targets is None):
            raise ValueError("give exactly one of instance_ids and targets")
        return self


class _Timed(_Model):
    timeout: ActionTimeout = 60.0
    """The whole wait for the answer (retries and ``pending`` polls included)."""


class WebhookFence(WebhookAction, _Timed):
    pass


class SsmFence(SsmAction, _Timed):
    pass


Fence = Annotated[WebhookFence | SsmFence, Field(discriminator="type")]
"""How to tell a site to stop serving ("shut down your service") before the other is
promoted."""


class _HookFields(_Timed):
    name: str = Field(pattern=NAME)
    on_failure: Literal["abort", "continue"] = "abort"
    """``abort``: a failure ends the switch (the service is FAILED until ``ack``);
    ``continue``: it is reported and the switch goes on."""


class WebhookHook(WebhookAction, _HookFields):
    pass


class SsmHook(SsmAction, _HookFields):
    pass


Hook = Annotated[WebhookHook | SsmHook, Field(discriminator="type")]
Action = WebhookAction | SsmAction
_ACTION_TAGS = {"webhook", "ssm"}


class Hooks(_Model):
    pre_release: list[Hook] = Field(default_factory=list)
    post_release: list[Hook] = Field(default_factory=list)
    pre_acquire: list[Hook] = Field(default_factory=list)
    post_acquire: list[Hook] = Field(default_factory=list)

    @field_validator(*PHASES)
    @classmethod
    def _unique_names(cls, hooks: list[Hook]) -> list[Hook]:
        _reject_duplicates(h.name for h in hooks)
        return hooks

    def of(self, phase: str) -> list[Hook]:
        hooks: list[Hook] = getattr(self, phase)
        return hooks


def _both_sites(values: dict[SiteName, Any], what: str) -> None:
    for site in SiteName:
        if site not in values:
            raise ValueError(f"{what}: no value for the {site.value} site ({what}.{site.value})")
    if values[SiteName.PRIMARY] == values[SiteName.SECONDARY]:
        raise ValueError(
            f"{what}.primary and {what}.secondary are the same: a switch would change nothing"
        )


E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
"""A phone number in E.164 form: ``+`` and 7 to 15 digits."""
TwilioTrunkSid = Annotated[str, Field(pattern=r"^TK[0-9a-f]{32}$")]
SipUrl = Annotated[str, Field(pattern=r"^sips?:[^\s<>]{1,250}$"), AfterValidator(_printable)]
VOIPMS_ROUTING = re.compile(
    r"^(account|fwd|vm|sip|grp|ivr|sys|recording|queue|cb|tc|disa|none):[^\s]{0,120}$"
)


def _voipms_routing(value: str) -> str:
    if not VOIPMS_ROUTING.fullmatch(value):
        raise ValueError(
            f"{value[:60]!r} is not a VoIP.ms routing such as 'account:100001_pbx' or "
            "'fwd:12345' (header:record, headers account, fwd, vm, sip, grp, ivr, sys, "
            "recording, queue, cb, tc, disa, none)"
        )
    return value


class _Route(_Model):
    provider: str = Field(pattern=NAME)
    """The name of a provider in ``voip_providers``."""
    on_failure: Literal["abort", "continue"] = "abort"

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        """Each item (a number, a trunk's origination URL) and the fields it has when
        ``site`` is active."""
        raise NotImplementedError

    def subject(self) -> str:
        """What the route moves, for the step's name."""
        raise NotImplementedError


def _numbers_subject(numbers: list[str]) -> str:
    return numbers[0] + (f"+{len(numbers) - 1}" if len(numbers) > 1 else "")


class TwilioNumberRoute(_Route):
    """Twilio phone numbers: each one's voice URL, or the Elastic SIP Trunk it belongs to."""

    type: Literal["twilio_number"]
    numbers: list[E164] = Field(min_length=1, max_length=100)
    voice_url: dict[SiteName, WebUrl] | None = None
    voice_method: Literal["GET", "POST"] = "POST"
    trunk: dict[SiteName, TwilioTrunkSid] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TwilioNumberRoute:
        _reject_duplicates(self.numbers)
        if (self.voice_url is None) == (self.trunk is None):
            raise ValueError("give exactly one of voice_url and trunk (per site)")
        if self.voice_url is not None:
            _both_sites(self.voice_url, "voice_url")
        if self.trunk is not None:
            _both_sites(self.trunk, "trunk")
        return self

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        if self.trunk is not None:
            fields: dict[str, Any] = {"trunk_sid": self.trunk[site]}
        else:
            assert self.voice_url is not None
            fields = {"voice_url": self.voice_url[site], "voice_method": self.voice_method}
        return [(number, dict(fields)) for number in self.numbers]

    def subject(self) -> str:
        return _numbers_subject(self.numbers)


class TwilioTrunkRoute(_Route):
    """An Elastic SIP Trunk's origination URLs: the active site's enabled at
    ``active_priority``; the other site's disabled, or (``standby: lower``) enabled at
    ``standby_priority`` (Twilio tries the lowest priority value first)."""

    type: Literal["twilio_trunk"]
    trunk: TwilioTrunkSid
    origination: dict[SiteName, list[SipUrl]]
    """Each site's origination SIP URLs (as on the trunk, e.g. ``sip:pbx1.example.com``)."""
    active_priority: int = Field(default=10, ge=0, le=65535)
    standby: Literal["disable", "lower"] = "disable"
    standby_priority: int = Field(default=20, ge=0, le=65535)

    @model_validator(mode="after")
    def _sites(self) -> TwilioTrunkRoute:
        _both_sites(self.origination, "origination")
        for site in SiteName:
            if not self.origination[site]:
                raise ValueError(f"origination.{site.value}: at least one SIP URL")
            _reject_duplicates(self.origination[site])
        shared = set(self.origination[SiteName.PRIMARY]) & set(self.origination[SiteName.SECONDARY])
        if shared:
            raise ValueError(f"origination: {sorted(shared)[0]!r} is listed for both sites")
        if self.standby == "lower" and self.standby_priority <= self.active_priority:
            raise ValueError(
                f"standby_priority: {self.standby_priority} must be more than active_priority "
                f"({self.active_priority}); Twilio tries the lowest value first"
            )
        return self

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        active = {"enabled": True, "priority": self.active_priority}
        if self.standby == "lower":
            standby: dict[str, Any] = {"enabled": True, "priority": self.standby_priority}
        else:
            standby = {"enabled": False}
        return [(url, dict(active)) for url in self.origination[site]] + [
            (url, dict(standby)) for url in self.origination[site.other]
        ]

    def subject(self) -> str:
        return self.trunk


class TelnyxNumberRoute(_Route):
    """Telnyx phone numbers: the connection (SIP connection, FQDN connection, TeXML or Call
    Control application) each one is assigned to."""

    type: Literal["telnyx_number"]
    numbers: list[E164] = Field(min_length=1, max_length=100)
    connection_id: dict[SiteName, Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]]

    @model_validator(mode="after")
    def _sites(self) -> TelnyxNumberRoute:
        _reject_duplicates(self.numbers)
        _both_sites(self.connection_id, "connection_id")
        return self

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        return [(n, {"connection_id": self.connection_id[site]}) for n in self.numbers]

    def subject(self) -> str:
        return _numbers_subject(self.numbers)


class VoipMsDidRoute(_Route):
    """VoIP.ms DIDs: each one's main routing (``setDIDRouting``)."""

    type: Literal["voipms_did"]
    numbers: list[Annotated[str, Field(pattern=r"^[0-9]{10,15}$")]] = Field(
        min_length=1, max_length=100
    )
    """DIDs as VoIP.ms writes them: digits only (``5551234567``)."""
    routing: dict[SiteName, Annotated[str, AfterValidator(_voipms_routing)]]

    @model_validator(mode="after")
    def _sites(self) -> VoipMsDidRoute:
        _reject_duplicates(self.numbers)
        _both_sites(self.routing, "routing")
        return self

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        return [(did, {"routing": self.routing[site]}) for did in self.numbers]

    def subject(self) -> str:
        return _numbers_subject(self.numbers)


class WebhookRoute(_Route):
    """Any other provider: a signed call to the operator's endpoint with the numbers and the
    new site's target."""

    type: Literal["webhook"]
    numbers: list[Label] = Field(min_length=1, max_length=100)
    target: dict[SiteName, Label]

    @model_validator(mode="after")
    def _sites(self) -> WebhookRoute:
        _reject_duplicates(self.numbers)
        _both_sites(self.target, "target")
        return self

    def wanted(self, site: SiteName) -> list[tuple[str, dict[str, Any]]]:
        return [(n, {"target": self.target[site]}) for n in self.numbers]

    def subject(self) -> str:
        return _numbers_subject(self.numbers)


VoipRoute = Annotated[
    TwilioNumberRoute | TwilioTrunkRoute | TelnyxNumberRoute | VoipMsDidRoute | WebhookRoute,
    Field(discriminator="type"),
]
ROUTE_PROVIDER = {
    "twilio_number": "twilio",
    "twilio_trunk": "twilio",
    "telnyx_number": "telnyx",
    "voipms_did": "voipms",
    "webhook": "webhook",
}
"""The provider type each route type needs."""
_ROUTE_TAGS = set(ROUTE_PROVIDER)


class TwilioProvider(_Model):
    """Twilio's REST API (phone numbers) and Elastic SIP Trunking API, with HTTP basic auth:
    the account SID and its auth token, or an API key SID and its secret."""

    type: Literal["twilio"]
    account_sid: str = Field(pattern=r"^AC[0-9a-f]{32}$")
    auth_token_secret: SecretRef
    """The secret holds the auth token (or, with ``api_key_sid``, the API key's secret)."""
    api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-f]{32}$")
    base_url: WebUrl = "https://api.twilio.com"
    trunking_base_url: WebUrl = "https://trunking.twilio.com"
    timeout: ApiTimeout = 10.0


class TelnyxProvider(_Model):
    """Telnyx API v2 with an API key (Bearer)."""

    type: Literal["telnyx"]
    api_key_secret: SecretRef
    base_url: WebUrl = "https://api.telnyx.com/v2"
    timeout: ApiTimeout = 10.0


class VoipMsProvider(_Model):
    """The VoIP.ms REST/JSON API: the account's e-mail and its API password (set in the
    customer portal, which also lists the IP addresses allowed to call it)."""

    type: Literal["voipms"]
    username: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    api_password_secret: SecretRef
    base_url: WebUrl = "https://voip.ms/api/v1/rest.php"
    timeout: ApiTimeout = 10.0


class WebhookVoipProvider(_Model):
    """Any other VoIP provider, behind the operator's signed webhook."""

    type: Literal["webhook"]
    url: WebUrl
    secret: SecretRef
    timeout: ApiTimeout = 10.0
    verify_tls: bool = True


VoipProviderConfig = Annotated[
    TwilioProvider | TelnyxProvider | VoipMsProvider | WebhookVoipProvider,
    Field(discriminator="type"),
]
_VOIP_TAGS = {"twilio", "telnyx", "voipms", "webhook"}


_SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|[1-9][0-9]{0,3} (minutes|hours|days))\)|cron\([^()\n]{9,200}\))$"
)


class Drill(_Model):
    """A rehearsal of every service's switch on a schedule (read-only; an alert only when an
    item would fail)."""

    schedule: str = "rate(7 days)"
    """An EventBridge schedule expression: ``rate(7 days)`` or ``cron(0 8 ? * MON *)`` (UTC)."""

    @field_validator("schedule")
    @classmethod
    def _expression(cls, value: str) -> str:
        if not _SCHEDULE.fullmatch(value):
            raise ValueError(
                f"{value[:60]!r} is not an EventBridge schedule such as 'rate(7 days)' or "
                "'cron(0 8 ? * MON *)'"
            )
        return value


class Site(_Model):
    label: Label | None = None
    """A human name for the data center, used in notifications ("Frankfurt DC")."""
    checks: list[Check] = Field(min_length=1)
    fence: Fence | None = None
    """How to tell this site to stop serving when the other is promoted; the switch waits
    for its confirmation (``fence_policy`` says what no confirmation means)."""
    hooks: Hooks = Field(default_factory=lambda: Hooks())
    """The operator's actions on this site: ``pre_release``/``post_release`` when it loses
    the role, ``pre_acquire``/``post_acquire`` when it gains it."""

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[Check]) -> list[Check]:
        _reject_duplicates(c.name for c in checks)
        return checks


class Failback(_Model):
    policy: Literal["automatic", "manual"] = "automatic"
    hold: Annotated[
        NonNegSeconds, at_most(7 * DAY, "the service would stay on the secondary for over a week")
    ] = 300.0
    """How long the primary must have been UP before an automatic failback."""
    gate: Webhook | None = None
    """Asked before an automatic failback; must answer ``{"synced": true}`` (data written on
    the secondary is back home), or Arbiter waits and asks again next round."""


class Service(_Model):
    name: str = Field(pattern=NAME)
    primary: Site
    secondary: Site
    dns: Dns = Field(default_factory=Dns)
    voip: list[VoipRoute] = Field(default_factory=list)
    """Numbers and trunks moved to the new site, one step per route, after DNS."""
    fence_policy: Literal["required", "best_effort"] = "best_effort"
    """What a fence that is not confirmed (refused, unreachable, timed out) means:
    ``required``: the switch is aborted and the service FAILED; ``best_effort``: the switch
    goes on (the old primary is usually the dead one) and the report says it was not."""
    failback: Failback = Field(default_factory=Failback)

    def site(self, name: SiteName) -> Site:
        return self.primary if name is SiteName.PRIMARY else self.secondary

    def site_label(self, name: SiteName) -> str:
        return self.site(name).label or name.value


class Probe(_Model):
    interval: Annotated[
        Seconds, at_most(HOUR, "an outage would go unnoticed for fall x interval")
    ] = 60.0
    """Seconds between rounds. From 60 s up, a whole number of minutes: an EventBridge
    schedule invokes the probe once per interval. Below 60 s it must divide 60: a ticker
    invoked once a minute queues each round as a delayed SQS message (nothing sleeps)."""
    retention: Annotated[
        Seconds, at_most(365 * DAY, "older rounds serve no decision and only grow the table")
    ] = DAY
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
    stale_after: (
        Annotated[Seconds, at_most(DAY, "a region silent that long must not vote")] | None
    ) = None
    """A region whose latest round is older than this does not vote (default: 3 intervals)."""
    max_switches: int = Field(default=3, ge=1, le=100)
    """Flap damping: at most this many automatic switches per ``switch_window``; past it
    automatic actions pause and an alert says why."""
    switch_window: Seconds = 3600.0
    clock_skew: Annotated[NonNegSeconds, Field(le=300)] = 30.0
    """How far ahead of the decider's clock a round may be stamped. A round stamped later than
    that is ignored and reported (one alert per region), never applied."""


MinSeverity = Literal["critical", "error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class _Channel(_Model):
    name: Annotated[str, Field(pattern=NAME)]
    """Names the channel in reports (``arbiter notify-test``) and metrics."""
    min_severity: MinSeverity = "info"
    """Alerts below this severity are not sent here. An alert that closes an incident this
    channel was sent always goes (a resolve is never filtered out)."""
    call_timeout: ApiTimeout = 10.0


class WebhookChannel(_Channel):
    """A generic JSON webhook: every alert as one signed POST (the same HMAC headers as the
    runbook's webhooks)."""

    type: Literal["webhook"]
    url: WebUrl
    secret: SecretRef
    """Where the signing key is (``SecretRef``), never the key."""
    verify_tls: bool = True


class SlackChannel(_Channel):
    """A Slack incoming webhook. Its URL is a credential: it lives in Secrets Manager or
    Parameter Store."""

    type: Literal["slack"]
    webhook_url_secret: SecretRef
    """Name or ARN of the secret whose value is the ``https://hooks.slack.com/services/...``
    URL."""


class ChatbotChannel(_Channel):
    """Slack through AWS Chatbot: the stack creates the Chatbot channel configuration and a
    topic it listens to; alerts are posted there as Chatbot custom notifications. The Slack
    workspace must be authorized in the Chatbot console once, by hand (AWS's rule)."""

    type: Literal["chatbot"]
    slack_workspace_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{9,15}$")]
    slack_channel_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{9,15}$")]


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2: a condition's alert triggers an incident under its dedup key,
    the alert that announces the condition cleared resolves it. Alerts that open no incident
    (a switch made, a pause) go as change events when ``changes`` is true."""

    type: Literal["pagerduty"]
    routing_key_secret: SecretRef
    """Name or ARN of the secret holding the integration's 32-character routing key."""
    base_url: WebUrl = "https://events.pagerduty.com"
    changes: bool = True
    min_severity: MinSeverity = "warning"


Channel = Annotated[
    WebhookChannel | SlackChannel | ChatbotChannel | PagerDutyChannel,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("webhook", "slack", "chatbot", "pagerduty")


class Notifications(_Model):
    emails: list[
        Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), AfterValidator(_printable)]
    ] = Field(default_factory=list)
    """Subscribed to the alerts topic: each address gets one confirmation email at the first
    deploy, and must confirm it."""
    channels: list[Channel] = Field(default_factory=list)
    """Where alerts go besides email: delivered by the notify function, each channel on its
    own (one failing never holds another back)."""

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, channels: list[Any]) -> list[Any]:
        _reject_duplicates([c.name for c in channels])
        return channels


class Monitoring(_Model):
    """Bounds of the alarms the stack creates (all in the home region; each announces its
    recovery too). Left out, each is derived from ``probe.interval``."""

    decide_silent_after: (
        Annotated[Seconds, at_most(DAY, "CloudWatch evaluates an alarm over one day at most")]
        | None
    ) = None
    """``DecideStale`` fires when no decide pass ran for this long (default: three of the
    decider's scheduled passes, and at least 5m)."""
    iterator_age: (
        Annotated[Seconds, at_most(DAY, "the stream keeps records for one day")] | None
    ) = None
    """``StreamIteratorAge`` fires when the decide function reads the table's stream this far
    behind (default: 5m, or two intervals if longer)."""
    region_silent_after: (
        Annotated[Seconds, at_most(DAY, "CloudWatch evaluates an alarm over one day at most")]
        | None
    ) = None
    """``RegionSilent`` fires when a probe region's newest round is this old for some service
    (default: ``decision.stale_after``, when the region stops voting)."""
    alerts_pending_for: Annotated[
        Seconds, at_most(DAY, "CloudWatch evaluates an alarm over one day at most")
    ] = 15 * MINUTE
    """``AlertsPending`` fires when alerts have waited in the outbox this long (SNS
    refusing them)."""
    dashboard: bool = False
    """The CloudWatch dashboard ``{app}`` in the home region (its URL the stack output
    ``DashboardUrl``). Off by default: a dashboard costs $3.00 a month whatever it shows
    (free only as one of the first three in an account, or organization), more than the rest
    of a small deployment; ``arbiter status`` and ``arbiter history`` show the same."""
    tracing: bool = False
    """Active X-Ray tracing on every function: $5.00 per million traces past the free
    100,000 a month; every probe round and decide pass is one."""


MRSC_REGION_SETS = {
    "US": ("us-east-1", "us-east-2", "us-west-2"),
    "EU": ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    "AP": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
}
"""The region sets a DynamoDB global table with multi-Region strong consistency (MRSC) can
span: exactly three regions (three replicas, or two and a witness), all from one set."""


class Control(_Model):
    """Where the decider runs: the home region alone, or the home region plus standby regions
    that take over when it is lost (see README "Surviving the loss of a region")."""

    standby_regions: list[AwsRegion] = Field(default_factory=list, max_length=2)
    """Regions with a full, idle copy of the control plane (decide, act, override, notify; a
    replica of the table). One of them takes over when the home region's lease lapses."""
    witness_region: AwsRegion | None = None
    """The third region of the lease table (multi-Region strong consistency needs three):
    required with one standby region, not allowed with two."""
    lease: (
        Annotated[Seconds, at_most(15 * MINUTE, "a standby waits a whole lease to take over")]
        | None
    ) = None
    """How long a leader's lease lasts after its last renewal; a standby takes over this long
    (plus ``LEASE_SKEW``) after the leader's region stops renewing it. Default: the longest
    runbook step plus 60 s, and at least 120 s. No runbook step starts unless the lease still
    covers its whole time, so the old leader has stopped before a standby takes over."""

    @field_validator("standby_regions")
    @classmethod
    def _unique_standbys(cls, regions: list[str]) -> list[str]:
        _reject_duplicates(regions)
        return regions


class Table(_Model):
    removal: Literal["retain", "destroy"] = "retain"
    """What ``cdk destroy`` does with the table (state, audit log, observations):
    ``retain`` keeps it (delete it by hand before deploying the same ``app`` again);
    ``destroy`` deletes it with the stack."""


class Config(_Model):
    app: str = Field(default="arbiter", pattern=NAME)
    """Prefix of stack, table, topic and function names."""
    home_region: AwsRegion
    probe_regions: list[AwsRegion] = Field(min_length=3)
    probe: Probe = Field(default_factory=Probe)
    decision: Decision = Field(default_factory=Decision)
    notifications: Notifications = Field(default_factory=Notifications)
    dns_providers: dict[Annotated[str, Field(pattern=NAME)], DnsProviderConfig] = Field(
        default_factory=dict
    )
    """Named DNS provider instances that records point at; ``route53`` needs no entry."""
    voip_providers: dict[Annotated[str, Field(pattern=NAME)], VoipProviderConfig] = Field(
        default_factory=dict
    )
    """Named VoIP provider instances that ``services[].voip`` routes point at."""
    drill: Drill | None = None
    """A scheduled rehearsal of every switch (none unless set)."""
    monitoring: Monitoring = Field(default_factory=Monitoring)
    table: Table = Field(default_factory=Table)
    control: Control = Field(default_factory=Control)
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
    def _fits_together(self) -> Config:
        """Rules across sections; each problem names the field to change."""
        problems = [problem for rule in _CROSS_RULES for problem in rule(self)]
        if problems:
            raise ConfigProblems(problems)
        return self

    @property
    def quorum(self) -> int:
        return self.decision.quorum or len(self.probe_regions) // 2 + 1

    @property
    def control_regions(self) -> list[str]:
        """Where a decider runs, the home region first."""
        return [self.home_region, *self.control.standby_regions]

    @property
    def lease_seconds(self) -> float:
        if self.control.lease is not None:
            return self.control.lease
        return max(MIN_LEASE, longest_step(self) + LEASE_MARGIN)

    @property
    def stale_after(self) -> float:
        return self.decision.stale_after or 3 * self.probe.interval

    @property
    def decide_batch(self) -> tuple[int, int]:
        """The decide function's stream trigger: at most this many records (one round of
        every service from every probe region), gathered for at most this many seconds (a
        fifth of the interval, 5 s at most). A round's records from all regions, which start
        at the same boundary, then make one decide pass instead of one per region; a region
        later than that is decided on in a pass of its own."""
        records = min(100, len(self.probe_regions) * len(self.services))
        return records, max(1, min(5, int(self.probe.interval // 5)))

    @property
    def region_silent_after(self) -> float:
        """When a probe region counts as silent (``RegionsSilent``, the ``RegionSilent``
        alarm): ``monitoring.region_silent_after``, by default ``stale_after``."""
        return self.monitoring.region_silent_after or self.stale_after

    @property
    def lookback(self) -> float:
        """How far back a decide pass reads rounds: what staleness and fall/rise can use."""
        d = self.decision
        return self.stale_after + max(d.fall, d.rise) * self.probe.interval

    def dns_provider(self, name: str) -> DnsProviderConfig:
        if name in self.dns_providers:
            return self.dns_providers[name]
        if name == "route53":
            return default_dns_provider()
        raise KeyError(name)

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
                if self.dns_provider(record.provider).type == DATAPLANE_PROVIDER:
                    if record.ttl > DATAPLANE_TTL:
                        found.append(
                            f"services[{i}].dns.records[{j}].ttl: {record.ttl} s is above "
                            f"{DATAPLANE_TTL} s, which AWS recommends at most for failover "
                            "records; resolvers keep the old answer that long after Route 53 "
                            "switches"
                        )
                elif record.ttl > 300:
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
            found += _dataplane_warnings(self, i, service)
        if self.quorum * 2 <= len(self.probe_regions):
            found.append(
                f"decision.quorum: {self.quorum} of {len(self.probe_regions)} regions is not a "
                "majority; two disagreeing halves could both reach it"
            )
        return found


class ConfigProblems(ValueError):
    """Several problems found by one model-level check, each naming its own field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _partition_problems(config: Config) -> Iterator[str]:
    home = AWS_REGIONS[config.home_region]
    for i, region in enumerate(config.probe_regions):
        if AWS_REGIONS[region] != home:
            yield (
                f"probe_regions[{i}]: {region!r} is in the {AWS_REGIONS[region]} partition "
                f"and home_region {config.home_region!r} in {home}; one deployment cannot "
                "span partitions"
            )


def _quorum_problems(config: Config) -> Iterator[str]:
    if config.decision.quorum is not None and config.decision.quorum > len(config.probe_regions):
        yield (
            f"decision.quorum: {config.decision.quorum} is more than the number of "
            f"probe_regions ({len(config.probe_regions)})"
        )


_ROUTE53_ZONE = re.compile(r"^(/hostedzone/)?[A-Z0-9]{1,32}$")
_CLOUDFLARE_ZONE_ID = re.compile(r"^[0-9a-f]{32}$")


def _zone_problem(kind: str, record: DnsRecord) -> str | None:
    """The zone in the provider's own terms, and the record inside it."""
    zone = record.zone
    if kind in ("route53", DATAPLANE_PROVIDER):
        if not _ROUTE53_ZONE.fullmatch(zone):
            return f"{zone!r} is not a Route 53 hosted zone id (e.g. Z0123456789ABCDEFGHIJ)"
        return None
    if kind == "cloudflare" and _CLOUDFLARE_ZONE_ID.fullmatch(zone):
        return None  # a zone id: the name check needs the zone's name
    try:
        _dns_name(zone)
    except ValueError as exc:
        return f"{exc} (a {kind} zone is given by its name, e.g. example.com)"
    apex = zone.lower().removesuffix(".")
    name = record.name.lower().removesuffix(".")
    if name != apex and not name.endswith("." + apex):
        return f"{record.name} is not inside the zone {zone}"
    return None


def _record_problems(config: Config) -> Iterator[str]:
    """Every record's provider exists and takes its zone; one owner per record set: two
    switches would overwrite each other's values, and a CNAME cannot share its name."""
    seen: dict[tuple[str, str, str], list[tuple[str, RecordType]]] = {}
    for i, service in enumerate(config.services):
        for j, record in enumerate(service.dns.records):
            where = f"services[{i}].dns.records[{j}]"
            try:
                kind = config.dns_provider(record.provider).type
            except KeyError:
                known = ", ".join(sorted({"route53", *config.dns_providers}))
                yield f"{where}.provider: {record.provider!r} is not in dns_providers ({known})"
                continue
            problem = _zone_problem(kind, record)
            if problem:
                yield f"{where}.zone: {problem}"
                continue
            zone = record.zone.lower().removeprefix("/hostedzone/").removesuffix(".")
            others = seen.setdefault((record.provider, zone, record.name.lower()), [])
            for first, rtype in others:
                if rtype is record.type:
                    yield (
                        f"{where}: {record.name} {rtype.value} in zone {record.zone} is "
                        f"also {first}; each switch would overwrite the other's values"
                    )
                    break
                if RecordType.CNAME in (rtype, record.type):
                    yield (
                        f"{where}: {record.name} in zone {record.zone} cannot be both "
                        f"{_article(record.type)} and {_article(rtype)} record ({first})"
                    )
                    break
            others.append((where, record.type))


def _route53_records(config: Config) -> Iterator[tuple[str, str, DnsRecord]]:
    """Every record at a Route 53 provider (simple or failover): where, provider type, record."""
    for i, service in enumerate(config.services):
        for j, record in enumerate(service.dns.records):
            try:
                kind = config.dns_provider(record.provider).type
            except KeyError:
                continue  # _record_problems names it
            if kind in ("route53", DATAPLANE_PROVIDER):
                yield f"services[{i}].dns.records[{j}]", kind, record


def _dataplane_problems(config: Config) -> Iterator[str]:
    """A failover record is a site's address (A, AAAA or CNAME), and its name and type are
    Route 53's for it alone: the stack creates its PRIMARY and SECONDARY record sets, which
    cannot share a name and type with a simple record (or any record, for a CNAME)."""
    found = list(_route53_records(config))
    for n, (where, kind, record) in enumerate(found):
        if kind != DATAPLANE_PROVIDER:
            continue
        if record.type not in DATAPLANE_TYPES:
            yield (
                f"{where}.type: a {DATAPLANE_PROVIDER} record is A, AAAA or CNAME (the address "
                f"of a site), not {record.type.value}; give a route53 provider for it"
            )
        zone = record.zone.removeprefix("/hostedzone/")
        for m, (other_where, _, other) in enumerate(found):
            if m == n or other.provider == record.provider:
                continue  # the same provider: _record_problems compares those
            if other.zone.removeprefix("/hostedzone/") != zone:
                continue
            if other.name.lower() != record.name.lower():
                continue
            if RecordType.CNAME in (record.type, other.type) or other.type is record.type:
                if m < n and found[m][1] == DATAPLANE_PROVIDER:
                    continue  # reported once, at the first of the two failover records
                yield (
                    f"{where}: {record.name} {record.type.value} in zone {record.zone} is also "
                    f"{other_where} ({other.type.value} at {other.provider}); the stack creates "
                    "failover record sets for it, which Route 53 cannot hold next to another "
                    "record set of that name and type: remove one of the two"
                )


def _dataplane_warnings(config: Config, i: int, service: Service) -> list[str]:
    """A verify step too short for a data-plane switch would report every server lagging."""
    if not service.dns.verify.enabled or service.dns.verify_timeout >= DATAPLANE_VERIFY:
        return []
    if not any(
        config.dns_providers.get(r.provider) is not None
        and config.dns_providers[r.provider].type == DATAPLANE_PROVIDER
        for r in service.dns.records
    ):
        return []
    return [
        f"services[{i}].dns.verify_timeout: {fmt_seconds(service.dns.verify_timeout)} is "
        f"shorter than {fmt_seconds(DATAPLANE_VERIFY)}; a {DATAPLANE_PROVIDER} switch takes an "
        "alarm period of 60 s plus the health checks' reaction and Route 53's propagation, so "
        "the verify step would report the servers as lagging"
    ]


def _provider_problems(config: Config) -> Iterator[str]:
    if "route53" in config.dns_providers and config.dns_providers["route53"].type != "route53":
        yield (
            "dns_providers.route53: the name route53 means Route 53 (records use it by "
            "default); give this provider another name"
        )


def _voip_problems(config: Config) -> Iterator[str]:
    """Every route's provider exists and is of the route's kind; a number or trunk is moved
    by one route only (two would undo each other)."""
    seen: dict[tuple[str, str], str] = {}
    for i, service in enumerate(config.services):
        for j, route in enumerate(service.voip):
            where = f"services[{i}].voip[{j}]"
            settings = config.voip_providers.get(route.provider)
            if settings is None:
                known = ", ".join(sorted(config.voip_providers)) or "none defined"
                yield f"{where}.provider: {route.provider!r} is not in voip_providers ({known})"
                continue
            needed = ROUTE_PROVIDER[route.type]
            if settings.type != needed:
                yield (
                    f"{where}.provider: a {route.type} route needs a {needed} provider; "
                    f"voip_providers.{route.provider} is {settings.type}"
                )
                continue
            for item, _ in route.wanted(SiteName.PRIMARY):
                first = seen.setdefault((route.provider, item), where)
                if first != where:
                    yield (
                        f"{where}: {item} at {route.provider} is also moved by {first}; each "
                        "switch would undo the other's change"
                    )
                    break


ACT_MARGIN = 120.0
"""Seconds of the act function's timeout beyond its waits: provider calls, the report."""
VOIP_ROUTE_SECONDS = 60.0
"""What a VoIP route's step is allowed in the act function's timeout."""


def act_seconds(service: Service) -> float:
    """The act function's time for this service's slowest switch (either way): its fence,
    the hooks of both phases on both sides, the DNS wait, each VoIP route, and a margin."""
    worst = 0.0
    for old in SiteName:
        new = old.other
        fence = service.site(old).fence
        hooks = [
            *service.site(old).hooks.pre_release,
            *service.site(old).hooks.post_release,
            *service.site(new).hooks.pre_acquire,
            *service.site(new).hooks.post_acquire,
        ]
        worst = max(
            worst,
            (fence.timeout if fence else 0.0)
            + sum(h.timeout for h in hooks)
            + service.dns.verify_timeout
            + VOIP_ROUTE_SECONDS * len(service.voip)
            + ACT_MARGIN,
        )
    return worst


def _act_time_problems(config: Config) -> Iterator[str]:
    for i, service in enumerate(config.services):
        needed = act_seconds(service)
        if needed > LAMBDA_MAX_TIMEOUT:
            yield (
                f"services[{i}]: a switch may take {needed:g} s (the fence's and hooks' "
                f"timeouts, dns.verify_timeout, {VOIP_ROUTE_SECONDS:g} s per voip route and "
                f"{ACT_MARGIN:g} s), more than Lambda's {LAMBDA_MAX_TIMEOUT:g} s for the act "
                "function: shorten those timeouts"
            )


def _checks(config: Config) -> Iterator[tuple[str, Check]]:
    for i, service in enumerate(config.services):
        for site in SiteName:
            for k, check in enumerate(service.site(site).checks):
                yield f"services[{i}].{site.value}.checks[{k}]", check


def _timing_problems(config: Config) -> Iterator[str]:
    """Intervals, timeouts and windows that each pass alone but not together."""
    interval, stale = config.probe.interval, config.stale_after
    if stale < interval:
        yield (
            f"decision.stale_after: {fmt_seconds(stale)} is shorter than probe.interval "
            f"({fmt_seconds(interval)}): every region would be stale between its rounds"
        )
    for where, check in _checks(config):
        if check.timeout > stale:
            yield (
                f"{where}.timeout: {fmt_seconds(check.timeout)} is longer than "
                f"decision.stale_after ({fmt_seconds(stale)}): a round that slow reaches "
                "the decider after its region already counts as stale"
            )
    if config.probe.retention < config.lookback:
        rounds = max(config.decision.fall, config.decision.rise)
        yield (
            f"probe.retention: {fmt_seconds(config.probe.retention)} is shorter than the "
            f"decider's look-back of {fmt_seconds(config.lookback)} (stale_after "
            f"{fmt_seconds(stale)} + {rounds} rounds of {fmt_seconds(interval)}, for "
            "max(fall, rise)): rounds it still needs would expire"
        )


def _lambda_problems(config: Config) -> Iterator[str]:
    """A probe function sized past Lambda's 15-minute maximum (the act function's timeout,
    ``act_seconds``, is kept inside it by ``_act_time_problems``)."""
    from arbiter.core.schedule import round_budget  # it imports this module

    budget = round_budget(config)
    if budget > LAMBDA_MAX_TIMEOUT:
        where, slowest = max(_checks(config), key=lambda found: found[1].timeout)
        yield (
            f"{where}.timeout: the probe function would need {budget:g} s (a round may take "
            f"this {fmt_seconds(slowest.timeout)} + 5 s), more than Lambda's "
            f"{LAMBDA_MAX_TIMEOUT:g} s"
        )


def _article(rtype: RecordType) -> str:
    return f"a {rtype.value}" if rtype is RecordType.CNAME else f"an {rtype.value}"


LEASE_SKEW = 5.0
"""Seconds a standby waits past a lease's end before taking it: allowance for clock skew
between regions (Lambda's clocks are NTP-synchronised)."""
LEASE_MARGIN = 30.0
"""Seconds a lease must last beyond the longest runbook step (a provider call's retries and
the report), and what is left before a leader renews it early."""
MIN_LEASE = 120.0
"""The shortest default lease: longer than the decider's one-minute schedule, so a leader
whose only passes are scheduled still renews in time."""


def step_seconds(service: Service) -> float:
    """The longest single runbook step of this service (either way): a fence, a hook, the
    DNS wait or a VoIP route; each runs only when the leader's lease covers it whole."""
    longest = service.dns.verify_timeout
    if service.voip:
        longest = max(longest, VOIP_ROUTE_SECONDS)
    for site in SiteName:
        side = service.site(site)
        if side.fence is not None:
            longest = max(longest, side.fence.timeout)
        for hook in (
            *side.hooks.pre_release,
            *side.hooks.post_release,
            *side.hooks.pre_acquire,
            *side.hooks.post_acquire,
        ):
            longest = max(longest, hook.timeout)
    return longest


def longest_step(config: Config) -> float:
    return max(step_seconds(s) for s in config.services)


def _control_problems(config: Config) -> Iterator[str]:
    control = config.control
    standbys, witness = control.standby_regions, control.witness_region
    for i, region in enumerate(standbys):
        if region == config.home_region:
            yield f"control.standby_regions[{i}]: {region!r} is the home_region already"
    if not standbys:
        if witness is not None:
            yield "control.witness_region: only used with control.standby_regions"
        return
    if len(standbys) == 1 and witness is None:
        yield (
            "control.witness_region: required with one standby region (the lease table needs "
            "three regions: home, standby and a witness)"
        )
    if len(standbys) == 2 and witness is not None:
        yield "control.witness_region: not allowed with two standby regions (three already)"
    if witness is not None and witness in config.control_regions:
        yield f"control.witness_region: {witness!r} is already a control region"
    regions = [*config.control_regions, *([witness] if witness else [])]
    fits = [name for name, members in MRSC_REGION_SETS.items() if set(regions) <= set(members)]
    if not fits:
        sets = "; ".join(f"{k}: {', '.join(v)}" for k, v in MRSC_REGION_SETS.items())
        yield (
            f"control: home_region, standby_regions and witness_region ({', '.join(regions)}) "
            "must all be in one region set of DynamoDB multi-Region strong consistency "
            f"({sets})"
        )
    if control.lease is not None:
        need = longest_step(config) + LEASE_MARGIN
        if control.lease < need:
            yield (
                f"control.lease: {fmt_seconds(control.lease)} is shorter than the longest "
                f"runbook step plus {LEASE_MARGIN:g} s ({fmt_seconds(need)}); a step must fit "
                "inside the lease"
            )
        if control.lease < 90:
            yield (
                f"control.lease: {fmt_seconds(control.lease)} is shorter than 90 s; a leader "
                "renews it on the decider's one-minute schedule"
            )


_CROSS_RULES: list[Callable[[Config], Iterator[str]]] = [
    _partition_problems,
    _quorum_problems,
    _provider_problems,
    _record_problems,
    _dataplane_problems,
    _voip_problems,
    _act_time_problems,
    _timing_problems,
    _lambda_problems,
    _control_problems,
]


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

    ``unions`` names discriminated unions and their tags: pydantic puts the tag after a
    list item's index (``checks[0].http.url``) or after a single field (``command.switch.to``),
    which says nothing to a reader.
    """
    if unions is None:
        unions = {
            "checks": _CHECK_TAGS,
            "dns_providers": _PROVIDER_TAGS,
            "voip_providers": _VOIP_TAGS,
            "voip": _ROUTE_TAGS,
            "fence": _ACTION_TAGS,
            **{phase: _ACTION_TAGS for phase in PHASES},
        }
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and part in unions.get(str(loc[i - 2]), ()):
            continue  # a union's tag (but services[0].dns stays)
        elif i >= 1 and part in unions.get(str(loc[i - 1]), ()):
            continue  # the tag of a single union field
        elif part.startswith("function-") or part == "[key]":
            continue  # the discriminator tag pydantic adds to a union's path; a dict's key
        elif not part.isprintable():
            out += f"[{part!r}]"  # a key with a line break stays on one line
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
        prefix = f"{format_loc(loc, unions)}: " if loc else ""
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigProblems):
            messages += [prefix + problem for problem in cause.problems]
        else:
            messages.append(prefix + message)
    return messages


def parse_config(data: Any, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, validation_messages(exc)) from None


def parse_yaml(text: str, source: str) -> Any:
    """One YAML document; anything wrong with it is a ConfigError naming the line. PyYAML is
    imported on first use: the functions read the config as JSON (``runtime.py``)."""
    from arbiter.core.yaml_text import parse_yaml as parse

    return parse(text, source)


def _read_text(path: str | Path) -> str:
    """A UTF-8 text file; an unreadable or undecodable one is a ConfigError."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError(str(path), [f"cannot read the file: {why}"]) from None
    except ValueError as exc:  # a path with a NUL byte, e.g. from a scenario's `config:`
        raise ConfigError(repr(str(path)), [f"cannot read the file: {exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            str(path),
            [f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} cannot be decoded"],
        ) from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file, as UTF-8 text; whatever is wrong with it is a ConfigError."""
    return parse_yaml(_read_text(path), str(path))


def _config_of(data: Any, source: str) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of keys to values"])
    return parse_config(data, source)


def load_config_text(text: str, source: str = "config") -> Config:
    return _config_of(parse_yaml(text, source), source)


def load_config(path: str) -> Config:
    return _config_of(read_yaml(path), path)
