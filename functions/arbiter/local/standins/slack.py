"""A local stand-in for a Slack incoming webhook on 127.0.0.1.

It answers as Slack documents ("Sending messages using incoming webhooks", "Handling errors"):

- ``POST /services/<team>/<bot>/<token>`` with a JSON body; the webhook it knows answers
  ``200`` with the plain-text body ``ok``; any other path is ``404 no_service``;
- a body that is not a JSON object is ``400 invalid_payload``; one with neither ``text`` nor
  ``blocks`` is ``400 no_text``; a ``header`` block over 150 characters or a ``section`` text
  over 3,000 is ``400 invalid_blocks``;
- errors are plain text (a code), as Slack's are.

Fault injection: ``refuse(n, status, code)`` (one of Slack's documented answers, e.g. 410
``channel_is_archived``), ``throttle(n, retry_after)`` (429 with ``Retry-After``; the body
``rate_limited`` is this stand-in's choice), ``fail(n, status)`` (an edge's HTML page),
``stall(n, seconds)``, ``redirect(n)``. ``posts`` keeps every message accepted.

    with SlackStandIn() as slack:
        slack.webhook_url  # http://127.0.0.1:PORT/services/T0.../B0.../...
"""

from __future__ import annotations

from typing import Any

from arbiter.local.standins.http import Canned, HttpStandIn, Seen

DEFAULT_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"


def text(status: int, body: str, **headers: str) -> Canned:
    return Canned(status, body.encode(), dict(headers), content_type="text/html")


class SlackStandIn(HttpStandIn):
    def __init__(self, path: str = DEFAULT_PATH) -> None:
        super().__init__()
        self.path = path
        self.posts: list[dict[str, Any]] = []

    @property
    def webhook_url(self) -> str:
        return self.base("api") + self.path

    def refuse(self, n: int, status: int, code: str) -> None:
        self._set_faults([text(status, code)] * n)

    def throttle(self, n: int, retry_after: str | None = "1") -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._set_faults([text(429, "rate_limited", **headers)] * n)

    def _too_large(self) -> Canned:
        return text(413, "request_too_large")

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        if seen.method != "POST" or seen.path != self.path:
            return text(404, "no_service")
        body = seen.json
        if seen.malformed or not isinstance(body, dict):
            return text(400, "invalid_payload")
        if not body.get("text") and not body.get("blocks"):
            return text(400, "no_text")
        for block in body.get("blocks") or []:
            limit = {"header": 150, "section": 3000}.get(str(block.get("type")))
            said = (block.get("text") or {}).get("text", "")
            if limit is not None and (not isinstance(said, str) or len(said) > limit):
                return text(400, "invalid_blocks")
        self.posts.append(body)
        return text(200, "ok")
