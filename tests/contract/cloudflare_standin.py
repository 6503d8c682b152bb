"""A local stand-in for Cloudflare's API v4 (zones and DNS records) on 127.0.0.1.

It answers the requests the Cloudflare adapter sends, in the shapes Cloudflare documents:

- every answer is the envelope ``{"success", "errors": [{"code", "message"}], "messages",
  "result"}``, lists with ``result_info`` {page, per_page, count, total_count, total_pages};
- ``Authorization: Bearer <token>``: none or another scheme is 400 ``6003 Invalid request
  headers`` (chain ``6111``), a wrong token is 403 ``10000 Authentication error``;
- ``GET /zones?name=``; ``GET|POST /zones/{id}/dns_records`` (filters ``name.exact`` (or
  ``name``), ``type``, ``page``, ``per_page``); ``GET|PUT|PATCH|DELETE
  /zones/{id}/dns_records/{record}``; ``POST /zones/{id}/dns_records/batch`` (``deletes``,
  ``patches``, ``puts``, ``posts`` run in that order in one transaction: the first error
  is the answer and nothing is applied);
- an unknown zone or path is 400 ``7003 Could not route to ..., perhaps your object
  identifier is invalid?`` and ``7000 No route for that URI``; an unknown record is 404;
- records: A/AAAA ``content`` an address (else 400 ``9005``/``9006``, AAAA stored in canonical
  form), CNAME a host, MX ``content`` host plus ``priority``, SRV ``data`` {priority, weight,
  port, target} (stored with ``content`` "weight port target" and ``priority``), TXT
  ``content`` quoted strings (unquoted text is quoted); ``ttl`` 1 (automatic) or from
  ``min_ttl`` (30 on Enterprise, 60 otherwise) to 86400 (else 400 ``1004 DNS Validation Error``
  with chain ``9021``); ``proxied`` only on A/AAAA/CNAME (else chain ``9041``) and a proxied
  record's TTL is automatic; an identical record is 400 ``81058``, a CNAME beside an A/AAAA
  record 400 ``81053``/``81054``. Other malformed content is 400 ``1004`` with a chain code
  ``9000`` of the stand-in's own (Cloudflare's exact codes for those are not checked here).

Fault injection: ``throttle(n)`` (429 with ``retry-after``, which Cloudflare's docs spell in
lower case), ``fail(n, status)`` (an HTML 5xx page, as an edge answers), ``stall(n, seconds)``
(an answer held back), ``redirect(n)``, ``quote_token(n)`` (a 400 whose message quotes the
token sent, without its ``Bearer`` scheme). With ``recording`` on, every request is kept
(method, path, query, headers, JSON body) in ``requests``.

    with CloudflareStandIn(token="t0ken", zones={"example.test": ZONE_ID}) as cf:
        cf.url  # http://127.0.0.1:PORT/client/v4
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import dns.exception
import dns.name
import dns.rdata

PREFIX = "/client/v4"
PROXIABLE = {"A", "AAAA", "CNAME"}
TYPES = {"A", "AAAA", "CNAME", "MX", "TXT", "SRV"}
BODY_LIMIT = 1024 * 1024
MAX_TTL = 86400


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Canned:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0
    """Seconds to hold the answer back (cut short by ``stop()``)."""


@dataclass
class Zone:
    id: str
    name: str
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


class Refused(Exception):
    """An API error: the HTTP status and Cloudflare's ``errors`` list."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors


def _error(code: int, message: str, chain: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, **({"error_chain": chain} if chain else {})}


def _invalid(code: int, message: str) -> Refused:
    return Refused(400, [_error(1004, "DNS Validation Error", [_error(code, message)])])


