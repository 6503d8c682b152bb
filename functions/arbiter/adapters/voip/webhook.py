"""Any VoIP provider behind the operator's own endpoint: signed webhooks (``hooks.py``).

- read: ``{"event": "voip", "action": "read", "numbers": [...], "dry_run": true, ...}``,
  answered ``{"ok": true, "current": {"<number>": "<target>", ...}}``. A number absent from
  ``current`` (or no ``current`` at all) is unknown: it is left out of the result, and the
  runbook then routes it anyway;
- apply: ``{"event": "voip", "action": "route", "numbers": [...], "target": "...",
  "idempotency_key": key, "dry_run": false, ...}`` with ``X-Arbiter-Idempotency-Key: key``,
  answered ``{"ok": true}``. ``{"status": "pending"}`` is asked again (same key) every POLL
  seconds for up to PENDING_WAIT seconds, then the step is retried;
- ``{"ok": false, "detail": ...}``, ``{"status": "failed"}``, a 3xx or a 4xx raise
  ``ProviderRejected`` with the endpoint's ``detail``; a timeout, a refused connection, 429
  (after its ``Retry-After``) and 5xx are tried again within the provider's ``timeout``, then
  raise ``ProviderError`` (retryable).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from arbiter.adapters.actions import POLL
from arbiter.adapters.hooks import Stamps, encode, json_object, post_signed
from arbiter.adapters.http import mask
from arbiter.core.config import WebhookVoipProvider
from arbiter.core.errors import ProviderError, ProviderRejected

if TYPE_CHECKING:
    from arbiter.core.runbook import VoipItem, VoipStep

PENDING_WAIT = 30.0
"""Seconds an apply answered ``pending`` is polled before the step is retried: with a read
before and after, a route stays inside the 60 s the act function allows it."""
DETAIL_LIMIT = 200


class WebhookVoip:
    def __init__(
        self,
        name: str,
        settings: WebhookVoipProvider,
        secret: Callable[[str], str],
        *,
        attempts: int = 3,
        poll: float = POLL,
        pending_wait: float = PENDING_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.label = f"{name} (webhook)"
        self.settings = settings
        self._secret = secret
        self.attempts = attempts
        self._poll = poll
        self._pending_wait = pending_wait
        self._sleep = sleep
        self._clock = clock
        self._stamps = Stamps(wall)

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        numbers = [item.item for item in step.items]
        answer = self._call(
            "read",
            {
                "event": "voip",
                "action": "read",
                "provider": self.name,
                "step": step.name,
                "numbers": numbers,
                "dry_run": True,
            },
            key=None,
        )
        current = answer.get("current")
        if not isinstance(current, dict):
            return {}
        return {n: {"target": current[n]} for n in numbers if isinstance(current.get(n), str)}

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        """One call per target (a route has one per site, so one call); a second target's
        call gets its own key (``key#2``)."""
        by_target: dict[str, list[str]] = {}
        for change in changes:
            by_target.setdefault(str(change.fields["target"]), []).append(change.item)
        for n, (target, numbers) in enumerate(by_target.items(), start=1):
            this_key = key if n == 1 else f"{key}#{n}"
            self._call(
                "route",
                {
                    "event": "voip",
                    "action": "route",
                    "provider": self.name,
                    "step": step.name,
                    "numbers": numbers,
                    "target": target,
                    "dry_run": False,
                    "idempotency_key": this_key,
                },
                key=this_key,
            )

    def _call(self, op: str, payload: dict[str, Any], key: str | None) -> dict[str, Any]:
        """The endpoint's confirmation of one call, polled while it says ``pending``."""
        secret = self._secret(self.settings.secret)
        body = encode(payload)
        give_up = self._clock() + self._pending_wait
        # Each pass ends, or sleeps ``poll`` seconds towards ``give_up``: bounded.
        for _ in range(int(self._pending_wait / self._poll) + 2):
            answer = self._answer(op, body, key, secret)
            said = _detail(answer)
            if answer.get("ok") is False or answer.get("status") == "failed":
                raise ProviderRejected(
                    mask(f"{self.label} {op}: {said or 'refused, no detail'}", [secret])
                )
            if answer.get("status") != "pending":
                if answer.get("ok") is not True:
                    raise ProviderRejected(f'{self.label} {op}: the answer has no "ok": true')
                return answer
            if self._clock() + self._poll >= give_up:
                break
            self._sleep(self._poll)
        raise ProviderError(
            f"{self.label} {op}: still pending after {self._pending_wait:g} s (the step is "
            "retried with the same idempotency key)"
        )

    def _answer(self, op: str, body: bytes, key: str | None, secret: str) -> dict[str, Any]:
        """One answer, tried again on what may pass while ``timeout`` lasts (as HttpApi)."""
        label = f"{self.label} {op}"
        reply = post_signed(
            self.settings.url,
            body,
            secret,
            key,
            stamps=self._stamps,
            timeout=self.settings.timeout,
            verify_tls=self.settings.verify_tls,
            label=label,
            attempts=self.attempts,
            said=_said,
            clock=self._clock,
            sleep=self._sleep,
        )
        return json_object(reply.body, label)


def _detail(answer: dict[str, Any]) -> str:
    for name in ("detail", "error", "message", "reason"):
        value = answer.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:DETAIL_LIMIT]
    return ""


def _said(body: bytes) -> str:
    try:
        answer = json_object(body)
    except ProviderRejected:
        text = " ".join(body.decode("utf-8", "replace").split())[:DETAIL_LIMIT]
        return f": {text}" if text else ""
    detail = _detail(answer)
    return f": {detail}" if detail else ""
