"""Fences and hooks as signed webhooks (the rules are the port's: ``actions/__init__.py``).

Each call is a POST of ``ActionCall.payload()`` signed as ``adapters/hooks.py`` says, with
``X-Arbiter-Idempotency-Key: <service>/<transition>/<step>``: every retry and every poll of one
step of one switch carries the same key, so the receiver runs the operator's script once and
answers the later calls from what it recorded.

How an answer is read, in this order:

- 2xx with a JSON object whose ``status`` is ``failed``: refused (its ``detail`` says why);
- 2xx with ``status: pending``: asked again after POLL seconds;
- 2xx holding every key and value of ``expect`` (``{}``: any 2xx, even an empty body): done;
- any other 2xx: refused, naming what ``expect`` missed;
- 429 and 5xx (after ``Retry-After``, if longer than POLL), a timeout, a refused connection:
  asked again until the action's timeout;
- 3xx (never followed) and any other 4xx: refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from arbiter.adapters.actions import POLL, ActionCall, ActionDone, ActionRefused, ActionTimedOut
from arbiter.adapters.hooks import Reply, Stamps, encode, post, signed_headers
from arbiter.adapters.http import mask, retry_after
from arbiter.core.config import Action, ExpectValue, WebhookAction
from arbiter.core.errors import FatalError, ProviderError

DETAIL_LIMIT = 200
"""Characters of a site's ``detail`` kept in a result or an error."""
LINES_LIMIT = 20
"""Report lines kept from an answer's ``lines``."""


@dataclass
class _Again:
    """Not confirmed yet: what was seen, and the least wait before the next call."""

    seen: str
    wait: float = 0.0


@dataclass
class _Done:
    detail: str
    lines: list[str] = field(default_factory=list)


