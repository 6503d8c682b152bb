"""What each function may touch, derived from the config in one place: the Route 53 zones and
the secrets the runbook uses, and the signing keys the decider's failback gates use. Nothing
else: a provider no record points at grants nothing."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter.core.config import (
    CloudflareProvider,
    Config,
    DnsProviderConfig,
    PowerDnsProvider,
    Rfc2136Provider,
)


@dataclass(frozen=True)
class Needs:
    act_zones: list[str]
    """Route 53 hosted zone ids the act function changes and reads."""
    act_secrets: list[str]
    """Secrets (names or ARNs) of the DNS providers the runbook uses."""
    decide_secrets: list[str]
    """Signing keys of the failback gates."""


def provider_secret(settings: DnsProviderConfig) -> str | None:
    if isinstance(settings, CloudflareProvider):
        return settings.token_secret
    if isinstance(settings, PowerDnsProvider):
        return settings.api_key_secret
    if isinstance(settings, Rfc2136Provider):
        return settings.key_secret
    return None


def needs(config: Config) -> Needs:
    zones: set[str] = set()
    secrets: set[str] = set()
    for service in config.services:
        for record in service.dns.records:
            settings = config.dns_provider(record.provider)
            if settings.type == "route53":
                zones.add(record.zone.removeprefix("/hostedzone/"))
            secret = provider_secret(settings)
            if secret:
                secrets.add(secret)
    gates = {
        s.failback.gate.secret
        for s in config.services
        if s.failback.gate is not None and s.failback.gate.secret
    }
    return Needs(sorted(zones), sorted(secrets), sorted(gates))
