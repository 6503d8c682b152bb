"""Telnyx phone numbers through the API v2, with an API key (``Authorization: Bearer``).

A ``telnyx_number`` route moves each number to the connection (SIP connection, FQDN
connection, TeXML or Call Control application) of the new site:

- ``read`` finds each number with ``GET /phone_numbers?filter[phone_number]=<digits>``
  ("List phone numbers"). Telnyx documents that filter as needing at least three digits and
  returning nothing for non-numerical characters, so the number goes without its ``+``; the
  filter is not documented as exact, so the answer's ``data`` is searched for the record whose
  ``phone_number`` is the number itself (paging through ``meta.total_pages``, bounded). It
  returns the record's ``connection_id`` and keeps its ``id`` for ``apply``;
- ``apply`` sends ``PATCH /phone_numbers/{id}`` with ``{"connection_id": "..."}`` ("Update a
  phone number"), one call per number that differs (the executor passes only those).

Errors are Telnyx's ``{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}``,
shown as ``10009 Authentication failed: ...``. 401/403/404/422 are fatal; 429 and 5xx are
retried (``HttpApi``), a 429 waiting for ``Retry-After`` or else Telnyx's own
``x-ratelimit-reset`` (seconds until the limit resets). A number the account does not hold is
fatal and named. The API key is fetched on the first call and never appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from arbiter.adapters.http import Answer, HttpApi, retry_after
from arbiter.core.config import TelnyxProvider
from arbiter.core.errors import ProviderRejected

if TYPE_CHECKING:
    from arbiter.core.runbook import VoipItem, VoipStep

PAGE_SIZE = 100
"""Records asked for per page (Telnyx allows 1 to 250)."""
MAX_PAGES = 5
"""Pages read at most while looking for one number (the filter matches a few at most)."""
MAX_RESET = 3600.0
"""An ``x-ratelimit-reset`` above this is not a wait in seconds (an epoch time, say): ignored."""
FIELDS = ("connection_id",)
"""What a ``telnyx_number`` route sets on a number."""


def describe(answer: Answer) -> str:
    """Telnyx's ``errors`` as ``code title: detail (at pointer)``, up to five of them."""
    body = answer.body
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(_error(e) for e in errors[:5])
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str):
                return " ".join(str(body[key]).split())[:200]
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""


def _error(error: Any) -> str:
    if not isinstance(error, dict):
        return " ".join(str(error).split())[:200]
    head = " ".join(str(part) for part in (error.get("code"), error.get("title")) if part)
    detail = " ".join(str(error.get("detail") or "").split())
    text = f"{head}: {detail}" if head and detail else head or detail or "unknown error"
    source = error.get("source")
    if isinstance(source, dict) and source.get("pointer"):
        text += f" (at {source['pointer']})"
    return text[:300]


def _reset(answer: Answer) -> float | None:
    """Telnyx's 429 carries ``x-ratelimit-reset`` (seconds until the window resets) rather
    than ``Retry-After``; a value past MAX_RESET is not seconds and is ignored."""
    reset = retry_after(answer.headers.get("x-ratelimit-reset"))
    return reset if reset is not None and reset <= MAX_RESET else None


class Telnyx:
    """The VoIP port on Telnyx. ``secret(settings.api_key_secret)`` is the API key, fetched on
    the first call; ``sleep`` and ``clock`` drive the retries (tests pass their own)."""

    def __init__(
        self,
        name: str,
        settings: TelnyxProvider,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
    ) -> None:
        self.label = f"{name} (telnyx)"
        self.settings = settings
        self._secret = secret
        self._key: str | None = None
        self._ids: dict[str, str] = {}
        """Each number's Telnyx id, once found."""
        self.api = HttpApi(
            self.label,
            settings.base_url,
            self._headers,
            settings.timeout,
            describe=self._describe,
            attempts=attempts,
            sleep=sleep,
            clock=clock,
            throttle_hint=_reset,
        )

    # --- the port ---------------------------------------------------------------------------

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for wanted in step.items:
            record = self._find(wanted.item)
            found[wanted.item] = {k: _text(record.get(k)) for k in wanted.fields}
        return found

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        """One PATCH per number. Telnyx takes no idempotency key here; setting the same
        connection twice is harmless, so ``key`` is not sent."""
        for change in changes:
            unknown = sorted(set(change.fields) - set(FIELDS))
            if unknown:
                raise ProviderRejected(
                    f"{self.label}: {change.item}: cannot set {', '.join(unknown)} (a Telnyx "
                    "number route sets connection_id only)"
                )
            number_id = self._ids.get(change.item) or str(self._find(change.item)["id"])
            connection = str(change.fields["connection_id"])
            answer = self.api.call(
                "PATCH",
                self.api.url("phone_numbers", number_id),
                op=f"route {change.item} to connection {connection}",
                body={"connection_id": connection},
            )
            if not isinstance(answer.body, dict) or not isinstance(answer.body.get("data"), dict):
                raise self._not_telnyx(f"route {change.item}", answer)

    # --- calls ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._key is None:
            self._key = self._secret(self.settings.api_key_secret).strip()
        return {"Authorization": f"Bearer {self._key}"}

    def _describe(self, answer: Answer) -> str:
        said = describe(answer)
        if answer.status == 401:
            said += f" (check the API key in secret {self.settings.api_key_secret!r})"
        return said

    def _not_telnyx(self, op: str, answer: Answer) -> ProviderRejected:
        return ProviderRejected(
            f"{self.label} {op}: HTTP {answer.status} without Telnyx's JSON data (is base_url "
            "the API v2 base, such as https://api.telnyx.com/v2?)"
        )

    def _find(self, number: str) -> dict[str, Any]:
        """The account's record of ``number`` (E.164), its id remembered."""
        digits = number.removeprefix("+")
        op = f"find {number}"
        for page in range(1, MAX_PAGES + 1):
            answer = self.api.call(
                "GET",
                self.api.url("phone_numbers"),
                op=op,
                params={
                    "filter[phone_number]": digits,
                    "page[number]": str(page),
                    "page[size]": str(PAGE_SIZE),
                },
            )
            body = answer.body
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise self._not_telnyx(op, answer)
            for record in body["data"]:
                if (
                    isinstance(record, dict)
                    and record.get("phone_number") == number
                    and record.get("id") is not None
                ):
                    self._ids[number] = str(record["id"])
                    return record
            meta = body.get("meta")
            total = meta.get("total_pages") if isinstance(meta, dict) else None
            if not body["data"] or not isinstance(total, int) or page >= total:
                break
        raise ProviderRejected(
            f"{self.label}: {number} is not on this account (no phone number "
            f"{number} among those filter[phone_number]={digits} lists)"
        )


def _text(value: Any) -> Any:
    """A field as the route writes it: Telnyx ids are strings (None stays None)."""
    return None if value is None else str(value)