def _envelope(result: Any, errors: list[dict[str, Any]] | None = None, **extra: Any) -> bytes:
    body = {
        "success": not errors,
        "errors": errors or [],
        "messages": [],
        "result": result,
        **extra,
    }
    return json.dumps(body).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a client that connects and sends nothing does not hold a thread for ever

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        if size > BODY_LIMIT:
            self._send(Canned(413, _envelope(None, [_error(413, "Request too large")])))
            return
        raw = self.rfile.read(size) if size else b""
        try:
            body = json.loads(raw) if raw.strip() else None
            malformed = False
        except ValueError:
            body, malformed = raw.decode("utf-8", "replace"), True
        standin._seen(Seen(self.command, parts.path, query, dict(self.headers.items()), body))
        self._send(standin._answer(self.command, parts.path, query, body, malformed, self.headers))

    def _send(self, canned: Canned) -> None:
        if canned.delay and self.server.standin._stopping.wait(canned.delay):
            return
        self.send_response(canned.status)
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", canned.content_type)
        self.send_header("Content-Length", str(len(canned.body)))
        self.end_headers()
        self.wfile.write(canned.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: CloudflareStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up are part of the tests


class CloudflareStandIn:
    """Cloudflare's API v4 for the zones given (``{name: id}``, ids made up when None)."""

    def __init__(
        self, token: str, zones: Mapping[str, str | None] | None = None, *, min_ttl: int = 30
    ) -> None:
        self.token = token
        self.min_ttl = min_ttl
        self.recording = False
        self.requests: list[Seen] = []
        self.filters = True
        """Off: listing records ignores ``name.exact``/``name`` and ``type`` (as a server that
        does not know them would), so a client must check what it gets."""
        self.zones: dict[str, Zone] = {}
        for name, zone_id in (zones or {}).items():
            self.add_zone(name, zone_id)
        self._faults: list[Canned | str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clock = itertools.count()

    # --- life -------------------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API base, as ``base_url`` takes it."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    # --- set-up and faults ------------------------------------------------------------------

    def add_zone(self, name: str, zone_id: str | None = None) -> str:
        zone = Zone(zone_id or uuid.uuid4().hex, name.lower().removesuffix("."))
        self.zones[zone.id] = zone
        return zone.id

    def zone(self, name_or_id: str) -> Zone:
        name = name_or_id.lower().removesuffix(".")
        for zone in self.zones.values():
            if name_or_id == zone.id or name == zone.name:
                return zone
        raise KeyError(name_or_id)

    def add_record(self, zone: str, **fields: Any) -> dict[str, Any]:
        """Put a record in place as Cloudflare would store it (validated like a POST)."""
        with self._lock:
            target = self.zone(zone)
            record = self._make(target, fields, None)
            target.records[record["id"]] = record
            return copy.deepcopy(record)

    def records(self, zone: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self.zone(zone).records.values()))

    def throttle(self, n: int, retry_after: str = "0") -> None:
        """The next ``n`` requests answer 429 with ``Retry-After``; 0 clears the faults."""
        body = _envelope(
            None,
            [_error(971, "Please wait and consider throttling your request speed")],
        )
        self._set_faults([Canned(429, body, {"retry-after": retry_after})] * n)

    def fail(self, n: int, status: int = 500) -> None:
        """The next ``n`` requests answer ``status`` with an HTML error page."""
        page = f"<html><body><h1>{status} Internal Server Error</h1></body></html>".encode()
        self._set_faults([Canned(status, page, content_type="text/html")] * n)

    def stall(self, n: int, seconds: float) -> None:
        """The next ``n`` requests get their (429) answer only after ``seconds``."""
        body = _envelope(None, [_error(971, "Please wait and consider throttling")])
        self._set_faults([Canned(429, body, delay=seconds)] * n)

    def redirect(self, n: int, location: str = "https://elsewhere.invalid/client/v4") -> None:
        self._set_faults([Canned(302, b"", {"Location": location})] * n)

    def quote_token(self, n: int) -> None:
        """The next ``n`` requests answer 400 with a message quoting the token sent."""
        self._set_faults(["quote-token"] * n)

    def _set_faults(self, faults: list[Canned | str]) -> None:
        with self._lock:
            self._faults = list(faults)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _seen(self, seen: Seen) -> None:
        with self._lock:
            if self.recording:
                self.requests.append(seen)

    # --- the API ----------------------------------------------------------------------------

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        malformed: bool,
        headers: Any,
    ) -> Canned:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if isinstance(fault, Canned):
                return fault
            sent = str(headers.get("Authorization", ""))
            if fault == "quote-token":
                said = f"Invalid format for Authorization header: {sent.partition(' ')[2]!r}"
                error = _error(6003, "Invalid request headers", [_error(6111, said)])
                return Canned(400, _envelope(None, [error]))
            try:
                self._authorise(sent)
                if malformed:
                    raise Refused(400, [_error(6007, "Malformed JSON in request body")])
                status, result, extra = self._route(method, path, query, body)
            except Refused as refused:
                return Canned(refused.status, _envelope(None, refused.errors))
            return Canned(status, _envelope(result, **extra))

    def _authorise(self, sent: str) -> None:
        scheme, _, token = sent.partition(" ")
        if scheme != "Bearer" or not token:
            chain = [_error(6111, "Invalid format for Authorization header")]
            raise Refused(400, [_error(6003, "Invalid request headers", chain)])
        if token != self.token:
            raise Refused(403, [_error(10000, "Authentication error")])

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, Any]]:
        parts = path.removeprefix(PREFIX).strip("/").split("/") if path.startswith(PREFIX) else []
        zone = self.zones.get(parts[1]) if len(parts) >= 2 and parts[0] == "zones" else None
        if parts == ["zones"] and method == "GET":
            return self._list_zones(query)
        if zone is not None and parts[2:] == ["dns_records"]:
            if method == "GET":
                return self._list_records(zone, query)
            if method == "POST":
                record = self._make(zone, _fields(body), None)
                zone.records[record["id"]] = record
                return 200, record, {}
        if zone is not None and parts[2:] == ["dns_records", "batch"] and method == "POST":
            return 200, self._batch(zone, body), {}
        if zone is not None and len(parts) == 4 and parts[2] == "dns_records":
            return 200, self._one(zone, method, parts[3], body), {}
        raise Refused(
            400,
            [
                _error(
                    7003,
                    f"Could not route to {path}, perhaps your object identifier is invalid?",
                ),
                _error(7000, "No route for that URI"),
            ],
        )

    def _list_zones(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, Any]]:
        name = _first(query, "name")
        zones = [
            {
                "id": z.id,
                "name": z.name,
                "status": "active",
                "paused": False,
                "type": "full",
                "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            }
            for z in self.zones.values()
            if name is None or z.name == name.lower().removesuffix(".")
        ]
        return _page(zones, query, 20, 50)

    def _list_records(self, zone: Zone, query: dict[str, list[str]]) -> tuple[int, Any, Any]:
        name = _first(query, "name.exact") or _first(query, "name")
        rtype = _first(query, "type")
        if not self.filters:
            name = rtype = None
        found = [
            copy.deepcopy(r)
            for r in zone.records.values()
            if (name is None or r["name"] == name.lower().removesuffix("."))
            and (rtype is None or r["type"] == rtype)
        ]
        return _page(found, query, 100, 5_000_000)

    def _one(self, zone: Zone, method: str, record_id: str, body: Any) -> Any:
        current = zone.records.get(record_id)
        if current is None:
            raise Refused(404, [_error(81044, "Record does not exist.")])
        if method == "GET":
            return copy.deepcopy(current)
        if method == "DELETE":
            del zone.records[record_id]
            return {"id": record_id}
        if method in ("PUT", "PATCH"):
            fields = _fields(body)
            if method == "PATCH":
                fields = {**_stored_fields(current), **fields}
            zone.records[record_id] = self._make(zone, fields, current)
            return copy.deepcopy(zone.records[record_id])
        raise Refused(405, [_error(10405, f"Method {method} not allowed")])

    def _batch(self, zone: Zone, body: Any) -> dict[str, list[Any]]:
        """Deletes, patches, puts, posts, on a copy: the zone changes only if all pass."""
        if not isinstance(body, dict):
            raise Refused(400, [_error(6007, "Malformed JSON in request body")])
        work = Zone(zone.id, zone.name, copy.deepcopy(zone.records))
        done: dict[str, list[Any]] = {"deletes": [], "patches": [], "puts": [], "posts": []}
        for part in ("deletes", "patches", "puts", "posts"):
            ops = body.get(part) or []
            if not isinstance(ops, list):
                raise Refused(400, [_error(1004, f"{part} must be a list")])
            for op in ops:
                fields = _fields(op)
                if part == "posts":
                    record = self._make(work, fields, None)
                    work.records[record["id"]] = record
                    done[part].append(copy.deepcopy(record))
                    continue
                record_id = str(fields.pop("id", ""))
                current = work.records.get(record_id)
                if current is None:
                    raise Refused(404, [_error(81044, "Record does not exist.")])
                if part == "deletes":
                    done[part].append(work.records.pop(record_id))
                    continue
                if part == "patches":
                    fields = {**_stored_fields(current), **fields}
                work.records[record_id] = self._make(work, fields, current)
                done[part].append(copy.deepcopy(work.records[record_id]))
        zone.records = work.records
        return done

    # --- records ----------------------------------------------------------------------------

    def _make(
        self, zone: Zone, fields: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A record as Cloudflare stores it, from the request's fields (Refused if invalid)."""
        rtype = fields.get("type")
        if not isinstance(rtype, str) or rtype not in TYPES:
            raise _invalid(9000, f"Unsupported or missing record type {rtype!r}.")
        name = _name(zone, fields.get("name"))
        ttl = fields.get("ttl", 1)
        if (
            not isinstance(ttl, int)
            or isinstance(ttl, bool)
            or not (ttl == 1 or self.min_ttl <= ttl <= MAX_TTL)
        ):
            raise _invalid(
                9021,
                f"TTL must be between {self.min_ttl} and {MAX_TTL} seconds, or 1 for Automatic.",
            )
        proxied = fields.get("proxied", False)
        if not isinstance(proxied, bool) or (proxied and rtype not in PROXIABLE):
            raise _invalid(9041, "Invalid proxied mode. Record cannot be proxied")
        record: dict[str, Any] = {
            "id": current["id"] if current else uuid.uuid4().hex,
            "zone_id": zone.id,
            "zone_name": zone.name,
            "name": name,
            "type": rtype,
            "proxiable": rtype in PROXIABLE,
            "proxied": proxied,
            "ttl": 1 if proxied else ttl,
            "locked": False,
            "meta": {"source": "primary"},
            "comment": fields.get("comment"),
            "tags": list(fields.get("tags") or []),
            "created_on": current["created_on"] if current else _now(),
            "modified_on": _now(),
            **_content(rtype, fields),
        }
        self._check_conflicts(zone, record)
        return record

    def _check_conflicts(self, zone: Zone, record: dict[str, Any]) -> None:
        for other in zone.records.values():
            if other["id"] == record["id"] or other["name"] != record["name"]:
                continue
            if record["type"] == "CNAME" and other["type"] in PROXIABLE:
                raise Refused(
                    400,
                    [_error(81053, "An A, AAAA, or CNAME record with that host already exists.")],
                )
            if record["type"] in ("A", "AAAA") and other["type"] == "CNAME":
                raise Refused(400, [_error(81054, "A CNAME record with that host already exists.")])
            same = ("type", "content", "priority", "data")
            if all(other.get(k) == record.get(k) for k in same):
                raise Refused(400, [_error(81058, "An identical record already exists.")])


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    text = _first(query, name)
    if text is None:
        return default
    if not text.isdigit():
        raise Refused(400, [_error(1004, f"{name} must be a number")])
    return max(low, min(high, int(text)))


def _page(
    items: list[Any], query: dict[str, list[str]], default: int, most: int
) -> tuple[int, Any, dict[str, Any]]:
    per_page = _int(query, "per_page", default, 5, most)
    page = _int(query, "page", 1, 1, 1_000_000)
    shown = items[(page - 1) * per_page : page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(shown),
        "total_count": len(items),
        "total_pages": max(1, -(-len(items) // per_page)),
    }
    return 200, shown, {"result_info": info}


def _fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Refused(400, [_error(6007, "Malformed JSON in request body")])
    return dict(body)


def _stored_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What a PATCH starts from: the record's own writable fields."""
    keys = ("name", "type", "content", "priority", "data", "ttl", "proxied", "comment", "tags")
    return {k: copy.deepcopy(record[k]) for k in keys if k in record}


def _name(zone: Zone, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _invalid(9000, "DNS record name is required.")
    name = name.strip().lower().removesuffix(".")
    if name == "@":
        return zone.name
    if name != zone.name and not name.endswith("." + zone.name):
        name = f"{name}.{zone.name}"  # relative to the zone, as Cloudflare takes it
    _host(name, "name")
    return name


def _host(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text.strip() or any(c.isspace() for c in text.strip()):
        raise _invalid(9000, f"Content for {what} is invalid.")
    try:
        dns.name.from_text(text)
    except dns.exception.DNSException:
        raise _invalid(9000, f"Content for {what} is invalid.") from None
    return text.strip().removesuffix(".") or "."


def _uint16(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise _invalid(9000, f"{what} must be an integer from 0 to 65535.")
    return value


def _content(rtype: str, fields: dict[str, Any]) -> dict[str, Any]:
    content = fields.get("content")
    if rtype == "A":
        try:
            return {"content": str(ipaddress.IPv4Address(str(content)))}
        except ValueError:
            raise Refused(
                400, [_error(9005, "Content for A record must be a valid IPv4 address.")]
            ) from None
    if rtype == "AAAA":
        try:
            return {"content": str(ipaddress.IPv6Address(str(content)))}
        except ValueError:
            raise Refused(
                400, [_error(9006, "Content for AAAA record must be a valid IPv6 address.")]
            ) from None
    if rtype == "CNAME":
        return {"content": _host(content, "CNAME record")}
    if rtype == "MX":
        priority = _uint16(fields.get("priority"), "priority")
        return {"content": _host(content, "MX record"), "priority": priority}
    if rtype == "TXT":
        return {"content": _txt(content)}
    data = fields.get("data")
    if not isinstance(data, dict):
        raise _invalid(9000, "SRV records need data {priority, weight, port, target}.")
    priority, weight, port = (_uint16(data.get(k), k) for k in ("priority", "weight", "port"))
    target = _host(data.get("target"), "SRV target")
    return {
        "content": f"{weight} {port} {target}",
        "priority": priority,
        "data": {"port": port, "priority": priority, "target": target, "weight": weight},
    }


def _txt(content: Any) -> str:
    if not isinstance(content, str) or len(content) > 2048:
        raise _invalid(9000, "Content for TXT record is invalid.")
    text = content.strip()
    if not text.startswith('"'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        text = f'"{escaped}"'  # "Cloudflare will automatically add double quotes"
    try:
        dns.rdata.from_text("IN", "TXT", text)
    except dns.exception.DNSException:
        raise _invalid(9000, "Content for TXT record is invalid (inconsistent quotes).") from None
    return text
