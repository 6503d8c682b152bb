"""One way to call an HTTP provider API (Cloudflare, PowerDNS, and the VoIP providers).

- Every call has a total deadline over connect, headers and body: the connection is cut when
  it passes (``checks/deadline.py``), so a server that drips its answer cannot hold a runbook.
- 429 (honouring ``Retry-After``), 5xx, timeouts and connection failures are retryable: the
  call tries again while its attempts and its deadline allow, then raises ``ProviderError``
  (whose ``retry_after`` tells the runbook how long the provider asked it to wait).
- Any other 4xx is fatal (``ProviderRejected``) with the provider's own message, which each
  adapter extracts from its error body (``describe``).
- Redirects are never followed (a 3xx is fatal): a credential header must not travel to
  another host, and an API that moved is a config to fix.
- No secret ever reaches an error: messages name the operation and the provider's words, and
  any secret value the request carried is masked out of them. Nothing here logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import arbiter
from arbiter.core.errors import ProviderError, ProviderRejected

if TYPE_CHECKING:
    import requests

# requests and urllib3 are imported by the first call: the notify function imports this module
# (``mask``) on every run, and sends an email-only alert without any HTTP call.

BODY_LIMIT = 4 * 1024 * 1024
"""Bytes of an answer read at most; a provider's JSON answers are far smaller."""
MAX_RETRY_AFTER = 60.0
"""A ``Retry-After`` longer than this is not waited for inside a call."""


@dataclass
class Answer:
    status: int
    body: Any
    """The parsed JSON (None for an empty body; the text if it is not JSON)."""
    headers: Mapping[str, str]


