"""Twilio: phone numbers through the REST API (2010-04-01) and an Elastic SIP Trunk's
origination URLs through the Trunking API (v1), both with HTTP basic auth.

Two route types use it (``step.route`` says which):

- ``twilio_number``: each number is found with ``GET
  /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=<E.164>`` (page after
  page, following ``next_page_uri``, until an exact ``phone_number`` match: Twilio's filter also
  matches partial numbers), and changed with ``POST
  .../IncomingPhoneNumbers/{PNsid}.json`` form-encoded: ``VoiceUrl`` and ``VoiceMethod``, or
  ``TrunkSid``. A number on a trunk or a voice application ignores its ``voice_url`` (Twilio
  uses theirs instead), so a ``voice_url`` route on such a number is refused by name rather
  than "switched" with no effect;
- ``twilio_trunk``: the trunk's origination URLs are listed with ``GET
  /v1/Trunks/{TrunkSid}/OriginationUrls`` (every page, following ``meta.next_page_url``),
  matched by ``sip_url``, and changed with ``POST /v1/Trunks/{TrunkSid}/OriginationUrls/{OUsid}``
  form-encoded: ``Enabled`` (``true``/``false``) and ``Priority``. A standby URL with
  ``standby: disable`` is only disabled: its priority is left as it is.

Basic auth: the API key SID (``api_key_sid``) or else the account SID as the user, the secret's
value as the password; the secret is read on the first call. ``read`` keeps each item's SID
(PN.../OU...), so the ``apply`` after it sends one POST per item and no lookup; an item
``apply`` has not seen read is looked up first. Every update is idempotent (it sets values), so
``HttpApi`` may retry one after a 5xx. Twilio takes no idempotency key on these resources:
``key`` is not sent.

Paging links are followed on the configured base URL (their path and query only): a link to
another list, or more than ``MAX_PAGES`` pages, is refused.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from arbiter.adapters.http import Answer, HttpApi
from arbiter.core.config import TwilioProvider
from arbiter.core.errors import ProviderRejected
from arbiter.core.runbook import VoipItem, VoipStep

API_VERSION = "2010-04-01"
PAGE_SIZE = 50
"""Items asked for per page (Twilio's default; it allows up to 1000)."""
MAX_PAGES = 20
"""Pages read at most for one list: PAGE_SIZE * MAX_PAGES items."""
NUMBER_PARAMS = {"voice_url": "VoiceUrl", "voice_method": "VoiceMethod", "trunk_sid": "TrunkSid"}
"""A ``twilio_number`` item's fields and the IncomingPhoneNumber update parameter of each."""
TRUNK_PARAMS = {"enabled": "Enabled", "priority": "Priority"}
"""A ``twilio_trunk`` item's fields and the OriginationUrl update parameter of each."""
_SID = {prefix: re.compile(rf"{prefix}[0-9a-fA-F]{{32}}") for prefix in ("PN", "OU", "TK")}


def describe(answer: Answer) -> str:
    """Twilio's error body ``{code, message, more_info, status}`` as ``code: message
    (more_info)``; on 401/403, which credential to check."""
    body = answer.body
    text = ""
    if isinstance(body, dict) and ("code" in body or "message" in body):
        message = " ".join(str(body.get("message") or "").split())
        code = body.get("code")
        text = f"{code}: {message}" if code is not None else message
        more = body.get("more_info")
        if isinstance(more, str) and more.startswith("http"):
            text += f" ({more})"
    elif isinstance(body, str):
        text = " ".join(body.split())[:200]
    if answer.status in (401, 403):
        hint = "check account_sid, api_key_sid and the secret named by auth_token_secret"
        text = f"{text}; {hint}" if text else hint
    return text


class Twilio:
    """The VoIP port on Twilio. ``secret(settings.auth_token_secret)`` is the auth token (or the
    API key's secret), fetched on the first call; ``sleep`` and ``clock`` drive the retries
    (tests pass their own)."""

    def __init__(
        self,
        name: str,
        settings: TwilioProvider,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
    ) -> None:
        self.label = f"{name} (twilio)"
        self.settings = settings
        self._secret = secret
        self._password: str | None = None
        self.api = HttpApi(
            self.label,
            settings.base_url,
            self._headers,
            settings.timeout,
            describe=describe,
            attempts=attempts,
            sleep=sleep,
            clock=clock,
        )
        self.trunking = HttpApi(
            self.label,
            settings.trunking_base_url,
            self._headers,
            settings.timeout,
            describe=describe,
            attempts=attempts,
            sleep=sleep,
            clock=clock,
        )
        self._number_sids: dict[str, str] = {}
        """E.164 number -> its PN SID, as the last read found it."""
        self._url_sids: dict[tuple[str, str], str] = {}
        """(trunk SID, SIP URL) -> its OU SID, as the last read found it."""

    # --- the port ---------------------------------------------------------------------------

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]:
        route = self._route(step)
        self._number_sids.clear()
        self._url_sids.clear()
        if route == "twilio_trunk":
            return self._read_trunk(self._trunk(step), step.items)
        return self._read_numbers(step.items)

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        route = self._route(step)
        if route == "twilio_trunk":
            trunk = self._trunk(step)
            forms = [(c.item, _form(c, TRUNK_PARAMS, route, self.label)) for c in changes]
            unseen = [item for item, _ in forms if (trunk, item) not in self._url_sids]
            if unseen:  # not read before: one listing finds them all
                self._read_trunk(trunk, [VoipItem(item=item, fields={}) for item in unseen])
            for item, form in forms:
                self._update_url(trunk, item, form)
            return
        forms = [(c.item, _form(c, NUMBER_PARAMS, route, self.label)) for c in changes]
        for item, form in forms:
            self._update_number(item, form)

    # --- phone numbers ----------------------------------------------------------------------

    def _read_numbers(self, items: Sequence[VoipItem]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for item in items:
            _check_fields(item, NUMBER_PARAMS, "twilio_number", self.label)
            record = self._find_number(item.item)
            if record is None:
                missing.append(item.item)
                continue
            self._refuse_overridden(item, record)
            self._number_sids[item.item] = str(record["sid"])
            found[item.item] = {field: record.get(field) for field in item.fields}
        if missing:
            raise ProviderRejected(
                f"{self.label}: {_listed(missing)} "
                + ("is not a phone number" if len(missing) == 1 else "are not phone numbers")
                + f" of account {self.settings.account_sid}"
            )
        return found

    def _refuse_overridden(self, item: VoipItem, record: dict[str, Any]) -> None:
        """Twilio ignores a number's ``voice_url`` while it is on a trunk or a voice app."""
        if "voice_url" not in item.fields:
            return
        for field, what in (("trunk_sid", "trunk"), ("voice_application_sid", "application")):
            sid = record.get(field)
            if sid:
                raise ProviderRejected(
                    f"{self.label}: {item.item} is routed by its {what} {str(sid)[:34]}, which "
                    "Twilio uses instead of its voice_url: remove it from the "
                    f"{what} or route the number by trunk"
                )

    def _numbers_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.settings.account_sid}/IncomingPhoneNumbers.json"

    def _find_number(self, number: str) -> dict[str, Any] | None:
        """The number's IncomingPhoneNumber resource, or None when the account has no such
        number."""
        path = self._numbers_path()
        op = f"find {number}"
        url = self.api.base_url + path
        params: dict[str, str] | None = {"PhoneNumber": number, "PageSize": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            body = self._call(self.api, "GET", url, op, params=params).body
            page = body.get("incoming_phone_numbers") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ProviderRejected(
                    f"{self.label} {op}: the answer holds no incoming_phone_numbers list (is "
                    "base_url the REST API's, such as https://api.twilio.com?)"
                )
            for record in page:
                if isinstance(record, dict) and record.get("phone_number") == number:
                    _sid(record, "PN", self.label, number)
                    return record
            link = body.get("next_page_uri")
            if not link:
                return None
            url, params = self._next(self.api, str(link), path, op), None
        raise _too_many_pages(self.label, op)

    def _update_number(self, number: str, form: dict[str, str]) -> None:
        sid = self._number_sids.get(number)
        if sid is None:
            record = self._find_number(number)
            if record is None:
                raise ProviderRejected(
                    f"{self.label}: {number} is not a phone number of account "
                    f"{self.settings.account_sid}"
                )
            sid = self._number_sids[number] = str(record["sid"])
        url = self.api.url(
            API_VERSION,
            "Accounts",
            self.settings.account_sid,
            "IncomingPhoneNumbers",
            f"{sid}.json",
        )
        self._call(self.api, "POST", url, f"update {number}", form=form)

    # --- a trunk's origination URLs ---------------------------------------------------------

    def _read_trunk(self, trunk: str, items: Sequence[VoipItem]) -> dict[str, dict[str, Any]]:
        by_url: dict[str, list[dict[str, Any]]] = {}
        for record in self._origination_urls(trunk):
            by_url.setdefault(str(record.get("sip_url")), []).append(record)
        found: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for item in items:
            _check_fields(item, TRUNK_PARAMS, "twilio_trunk", self.label)
            records = by_url.get(item.item, [])
            if not records:
                missing.append(item.item)
                continue
            if len(records) > 1:
                raise ProviderRejected(
                    f"{self.label}: {item.item} is on trunk {trunk} {len(records)} times "
                    f"({', '.join(str(r.get('sid')) for r in records[:5])}): arbiter cannot tell "
                    "which one to change; remove the duplicates"
                )
            self._url_sids[(trunk, item.item)] = str(records[0]["sid"])
            found[item.item] = {f: _trunk_value(records[0], f) for f in item.fields}
        if missing:
            has = ", ".join(sorted(by_url)[:5]) or "none"
            raise ProviderRejected(
                f"{self.label}: {_listed(missing)} "
                + ("is not an origination URL" if len(missing) == 1 else "are not origination URLs")
                + f" of trunk {trunk} (it has: {has})"
            )
        return found

    def _origination_urls(self, trunk: str) -> list[dict[str, Any]]:
        """Every origination URL of the trunk (every page)."""
        path = f"/v1/Trunks/{trunk}/OriginationUrls"
        op = f"list origination URLs of trunk {trunk}"
        url = self.trunking.base_url + path
        params: dict[str, str] | None = {"PageSize": str(PAGE_SIZE)}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            body = self._call(self.trunking, "GET", url, op, params=params).body
            page = body.get("origination_urls") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ProviderRejected(
                    f"{self.label} {op}: the answer holds no origination_urls list (is "
                    "trunking_base_url the Trunking API's, such as https://trunking.twilio.com?)"
                )
            for record in page:
                if isinstance(record, dict) and record.get("sip_url"):
                    _sid(record, "OU", self.label, str(record["sip_url"]))
                    found.append(record)
            meta = body.get("meta")
            link = meta.get("next_page_url") if isinstance(meta, dict) else None
            if not link:
                return found
            url, params = self._next(self.trunking, str(link), path, op), None
        raise _too_many_pages(self.label, op)

    def _update_url(self, trunk: str, sip_url: str, form: dict[str, str]) -> None:
        sid = self._url_sids[(trunk, sip_url)]
        url = self.trunking.url("v1", "Trunks", trunk, "OriginationUrls", sid)
        self._call(self.trunking, "POST", url, f"update {sip_url} on trunk {trunk}", form=form)

    # --- calls ------------------------------------------------------------------------------

    def _secret_value(self) -> str:
        if self._password is None:
            self._password = self._secret(self.settings.auth_token_secret).strip()
        return self._password

    def _headers(self) -> dict[str, str]:
        user = self.settings.api_key_sid or self.settings.account_sid
        pair = f"{user}:{self._secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def _call(
        self,
        api: HttpApi,
        method: str,
        url: str,
        op: str,
        *,
        params: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> Answer:
        # The password travels base64-encoded in the header: mask its plain value too, should
        # an error ever quote it.
        return api.call(
            method, url, op=op, params=params, form=form, secrets=[self._secret_value()]
        )

    def _next(self, api: HttpApi, link: str, path: str, op: str) -> str:
        """The next page's URL: the link's path and query on the configured base, so the
        credentials never travel to a host the answer names."""
        parts = urlsplit(link)
        if parts.path != path:
            raise ProviderRejected(
                f"{self.label} {op}: the next page's link leads to {parts.path[:100]!r}, not "
                "to the same list"
            )
        return api.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    def _route(self, step: VoipStep) -> str:
        if step.route not in ("twilio_number", "twilio_trunk"):
            raise ProviderRejected(
                f"{self.label}: a {step.route} route cannot use a Twilio provider (it takes "
                "twilio_number and twilio_trunk routes)"
            )
        return step.route

    def _trunk(self, step: VoipStep) -> str:
        trunk = step.trunk or ""
        if not _SID["TK"].fullmatch(trunk):
            raise ProviderRejected(f"{self.label}: {trunk[:40]!r} is not a trunk SID (TK...)")
        return trunk


def _check_fields(item: VoipItem, params: dict[str, str], route: str, label: str) -> None:
    unknown = sorted(set(item.fields) - set(params))
    if unknown:
        raise ProviderRejected(
            f"{label}: {item.item}: {', '.join(unknown)} is not a field a {route} route sets "
            f"(it sets {', '.join(params)})"
        )


def _form(item: VoipItem, params: dict[str, str], route: str, label: str) -> dict[str, str]:
    """The item's fields as Twilio's form parameters."""
    _check_fields(item, params, route, label)
    form: dict[str, str] = {}
    for field, value in item.fields.items():
        name = params[field]
        if field == "enabled":
            if not isinstance(value, bool):
                raise ProviderRejected(f"{label}: {item.item}: enabled must be true or false")
            form[name] = "true" if value else "false"
        elif field == "priority":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ProviderRejected(
                    f"{label}: {item.item}: priority must be a number from 0 to 65535"
                )
            form[name] = str(value)
        else:
            if not isinstance(value, str) or not value:
                raise ProviderRejected(f"{label}: {item.item}: {field} must be a non-empty text")
            form[name] = value
    return form


def _trunk_value(record: dict[str, Any], field: str) -> Any:
    """``enabled`` as a bool and ``priority`` as an int, as Twilio documents them (a string
    form, should one ever come, is read the same)."""
    value = record.get(field)
    if field == "enabled" and isinstance(value, str):
        return {"true": True, "false": False}.get(value.lower(), value)
    if field == "priority" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _sid(record: dict[str, Any], prefix: str, label: str, item: str) -> str:
    """The record's SID, checked before it goes into a URL path."""
    sid = record.get("sid")
    if not isinstance(sid, str) or not _SID[prefix].fullmatch(sid):
        raise ProviderRejected(f"{label}: {item} has no valid {prefix} SID in Twilio's answer")
    return sid


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:5])
    return shown + (f" (and {len(items) - 5} more)" if len(items) > 5 else "")


def _too_many_pages(label: str, op: str) -> ProviderRejected:
    return ProviderRejected(
        f"{label} {op}: more than {MAX_PAGES} pages of {PAGE_SIZE}; arbiter reads at most "
        f"{MAX_PAGES * PAGE_SIZE} items of one list"
    )
