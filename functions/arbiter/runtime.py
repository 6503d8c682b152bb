"""The composition root: builds the config and the adapters from the environment, lazily.

Handlers call ``current()``; nothing is built at import. Tests and the local demo install a
runtime of their own with ``install()``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arbiter.adapters.actions import ActionRunner, Actions
from arbiter.adapters.dns import Deps, DnsProvider, Providers
from arbiter.adapters.hooks import SecretKeys, WebhookClient
from arbiter.adapters.invoker import ActInvoker, LambdaActInvoker
from arbiter.adapters.leadership import DynamoLeadership, Leadership, Solo
from arbiter.adapters.notify import Notifier, SnsNotifier
from arbiter.adapters.store import DynamoStore, ReplicaWriter, Store
from arbiter.adapters.voip import VoipProvider, VoipProviders
from arbiter.core.config import LAMBDA_MAX_TIMEOUT, Config, load_config, parse_config
from arbiter.core.errors import FatalError


class MissingSetting(FatalError):
    """A required environment variable is not set."""


@dataclass
class Runtime:
    config: Config
    store: Store
    notifier: Notifier
    invoker: ActInvoker
    dns: Mapping[str, DnsProvider]
    """The config's DNS providers by name (``Providers``, or a plain dict in tests)."""
    region: str
    hooks: WebhookClient = field(default_factory=lambda: WebhookClient(None))
    authority: Any = None
    """Asks a zone's authoritative servers (``adapters/dns/authority.py``); None: the real
    one, built on first use."""
    voip: Mapping[str, VoipProvider] = field(default_factory=dict)
    """The config's VoIP providers by name (``VoipProviders``, or a plain dict in tests)."""
    actions: ActionRunner | None = None
    """Runs fences and hooks (``adapters/actions``); None: none can run (a config with
    fences or hooks needs one)."""
    channels: Mapping[str, Any] | None = None
    """The config's alert channels by name (``adapters/channels``: ``Channels``, or a plain
    dict of fakes in tests); None: built on first use by ``channels_factory``."""
    channels_factory: Callable[[], Mapping[str, Any]] | None = None
    leadership: Leadership = field(default_factory=Solo)
    """Whether this control region leads (``adapters/leadership.py``); ``Solo`` without
    standby regions."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The only clock the functions read; the demo and the simulator install a virtual one."""
    sleep: Callable[[float], None] = time.sleep

    def dns_authority(self) -> Any:
        if self.authority is None:
            from arbiter.adapters.dns.authority import DnsAuthority

            self.authority = DnsAuthority()
        return self.authority

    def alert_channels(self) -> Mapping[str, Any]:
        """The channels, built (and their code imported) only by the function that sends."""
        if self.channels is None:
            if self.channels_factory is None:
                raise FatalError("no alert channels are configured for this runtime")
            self.channels = self.channels_factory()
        return self.channels

    def action_runner(self) -> ActionRunner:
        if self.actions is None:
            raise FatalError("no action runner is configured for fences and hooks")
        return self.actions


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set")
    return value


def config_from_env() -> Config:
    """The config file named by ``ARBITER_CONFIG_FILE``. In the asset it is JSON validated at
    synth time, with its pickle beside it (``core/config_pickle.py``), which loads without
    building any validator."""
    path = Path(_env("ARBITER_CONFIG_FILE"))
    if not path.is_absolute():
        path = Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / path
    if path.suffix == ".json":
        from arbiter.core import config_pickle

        return config_pickle.load(path) or parse_config(
            json.loads(path.read_text(encoding="utf-8")), str(path)
        )
    return load_config(str(path))


PROBE_TABLE_CONNECT = 1.0
PROBE_TABLE_READ = 1.0
"""The probe's table client: connect and read timeouts (seconds) and one attempt per call, so a
stalled PutItem fails after at most their sum. services/probe.py tries again while a whole
attempt still fits in the round's budget (``core/schedule.py::round_budget``)."""


