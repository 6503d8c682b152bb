"""VoIP.ms DIDs through the REST/JSON API, with the account's e-mail and its API password.

A ``voipms_did`` route sets each DID's main routing (``account:100001_pbx``, ``fwd:1026``,
``vm:101``, ...) to the new site's:

- ``read`` calls ``getDIDsInfo`` with ``did`` for each DID and returns the ``routing`` of the
  entry in ``dids`` whose ``did`` is that DID;
- ``apply`` calls ``setDIDRouting`` with ``did`` and ``routing`` for each DID that differs
  (the executor passes only those).

Every call is one request to ``base_url`` with ``api_username``, ``api_password``, ``method``
and the method's parameters. VoIP.ms documents them as query parameters; the endpoint takes
the same parameters in a form-encoded POST body, which is how they are sent here: the password
then stays out of the URL, and so out of every log that records URLs (urllib3 logs a request
line at DEBUG). It is also given to ``HttpApi`` as a secret, so no message can carry it.

VoIP.ms answers HTTP 200 with ``{"status": "success", ...}`` or a status word from its
documented list of error codes. The words about credentials, the API's activation, the
caller's IP, a DID or a routing become ``ProviderRejected`` with the word and what to do; a DID
the account does not hold (``invalid_did``, ``no_did``, or a success without it) is named;
``api_limit_exceeded``, ``method_maintenance``, ``unavailable_info`` and ``tls_error`` are
retryable; any other word is ``ProviderRejected`` with the word. HTTP 429 and 5xx (the edge in
front of the API) are retried by ``HttpApi``; a redirect is never followed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from arbiter.adapters.http import HttpApi, RetryLater, mask
from arbiter.core.config import VoipMsProvider
from arbiter.core.errors import ProviderRejected

if TYPE_CHECKING:
    from arbiter.core.runbook import VoipItem, VoipStep

FIELDS = ("routing",)
"""What a ``voipms_did`` route sets on a DID."""

NOT_HELD = frozenset({"invalid_did", "no_did"})
"""Status words meaning the DID is not one of the account's."""

RETRY: dict[str, str] = {
    "api_limit_exceeded": "the API's requests-per-minute limit is reached",
    "method_maintenance": "this API method is under maintenance",
    "unavailable_info": "the information is unavailable at the moment",
    "tls_error": "VoIP.ms had a TLS error and asks to try later",
}
"""Status words that may pass when tried again later."""

EXPLAINED: dict[str, str] = {
    "invalid_credentials": (
        "the username or the API password is incorrect (the API password is the one set on "
        "the portal's SOAP and REST/JSON API page, not the login password)"
    ),
    "missing_credentials": "the username or the API password was not sent",
    "api_not_enabled": (
        "the API is not enabled for this account (customer portal: Main Menu > SOAP and "
        "REST/JSON API)"
    ),
    "ip_not_enabled": (
        "the IP address arbiter calls from is not allowed to use the API (add it to the "
        "allow-list on the portal's SOAP and REST/JSON API page; from Lambda, that is the "
        "NAT gateway's Elastic IP)"
    ),
    "invalid_did": "this is not a DID of this account",
    "no_did": "this account holds no such DID",
    "missing_did": "no DID was sent",
    "missing_routing": "no routing was sent",
    "invalid_routing_header": "VoIP.ms does not take this routing type here",
    "invalid_account": "no such (sub)account for an account: routing",
    "invalid_forwarding": "no such forwarding entry for a fwd: routing",
    "invalid_mailbox": "no such voicemail box for a vm: routing",
    "invalid_ivr": "no such IVR for an ivr: routing",
    "invalid_method": "VoIP.ms does not know this API method",
    "missing_method": "no API method was sent",
    "missing_params": "required parameters were not sent",
}
"""What a status word means and what to do, for the words these two methods can meet."""


