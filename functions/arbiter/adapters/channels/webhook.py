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
from arbiter.adapters.hooks import Stamps, encode, post, signed_headers
from arbiter.adapters.http import MAX_RETRY_AFTER, RetryLater, mask, retry_after
from arbiter.core.config import WebhookChannel
from arbiter.core.errors import ProviderError, ProviderRejected
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
        key = self._deps.secret(self.settings.secret)
        body = encode(payload(alert))
        clock, timeout = self._deps.clock, self.settings.call_timeout
        end = clock() + timeout
        last: ProviderError = RetryLater(f"{self.label}: no time left to call")
        for attempt in range(1, ATTEMPTS + 1):
            left = end - clock()
            if left <= 0:
                break
            headers = signed_headers(key.encode(), body, self._stamps.next(), alert.key)
            try:
                with hidden_in_logs(*_where(self.settings.url)):
                    reply = post(
                        self.settings.url,
                        body,
                        headers,
                        min(timeout, left),
                        self.settings.verify_tls,
                        label=self.label,
                    )
            except ProviderError as exc:
                last = exc
            else:
                if 200 <= reply.status < 300:
                    return Sent(f"HTTP {reply.status}")
                said = mask(_said(reply.body), [key, self.settings.url])
                if reply.status != 429 and reply.status < 500:
                    redirect = " (a redirect, not followed)" if reply.status < 400 else ""
                    raise ProviderRejected(f"{self.label}: HTTP {reply.status}{redirect}{said}")
                wait = retry_after(reply.retry_after)
                hint = f" (Retry-After {wait:g} s)" if wait is not None else ""
                last = RetryLater(f"{self.label}: HTTP {reply.status}{hint}{said}", wait)
            if attempt == ATTEMPTS:
                break
            asked = getattr(last, "retry_after", None)
            pause = asked if asked is not None else 0.5 * 2 ** (attempt - 1)
            if pause > MAX_RETRY_AFTER or clock() + pause >= end:
                break
            self._deps.sleep(pause)
        raise last


def _where(url: str) -> list[str]:
    """The URL's parts urllib3 logs that may carry a token: its path and query."""
    parts = urlsplit(url)
    return [p for p in (parts.path + (f"?{parts.query}" if parts.query else ""), parts.query) if p]


def _said(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())[:200]
    return f": {text}" if text else ""