def _client(service: str, region: str | None = None) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    if service == "dynamodb" and _in_probe():
        config = BotoConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=PROBE_TABLE_CONNECT,
            read_timeout=PROBE_TABLE_READ,
        )
    else:
        config = BotoConfig(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5)
    return boto3.client(service, region_name=region, config=config)


def _in_probe() -> bool:
    """Only the probe function has a region label (infra's ProbeStack sets it)."""
    return bool(os.environ.get("ARBITER_REGION_LABEL"))


def _drill_client() -> Any:
    """The override function's Lambda client for a drill: waits for the act function's answer
    (up to Lambda's 15 minutes) and never retries (a retried drill runs twice)."""
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=LAMBDA_MAX_TIMEOUT + 60,
    )
    return boto3.client("lambda", config=config)


def from_env() -> Runtime:
    config = config_from_env()
    home = os.environ.get("ARBITER_TABLE_REGION") or config.home_region
    region = os.environ.get("ARBITER_REGION_LABEL") or os.environ.get("AWS_REGION", home)
    table = _env("ARBITER_TABLE")
    topic = os.environ.get("ARBITER_TOPIC_ARN", "")
    act = os.environ.get("ARBITER_ACT_FUNCTION", "")
    keys = SecretKeys(
        lambda: _client("secretsmanager", home), lambda r: _client("ssm", r or home), home
    )
    deps = Deps(aws=_client, secret=lambda name: keys.get(name).decode())
    return Runtime(
        config=config,
        store=_store(table, home),
        leadership=_leadership(config, home),
        notifier=SnsNotifier(topic, lambda: _client("sns")),
        invoker=LambdaActInvoker(act, lambda: _client("lambda"), _drill_client),
        dns=Providers(config, deps),
        region=region,
        hooks=WebhookClient(keys),
        voip=VoipProviders(config, deps),
        actions=Actions(keys.get, _client, config.home_region),
        channels_factory=lambda: channels_from(config, deps.secret),
    )


def _store(table: str, home: str) -> Store:
    """The table in this region (a control region: its own replica), or, for a probe, the
    replicas in ``ARBITER_TABLE_REGIONS`` in order: a round is written to the first that
    takes it, and replication carries it to the others."""
    regions = [r for r in os.environ.get("ARBITER_TABLE_REGIONS", "").split(",") if r]
    if len(regions) < 2:
        return DynamoStore(table, lambda: _client("dynamodb", home))
    return ReplicaWriter(
        [DynamoStore(table, lambda r=r: _client("dynamodb", r)) for r in regions]  # type: ignore[misc]
    )


def _leadership(config: Config, region: str) -> Leadership:
    """With standby regions, the lease table's replica in this control region."""
    table = os.environ.get("ARBITER_LEASE_TABLE")
    if not table:
        return Solo(region)
    return DynamoLeadership(
        table, lambda: _client("dynamodb", region), region, config.lease_seconds
    )


def channels_from(
    config: Config, secret: Callable[[str], str], region: str | None = None
) -> Mapping[str, Any]:
    """The config's alert channels: secrets through ``secret``, the chatbot channel's topic
    from ``ARBITER_CHATBOT_TOPIC_ARN``. Imported here, not at the top: only the notify
    function (and ``arbiter notify-test``) sends to channels."""
    from arbiter.adapters.channels import ChannelDeps, Channels

    deps = ChannelDeps(
        secret=secret,
        app=config.app,
        aws=lambda name: _client(name, region),
        chatbot_topic=os.environ.get("ARBITER_CHATBOT_TOPIC_ARN", ""),
    )
    return Channels(config, deps)


_current: Runtime | None = None


def current() -> Runtime:
    global _current
    if _current is None:
        _current = from_env()
    return _current


def install(runtime: Runtime | None) -> None:
    """Use this runtime from now on (None: build from the environment on next use)."""
    global _current
    _current = runtime
