"""A local stand-in for Twilio's REST API (IncomingPhoneNumbers) and Trunking API
(OriginationUrls) on 127.0.0.1, one account, two servers (``url`` and ``trunking_url``, as
api.twilio.com and trunking.twilio.com are two hosts).

It answers in the shapes Twilio documents (twilio-oai ``twilio_api_v2010.json`` and
``twilio_trunking_v1.json``):

- HTTP basic auth: the account SID with its auth token, or an API key SID with its secret;
  anything else is 401 ``{"code": 20003, "message": "Authenticate", "more_info", "status"}``
  (also for a path naming another account);
- errors are ``{"code", "message", "more_info": "https://www.twilio.com/docs/errors/<code>",
  "status"}``; an unknown resource is 404 ``20404 The requested resource <path> was not
  found``;
- ``GET /2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json`` (``PhoneNumber`` matches partial
  numbers, ``*`` any digit; ``PageSize`` 1..1000, default 50; ``Page``; ``PageToken``) answers
  ``{incoming_phone_numbers, uri, first_page_uri, next_page_uri, previous_page_uri, page,
  page_size, start, end}`` with relative URIs; ``GET|POST .../IncomingPhoneNumbers/{PN}.json``
  (POST form-encoded with the documented update parameters: a bad ``VoiceUrl`` is 400 ``21502
  Invalid callback url``, a bad ``VoiceMethod`` 400 ``21403 Invalid Method``; ``TrunkSid``
  clears ``voice_application_sid`` and ``VoiceApplicationSid`` clears ``trunk_sid``, as
  documented);
- ``GET /v1/Trunks/{TK}/OriginationUrls`` (``PageSize``, ``Page``, ``PageToken``) answers
  ``{origination_urls, meta: {first_page_url, key, next_page_url, page, page_size,
  previous_page_url, url}}`` with absolute URLs; ``GET|POST
  /v1/Trunks/{TK}/OriginationUrls/{OU}`` (POST form ``Weight`` 1..65535, ``Priority``
  0..65535, ``Enabled`` true/false, ``FriendlyName``, ``SipUrl`` ``sip:`` only).

Stricter than Twilio, to catch a misspelt parameter: an unknown form parameter is 400 ``20001
Unknown parameters`` (Twilio documents 20001 as a warning and ignores the parameter), and a POST
body that is not ``application/x-www-form-urlencoded`` is refused. Values Twilio's codes are not
checked for here (an unknown ``TrunkSid``, a bad ``Enabled``/``Priority``/``Weight``/``SipUrl``,
a bad page token) are 400 with the stand-in's own code ``STANDIN_INVALID``.

Fault injection, the next ``n`` requests to either server: ``throttle(n, retry_after)`` (429
``20429``), ``fail(n, status)`` (500 ``20500`` / 503 ``20503``), ``stall(n, seconds)``,
``redirect(n)``, ``quote_secret(n)`` (a 400 whose message quotes the password sent),
``answer(n, status, body)`` (any JSON answer, such as a page with an odd paging link). With
``recording`` on, every request is kept in ``requests`` (server, method, path, query, headers,
form, Content-Type). ``filters = False`` makes the number list ignore ``PhoneNumber``;
``page_size`` caps every page.

    with TwilioStandIn(ACCOUNT, "auth-token") as tw:
        tw.add_number("+15551230001", voice_url="https://pbx1.example.com/voice")
        tw.url, tw.trunking_url  # base_url and trunking_base_url
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from arbiter.local.standins.http import Canned, HttpStandIn, Seen

API_VERSION = "2010-04-01"
STANDIN_INVALID = 21999
"""The stand-in's own error code for values whose Twilio code is not checked here."""
FORM = "application/x-www-form-urlencoded"
NUMBER_PARAMS = frozenset(
    {
        "ApiVersion",
        "FriendlyName",
        "SmsApplicationSid",
        "SmsFallbackMethod",
        "SmsFallbackUrl",
        "SmsMethod",
        "SmsUrl",
        "StatusCallback",
        "StatusCallbackMethod",
        "VoiceApplicationSid",
        "VoiceCallerIdLookup",
        "VoiceFallbackMethod",
        "VoiceFallbackUrl",
        "VoiceMethod",
        "VoiceUrl",
        "EmergencyStatus",
        "EmergencyAddressSid",
        "TrunkSid",
        "VoiceReceiveMode",
        "IdentitySid",
        "AddressSid",
        "BundleSid",
    }
)
"""The documented IncomingPhoneNumber update parameters (but ``AccountSid``, which moves the
number to another account and is not modelled)."""
URL_PARAMS = frozenset({"Weight", "Priority", "Enabled", "FriendlyName", "SipUrl"})
_METHOD_PARAMS = {"VoiceMethod", "VoiceFallbackMethod", "SmsMethod", "SmsFallbackMethod"}
_URL_PARAMS = {"VoiceUrl", "VoiceFallbackUrl", "SmsUrl", "SmsFallbackUrl", "StatusCallback"}
_NUMBERS = re.compile(rf"^/{API_VERSION}/Accounts/([^/]+)/IncomingPhoneNumbers(?:/([^/]+))?\.json$")
_URLS = re.compile(r"^/v1/Trunks/([^/]+)/OriginationUrls(?:/([^/]+))?$")


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def error_body(status: int, code: int, message: str) -> bytes:
    more = f"https://www.twilio.com/docs/errors/{code}"
    return json.dumps(
        {"code": code, "message": message, "more_info": more, "status": status}
    ).encode()


class Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(status, code, message)
        self.canned = Canned(status, error_body(status, code, message))


def _not_found(path: str) -> Refused:
    return Refused(404, 20404, f"The requested resource {path} was not found")


def _invalid(message: str) -> Refused:
    return Refused(400, STANDIN_INVALID, message)


def _rfc2822() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0), usegmt=False)


def _iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class TwilioStandIn(HttpStandIn):
    """One Twilio account: its numbers (by PN SID) and its trunks' origination URLs, on two
    servers: ``url`` (the REST API) and ``trunking_url`` (the Trunking API)."""

    servers = ("api", "trunking")

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_keys: Mapping[str, str] | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        """API key SID -> its secret."""
        self.page_size = page_size
        """When set, no page holds more than this many items, whatever ``PageSize`` says."""
        self.filters = True
        self.numbers: dict[str, dict[str, Any]] = {}
        self.trunks: dict[str, dict[str, dict[str, Any]]] = {}
        """Trunk SID -> its origination URLs by OU SID."""

    @property
    def trunking_url(self) -> str:
        """The Trunking API's base, as ``trunking_base_url`` takes it."""
        return self.base("trunking")

    # --- set-up -----------------------------------------------------------------------------

    def add_number(self, phone_number: str, **fields: Any) -> dict[str, Any]:
        """An IncomingPhoneNumber as Twilio shows it; ``fields`` override its values."""
        number_sid = sid("PN")
        now = _rfc2822()
        record: dict[str, Any] = {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "date_created": now,
            "date_updated": now,
            "emergency_status": "Inactive",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "friendly_name": phone_number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": phone_number,
            "sid": number_sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status_callback": "",
            "status_callback_method": "POST",
            "trunk_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/"
            f"{number_sid}.json",
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_url": None,
            "bundle_sid": None,
            "voice_receive_mode": "voice",
            "status": "in-use",
            "type": "local",
            **fields,
        }
        with self._lock:
            self.numbers[number_sid] = record
        return copy.deepcopy(record)

    def add_trunk(self, trunk_sid: str | None = None) -> str:
        trunk_sid = trunk_sid or sid("TK")
        with self._lock:
            self.trunks.setdefault(trunk_sid, {})
        return trunk_sid

    def add_origination_url(
        self,
        trunk_sid: str,
        sip_url: str,
        *,
        enabled: bool = True,
        priority: int = 10,
        weight: int = 10,
        friendly_name: str | None = None,
    ) -> dict[str, Any]:
        url_sid = sid("OU")
        now = _iso()
        record = {
            "weight": weight,
            "date_updated": now,
            "enabled": enabled,
            "friendly_name": friendly_name or sip_url.removeprefix("sip:"),
            "account_sid": self.account_sid,
            "priority": priority,
            "sip_url": sip_url,
            "sid": url_sid,
            "date_created": now,
            "trunk_sid": trunk_sid,
            "url": f"https://trunking.twilio.com/v1/Trunks/{trunk_sid}/OriginationUrls/{url_sid}",
        }
        with self._lock:
            self.trunks.setdefault(trunk_sid, {})[url_sid] = record
        return copy.deepcopy(record)

    def number(self, phone_number: str) -> dict[str, Any]:
        with self._lock:
            for record in self.numbers.values():
                if record["phone_number"] == phone_number:
                    return copy.deepcopy(record)
        raise KeyError(phone_number)

    def origination_url(self, trunk_sid: str, sip_url: str) -> dict[str, Any]:
        with self._lock:
            for record in self.trunks[trunk_sid].values():
                if record["sip_url"] == sip_url:
                    return copy.deepcopy(record)
        raise KeyError(sip_url)

    # --- faults and records -----------------------------------------------------------------

    def throttle(self, n: int, retry_after: str = "0") -> None:
        """The next ``n`` requests answer 429 ``20429`` with ``Retry-After``."""
        body = error_body(429, 20429, "Too Many Requests")
        self._set_faults([Canned(429, body, {"Retry-After": retry_after})] * n)

    def fail(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer 500 ``20500`` (or 503 ``20503``)."""
        code, message = (
            (20503, "Service unavailable") if status == 503 else (20500, "Internal Server Error")
        )
        self._set_faults([Canned(status, error_body(status, code, message))] * n)

    def stall(self, n: int, seconds: float, status: int = 429) -> None:
        """The next ``n`` requests get their answer (429 ``20429``) only after ``seconds``."""
        body = error_body(status, 20429, "Too Many Requests")
        self._set_faults([Canned(status, body, delay=seconds)] * n)

    def redirect(self, n: int, location: str = "https://elsewhere.invalid/") -> None:
        self._set_faults([Canned(307, b"", {"Location": location})] * n)

    def answer(self, n: int, status: int, body: Any) -> None:
        """The next ``n`` requests get ``body`` (as JSON) with ``status``, whatever they ask."""
        self._set_faults([Canned(status, json.dumps(body).encode())] * n)

    def quote_secret(self, n: int) -> None:
        """The next ``n`` requests answer 400 with a message quoting the password sent."""
        self._set_faults(["quote-secret"] * n)

    # --- the APIs ---------------------------------------------------------------------------

    def _too_large(self) -> Canned:
        return Canned(413, error_body(413, STANDIN_INVALID, "Request too large"))

    def _route(self, seen: Seen, fault: str | None) -> Canned:
        user, password = _basic(seen.header("Authorization"))
        if fault == "quote-secret":
            return Refused(400, STANDIN_INVALID, f"Bad credential {password!r}").canned
        try:
            self._authenticate(user, password)
            if seen.method not in ("GET", "POST", "DELETE"):
                raise Refused(405, STANDIN_INVALID, f"Method {seen.method} not allowed")
            if seen.raw and seen.content_type.split(";")[0].strip() != FORM:
                raise _invalid(f"POST bodies are {FORM} (the stand-in's check)")
            if seen.server == "api":
                status, body = self._api(seen)
            else:
                status, body = self._trunking(seen)
        except Refused as refused:
            if refused.canned.status == 401:
                return Canned(
                    401, refused.canned.body, {"WWW-Authenticate": 'Basic realm="Twilio API"'}
                )
            return refused.canned
        return Canned(status, json.dumps(body).encode())

    def _authenticate(self, user: str, password: str) -> None:
        if (user == self.account_sid and password == self.auth_token) or (
            user in self.api_keys and password == self.api_keys[user]
        ):
            return
        raise Refused(401, 20003, "Authenticate")

    def _api(self, seen: Seen) -> tuple[int, Any]:
        match = _NUMBERS.match(seen.path)
        if match is None:
            raise _not_found(seen.path)
        account, number_sid = match.groups()
        if account != self.account_sid:
            raise Refused(401, 20003, "Authenticate")
        if number_sid is None:
            if seen.method != "GET":
                raise _not_found(seen.path)
            return 200, self._list_numbers(seen)
        record = self.numbers.get(number_sid)
        if record is None or seen.method not in ("GET", "POST"):
            raise _not_found(seen.path)
        if seen.method == "POST":
            self._update_number(record, seen.form)
        return 200, copy.deepcopy(record)

    def _list_numbers(self, seen: Seen) -> dict[str, Any]:
        pattern = _first(seen.query, "PhoneNumber")
        wanted = None
        if pattern and self.filters:
            wanted = re.compile("".join("[0-9]" if c == "*" else re.escape(c) for c in pattern))
        found = [
            copy.deepcopy(r)
            for r in self.numbers.values()
            if wanted is None or wanted.search(r["phone_number"])
        ]
        shown, page, size, start, token = self._page(found, seen.query)
        kept = {k: v for k, v in (("PhoneNumber", pattern),) if v is not None}

        def uri(page_no: int, page_token: str | None) -> str:
            query = {**kept, "PageSize": str(size), "Page": str(page_no)}
            if page_token:
                query["PageToken"] = page_token
            return f"{seen.path}?{urlencode(query)}"

        more = start + len(shown) < len(found)
        return {
            "end": start + max(len(shown) - 1, 0),
            "first_page_uri": uri(0, None),
            "incoming_phone_numbers": shown,
            "next_page_uri": uri(page + 1, "PA" + shown[-1]["sid"]) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1, None) if page > 0 else None,
            "start": start,
            "uri": uri(page, token),
        }

    def _update_number(self, record: dict[str, Any], form: dict[str, list[str]]) -> None:
        values = _single(form, NUMBER_PARAMS)
        for name, value in values.items():
            if name in _URL_PARAMS and value and not re.match(r"^https?://[^\s/]+", value):
                raise Refused(400, 21502, "Invalid callback url")
            if name in _METHOD_PARAMS and value.upper() not in ("GET", "POST"):
                raise Refused(400, 21403, "Invalid Method")
            if name == "TrunkSid" and value and value not in self.trunks:
                raise _invalid(f"TrunkSid {value} is not a trunk of this account")
        for name, value in values.items():
            key = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
            if name in _METHOD_PARAMS:
                value = value.upper()
            if name == "TrunkSid":
                record["trunk_sid"] = value or None
                if value:
                    record["voice_application_sid"] = ""
            elif name == "VoiceApplicationSid":
                record["voice_application_sid"] = value
                if value:
                    record["trunk_sid"] = None
            elif name == "VoiceCallerIdLookup":
                record[key] = value.lower() == "true"
            else:
                record[key] = value
        record["date_updated"] = _rfc2822()

    def _trunking(self, seen: Seen) -> tuple[int, Any]:
        match = _URLS.match(seen.path)
        trunk = self.trunks.get(match.group(1)) if match else None
        if match is None or trunk is None:
            raise _not_found(seen.path.removeprefix("/v1"))
        url_sid = match.group(2)
        if url_sid is None:
            if seen.method != "GET":
                raise _not_found(seen.path.removeprefix("/v1"))
            return 200, self._list_urls(seen, trunk)
        record = trunk.get(url_sid)
        if record is None or seen.method not in ("GET", "POST"):
            raise _not_found(seen.path.removeprefix("/v1"))
        if seen.method == "POST":
            self._update_url(record, seen.form)
        return 200, copy.deepcopy(record)

    def _list_urls(self, seen: Seen, trunk: dict[str, dict[str, Any]]) -> dict[str, Any]:
        found = [copy.deepcopy(r) for r in trunk.values()]
        shown, page, size, start, token = self._page(found, seen.query)
        base = self.trunking_url + seen.path

        def url(page_no: int, page_token: str | None) -> str:
            query = {"PageSize": str(size), "Page": str(page_no)}
            if page_token:
                query["PageToken"] = page_token
            return f"{base}?{urlencode(query)}"

        more = start + len(shown) < len(found)
        return {
            "meta": {
                "first_page_url": url(0, None),
                "key": "origination_urls",
                "next_page_url": url(page + 1, "PA" + shown[-1]["sid"]) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_url": url(page - 1, None) if page > 0 else None,
                "url": url(page, token),
            },
            "origination_urls": shown,
        }

    def _update_url(self, record: dict[str, Any], form: dict[str, list[str]]) -> None:
        values = _single(form, URL_PARAMS)
        update: dict[str, Any] = {}
        for name, value in values.items():
            if name == "Enabled":
                if value.lower() not in ("true", "false"):
                    raise _invalid(f"Enabled must be true or false, not {value[:20]!r}")
                update["enabled"] = value.lower() == "true"
            elif name in ("Priority", "Weight"):
                low = 0 if name == "Priority" else 1
                if not value.isdigit() or not low <= int(value) <= 65535:
                    raise _invalid(f"{name} must be an integer from {low} to 65535")
                update[name.lower()] = int(value)
            elif name == "SipUrl":
                if not value.startswith("sip:"):
                    raise _invalid("SipUrl must be a sip: URI (sips is not supported)")
                update["sip_url"] = value
            else:
                if len(value) > 64:
                    raise _invalid("FriendlyName is up to 64 characters")
                update["friendly_name"] = value
        record.update(update)
        record["date_updated"] = _iso()

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[list[dict[str, Any]], int, int, int, str | None]:
        """(this page's items, page, page size, start index, page token)."""
        size_text = _first(query, "PageSize") or "50"
        page_text = _first(query, "Page") or "0"
        if not size_text.isdigit() or not 1 <= int(size_text) <= 1000:
            raise _invalid("PageSize must be an integer from 1 to 1000")
        if not page_text.isdigit():
            raise _invalid("Page must be an integer from 0")
        size = min(int(size_text), self.page_size or 1000)
        page = int(page_text)
        token = _first(query, "PageToken")
        if token:
            after = [i for i, r in enumerate(items) if "PA" + r["sid"] == token]
            if not after:
                raise _invalid(f"PageToken {token[:40]} is not valid")
            start = after[0] + 1
        else:
            start = page * size
        return items[start : start + size], page, size, start, token


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme != "Basic":
        return "", ""
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    return user, password


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _single(form: dict[str, list[str]], allowed: frozenset[str]) -> dict[str, str]:
    unknown = sorted(set(form) - allowed)
    if unknown:
        raise Refused(400, 20001, f"Unknown parameters: {', '.join(unknown)}")
    repeated = sorted(name for name, values in form.items() if len(values) > 1)
    if repeated:
        raise _invalid(f"{repeated[0]} is given {len(form[repeated[0]])} times")
    return {name: values[0] for name, values in form.items()}
