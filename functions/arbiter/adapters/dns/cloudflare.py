"""Cloudflare DNS through the API v4, with an API token (Zone → DNS → Edit).

Cloudflare keeps one record per value: a record set (``www A`` with three addresses) is the
records of that name and type. ``upsert`` lists them (``GET /zones/{zone}/dns_records`` with
``name.exact`` and ``type``), keeps each record that already serves a wanted value with the
right TTL and proxy status, and sends what differs in one call to the batch endpoint
(``POST /zones/{zone}/dns_records/batch``), which Cloudflare runs in one transaction (all of
it or none), in the order deletes, patches, puts, posts:

- a record whose value is no longer wanted is overwritten (``puts``) with a missing value, so
  changing one address of a round-robin set is one ``put`` of that record;
- records left over are deleted, values left over are created (``posts``);
- a record with a wanted value but the wrong TTL or proxy status is overwritten in place.

Record sets of one upsert go in the same batch (several batches of whole sets only when they
pass Cloudflare's per-batch limit). Cloudflare serves a write at once, so ``wait_applied``
has nothing to wait for.

Values convert between presentation format and Cloudflare's fields: MX is ``content`` (the
host) plus ``priority``; SRV is ``data`` {priority, weight, port, target}; TXT ``content`` is
the quoted character strings; host names go without the final dot. ``ttl`` 1 is Cloudflare's
"automatic" (300 s), which proxied records always have.

A zone is given by id (32 hex digits) or by name, looked up once with ``GET /zones?name=``
(the token then also needs Zone → Zone → Read).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.exception
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.IN.SRV import SRV

from arbiter.adapters.dns import Change
from arbiter.adapters.http import Answer, HttpApi, mask
from arbiter.core.config import CloudflareProvider
from arbiter.core.errors import ProviderRejected
from arbiter.core.records import RecordSet, RecordType, fqdn, key, parse, presentation

ZONE_ID = re.compile(r"[0-9a-f]{32}")
PROXIABLE = frozenset({RecordType.A, RecordType.AAAA, RecordType.CNAME})
AUTO_TTL = 1
"""Cloudflare's "automatic" TTL, which it serves as 300 seconds."""
AUTO_TTL_SECONDS = 300
PAGE_SIZE = 100
MAX_PAGES = 20
"""Records of one name and type read at most: PAGE_SIZE * MAX_PAGES."""
BATCH_LIMIT = 200
"""Operations in one batch call on every plan (Free allows 200, the others 3,500)."""
COMMENT_LIMIT = 100
"""A record comment's length on every plan (Free allows 100 characters)."""


def describe(answer: Answer) -> str:
    """Cloudflare's ``errors`` as ``code: message`` pairs, with any ``error_chain`` nested."""
    body = answer.body
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(_error(e) for e in errors[:5])
        for name in ("error", "message"):
            if isinstance(body.get(name), str):
                return str(body[name])[:200]
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""


def _error(error: Any, depth: int = 0) -> str:
    if not isinstance(error, dict):
        return " ".join(str(error).split())[:200]
    text = f"{error.get('code', '?')}: {' '.join(str(error.get('message', '')).split())}"
    chain = error.get("error_chain")
    if isinstance(chain, list) and chain and depth < 3:
        text += " (" + "; ".join(_error(e, depth + 1) for e in chain[:5]) + ")"
    return text


def _host(name: Any) -> str:
    """A dnspython name as Cloudflare writes a host: without the final dot (the root: ".")."""
    return str(name.to_text(omit_final_dot=True))


def to_cloudflare(rtype: RecordType, value: str) -> dict[str, Any]:
    """A presentation value as the fields of a Cloudflare record."""
    rdata = parse(rtype, value)
    if isinstance(rdata, MX):
        return {"content": _host(rdata.exchange), "priority": rdata.preference}
    if isinstance(rdata, SRV):
        data = {"priority": rdata.priority, "weight": rdata.weight, "port": rdata.port}
        return {"data": {**data, "target": _host(rdata.target)}}
    if isinstance(rdata, CNAME):
        return {"content": _host(rdata.target)}
    return {"content": rdata.to_text()}  # A, AAAA; TXT as its quoted strings


def from_cloudflare(rtype: RecordType, record: dict[str, Any]) -> str:
    """A Cloudflare record's value in presentation format (ValueError if it is not one)."""
    try:
        return parse(rtype, _text(rtype, record)).to_text()
    except (ValueError, TypeError, KeyError, dns.exception.DNSException) as exc:
        shown = str(record.get("content") or record.get("data"))[:100]
        raise ValueError(f"{rtype.value} {shown!r} is not a value arbiter reads ({exc})") from None