class VoipMs:
    """The VoIP port on VoIP.ms. ``secret(settings.api_password_secret)`` is the API password,
    fetched on the first call; ``sleep`` and ``clock`` drive the retries (tests pass theirs)."""

    def __init__(
        self,
        name: str,
        settings: VoipMsProvider,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
    ) -> None:
        self.label = f"{name} (voipms)"
        self.settings = settings
        self._secret = secret
        self._password: str | None = None
        self.api = HttpApi(
            self.label,
            settings.base_url,
            dict,  # no credential header: the credentials travel in the body
            settings.timeout,
            attempts=attempts,
            sleep=sleep,
            clock=clock,
        )

    # --- the port ---------------------------------------------------------------------------

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for wanted in step.items:
            did = wanted.item
            body = self._call("getDIDsInfo", f"read DID {did}", did, {"did": did})
            dids = body.get("dids")
            entry = next(
                (
                    d
                    for d in (dids if isinstance(dids, list) else [])
                    if isinstance(d, dict) and str(d.get("did")) == did
                ),
                None,
            )
            if entry is None:
                raise ProviderRejected(
                    f"{self.label}: DID {did} is not on this account (getDIDsInfo did not list it)"
                )
            found[did] = {k: _text(entry.get(k)) for k in wanted.fields}
        return found

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        """One ``setDIDRouting`` per DID. VoIP.ms takes no idempotency key; setting the same
        routing twice is harmless, so ``key`` is not sent."""
        for change in changes:
            unknown = sorted(set(change.fields) - set(FIELDS))
            if unknown:
                raise ProviderRejected(
                    f"{self.label}: DID {change.item}: cannot set {', '.join(unknown)} (a "
                    "VoIP.ms DID route sets routing only)"
                )
            routing = str(change.fields["routing"])
            self._call(
                "setDIDRouting",
                f"route DID {change.item} to {routing}",
                change.item,
                {"did": change.item, "routing": routing},
            )

    # --- calls ------------------------------------------------------------------------------

    def _credential(self) -> str:
        if self._password is None:
            self._password = self._secret(self.settings.api_password_secret).strip()
        return self._password

    def _call(self, method: str, op: str, did: str, params: dict[str, str]) -> dict[str, Any]:
        """One API call about ``did``; its body when the status is ``success``."""
        password = self._credential()
        form = {
            "api_username": self.settings.username,
            "api_password": password,
            "method": method,
            **params,
        }
        answer = self.api.call("POST", self.api.base_url, op=op, form=form, secrets=[password])
        body = answer.body
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise ProviderRejected(
                f"{self.label} {op}: HTTP {answer.status} without VoIP.ms's JSON status (is "
                "base_url the REST/JSON endpoint, such as https://voip.ms/api/v1/rest.php?)"
            )
        status = body["status"]
        if status == "success":
            return body
        shown = mask(" ".join(status.split())[:80], [password])
        said = _said(body, password)
        if status in NOT_HELD:
            raise ProviderRejected(
                f"{self.label}: DID {did} is not on this account ({method} answered status "
                f"{shown!r}: {EXPLAINED[status]}{said})"
            )
        if status in RETRY:
            raise RetryLater(f"{self.label} {op}: status {shown!r}: {RETRY[status]}{said}")
        if status in EXPLAINED:
            hint = (
                f" (username {self.settings.username}, API password from secret "
                f"{self.settings.api_password_secret!r})"
                if status == "invalid_credentials"
                else ""
            )
            raise ProviderRejected(
                f"{self.label} {op}: status {shown!r}: {EXPLAINED[status]}{hint}{said}"
            )
        raise ProviderRejected(
            f"{self.label} {op}: status {shown!r} (a VoIP.ms error code arbiter does not "
            f"know; see the API documentation's list of error codes){said}"
        )


def _said(body: dict[str, Any], password: str) -> str:
    """Any words VoIP.ms added beside the status (some codes carry a description)."""
    for key in ("message", "description", "error"):
        text = body.get(key)
        if isinstance(text, str) and text.strip():
            return f"; VoIP.ms says: {mask(' '.join(text.split())[:200], [password])}"
    return ""


def _text(value: Any) -> Any:
    """A field as the route writes it (None stays None)."""
    return None if value is None else str(value)
