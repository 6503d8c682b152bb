"""DNS record values: one spelling for every provider, and one way to compare them.

A record's values are kept in RFC 1035 presentation format, the form a zone file, Route 53,
PowerDNS and ``dig`` use: names absolute (``10 mail.example.com.``), a TXT value one or more
quoted strings (``"v=spf1 -all"``). In the config a TXT value is the text itself, unquoted;
``presentation`` quotes it (and splits text over 255 bytes into several strings, as DNS
requires). Two values are the same record when their canonical wire forms are (RFC 4034
6.2: names in lower case), so ``MAIL.example.com.`` and ``mail.example.com`` compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dns.rdata

# dnspython is imported where a value is parsed, not here: the probe and the decider import
# this module (the config's record sets) and never parse a record.


class RecordType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"
    MX = "MX"
    TXT = "TXT"
    SRV = "SRV"


_HINT = {
    RecordType.A: "an IPv4 address such as 192.0.2.10",
    RecordType.AAAA: "an IPv6 address such as 2001:db8::10",
    RecordType.CNAME: "a host name such as www.example.net",
    RecordType.MX: "a preference and a host name, such as '10 mail.example.com'",
    RecordType.TXT: "text",
    RecordType.SRV: "priority weight port target, such as '10 5 5060 sip.example.com'",
}


def _quote(text: str) -> str:
    """A TXT value's text as presentation strings: quoted, escaped, at most 255 bytes each."""
    raw = text.encode("utf-8")
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    out = []
    for chunk in chunks:
        escaped = "".join(
            "\\" + chr(b) if chr(b) in '"\\' else chr(b) if 0x20 <= b < 0x7F else f"\\{b:03d}"
            for b in chunk
        )
        out.append(f'"{escaped}"')
    return " ".join(out)


def _rdata(rtype: RecordType, text: str) -> dns.rdata.Rdata:
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    return dns.rdata.from_text(
        dns.rdataclass.IN,
        dns.rdatatype.from_text(rtype.value),
        text,
        origin=dns.name.root,
        relativize=False,
    )


def presentation(rtype: RecordType, value: str) -> str:
    """A config value in presentation format; ValueError names what a value of this type is."""
    if not isinstance(value, str) or (not value.strip() and rtype is not RecordType.TXT):
        raise ValueError(f"{value!r} is not {_HINT[rtype]}")
    if rtype is RecordType.TXT:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("a TXT value contains a control character")
        return _quote(value)
    import dns.exception

    try:
        rdata = _rdata(rtype, value)
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        detail = str(exc).strip() or type(exc).__name__
        raise ValueError(f"{value!r} is not {_HINT[rtype]} ({detail})") from None
    return rdata.to_text()


def parse(rtype: RecordType | str, text: str) -> dns.rdata.Rdata:
    """A value in presentation format (as a provider or server gives it) as dnspython rdata."""
    return _rdata(RecordType(rtype), text)


def key(rtype: RecordType | str, text: str) -> bytes:
    """What two equal records share: the canonical wire form."""
    return parse(rtype, text).to_digestable()


def same(rtype: RecordType | str, a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two lists of presentation values are the same record set (order aside)."""
    import dns.exception

    try:
        return {key(rtype, v) for v in a} == {key(rtype, v) for v in b}
    except (dns.exception.DNSException, ValueError):
        return sorted(a) == sorted(b)


def txt_text(text: str) -> str:
    """A TXT value's text, from its presentation strings (``"a" "b"`` -> ``ab``)."""
    rdata = parse(RecordType.TXT, text)
    return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]


def fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


@dataclass(frozen=True)
class RecordSet:
    """One record set as a provider should serve it: name, type, TTL and its values."""

    name: str
    """Absolute, with the trailing dot."""
    type: RecordType
    ttl: int
    values: tuple[str, ...]
    """Presentation format."""

    def same_as(self, other: RecordSet | None) -> bool:
        """Same values and TTL (the name and type are the caller's to match)."""
        return (
            other is not None
            and other.ttl == self.ttl
            and same(self.type, self.values, other.values)
        )

    @property
    def label(self) -> str:
        """``www.example.com. A``: how a change names the set (``Change.changed``)."""
        return f"{self.name} {self.type.value}"

    def shown(self) -> str:
        return (
            f"{self.name.rstrip('.')} {self.type.value} {', '.join(self.values)} (TTL {self.ttl})"
        )
