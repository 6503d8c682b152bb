"""A local stand-in for the VoIP.ms REST/JSON API (the DID methods) on 127.0.0.1.

It answers what the VoIP.ms adapter sends, in the shapes VoIP.ms documents (API
documentation: "REST/JSON", ``getDIDsInfo``, ``setDIDRouting``, "Error Codes"):

- one endpoint, ``/api/v1/rest.php``, taking ``api_username``, ``api_password``, ``method`` and
  the method's parameters in the query of a GET or in a form-encoded POST body (merged as PHP's
  ``$_REQUEST`` would, the body winning);
- every answer is HTTP 200 with JSON ``{"status": "success", ...}`` or ``{"status": "<code>"}``
  with a documented error code: ``missing_credentials``, ``invalid_credentials``,
  ``api_not_enabled``, ``ip_not_enabled``, ``missing_method``, ``invalid_method``,
  ``no_did``, ``invalid_did``, ``missing_did``, ``missing_routing``,
  ``invalid_routing_header``;
- ``getDIDsInfo`` (``did`` optional) answers ``{"status": "success", "dids": [{"did",
  "description", "routing", "failover_busy", ...}]}``, every value a string; a ``did`` the
  account does not hold answers ``no_did`` (as a live-tested client reports);
- ``setDIDRouting`` (``did``, ``routing`` as ``header:record_id`` with the documented headers)
  answers ``{"status": "success"}``; a DID the account does not hold is ``invalid_did`` (the
  docs do not say which code; this is the stand-in's choice).

Knobs: ``api_enabled`` and ``ip_allowed`` (off: ``api_not_enabled``/``ip_not_enabled``);
``refuse[routing] = "<code>"`` makes ``setDIDRouting`` to that routing answer the code (as
VoIP.ms does for a target that does not exist, e.g. ``invalid_account``).

Fault injection: ``throttle(n, retry_after)`` (HTTP 429 with ``Retry-After``, as the edge in
front of the API answers), ``fail(n, status)`` (an HTML 5xx page), ``stall(n, seconds)``,
``redirect(n)``, ``status(n, code, **extra)`` (HTTP 200 with that status, e.g.
``api_limit_exceeded``), ``echo(n, status)`` (an error page that prints the request's
parameters back, password included). With ``recording`` on, every request is kept.

    with VoipMsStandIn("ops@example.com", "s3cret", {"5551234567": "account:100001_a"}) as vm:
        vm.url  # http://127.0.0.1:PORT/api/v1/rest.php
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from arbiter.local.standins.http import Canned, HttpStandIn, Seen, as_json

HEADERS = frozenset(
    {
        "account",
        "fwd",
        "vm",
        "sip",
        "grp",
        "ivr",
        "sys",
        "recording",
        "queue",
        "cb",
        "tc",
        "disa",
        "none",
    }
)
"""The routing headers ``setDIDRouting`` documents."""
METHODS = frozenset({"getDIDsInfo", "setDIDRouting"})


def _entry(did: str, routing: str) -> dict[str, str]:
    """A DID as getDIDsInfo lists it (VoIP.ms writes every value as a string)."""
    return {
        "did": did,
        "description": "MIAMI, FL",
        "routing": routing,
        "failover_busy": "none:",
        "failover_unreachable": "none:",
        "failover_noanswer": "none:",
        "voicemail": "1001",
        "pop": "16",
        "dialtime": "60",
        "cnam": "1",
        "e911": "0",
        "callerid_prefix": "",
        "note": "",
        "billing_type": "2",
        "next_billing": "2030-08-30",
        "order_date": "2024-07-30 15:09:04",
        "reseller_account": "",
        "reseller_next_billing": "",
        "reseller_monthly": "0.00000000",
        "reseller_minute": "0.00000000",
        "reseller_setup": "0.00000000",
        "sms_available": "1",
        "sms_enabled": "0",
    }


class VoipMsStandIn(HttpStandIn):
    """One VoIP.ms account: ``dids`` maps each DID (digits) to its main routing."""

    prefix = "/api/v1/rest.php"

    def __init__(self, username: str, password: str, dids: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.api_enabled = True
        self.ip_allowed = True
        self.refuse: dict[str, str] = {}
        """A routing value and the status code ``setDIDRouting`` answers for it."""
        self.dids: dict[str, dict[str, str]] = {
            did: _entry(did, routing) for did, routing in (dids or {}).items()
        }

    def routing_of(self, did: str) -> str:
        with self._lock:
            return self.dids[did]["routing"]

    # --- faults -----------------------------------------------------------------------------

    def throttle(self, n: int, retry_after: str = "0") -> None:
        """The next ``n`` requests answer HTTP 429 with ``Retry-After``, as an edge does."""
        page = b"<html><body><h1>429 Too Many Requests</h1></body></html>"
        answer = Canned(429, page, {"Retry-After": retry_after}, "text/html")
        self._set_faults([answer] * n)

    def status(self, n: int, code: str, **extra: str) -> None:
        """The next ``n`` requests answer HTTP 200 with ``{"status": code, **extra}``."""
        self._set_faults([as_json(200, {"status": code, **extra})] * n)

    def echo(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` with a page printing their parameters."""
        self._set_faults([f"echo:{status}"] * n)

    # --- the API ----------------------------------------------------------------------------

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        if seen.path != self.prefix or seen.method not in ("GET", "POST"):
            page = b"<html><body><h1>404 Not Found</h1></body></html>"
            return Canned(404, page, content_type="text/html")
        params = {k: v[0] for k, v in seen.query.items() if v}
        params.update({k: v[0] for k, v in seen.form.items() if v})
        if fault is not None and fault.startswith("echo:"):
            shown = "&".join(f"{k}={v}" for k, v in params.items())
            echo = f"<html><body><h1>Error</h1><pre>{shown}</pre></body></html>"
            return Canned(int(fault.partition(":")[2]), echo.encode(), content_type="text/html")
        return as_json(200, self._answer(params))

    def _answer(self, params: dict[str, str]) -> dict[str, Any]:
        user, password = params.get("api_username"), params.get("api_password")
        if not user or not password:
            return {"status": "missing_credentials"}
        if user != self.username or password != self.password:
            return {"status": "invalid_credentials"}
        if not self.api_enabled:
            return {"status": "api_not_enabled"}
        if not self.ip_allowed:
            return {"status": "ip_not_enabled"}
        method = params.get("method")
        if not method:
            return {"status": "missing_method"}
        if method not in METHODS:
            return {"status": "invalid_method"}
        if method == "getDIDsInfo":
            return self._get_dids_info(params.get("did"))
        return self._set_did_routing(params.get("did"), params.get("routing"))

    def _get_dids_info(self, did: str | None) -> dict[str, Any]:
        listed = [e for d, e in self.dids.items() if did is None or d == did]
        if not listed:
            return {"status": "no_did"}
        return {"status": "success", "dids": copy.deepcopy(listed)}

    def _set_did_routing(self, did: str | None, routing: str | None) -> dict[str, Any]:
        if not did:
            return {"status": "missing_did"}
        if did not in self.dids:
            return {"status": "invalid_did"}
        if not routing:
            return {"status": "missing_routing"}
        header, colon, _ = routing.partition(":")
        if not colon or header not in HEADERS:
            return {"status": "invalid_routing_header"}
        if routing in self.refuse:
            return {"status": self.refuse[routing]}
        self.dids[did]["routing"] = routing
        return {"status": "success"}
