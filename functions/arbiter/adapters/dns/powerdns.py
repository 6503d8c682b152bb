"""PowerDNS Authoritative: the HTTP API (``/api/v1``) with its ``X-API-Key``.

- ``upsert`` reads the record sets it is given (one GET per name, filtered with
  ``rrset_name``), then sends ONE ``PATCH`` of the zone with ``changetype: REPLACE`` for exactly
  the sets whose values or TTL differ; none differ: no write. PowerDNS applies a PATCH in one
  backend transaction and serves it as soon as the PATCH returns (it purges its caches for the
  zone), so ``wait_applied`` has nothing to wait for. With the zone's ``SOA-EDIT-API`` set
  (PowerDNS sets ``DEFAULT`` on zones made through the API) the PATCH also raises the serial,
  which is what tells secondaries to transfer.
- Records marked ``disabled`` are not served, so they are not part of what ``read`` returns
  (a REPLACE removes them).
- The upsert's ``comment`` is not written: PowerDNS keeps comments per rrset, and only its
  SQL backends can store them (with LMDB or BIND a PATCH carrying comments is refused).
  The rrsets' existing comments are left as they are.
- ``rrset_name``/``rrset_type`` exist since PowerDNS 4.7; an older server ignores them and
  answers with the whole zone, so the wanted set is always picked out here.
- Errors: 404 (no such zone, or no such ``server_id``) and 401 (API key refused) are fatal
  with a message saying what to check; a 422 (PowerDNS refused the change: bad content, a
  CNAME conflict, a name out of the zone) is fatal with PowerDNS's own ``error`` text; 429,
  5xx, timeouts and an unreachable server are retryable (``HttpApi``). The API key is read
  from Secrets Manager on first use and is in no message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import dns.exception

from arbiter.adapters.dns import Change
from arbiter.adapters.http import Answer, HttpApi
from arbiter.core.config import PowerDnsProvider
from arbiter.core.errors import ProviderRejected
from arbiter.core.records import RecordSet, RecordType, fqdn, key

API_PATH = "/api/v1"


def zone_id(zone: str) -> str:
    """The API's id for a zone name: the name with its trailing dot, each character other
    than a letter, digit, ``.`` or ``-`` as ``=XX`` (PowerDNS's ``apiZoneNameToId``)."""
    name = fqdn(zone.strip())
    if name == ".":
        return "=2E"
    return "".join(
        c if c.isascii() and (c.isalnum() or c in ".-") else f"={ord(c):02X}" for c in name
    )


def _same_name(a: str, b: str) -> bool:
    return fqdn(a).lower() == fqdn(b).lower()


def _describe(answer: Answer) -> str:
    if answer.status == 401:
        return (
            "the API key was refused (check the secret named by api_key_secret against the "
            "server's api-key setting)"
        )
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""


class PowerDns:
    def __init__(
        self,
        name: str,
        settings: PowerDnsProvider,
        secret: Callable[[str], str],
        *,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = f"{name} (powerdns)"
        self.settings = settings
        self._secret = secret
        self._key: str | None = None
        base = settings.url.rstrip("/")
        if not base.endswith(API_PATH):
            base += API_PATH
        self.api = HttpApi(
            self.label,
            base,
            self._headers,
            settings.timeout,
            describe=_describe,
            verify_tls=settings.verify_tls,
            attempts=attempts,
            sleep=sleep,
            clock=clock,
        )

    def _headers(self) -> dict[str, str]:
        if self._key is None:
            value = self._secret(self.settings.api_key_secret).strip()
            if not value:
                raise ProviderRejected(f"{self.label}: the secret named by api_key_secret is empty")
            self._key = value
        return {"X-API-Key": self._key}

    def _zone_url(self, zone: str) -> str:
        return self.api.url("servers", self.settings.server_id, "zones", zone_id(zone))

    def _no_zone(self, op: str, zone: str) -> ProviderRejected:
        return ProviderRejected(
            f"{self.label} {op}: HTTP 404: no zone {fqdn(zone)} on server "
            f"{self.settings.server_id!r} (check the record's zone, the provider's server_id, "
            "and that the server runs with api=yes)"
        )

    def _rrsets(self, zone: str, name: str, rtype: str | None, op: str) -> list[dict[str, Any]]:
        """The zone's rrsets at ``name`` (of type ``rtype``, if given)."""
        params = {"rrsets": "true", "rrset_name": fqdn(name)}
        if rtype is not None:
            params["rrset_type"] = rtype
        answer = self.api.call("GET", self._zone_url(zone), op=op, params=params, ok=(404,))
        if answer.status == 404:
            raise self._no_zone(op, zone)
        body = answer.body
        if not isinstance(body, dict) or not isinstance(body.get("rrsets"), list):
            raise ProviderRejected(
                f"{self.label} {op}: the answer is not a PowerDNS zone (check the provider's url)"
            )
        return [
            rrset
            for rrset in body["rrsets"]
            if isinstance(rrset, dict)
            and _same_name(str(rrset.get("name", "")), name)
            and (rtype is None or str(rrset.get("type", "")).upper() == rtype)
        ]

    @staticmethod
    def _record_set(name: str, rtype: RecordType, rrsets: list[dict[str, Any]]) -> RecordSet | None:
        for rrset in rrsets:
            if str(rrset.get("type", "")).upper() != rtype.value:
                continue
            values = tuple(
                str(record["content"])
                for record in rrset.get("records") or []
                if isinstance(record, dict) and "content" in record and not record.get("disabled")
            )
            if values:
                return RecordSet(fqdn(name), rtype, int(rrset.get("ttl", 0)), values)
        return None

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        kind = RecordType(rtype)
        op = f"read {fqdn(name)} {kind.value}"
        return self._record_set(name, kind, self._rrsets(zone, name, kind.value, op))

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        op = f"upsert in {fqdn(zone)}"
        at: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            lower = record.name.lower()
            if lower not in at:
                at[lower] = self._rrsets(zone, record.name, None, op)
        todo: list[RecordSet] = []
        change = Change(id=None)
        for record in records:
            current = self._record_set(record.name, record.type, at[record.name.lower()])
            if record.same_as(current):
                change.unchanged.append(record.label)
            else:
                todo.append(record)
                change.changed.append(record.label)
        if not todo:
            return change
        body = {"rrsets": [_replace(record) for record in todo]}
        answer = self.api.call("PATCH", self._zone_url(zone), op=op, body=body, ok=(404,))
        if answer.status == 404:
            raise self._no_zone(op, zone)
        serial = answer.headers.get("X-PDNS-New-Serial")
        change.id = f"{zone_id(zone)} serial {serial}" if serial else zone_id(zone)
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        """PowerDNS serves a change once its PATCH has returned: nothing to wait for."""
        return 0.0


def _replace(record: RecordSet) -> dict[str, Any]:
    """One rrset of a PATCH: REPLACE with exactly these values (duplicates dropped, which
    PowerDNS would refuse)."""
    seen: set[bytes | str] = set()
    contents = []
    for value in record.values:
        try:
            ident: bytes | str = key(record.type, value)
        except (dns.exception.DNSException, ValueError):
            ident = value
        if ident not in seen:
            seen.add(ident)
            contents.append(value)
    return {
        "name": record.name,
        "type": record.type.value,
        "ttl": record.ttl,
        "changetype": "REPLACE",
        "records": [{"content": value, "disabled": False} for value in contents],
    }
