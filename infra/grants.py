"""What each function may touch, derived from the config in one place: the Route 53 zones, the
secrets and the SSM documents and nodes the runbook uses, and the signing keys the decider's
failback gates use. Nothing else: a provider no record or route points at grants nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from arbiter.core.config import (
    PHASES,
    Action,
    Channel,
    CloudflareProvider,
    Config,
    DnsProviderConfig,
    PagerDutyChannel,
    PowerDnsProvider,
    Rfc2136Provider,
    SiteName,
    SlackChannel,
    SsmAction,
    TelnyxProvider,
    TwilioProvider,
    VoipMsProvider,
    VoipProviderConfig,
    WebhookAction,
    WebhookChannel,
    WebhookVoipProvider,
    parameter_ref,
)

AWS_DOCUMENT_PREFIXES = ("aws", "amazon", "amzn")
"""Document name prefixes reserved by AWS (CreateDocument refuses them): a document so named
is AWS-owned, and its ARN has no account (``arn:aws:ssm:<region>::document/<name>``)."""


@dataclass(frozen=True, order=True)
class SsmUse:
    """One fence's or hook's Run Command: what the act function sends, where, to which nodes."""

    region: str
    document: str
    """A document's name, or the ARN of one shared from another account."""
    instance_ids: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``targets`` as (tag key, values) pairs: nodes must carry every key, with one of its
    values."""

    @property
    def aws_owned(self) -> bool:
        return not self.document.startswith("arn:") and self.document.lower().startswith(
            AWS_DOCUMENT_PREFIXES
        )


@dataclass(frozen=True)
class Needs:
    act_zones: list[str]
    """Route 53 hosted zone ids the act function changes and reads."""
    act_secrets: list[str]
    """Secret references (``SecretRef``: Secrets Manager, or ``ssm:`` Parameter Store) the
    runbook reads: the DNS providers records use, the VoIP providers routes use, the signing
    keys of webhook fences and hooks."""
    decide_secrets: list[str]
    """Signing keys of the failback gates."""
    act_ssm: list[SsmUse]
    """The Run Commands of SSM fences and hooks."""
    notify_secrets: list[str] = field(default_factory=list)
    """The alert channels' credentials: webhook signing keys, Slack webhook URLs, PagerDuty
    routing keys."""


def split_secrets(refs: list[str]) -> tuple[list[str], list[str]]:
    """Secret references by store: (Secrets Manager names or ARNs, Parameter Store names or
    ARNs without their ``ssm:`` prefix), each sorted. A function reads a parameter with
    ``ssm:GetParameter`` and needs no ``secretsmanager:`` grant for it."""
    managed = sorted(r for r in refs if parameter_ref(r) is None)
    parameters = sorted({p for r in refs if (p := parameter_ref(r)) is not None})
    return managed, parameters


def channel_secret(channel: Channel) -> str | None:
    if isinstance(channel, WebhookChannel):
        return channel.secret
    if isinstance(channel, SlackChannel):
        return channel.webhook_url_secret
    if isinstance(channel, PagerDutyChannel):
        return channel.routing_key_secret
    return None  # chatbot: the notify function publishes to the stack's own topic


def provider_secret(settings: DnsProviderConfig) -> str | None:
    if isinstance(settings, CloudflareProvider):
        return settings.token_secret
    if isinstance(settings, PowerDnsProvider):
        return settings.api_key_secret
    if isinstance(settings, Rfc2136Provider):
        return settings.key_secret
    return None


def voip_secret(settings: VoipProviderConfig) -> str:
    if isinstance(settings, TwilioProvider):
        return settings.auth_token_secret
    if isinstance(settings, TelnyxProvider):
        return settings.api_key_secret
    if isinstance(settings, VoipMsProvider):
        return settings.api_password_secret
    assert isinstance(settings, WebhookVoipProvider)
    return settings.secret


def actions(config: Config) -> Iterator[Action]:
    """Every fence and hook of every site of every service."""
    for service in config.services:
        for name in SiteName:
            site = service.site(name)
            if site.fence is not None:
                yield site.fence
            for phase in PHASES:
                yield from site.hooks.of(phase)


def ssm_use(config: Config, action: SsmAction) -> SsmUse:
    tags = tuple(sorted((k, tuple(sorted(v))) for k, v in (action.targets or {}).items()))
    return SsmUse(
        region=action.region or config.home_region,
        document=action.document,
        instance_ids=tuple(sorted(action.instance_ids or ())),
        tags=tags,
    )


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
        for route in service.voip:
            provider = config.voip_providers.get(route.provider)
            if provider is not None:
                secrets.add(voip_secret(provider))
    uses: set[SsmUse] = set()
    for action in actions(config):
        if isinstance(action, WebhookAction):
            secrets.add(action.secret)
        else:
            uses.add(ssm_use(config, action))
    gates = {
        s.failback.gate.secret
        for s in config.services
        if s.failback.gate is not None and s.failback.gate.secret
    }
    channels = {channel_secret(c) for c in config.notifications.channels} - {None}
    return Needs(
        sorted(zones), sorted(secrets), sorted(gates), sorted(uses), sorted(map(str, channels))
    )