class WebhookActions:
    """``secret(name)``: a signing key from Secrets Manager. ``poll``, ``sleep``, ``clock``
    (``time.monotonic``, which the runbook's deadline is on) and ``wall`` (for the
    timestamps) are parameters so tests run hours of polling in no time."""

    def __init__(
        self,
        secret: Callable[[str], bytes],
        *,
        poll: float = POLL,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if poll <= 0:
            raise ValueError("poll must be positive")
        self._secret = secret
        self._poll = poll
        self._sleep = sleep
        self._clock = clock
        self._stamps = Stamps(wall)

    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        """``pending``/``remember`` are SSM's (a command id to wait on): a webhook's pending
        work is found again by its idempotency key."""
        if not isinstance(action, WebhookAction):
            raise FatalError(f"the webhook runner was given a {action.type} action")
        key = self._secret(action.secret)
        body = encode(call.payload())
        where = _where(action.url)
        secrets = [key.decode("utf-8", "replace"), urlsplit(action.url).password or ""]
        started = self._clock()
        end = min(started + timeout, deadline)
        seen = "no answer yet"
        calls = 0
        # Each pass sleeps at least ``poll`` or ends: bounded by the timeout, and by count.
        for _ in range(int(timeout / self._poll) + 2):
            left = end - self._clock()
            if left <= 0:
                break
            calls += 1
            try:
                verdict = self._once(action, call, key, body, min(action.call_timeout, left))
            except ProviderError as exc:  # unreachable, timed out
                verdict = _Again(mask(str(exc), secrets))
            except FatalError as exc:  # an answer over the size limit
                raise ActionRefused(mask(str(exc), secrets)) from None
            if isinstance(verdict, _Done):
                return ActionDone(
                    mask(verdict.detail, secrets),
                    self._clock() - started,
                    [mask(line, secrets) for line in verdict.lines],
                )
            if isinstance(verdict, ActionRefused):
                raise ActionRefused(f"{where} {mask(str(verdict), secrets)}")
            seen = mask(verdict.seen, secrets)
            pause = max(self._poll, verdict.wait)
            if self._clock() + pause >= end:
                break
            self._sleep(pause)
        raise ActionTimedOut(
            f"{where}: no confirmation within {timeout:g} s ({calls} call"
            f"{'' if calls == 1 else 's'}); last: {seen}"
        )

    def _once(
        self, action: WebhookAction, call: ActionCall, key: bytes, body: bytes, timeout: float
    ) -> _Done | _Again | ActionRefused:
        headers = signed_headers(key, body, self._stamps.next(), call.idempotency_key)
        reply = post(action.url, body, headers, timeout, action.verify_tls, label="webhook")
        return judge(reply, action.expect)


def judge(reply: Reply, expect: dict[str, ExpectValue]) -> _Done | _Again | ActionRefused:
    """What one answer means (the rules in the module's docstring)."""
    status = reply.status
    if status == 429 or status >= 500:
        wait = retry_after(reply.retry_after)
        hint = f" (Retry-After {wait:g} s)" if wait is not None else ""
        return _Again(f"HTTP {status}{hint}{_said(reply.body)}", wait or 0.0)
    if 300 <= status < 400:
        return ActionRefused(
            f"answered HTTP {status}, a redirect, not followed (check the action's url)"
        )
    if not 200 <= status < 300:
        return ActionRefused(f"answered HTTP {status}{_said(reply.body)}")
    answer = _object(reply.body)
    if answer is not None and answer.get("status") == "failed":
        exit_code = answer.get("exit")
        code = f" (exit {exit_code})" if isinstance(exit_code, int) else ""
        return ActionRefused(f"answered failed: {_detail(answer) or 'no detail'}{code}")
    if answer is not None and answer.get("status") == "pending":
        detail = _detail(answer)
        return _Again("pending" + (f": {detail}" if detail else ""))
    missing = _unmet(answer, expect)
    if missing:
        detail = _detail(answer) if answer is not None else ""
        return ActionRefused(
            f"answered HTTP {status} without what expect asks: {'; '.join(missing)}"
            + (f" (detail: {detail})" if detail else "")
        )
    return _Done(_detail(answer) or f"confirmed (HTTP {status})", _lines(answer))


def _unmet(answer: dict[str, Any] | None, expect: dict[str, ExpectValue]) -> list[str]:
    """What ``answer`` lacks of ``expect``, one entry per key."""
    if not expect:
        return []
    if answer is None:
        return ["the answer is not a JSON object"]
    unmet = []
    for name, wanted in expect.items():
        if name not in answer:
            unmet.append(f"{name} is missing (expected {json.dumps(wanted)})")
        elif not _same(answer[name], wanted):
            shown = json.dumps(answer[name])[:60]
            unmet.append(f"{name} is {shown} (expected {json.dumps(wanted)})")
    return unmet


def _same(have: Any, wanted: ExpectValue) -> bool:
    """JSON equality: ``true`` is not ``1``; ``1`` and ``1.0`` are the same number."""
    if isinstance(wanted, bool) or isinstance(have, bool):
        return have is wanted
    if isinstance(wanted, int):
        return isinstance(have, int | float) and have == wanted
    return isinstance(have, str) and have == wanted


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:DETAIL_LIMIT]


def _detail(answer: dict[str, Any] | None) -> str:
    if answer is None:
        return ""
    for name in ("detail", "error", "message", "reason"):
        if isinstance(answer.get(name), str) and answer[name].strip():
            return _one_line(answer[name])
    return ""


def _said(body: bytes) -> str:
    """An error answer's own words, if it has some."""
    answer = _object(body)
    if answer is not None:
        detail = _detail(answer)
    else:
        detail = _one_line(body.decode("utf-8", "replace")) if body.strip() else ""
    return f": {detail}" if detail else ""


def _lines(answer: dict[str, Any] | None) -> list[str]:
    lines = answer.get("lines") if answer is not None else None
    if not isinstance(lines, list):
        return []
    return [_one_line(line) for line in lines[:LINES_LIMIT] if isinstance(line, str)]


def _where(url: str) -> str:
    """The endpoint's host and port: enough to tell which one, never a credential."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    shown = f"[{host}]" if ":" in host else host
    return f"webhook at {shown}" + (f":{parts.port}" if parts.port else "")
