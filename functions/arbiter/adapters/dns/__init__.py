"""DNS providers: the port the runbook's DNS steps use, and a registry keyed by provider type.

Every adapter follows the same contract (``tests/contract/dns_contract.py`` runs it against
each one and against the in-memory fake):

- ``upsert`` makes each record set serve exactly the given values and TTL, changing only
  the sets that differ; a second identical upsert changes nothing;
- ``wait_applied`` returns once the provider says the change is live, or raises
  ``DeadlineExceeded`` at the deadline (on ``time.monotonic``);
- ``read`` returns what the provider holds for one name and type (None: no such set);
- an unknown zone, bad credentials and a refused change raise ``ProviderRejected`` (fatal);
  throttling, 5xx answers, timeouts and an unreachable server raise ``ProviderError``
  (retryable); neither ever carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from arbiter.core.config import Config, DnsProviderConfig
from arbiter.core.records import RecordSet


@dataclass
class Change:
    """What one upsert did: the provider's change id to wait on (None: nothing to wait for),
    and which record sets it changed or found already right (``www.example.com. A``)."""

    id: str | None
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Report lines of their own (the data-plane provider's per-region outcome)."""


class DnsProvider(Protocol):
    label: str
    """The provider's name in the config, for messages (``bind (rfc2136)``)."""

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change: ...

    def wait_applied(self, change: Change, deadline: float) -> float:
        """Seconds waited until the provider reported the change live."""
        ...

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None: ...


@dataclass
class Deps:
    """What an adapter may need from the runtime, each made on first use."""

    aws: Callable[[str], Any]
    """``aws("route53")``: a boto3 client."""
    secret: Callable[[str], str]
    """A Secrets Manager secret's value, by name or ARN (cached)."""
    config: Config | None = None
    """The whole config (``Providers`` sets it): the data-plane provider maps a record set
    to its service and site."""


def _route53(name: str, settings: Any, deps: Deps) -> DnsProvider:
    from arbiter.adapters.dns.route53 import Route53

    return Route53(lambda: deps.aws("route53"), label=name)


def _cloudflare(name: str, settings: Any, deps: Deps) -> DnsProvider:
    from arbiter.adapters.dns.cloudflare import Cloudflare

    return Cloudflare(name, settings, deps.secret)


def _powerdns(name: str, settings: Any, deps: Deps) -> DnsProvider:
    from arbiter.adapters.dns.powerdns import PowerDns

    return PowerDns(name, settings, deps.secret)


def _rfc2136(name: str, settings: Any, deps: Deps) -> DnsProvider:
    from arbiter.adapters.dns.rfc2136 import Rfc2136

    return Rfc2136(name, settings, deps.secret)


def _route53_failover(name: str, settings: Any, deps: Deps) -> DnsProvider:
    from arbiter.adapters.dns.route53_failover import Route53Failover, cloudwatch_client

    assert deps.config is not None, "Providers gives every adapter the config"
    return Route53Failover(name, settings, deps.config, cloudwatch_client)


PROVIDER_TYPES: dict[str, Callable[[str, Any, Deps], DnsProvider]] = {
    "route53": _route53,
    "route53_failover": _route53_failover,
    "cloudflare": _cloudflare,
    "powerdns": _powerdns,
    "rfc2136": _rfc2136,
}
"""The adapter of each ``dns_providers.<name>.type``; imported only when a config uses it."""


class Providers(Mapping[str, DnsProvider]):
    """The config's DNS providers by name, each built on first use (a secret is fetched at
    the provider's first call, not here)."""

    def __init__(
        self,
        config: Config,
        deps: Deps,
        overrides: dict[str, DnsProvider] | None = None,
    ) -> None:
        self._config = config
        self._deps = deps if deps.config is not None else replace(deps, config=config)
        self._built: dict[str, DnsProvider] = dict(overrides or {})

    def __getitem__(self, name: str) -> DnsProvider:
        if name not in self._built:
            settings: DnsProviderConfig = self._config.dns_provider(name)
            self._built[name] = PROVIDER_TYPES[settings.type](name, settings, self._deps)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({"route53", *self._config.dns_providers, *self._built}))

    def __len__(self) -> int:
        return len(list(iter(self)))
