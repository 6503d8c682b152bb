"""Alert channels besides email: the port the notify function sends through, and a registry
keyed by the config's ``notifications.channels[].type``.

Every channel follows one contract (``tests/contract/test_channel_*.py``):

- ``send(alert)`` delivers one alert and returns ``Sent`` (what the channel answered), or
  ``Sent(skipped=True)`` when the channel has nothing to do with it (a PagerDuty channel with
  change events off and an alert that opens no incident);
- a refusal (bad credentials, a removed webhook, a malformed message) raises
  ``ProviderRejected``; throttling, 5xx answers, timeouts and an unreachable endpoint raise
  ``ProviderError`` after the channel's own bounded retries. Neither ever carries a secret
  (a routing key, a Slack webhook URL, a signing key), nor does anything logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from arbiter.adapters.http import mask
from arbiter.core.config import Config

if TYPE_CHECKING:
    from arbiter.core.model import Alert


@dataclass(frozen=True)
class Sent:
    detail: str
    """What the channel answered, shortly (``HTTP 200``, ``dedup_key arbiter/web/degraded``)."""
    skipped: bool = False


class AlertChannel(Protocol):
    name: str
    label: str
    """``<name> (<type>)``, for messages."""

    def send(self, alert: Alert) -> Sent: ...


@dataclass
class ChannelDeps:
    """What building a channel needs from the outside world."""

    secret: Callable[[str], str]
    """A secret's value by name or ARN (Secrets Manager in the functions)."""
    app: str = "arbiter"
    aws: Callable[[str], Any] = field(default=lambda name: None)
    """A boto3 client by service name (the chatbot channel's SNS)."""
    chatbot_topic: str = ""
    """The ARN of the topic AWS Chatbot listens to (env ``ARBITER_CHATBOT_TOPIC_ARN``)."""
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class _Masked(logging.Filter):
    """Rewrites log records that name a secret (urllib3 logs each request's path)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            masked = mask(text, self.secrets)
            if masked != text:
                record.msg, record.args = masked, ()
        return True


_MASK = _Masked()
logging.getLogger("urllib3.connectionpool").addFilter(_MASK)


@contextmanager
def hidden_in_logs(*secrets: str) -> Iterator[None]:
    """While this runs, urllib3's DEBUG lines (which name each request's path and query) show
    ``***`` instead of any of ``secrets``."""
    with _MASK.lock:
        _MASK.secrets.update(s for s in secrets if s)
    try:
        yield
    finally:
        with _MASK.lock:
            _MASK.secrets.difference_update(secrets)


def _webhook(settings: Any, deps: ChannelDeps) -> AlertChannel:
    from arbiter.adapters.channels.webhook import WebhookChannelSender

    return WebhookChannelSender(settings, deps)


def _slack(settings: Any, deps: ChannelDeps) -> AlertChannel:
    from arbiter.adapters.channels.slack import SlackChannelSender

    return SlackChannelSender(settings, deps)


def _pagerduty(settings: Any, deps: ChannelDeps) -> AlertChannel:
    from arbiter.adapters.channels.pagerduty import PagerDutyChannelSender

    return PagerDutyChannelSender(settings, deps)


def _chatbot(settings: Any, deps: ChannelDeps) -> AlertChannel:
    from arbiter.adapters.channels.chatbot import ChatbotChannelSender

    return ChatbotChannelSender(settings, deps)


CHANNEL_SENDERS: dict[str, Callable[[Any, ChannelDeps], AlertChannel]] = {
    "webhook": _webhook,
    "slack": _slack,
    "pagerduty": _pagerduty,
    "chatbot": _chatbot,
}
"""The adapter of each channel ``type``; imported only when a config uses it."""


class Channels(Mapping[str, AlertChannel]):
    """The config's channels by name, in config order, each built on first use."""

    def __init__(
        self, config: Config, deps: ChannelDeps, overrides: dict[str, AlertChannel] | None = None
    ) -> None:
        self._settings = {c.name: c for c in config.notifications.channels}
        self._deps = deps
        self._built: dict[str, AlertChannel] = dict(overrides or {})

    def __getitem__(self, name: str) -> AlertChannel:
        if name not in self._built:
            settings = self._settings[name]
            self._built[name] = CHANNEL_SENDERS[settings.type](settings, self._deps)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._settings, *(n for n in self._built if n not in self._settings)])

    def __len__(self) -> int:
        return len(list(iter(self)))
