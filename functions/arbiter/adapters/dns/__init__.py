"""DNS providers: a small port and a registry keyed by the config's ``provider:`` value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from arbiter.core.config import DnsRecord, SiteName


class DnsProvider(Protocol):
    def upsert(self, zone_id: str, records: Sequence[DnsRecord], site: SiteName) -> str:
        """Set every record to the site's values; return a change id to wait on."""
        ...

    def wait_applied(self, change_id: str, deadline: float) -> float:
        """Wait until the provider reports the change live; return the seconds waited."""
        ...

    def get(self, zone_id: str, name: str, rtype: str) -> list[str]:
        """The record's current values, as the provider serves them."""
        ...


def route53(client_factory: Callable[[], Any]) -> DnsProvider:
    from arbiter.adapters.dns.route53 import Route53

    return Route53(client_factory)


PROVIDERS: dict[str, Callable[[Callable[[], Any]], DnsProvider]] = {"route53": route53}
