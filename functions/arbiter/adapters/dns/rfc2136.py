"""RFC 2136 dynamic updates signed with a TSIG key (RFC 8945), sent to a zone's primary
server (BIND, Knot, PowerDNS...).

Every exchange is with the configured server itself, over TCP, signed with the key: the
reads (never through a resolver or a cache), then ONE update message replacing exactly the
record sets that differ, so the server applies all of them or none. A server applies an
update before it answers NOERROR, so there is nothing to wait for afterwards; but RFC 2136
has a server silently ignore some changes (a CNAME beside other data at a name, or other
data beside a CNAME), so each changed set is read back and one the server did not take is
a refused change.

The whole of one call is bounded by ``timeout``. Unknown zone, refused key, refused change:
``ProviderRejected``. SERVFAIL, no answer, connection refused or unreachable:
``ProviderError``. No message ever holds the key's secret (only the key's name).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from arbiter.adapters.checks.dns import ask
from arbiter.adapters.dns import Change
from arbiter.core.config import Rfc2136Provider
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.core.records import RecordSet, RecordType, fqdn, parse

ALGORITHMS: dict[str, dns.name.Name] = {
    "hmac-md5": dns.tsig.HMAC_MD5,  # on the wire: hmac-md5.sig-alg.reg.int.
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
"""The config's ``key_algorithm`` (BIND's spelling) as the TSIG algorithm name."""

_UPDATE_RCODES = {
    dns.rcode.NOTAUTH: "the server is not authoritative for the zone: is it the zone's primary?",
    dns.rcode.NOTZONE: "a record is outside the zone",
    dns.rcode.REFUSED: "the server's allow-update or update-policy does not let the key "
    "make this change, or the change fails the server's checks (BIND's check-integrity: an "
    "MX or SRV target in the zone without an address record); the server's log says which",
    dns.rcode.NOTIMP: "the server does not take dynamic updates",
    dns.rcode.FORMERR: "the server could not parse the update",
    dns.rcode.YXDOMAIN: "a prerequisite failed",
    dns.rcode.YXRRSET: "a prerequisite failed",
    dns.rcode.NXRRSET: "a prerequisite failed",
    dns.rcode.NXDOMAIN: "a prerequisite failed",
}
"""What an update's rcode means (RFC 2136 2.2); SERVFAIL is the one worth trying again."""


