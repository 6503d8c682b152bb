"""Slack through an incoming webhook. The webhook's URL is the credential: it lives in the
secret ``webhook_url_secret`` and never appears in a message or a log line (urllib3's DEBUG
lines name the request's path, which holds the token: they are masked while a call runs).

Each alert is one POST of ``{"text": <subject>, "blocks": [...]}`` (Slack's "Sending messages
using incoming webhooks"): a ``header`` block with the subject (plain text, at most 150
characters), and a ``section`` whose ``mrkdwn`` text names the severity (an emoji and the word)
and holds the body as a preformatted block (at most 3,000 characters); ``&``, ``<`` and ``>``
are escaped as Slack asks. ``text`` is what notifications and old clients show.

Slack answers ``200 ok``, or an HTTP error whose plain-text body is a code (Slack's "Handling
errors"): 400 ``invalid_payload`` / ``user_not_found`` / ``no_text``, 403 ``action_prohibited``
/ ``invalid_token`` / ``posting_to_general_channel_denied``, 404 ``channel_not_found`` /
``no_service``, 410 ``channel_is_archived``, 500 ``rollup_error``; each becomes one line saying
what to do. 429 (``Retry-After``) and 5xx are retried while ``call_timeout`` allows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from arbiter.adapters.channels import ChannelDeps, Sent, hidden_in_logs
from arbiter.adapters.http import Answer, HttpApi
from arbiter.core.config import SlackChannel
from arbiter.core.errors import ProviderRejected
from arbiter.core.model import Alert

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":warning:",
    "info": ":information_source:",
}
RESOLVED = ":white_check_mark:"
ERRORS = {
    "invalid_payload": "Slack could not read the message (invalid_payload)",
    "user_not_found": "the webhook's user does not exist (user_not_found)",
    "no_text": "the message had no text (no_text)",
    "action_prohibited": "the workspace forbids this webhook to post here (action_prohibited)",
    "invalid_token": "the webhook's token is invalid (invalid_token): make a new webhook",
    "posting_to_general_channel_denied": "posting to #general is restricted "
    "(posting_to_general_channel_denied)",
    "channel_not_found": "the webhook's channel no longer exists (channel_not_found): "
    "make a new webhook",
    "no_service": "Slack knows no such webhook (no_service): it was removed or disabled; "
    "make a new one",
    "channel_is_archived": "the webhook's channel is archived (channel_is_archived)",
    "rollup_error": "Slack failed on its side (rollup_error)",
}


def escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(alert: Alert) -> dict[str, Any]:
    emoji = RESOLVED if alert.resolves else EMOJI[alert.severity]
    state = "resolved" if alert.resolves else alert.severity
    head = f"{emoji} *{state}*" + (f"  ·  {escape(alert.service)}" if alert.service else "")
    room = SECTION_LIMIT - len(head) - 10
    body = escape(alert.body.rstrip("\n").replace("```", "'''"))
    if len(body) > room:
        body = body[: room - 3] + "..."
    title = alert.subject if len(alert.subject) <= HEADER_LIMIT else alert.subject[:147] + "..."
    return {
        "text": escape(alert.subject),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n```{body}```"}},
        ],
    }


def describe(answer: Answer) -> str:
    """Slack's plain-text code as a sentence (an unknown code as Slack wrote it)."""
    said = answer.body if isinstance(answer.body, str) else ""
    code = " ".join(said.split())[:100]
    return ERRORS.get(code, code)


class SlackChannelSender:
    def __init__(self, settings: SlackChannel, deps: ChannelDeps) -> None:
        self.name = settings.name
        self.label = f"{settings.name} (slack)"
        self.settings = settings
        self._deps = deps
        self._api: HttpApi | None = None
        self._url = ""

    def _client(self) -> HttpApi:
        if self._api is None:
            self._url = self._deps.secret(self.settings.webhook_url_secret).strip()
            parts = urlsplit(self._url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ProviderRejected(
                    f"{self.label}: the value of secret {self.settings.webhook_url_secret!r} "
                    "is not a webhook URL (https://hooks.slack.com/services/...)"
                )
            self._api = HttpApi(
                self.label,
                self._url,
                dict,
                self.settings.call_timeout,
                describe=describe,
                sleep=self._deps.sleep,
                clock=self._deps.clock,
            )
        return self._api

    def send(self, alert: Alert) -> Sent:
        api = self._client()
        path = urlsplit(self._url).path
        with hidden_in_logs(self._url, path):
            answer = api.call(
                "POST", api.base_url, op="post", body=message(alert), secrets=[self._url, path]
            )
        return Sent(f"HTTP {answer.status}")
