"""A local stand-in for Telnyx's API v2 phone numbers on 127.0.0.1.

It answers what the Telnyx adapter sends, in the shapes Telnyx documents ("List phone
numbers", "Retrieve a phone number", "Update a phone number", "API error codes", "Rate
limiting"):

- ``Authorization: Bearer <API key>``; none or another key is 401 ``10009 Authentication
  failed``;
- ``GET /v2/phone_numbers`` with ``filter[phone_number]`` (digits: a non-numerical character
  lists nothing, as documented; a number matches when it contains the digits, since the
  docs do not say the filter is exact), ``page[number]`` and ``page[size]`` (1 to 250,
  default 20); the answer is ``{"data": [...], "meta": {"page_number", "page_size",
  "total_pages", "total_results"}}``, newest first (the documented default order);
- ``GET /v2/phone_numbers/{id}`` and ``PATCH /v2/phone_numbers/{id}`` (JSON body of the
  writable fields ``connection_id``, ``tags``, ``customer_reference``, ``billing_group_id``,
  ``external_pin``, ``hd_voice_enabled``) answer ``{"data": {...}}``; an unknown id or path is
  404 ``10005 Resource not found``;
- records carry ``id``, ``record_type`` "phone_number", ``phone_number`` (+E.164),
  ``status``, ``connection_id``, ``connection_name`` and the other fields listed below;
- errors are ``{"errors": [{"code", "title", "detail", "meta": {"url"}, "source":
  {"pointer"}}]}`` with the codes as strings.

The stand-in's own choices, where the docs do not say: a malformed body is 400 ``10015 Bad
Request``; an unknown field in a PATCH, or (when ``connections`` is given) a connection not
among them, is 422 ``10015``/``10013 Missing association`` pointing at the field.

Fault injection: ``throttle(n, reset, retry_after)`` (429 ``10011 Too many requests`` with
Telnyx's ``x-ratelimit-limit``/``-remaining``/``-reset`` headers, and ``Retry-After`` only
when given), ``fail(n, status)`` (an edge's HTML page), ``fail_json(n, status)`` (Telnyx's
``10007 Unexpected error``), ``stall(n, seconds)``, ``redirect(n)``, ``quote_key(n)`` (a 401
whose detail quotes the key sent). With ``recording`` on, every request is kept.

    with TelnyxStandIn("KEY0123", {"+15551230001": "111"}) as tx:
        tx.url  # http://127.0.0.1:PORT/v2
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from arbiter.local.standins.http import Canned, HttpStandIn, Seen, as_json

WRITABLE = frozenset(
    {
        "connection_id",
        "tags",
        "customer_reference",
        "billing_group_id",
        "external_pin",
        "hd_voice_enabled",
    }
)
_AUTH_DETAIL = (
    "The required authentication headers were either invalid or not included in the request."
)


def error(code: str, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {
        "code": code,
        "title": title,
        "detail": detail,
        "meta": {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"},
    }
    if pointer:
        made["source"] = {"pointer": pointer}
    return made


def errors(status: int, *items: dict[str, Any], **headers: str) -> Canned:
    return as_json(status, {"errors": list(items)}, headers)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class TelnyxStandIn(HttpStandIn):
    """Telnyx's phone numbers for one account: ``numbers`` maps each +E.164 number to its
    ``connection_id`` (None: no connection)."""

    prefix = "/v2"

    def __init__(
        self,
        api_key: str,
        numbers: Mapping[str, str | None] | None = None,
        *,
        connections: Iterable[str] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.connections = None if connections is None else set(connections)
        """When given, the only connection ids a PATCH may set."""
        self.records: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1293384261075731400)
        for number, connection in (numbers or {}).items():
            self.add_number(number, connection)

    # --- set-up and inspection --------------------------------------------------------------

    def add_number(self, number: str, connection_id: str | None = None) -> str:
        record_id = str(next(self._ids))
        self.records[record_id] = {
            "id": record_id,
            "record_type": "phone_number",
            "phone_number": number,
            "status": "active",
            "connection_id": connection_id,
            "connection_name": None if connection_id is None else f"site-{connection_id}",
            "messaging_profile_id": None,
            "messaging_profile_name": None,
            "billing_group_id": None,
            "customer_reference": None,
            "tags": [],
            "external_pin": None,
            "emergency_enabled": False,
            "emergency_address_id": None,
            "call_forwarding_enabled": True,
            "cnam_listing_enabled": False,
            "caller_id_name_enabled": False,
            "call_recording_enabled": False,
            "t38_fax_gateway_enabled": False,
            "phone_number_type": "local",
            "country_iso_alpha2": "US",
            "source_type": "number_order",
            "purchased_at": _now(),
            "created_at": _now(),
            "updated_at": _now(),
        }
        return record_id

    def number(self, number: str) -> dict[str, Any]:
        with self._lock:
            for record in self.records.values():
                if record["phone_number"] == number:
                    return copy.deepcopy(record)
        raise KeyError(number)

    def connection_of(self, number: str) -> str | None:
        connection: str | None = self.number(number)["connection_id"]
        return connection

    # --- faults -----------------------------------------------------------------------------

    def throttle(self, n: int, reset: str = "0", retry_after: str | None = None) -> None:
        """The next ``n`` requests answer 429 as Telnyx does (``x-ratelimit-reset``: seconds
        until the window resets); ``retry_after`` adds that header too."""
        headers = {
            "x-ratelimit-limit": "20",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": reset,
        }
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        detail = "You have exceeded the maximum number of allowed requests."
        answer = errors(429, error("10011", "Too many requests", detail), **headers)
        self._set_faults([answer] * n)

    def fail_json(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` with Telnyx's own error body."""
        body = error("10007", "Unexpected error", "An unexpected error occured.")
        self._set_faults([errors(status, body)] * n)

    def quote_key(self, n: int) -> None:
        """The next ``n`` requests answer 401 with a detail quoting the key sent."""
        self._set_faults(["quote-key"] * n)

    # --- the API ----------------------------------------------------------------------------

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        scheme, _, key = seen.header("Authorization").partition(" ")
        if fault == "quote-key":
            said = f"API key {key!r} is not valid."
            return errors(401, error("10009", "Authentication failed", said))
        if scheme != "Bearer" or key != self.api_key:
            return errors(401, error("10009", "Authentication failed", _AUTH_DETAIL))
        parts = seen.path.removeprefix(self.prefix).strip("/").split("/")
        if seen.path.startswith(self.prefix + "/") and parts[0] == "phone_numbers":
            if len(parts) == 1 and seen.method == "GET":
                return self._list(seen.query)
            record = self.records.get(parts[1]) if len(parts) == 2 else None
            if record is not None and seen.method == "GET":
                return as_json(200, {"data": copy.deepcopy(record)})
            if record is not None and seen.method == "PATCH":
                return self._update(record, seen)
        return errors(
            404,
            error(
                "10005", "Resource not found", "The requested resource or URL could not be found."
            ),
        )

    def _list(self, query: dict[str, list[str]]) -> Canned:
        wanted: str | None = (query.get("filter[phone_number]") or [""])[0] or None
        try:
            size = int((query.get("page[size]") or ["20"])[0])
            page = int((query.get("page[number]") or ["1"])[0])
        except ValueError:
            return self._bad_request("page[size] and page[number] must be integers")
        if not 1 <= size <= 250 or page < 1:
            return self._bad_request("page[size] must be 1 to 250 and page[number] at least 1")
        found = [
            r
            for r in sorted(self.records.values(), key=lambda r: int(r["id"]), reverse=True)
            if wanted is None
            or (wanted.isdigit() and wanted in r["phone_number"].removeprefix("+"))
        ]
        shown = found[(page - 1) * size : page * size]
        meta = {
            "page_number": page,
            "page_size": size,
            "total_pages": max(1, -(-len(found) // size)),
            "total_results": len(found),
        }
        return as_json(200, {"data": copy.deepcopy(shown), "meta": meta})

    def _update(self, record: dict[str, Any], seen: Seen) -> Canned:
        body = seen.json
        if seen.malformed or not isinstance(body, dict):
            return self._bad_request("The request body must be a JSON object.")
        for name in body:
            if name not in WRITABLE:
                return errors(
                    422,
                    error("10015", "Bad Request", f"{name} is not a writable field.", f"/{name}"),
                )
        connection = body.get("connection_id", record["connection_id"])
        if "connection_id" in body and not (connection is None or isinstance(connection, str)):
            return errors(
                422,
                error("10015", "Bad Request", "connection_id must be a string.", "/connection_id"),
            )
        if (
            connection is not None
            and self.connections is not None
            and connection not in self.connections
        ):
            return errors(
                422,
                error(
                    "10013",
                    "Missing association",
                    "One of the associated fields does not exist.",
                    "/connection_id",
                ),
            )
        record.update(body)
        if "connection_id" in body:
            record["connection_name"] = None if connection is None else f"site-{connection}"
        record["updated_at"] = _now()
        return as_json(200, {"data": copy.deepcopy(record)})

    def _bad_request(self, detail: str) -> Canned:
        return errors(400, error("10015", "Bad Request", detail))