def _text(rtype: RecordType, record: dict[str, Any]) -> str:
    content = str(record.get("content") or "").strip()
    if rtype is RecordType.CNAME:
        return fqdn(content)
    if rtype is RecordType.MX:
        return f"{int(record.get('priority') or 0)} {fqdn(content)}"
    if rtype is RecordType.SRV:
        data = record.get("data")
        if isinstance(data, dict) and {"priority", "weight", "port", "target"} <= data.keys():
            numbers = " ".join(str(int(data[k])) for k in ("priority", "weight", "port"))
            return f"{numbers} {fqdn(str(data['target']))}"
        parts = content.split()  # "weight port target", the priority beside it
        if len(parts) == 3:
            parts.insert(0, str(int(record.get("priority") or 0)))
        return " ".join([*parts[:3], fqdn(parts[3])]) if len(parts) == 4 else content
    if rtype is RecordType.TXT and not content.startswith('"'):
        return presentation(rtype, content)  # stored unquoted (records made before quoting)
    return content


@dataclass
class _Plan:
    """What one record set needs: Cloudflare batch operations, and its label."""

    label: str
    deletes: list[dict[str, Any]] = field(default_factory=list)
    puts: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.deletes) + len(self.puts) + len(self.posts)


class Cloudflare:
    """The DNS port on Cloudflare. ``secret(settings.token_secret)`` is the API token, fetched
    on the first call; ``sleep`` and ``clock`` drive the retries (tests pass their own)."""

    def __init__(
        self,
        name: str,
        settings: CloudflareProvider,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
    ) -> None:
        self.label = f"{name} (cloudflare)"
        self.settings = settings
        self._secret = secret
        self._token: str | None = None
        self._zone_ids: dict[str, str] = {}
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

    # --- the port ---------------------------------------------------------------------------

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        change = Change(id=None)
        if not records:
            return change
        zone_id = self._zone_id(zone)
        plans: list[_Plan] = []
        for record in records:
            plan = self._plan(record, self._records(zone_id, record.name, record.type), comment)
            if plan.size():
                plans.append(plan)
                change.changed.append(plan.label)
            else:
                change.unchanged.append(plan.label)
        written: list[str] = []
        for batch in _batches(plans):
            written += self._batch(zone_id, batch)
        if plans:
            change.id = ",".join(written) or f"{zone_id}:deleted"
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        """Cloudflare applies a write before it answers: nothing to wait for."""
        return 0.0

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        kind = RecordType(rtype)
        found = self._records(self._zone_id(zone), name, kind)
        if not found:
            return None
        values = []
        for record in found:
            try:
                values.append(from_cloudflare(kind, record))
            except ValueError as exc:
                raise ProviderRejected(f"{self.label}: record {record.get('id')}: {exc}") from None
        ttls = [int(r.get("ttl") or AUTO_TTL) for r in found]
        ttl = min(AUTO_TTL_SECONDS if t == AUTO_TTL else t for t in ttls)
        return RecordSet(fqdn(name), kind, ttl, tuple(values))

    # --- planning ---------------------------------------------------------------------------

    def _plan(self, record: RecordSet, existing: list[dict[str, Any]], comment: str) -> _Plan:
        """The fewest operations that make ``existing`` serve exactly ``record``."""
        rtype = record.type
        plan = _Plan(record.label)
        proxied = self.settings.proxied and rtype in PROXIABLE
        ttl = AUTO_TTL if proxied else record.ttl
        wanted: dict[bytes, str] = {}
        for value in record.values:
            wanted.setdefault(key(rtype, value), value)
        claimed: set[bytes] = set()
        spare: list[dict[str, Any]] = []
        for current in sorted(existing, key=lambda r: str(r.get("id"))):
            held = _key(rtype, current)
            if held is None or held not in wanted or held in claimed:
                spare.append(current)
                continue
            claimed.add(held)
            right = int(current.get("ttl") or 0) == ttl and (
                rtype not in PROXIABLE or bool(current.get("proxied")) == proxied
            )
            if not right:
                plan.puts.append(self._body(record, wanted[held], ttl, comment, current["id"]))
        missing = [value for k, value in wanted.items() if k not in claimed]
        for current, value in zip(spare, missing, strict=False):
            plan.puts.append(self._body(record, value, ttl, comment, current["id"]))
        plan.deletes += [{"id": current["id"]} for current in spare[len(missing) :]]
        plan.posts += [self._body(record, v, ttl, comment) for v in missing[len(spare) :]]
        return plan

    def _body(
        self, record: RecordSet, value: str, ttl: int, comment: str, record_id: Any = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {} if record_id is None else {"id": record_id}
        body |= {
            "name": record.name.rstrip(".").lower(),
            "type": record.type.value,
            "ttl": ttl,
            **to_cloudflare(record.type, value),
        }
        if record.type in PROXIABLE:
            body["proxied"] = self.settings.proxied
        if comment.strip():
            body["comment"] = " ".join(comment.split())[:COMMENT_LIMIT]
        return body

    # --- calls ------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._secret(self.settings.token_secret).strip()
        return {"Authorization": f"Bearer {self._token}"}

    def _call(
        self,
        method: str,
        op: str,
        *path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        """One API call; its envelope when ``success`` is true."""
        answer = self.api.call(method, self.api.url(*path), op=op, params=params, body=body)
        envelope = answer.body
        if not isinstance(envelope, dict) or "success" not in envelope:
            raise ProviderRejected(
                f"{self.label} {op}: HTTP {answer.status} without Cloudflare's JSON envelope "
                "(is base_url the API v4 base, such as https://api.cloudflare.com/client/v4?)"
            )
        if envelope["success"] is not True:
            said = mask(describe(answer), [self._token or ""])[:300]
            raise ProviderRejected(f"{self.label} {op}: HTTP {answer.status}: {said}")
        return envelope

    def _zone_id(self, zone: str) -> str:
        """The zone's id: given, or found by its name (once, then cached)."""
        if ZONE_ID.fullmatch(zone):
            return zone
        name = zone.lower().removesuffix(".")
        if name not in self._zone_ids:
            envelope = self._call(
                "GET", f"find zone {name}", "zones", params={"name": name, "per_page": "50"}
            )
            result = envelope.get("result")
            found = [
                z
                for z in (result if isinstance(result, list) else [])
                if isinstance(z, dict) and str(z.get("name", "")).lower() == name
            ]
            if not found:
                raise ProviderRejected(
                    f"{self.label}: no zone {name} among the zones this API token can see "
                    "(finding a zone by name needs Zone → Zone → Read; or give the zone's id)"
                )
            if len(found) > 1:
                raise ProviderRejected(
                    f"{self.label}: {len(found)} zones are named {name} (in different "
                    "accounts): give the zone's id instead of its name"
                )
            self._zone_ids[name] = str(found[0]["id"])
        return self._zone_ids[name]

    def _records(self, zone_id: str, name: str, rtype: RecordType) -> list[dict[str, Any]]:
        """The zone's records of this exact name and type (every page)."""
        host = fqdn(name).rstrip(".").lower() or "."
        op = f"list {host} {rtype.value}"
        found: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            params = {
                "name.exact": host,
                "type": rtype.value,
                "per_page": str(PAGE_SIZE),
                "page": str(page),
            }
            envelope = self._call("GET", op, "zones", zone_id, "dns_records", params=params)
            result = envelope.get("result")
            if not isinstance(result, list):
                raise ProviderRejected(f"{self.label} {op}: the answer holds no record list")
            # Only this name and type, whatever the filter did: never touch another record.
            found += [
                r
                for r in result
                if isinstance(r, dict)
                and r.get("id")
                and str(r.get("name", "")).lower().rstrip(".") == host
                and r.get("type") == rtype.value
            ]
            info = envelope.get("result_info")
            pages = info.get("total_pages") if isinstance(info, dict) else None
            if not result or not isinstance(pages, int | float) or page >= pages:
                return found
        raise ProviderRejected(
            f"{self.label} {op}: more than {PAGE_SIZE * MAX_PAGES} records of one name and type"
        )

    def _batch(self, zone_id: str, plans: list[_Plan]) -> list[str]:
        """One batch call (applied whole or not at all); the ids of the records it wrote."""
        body = {
            part: ops
            for part in ("deletes", "puts", "posts")
            if (ops := [op for plan in plans for op in getattr(plan, part)])
        }
        labels = ", ".join(plan.label for plan in plans)
        envelope = self._call(
            "POST", f"change {labels}", "zones", zone_id, "dns_records", "batch", body=body
        )
        result = envelope.get("result")
        sent = {op["name"] for part in ("puts", "posts") for op in body.get(part, [])}
        written: list[str] = []
        for part in ("puts", "posts"):
            done = result.get(part) if isinstance(result, dict) else None
            for record in done if isinstance(done, list) else []:
                if not isinstance(record, dict) or "id" not in record:
                    continue
                written.append(str(record["id"]))
                stored = str(record.get("name", "")).lower().rstrip(".")
                if stored and stored not in sent:
                    # Cloudflare puts a name that is not inside the zone under it
                    # (www.example.com in example.net: www.example.com.example.net).
                    raise ProviderRejected(
                        f"{self.label} change {labels}: Cloudflare stored the record as "
                        f"{stored}: a record name is not inside zone "
                        f"{record.get('zone_name') or zone_id} (check the record's zone)"
                    )
        return written


def _key(rtype: RecordType, record: dict[str, Any]) -> bytes | None:
    """A Cloudflare record's value as ``records.key``, None if it does not parse."""
    try:
        return key(rtype, from_cloudflare(rtype, record))
    except ValueError:
        return None


def _batches(plans: list[_Plan]) -> list[list[_Plan]]:
    """Whole record sets per batch, each batch within BATCH_LIMIT operations when it can be."""
    batches: list[list[_Plan]] = []
    size = 0
    for plan in plans:
        if not batches or size + plan.size() > BATCH_LIMIT:
            batches.append([])
            size = 0
        batches[-1].append(plan)
        size += plan.size()
    return batches
