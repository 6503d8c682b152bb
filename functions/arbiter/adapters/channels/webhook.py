"""The generic JSON webhook channel: every alert as one signed POST.

The body is ``{"service", "kind", "severity", "action", "incident", "subject", "text", "at",
"key"}`` (``action``: trigger, resolve or notify; ``key``: the alert's dedupe key, the same on
a redelivery, so a receiver can drop a repeat). It is signed as every Arbiter webhook is
(``adapters/hooks.py``: ``X-Arbiter-Timestamp``, ``X-Arbiter-Signature``), with the key in the
channel's ``secret``; the alert's key also travels as ``X-Arbiter-Idempotency-Key``.

Any 2xx is success. 429 (waiting for ``Retry-After``), 5xx, timeouts and connection failures
are tried again while ``call_timeout`` allows, each attempt signed afresh (a receiver refuses
a signature it has seen); any other answer is a refusal. The URL and key never appear in a
message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from arbiter.adapters.channels import ChannelDeps, Sent, hidden_in_logs
from arbiter.adapters.hooks import Stamps, encode, post_signed
from arbiter.core.config import WebhookChannel
from arbiter.core.model import Alert

ATTEMPTS = 3


def payload(alert: Alert) -> dict[str, Any]:
    return {
        "service": alert.service,
        "kind": alert.kind,
        "severity": alert.severity,
        "action": alert.action,
        "incident": alert.incident,
        "subject": alert.subject,
        "text": alert.body,
        "at": alert.at.isoformat(),
        "key": alert.key,
    }


class WebhookChannelSender:
    def __init__(self, settings: WebhookChannel, deps: ChannelDeps) -> None:
        self.name = settings.name
        self.label = f"{settings.name} (webhook)"
        self.settings = settings
        self._deps = deps
        self._stamps = Stamps()

    def send(self, alert: Alert) -> Sent:
        url = self.settings.url
        with hidden_in_logs(*_where(url)):
            reply = post_signed(
                url,
                encode(payload(alert)),
                self._deps.secret(self.settings.secret),
                alert.key,
                stamps=self._stamps,
                timeout=self.settings.call_timeout,
                verify_tls=self.settings.verify_tls,
                label=self.label,
                attempts=ATTEMPTS,
                said=_said,
                clock=self._deps.clock,
                sleep=self._deps.sleep,
                secrets=[url],
            )
        return Sent(f"HTTP {reply.status}")


def _where(url: str) -> list[str]:
    """The URL's parts urllib3 logs that may carry a token: its path and query."""
    parts = urlsplit(url)
    return [p for p in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.query) if p]


def _said(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())[:200]
    return f": {text}" if text else ""