class RetryLater(ProviderError):
    """The provider asked us to slow down or failed on its side; ``retry_after`` (seconds) is
    what it asked for, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class HttpApi:
    """``label`` names the provider in messages; ``base_url`` is where its API lives (every
    adapter takes an override, so tests point it at a local stand-in)."""

    def __init__(
        self,
        label: str,
        base_url: str,
        headers: Callable[[], dict[str, str]],
        timeout: float,
        *,
        describe: Callable[[Answer], str] | None = None,
        verify_tls: bool = True,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        throttle_hint: Callable[[Answer], float | None] | None = None,
    ) -> None:
        """``throttle_hint``: for a 429 without ``Retry-After``, the seconds to wait that the
        provider said some other way (Telnyx's ``x-ratelimit-reset``), or None."""
        self.label = label
        self._throttle_hint = throttle_hint
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self.timeout = timeout
        self._describe = describe or _default_describe
        self.verify_tls = verify_tls
        self.attempts = attempts
        self._sleep = sleep
        self._clock = clock
        self.calls = 0
        """Requests sent (for benchmarks and tests)."""

    def url(self, *parts: str) -> str:
        """The base URL with each part percent-encoded as one path segment."""
        return "/".join([self.base_url, *(quote(p, safe="") for p in parts)])

    def call(
        self,
        method: str,
        url: str,
        *,
        op: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
        deadline: float | None = None,
        ok: Iterable[int] = (),
        secrets: Iterable[str] = (),
    ) -> Answer:
        """Send one request (retried while it may pass). ``op`` names it in errors; ``ok``
        lists non-2xx statuses the caller handles itself (such as 404 for "no such record").
        ``body`` is sent as JSON, ``form`` as ``application/x-www-form-urlencoded``;
        ``secrets`` are values the request carries outside its headers (a password in the
        query), masked out of every message like the headers' credentials."""
        headers = self._headers()
        # The credential itself too, not only the header's whole value: a provider that quotes
        # the token back ("token abc... is invalid") does so without its "Bearer " scheme.
        secrets = [
            *secrets,
            *(part for value in headers.values() for part in (value, value.split(" ")[-1])),
        ]
        end = self._clock() + self.timeout if deadline is None else deadline
        last: RetryLater | None = None
        for attempt in range(1, self.attempts + 1):
            left = end - self._clock()
            if left <= 0:
                break
            try:
                answer = self._once(
                    method, url, params, _encoded(body, form), headers, min(self.timeout, left)
                )
            except RetryLater as exc:
                last = exc
            else:
                if 200 <= answer.status < 300 or answer.status in set(ok):
                    return answer
                failure = self._failure(op, answer, secrets)
                if not isinstance(failure, RetryLater):
                    raise failure
                last = failure
            if attempt == self.attempts:
                break
            pause = last.retry_after if last.retry_after is not None else 0.5 * 2 ** (attempt - 1)
            if pause > MAX_RETRY_AFTER or self._clock() + pause >= end:
                break
            self._sleep(pause)
        raise last or RetryLater(f"{self.label} {op}: no time left to call")

    def _once(
        self,
        method: str,
        url: str,
        params: dict[str, str] | None,
        encoded: tuple[bytes, str] | None,
        headers: dict[str, str],
        timeout: float,
    ) -> Answer:
        from requests.structures import CaseInsensitiveDict
        from urllib3.util import Timeout

        from arbiter.adapters.checks.deadline import (
            REQUEST_FAILURES,
            REQUEST_TIMEOUTS,
            Deadline,
            watched_session,
        )

        self.calls += 1
        data = None if encoded is None else encoded[0]
        sent = {
            "Accept": "application/json",
            "User-Agent": f"arbiter/{arbiter.__version__}",
            **({"Content-Type": encoded[1]} if encoded is not None else {}),
            **headers,
        }
        with Deadline(timeout) as deadline, watched_session(deadline) as session:
            try:
                response = session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=sent,
                    timeout=Timeout(total=timeout),  # type: ignore[arg-type]
                    verify=self.verify_tls,
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    raw = _read_capped(response, self.label)
            except REQUEST_FAILURES as exc:
                if deadline.expired or isinstance(exc, REQUEST_TIMEOUTS):
                    raise RetryLater(f"{self.label}: no answer within {timeout:.1f} s") from None
                raise RetryLater(f"{self.label} unreachable: {type(exc).__name__}") from None
            if deadline.expired:
                raise RetryLater(f"{self.label}: no whole answer within {timeout:.1f} s")
        # requests' CaseInsensitiveDict, kept as it is: header names are case-insensitive
        # (RFC 9110 5.1), and a plain dict would miss a server's ``retry-after``.
        return Answer(response.status_code, _parse(raw), CaseInsensitiveDict(response.headers))

    def _failure(self, op: str, answer: Answer, secrets: list[str]) -> Exception:
        said = mask(self._describe(answer), secrets)[:300]
        detail = f": {said}" if said else ""
        status = answer.status
        if status == 429 or status >= 500:
            wait = retry_after(answer.headers.get("Retry-After"))
            hint = f" (Retry-After {wait:g} s)" if wait is not None else ""
            if wait is None and status == 429 and self._throttle_hint is not None:
                wait = self._throttle_hint(answer)
                hint = f" (asked to wait {wait:g} s)" if wait is not None else ""
            return RetryLater(f"{self.label} {op}: HTTP {status}{hint}{detail}", wait)
        if 300 <= status < 400:
            return ProviderRejected(
                f"{self.label} {op}: HTTP {status} redirect, not followed (check the URL in "
                "the provider's config)"
            )
        return ProviderRejected(f"{self.label} {op}: HTTP {status}{detail}")


def _encoded(body: Any, form: Mapping[str, str] | None) -> tuple[bytes, str] | None:
    """The request's body and its Content-Type."""
    if form is not None:
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    if body is not None:
        return json.dumps(body).encode(), "application/json"
    return None


def _read_capped(response: requests.Response, label: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        raise ProviderRejected(f"{label}: answer larger than {BODY_LIMIT // 2**20} MiB")
    body = bytearray()
    while chunk := response.raw.read1(BODY_LIMIT + 1 - len(body), decode_content=True):
        body += chunk
        if len(body) > BODY_LIMIT:
            raise ProviderRejected(f"{label}: answer larger than {BODY_LIMIT // 2**20} MiB")
    return bytes(body)


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _default_describe(answer: Answer) -> str:
    body = answer.body
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""