class Rfc2136:
    """The DNS port over RFC 2136 to ``settings.server``, every message signed with the key
    ``settings.key_name``, whose base64 secret is read once from Secrets Manager."""

    def __init__(
        self,
        name: str,
        settings: Rfc2136Provider,
        secret: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.label = f"{name} (rfc2136)"
        self.settings = settings
        self._secret = secret
        self._clock = clock
        self._key: dns.tsig.Key | None = None
        host = settings.server
        self.where = f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"
        """The server, for messages: ``192.0.2.53:53``."""

    # --- the port ---------------------------------------------------------------------------

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        """One signed update replacing the sets that differ. ``comment`` goes nowhere: an
        RFC 2136 update has no field for it (the server logs the key that signed it)."""
        deadline = self._clock() + self.settings.timeout
        origin = self._origin(zone)
        todo: list[RecordSet] = []
        done: list[RecordSet] = []
        for record in records:
            if not record.values:
                raise ProviderRejected(f"{self.label}: {record.label} has no values to serve")
            current = self._read(origin, record.name, record.type, deadline)
            (done if record.same_as(current) else todo).append(record)
        change = Change(id=None, changed=[r.label for r in todo], unchanged=[r.label for r in done])
        if not todo:
            return change
        update = dns.update.UpdateMessage(origin, rdclass=dns.rdataclass.IN)
        for record in todo:
            rdatas = [parse(record.type, value) for value in record.values]
            update.replace(dns.name.from_text(record.name), record.ttl, *rdatas)
        update.use_tsig(self._tsig())
        response = self._exchange(update, deadline, f"the update of zone {origin}")
        self._check_update(response, origin)
        ignored = [
            r.label for r in todo if not r.same_as(self._read(origin, r.name, r.type, deadline))
        ]
        if ignored:
            raise ProviderRejected(
                f"{self.label}: {self.where} answered NOERROR to the update of zone {origin} "
                f"but does not serve {', '.join(ignored)} as asked: the server ignored the "
                "change (RFC 2136 ignores a CNAME beside other data at a name, and other "
                "data beside a CNAME)"
            )
        change.id = f"{origin} serial {self._serial(origin, deadline)}"
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        """Nothing to wait for: the primary applied the update before it answered."""
        return 0.0

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        deadline = self._clock() + self.settings.timeout
        return self._read(self._origin(zone), name, RecordType(rtype), deadline)

    # --- one exchange -----------------------------------------------------------------------

    def _read(
        self, origin: dns.name.Name, name: str, rtype: RecordType, deadline: float
    ) -> RecordSet | None:
        name = fqdn(name)
        owner = dns.name.from_text(name)
        if not owner.is_subdomain(origin):
            raise ProviderRejected(f"{self.label}: {name} is not in zone {origin}")
        rdtype = dns.rdatatype.from_text(rtype.value)
        response = self._query(owner, rdtype, origin, deadline)
        rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, rdtype)
        if rrset is None:
            return None  # NXDOMAIN, or the name holds other types (a CNAME, say) but not this one
        return RecordSet(name, rtype, int(rrset.ttl), tuple(r.to_text() for r in rrset))

    def _serial(self, origin: dns.name.Name, deadline: float) -> int:
        response = self._query(origin, dns.rdatatype.SOA, origin, deadline)
        rrset = response.get_rrset(response.answer, origin, dns.rdataclass.IN, dns.rdatatype.SOA)
        if rrset is None:
            raise ProviderRejected(f"{self.label}: {self.where} has no SOA record for {origin}")
        return int(rrset[0].serial)

    def _query(
        self,
        owner: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        origin: dns.name.Name,
        deadline: float,
    ) -> dns.message.Message:
        query = dns.message.make_query(owner, rdtype)
        query.flags &= ~dns.flags.RD  # an authoritative server's own data, never a lookup
        query.use_tsig(self._tsig())
        what = f"{owner} {dns.rdatatype.to_text(rdtype)}"
        response = self._exchange(query, deadline, what)
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            if not response.flags & dns.flags.AA:
                raise ProviderRejected(
                    f"{self.label}: {self.where} is not authoritative for {owner} (its answer "
                    f"lacks the AA flag): it does not serve zone {origin} itself"
                )
            return response
        text = dns.rcode.to_text(rcode)
        if rcode == dns.rcode.SERVFAIL:
            raise ProviderError(f"{self.label}: {self.where} answered SERVFAIL to {what}")
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise ProviderRejected(
                f"{self.label}: {self.where} answered {text} to {what}: it does not serve "
                f"zone {origin}"
            )
        raise ProviderRejected(f"{self.label}: {self.where} answered {text} to {what}")

    def _check_update(self, response: dns.message.Message, origin: dns.name.Name) -> None:
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        text = dns.rcode.to_text(rcode)
        if rcode == dns.rcode.SERVFAIL:
            raise ProviderError(
                f"{self.label}: {self.where} answered SERVFAIL to the update of zone {origin}"
            )
        meaning = _UPDATE_RCODES.get(rcode, "the server refused it")
        raise ProviderRejected(
            f"{self.label}: {self.where} answered {text} to the update of zone {origin}: {meaning}"
        )

    def _exchange(
        self, message: dns.message.Message, deadline: float, what: str
    ) -> dns.message.Message:
        """``message``'s answer over TCP, its signature checked; transport and TSIG
        failures as the port's errors."""
        key = self.settings.key_name
        unsigned = (
            f"{self.label}: the answer of {self.where} to {what} is not signed with the TSIG "
            f"key {key}: does the server know the key?"
        )
        try:
            response = ask(message, self.settings.server, self.settings.port, "tcp", deadline)
        except dns.tsig.PeerBadKey:
            raise ProviderRejected(
                f"{self.label}: {self.where} refused the TSIG key {key} (BADKEY: it has no key "
                f"of that name with algorithm {self.settings.key_algorithm})"
            ) from None
        except dns.tsig.PeerBadSignature:
            raise ProviderRejected(
                f"{self.label}: {self.where} refused the TSIG key {key} (BADSIG: the signature "
                "does not verify: the secret differs from the server's)"
            ) from None
        except dns.tsig.PeerBadTime:
            raise ProviderRejected(
                f"{self.label}: {self.where} refused the TSIG key {key} (BADTIME: its clock "
                "and this one differ by more than the signature's 300 s fudge)"
            ) from None
        except dns.tsig.PeerError as exc:
            raise ProviderRejected(
                f"{self.label}: {self.where} refused the TSIG key {key} ({exc})"
            ) from None
        except (
            dns.tsig.BadSignature,
            dns.tsig.BadKey,
            dns.tsig.BadAlgorithm,
            dns.tsig.BadTime,
            dns.message.UnknownTSIGKey,
        ) as exc:
            raise ProviderRejected(
                f"{self.label}: the answer of {self.where} to {what} is not validly signed "
                f"with the TSIG key {key} ({type(exc).__name__})"
            ) from None
        except dns.exception.Timeout:
            raise ProviderError(
                f"{self.label}: {self.where} did not answer {what} within "
                f"{self.settings.timeout:g} s"
            ) from None
        except dns.exception.FormError as exc:
            if "TSIG" in str(exc):  # recent dnspython: a signed query's answer must be signed
                raise ProviderRejected(unsigned) from None
            raise ProviderError(f"{self.label}: bad answer from {self.where} to {what}") from exc
        except EOFError as exc:
            raise ProviderError(
                f"{self.label}: {self.where} closed the connection before answering {what}"
            ) from exc
        except ConnectionRefusedError as exc:
            raise ProviderError(
                f"{self.label}: {self.where} refused the connection ({what})"
            ) from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ProviderError(f"{self.label}: cannot reach {self.where} ({reason})") from exc
        except dns.exception.DNSException as exc:
            raise ProviderError(
                f"{self.label}: bad answer from {self.where} to {what} ({type(exc).__name__})"
            ) from exc
        if not response.had_tsig:  # older dnspython takes an unsigned answer as it is
            raise ProviderRejected(unsigned)
        return response

    # --- configuration ----------------------------------------------------------------------

    def _tsig(self) -> dns.tsig.Key:
        """The key, its secret read from Secrets Manager on first use."""
        if self._key is None:
            secret = _base64(self._secret(self.settings.key_secret))
            if not secret:
                raise ProviderRejected(
                    f"{self.label}: the secret {self.settings.key_secret} does not hold a TSIG "
                    "key in base64: store only the key's secret, the quoted value that "
                    "tsig-keygen prints after 'secret'"
                )
            self._key = dns.tsig.Key(
                dns.name.from_text(self.settings.key_name),
                secret,
                ALGORITHMS[self.settings.key_algorithm],
            )
        return self._key

    def _origin(self, zone: str) -> dns.name.Name:
        try:
            return dns.name.from_text(fqdn(zone))
        except dns.exception.DNSException as exc:
            raise ProviderRejected(f"{self.label}: {zone!r} is not a zone name ({exc})") from None


def _base64(text: object) -> bytes:
    """The bytes ``text`` spells in base64 (spaces and line breaks aside); b"" if it does
    not. Nothing of ``text`` ever goes into an exception."""
    if not isinstance(text, str):
        return b""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""
