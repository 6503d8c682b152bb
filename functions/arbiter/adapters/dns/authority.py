"""The verify step: ask every authoritative server of a zone directly whether it serves a change.

After a DNS change the runbook asks each of the zone's authoritative servers (the provider's
``nameservers`` in the config, or those the zone's NS records name) for each changed record
set, over UDP with TCP when the answer is truncated, with RD off: the answer is the server's
own, never a cache's. Servers are asked at once (at most ``PARALLEL`` at a time), each again
every ``poll`` seconds until it serves exactly the new values (compared as records: case of
names and order aside; the TTL is not compared) or the deadline passes. One outcome per server
says what it served last, whether that was still the old values, and how long it took to
serve the new ones. A silent, refusing or broken server is an outcome, never an exception.

``MemoryAuthority`` is an in-memory fake for the runbook's unit tests; ``render`` turns the
outcomes into report lines.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from arbiter.adapters.checks.dns import ask
from arbiter.adapters.checks.tcp import os_error_reason
from arbiter.adapters.dns.memory import MemoryDns
from arbiter.core.errors import RetryableError
from arbiter.core.records import RecordSet, fqdn, same

PER_QUERY = 2.0
"""Longest wait for one answer (UDP and the TCP retry together), in seconds."""
PARALLEL = 8
"""Servers asked at the same time, at most."""
SHOWN = 300
"""Longest answer text kept in an outcome, in characters."""

Key = tuple[str, str]
"""A record set's (absolute name in lower case, type): ``("www.example.com.", "A")``."""


@dataclass
class ServerOutcome:
    """What one server answered by the end of the verify step."""

    server: str
    """As given: ``192.0.2.53``, ``192.0.2.53:5300``, ``[2001:db8::53]:53``."""
    ok: bool
    """It served exactly the new values of every record set (the TTL is not compared)."""
    seconds: float | None
    """From the start of the verify step until it first served every new value; None if never."""
    answer: str
    """What it served last, short: ``192.0.2.10, 192.0.2.11``, ``www.example.com A: ...;
    example.com MX: ...`` when several record sets differ, ``NXDOMAIN``, ``REFUSED``,
    ``timeout``, ``connection refused``..."""
    old: bool
    """Its last answer was still the values from before the change, for each record set not
    yet new (only when the caller gave the old values)."""
    answered: bool = True
    """False when the server gave no DNS answer at all (timeout, connection refused...)."""


class Authority(Protocol):
    def nameservers(self, name: str, deadline: float) -> list[str]:
        """The authoritative servers of the zone holding ``name`` (``address``, port 53)."""
        ...

    def verify(
        self,
        servers: Sequence[str],
        records: Sequence[RecordSet],
        deadline: float,
        old: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> list[ServerOutcome]:
        """One outcome per server, in the order given, by ``deadline`` (``time.monotonic``).
        ``old`` maps (name, type) to the values before the change (``[]``: no such record)."""
        ...


def split_server(server: str) -> tuple[str, int]:
    """A server string as (address, port): ``192.0.2.53`` (port 53), ``192.0.2.53:5300``,
    ``[2001:db8::53]:53``, ``[2001:db8::53]`` or ``2001:db8::53``. ValueError if it is none."""
    host, port = server, 53
    if server.startswith("["):
        host, bracket, rest = server[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            raise ValueError(f"{server!r}: expected [address]:port")
        if rest:
            port = int(rest[1:])
    elif server.count(":") == 1:
        host, _, text = server.partition(":")
        if not text.isdigit():
            raise ValueError(f"{server!r}: the port is not a number")
        port = int(text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{server!r}: {host!r} is not an IP address") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"{server!r}: the port is not from 1 to 65535")
    return str(address), port


def _key(name: str, rtype: str) -> Key:
    return fqdn(name).lower(), str(rtype).upper()


# --- What one server served for one record set, and what that makes of the server -----------


@dataclass(frozen=True)
class _Seen:
    values: tuple[str, ...] | None
    """The records served for the name and type (``()``: NXDOMAIN or no such record); None
    when the server gave no usable answer (a failure, REFUSED, SERVFAIL...)."""
    text: str
    """For people: the values, or what went wrong."""
    answered: bool = True
    authoritative: bool = True


def _values_text(values: Sequence[str]) -> str:
    text = ", ".join(sorted(values))
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _served(values: Sequence[str] | None) -> _Seen:
    """Values served (None: NXDOMAIN)."""
    if values is None:
        return _Seen((), "NXDOMAIN")
    return _Seen(tuple(values), _values_text(values) if values else "no records")


def _failed(text: str) -> _Seen:
    """No DNS answer at all (timeout, connection refused, ...)."""
    return _Seen(None, text, answered=False)


def _judge(
    server: str,
    records: Sequence[RecordSet],
    seen: Sequence[_Seen],
    old: Mapping[Key, Sequence[str]] | None,
) -> ServerOutcome:
    """The outcome of one pass: ``seen`` has one entry per record set, or a single failure
    when the server did not answer (the pass stops at the first failure)."""
    if len(seen) != len(records) or not all(s.answered for s in seen):
        failure = next((s.text for s in seen if not s.answered), "no answer")
        return ServerOutcome(server, False, None, failure, False, answered=False)
    new, was = [], []
    for record, s in zip(records, seen, strict=True):
        usable = s.values is not None and s.authoritative
        new.append(usable and same(record.type, record.values, s.values or ()))
        before = None if old is None else old.get(_key(record.name, record.type))
        was.append(usable and before is not None and same(record.type, before, s.values or ()))
    ok = all(new)
    texts = [s.text if s.authoritative else f"not authoritative: {s.text}" for s in seen]
    if len(set(texts)) == 1:
        answer = texts[0]
    else:
        answer = "; ".join(
            f"{r.name.rstrip('.').lower()} {r.type.value}: {t}"
            for r, t in zip(records, texts, strict=True)
        )
    is_old = not ok and any(was) and all(n or w for n, w in zip(new, was, strict=True))
    return ServerOutcome(server, ok, None, answer, is_old)


def _normal_old(
    old: Mapping[tuple[str, str], Sequence[str]] | None,
) -> dict[Key, Sequence[str]] | None:
    return None if old is None else {_key(n, t): v for (n, t), v in old.items()}


# --- The real one: dnspython against each server --------------------------------------------


def _result(future: Future[list[_Seen]]) -> list[_Seen]:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - one broken server must not end the step
        return [_failed(_failure_text(exc))]


def _final(outcome: ServerOutcome, last: ServerOutcome | None) -> ServerOutcome:
    """The outcome at the deadline: a query cut short by the deadline does not hide what the
    server answered the pass before."""
    cut = not outcome.answered and outcome.answer == "timeout"
    return last if cut and last is not None and last.answered else outcome


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, dns.exception.Timeout | TimeoutError):
        return "timeout"
    if isinstance(
        exc, dns.query.BadResponse | dns.query.UnexpectedSource | dns.exception.FormError
    ):
        return "bad response"
    if isinstance(exc, EOFError):
        return "connection closed"  # over TCP, before a whole answer
    if isinstance(exc, OSError):
        return os_error_reason(exc, PER_QUERY) or f"error: {type(exc).__name__}"
    return f"error: {type(exc).__name__}"


def _read(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> _Seen:
    rcode = response.rcode()
    authoritative = bool(response.flags & dns.flags.AA)
    if rcode == dns.rcode.NXDOMAIN:
        return replace(_served(None), authoritative=authoritative)
    if rcode != dns.rcode.NOERROR:
        return _Seen(None, dns.rcode.to_text(rcode))
    rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
    values = [rdata.to_text() for rdata in rrset] if rrset is not None else []
    seen = _served(values)
    if not values:
        alias = response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if alias is not None and rdtype != dns.rdatatype.CNAME:
            seen = _Seen((), f"CNAME {_values_text([r.to_text() for r in alias])}")
    return replace(seen, authoritative=authoritative)


class DnsAuthority:
    """Asks the servers themselves, with dnspython. ``resolver`` finds a zone's servers for
    ``nameservers`` (default: the system's, from /etc/resolv.conf)."""

    def __init__(
        self,
        *,
        poll: float = 1.0,
        per_query: float = PER_QUERY,
        resolver: dns.resolver.Resolver | None = None,
    ) -> None:
        if poll <= 0 or per_query <= 0:
            raise ValueError("poll and per_query must be more than 0 s")
        self.poll = poll
        self.per_query = per_query
        self._resolver = resolver

    # -- verify ---------------------------------------------------------------------------

    def verify(
        self,
        servers: Sequence[str],
        records: Sequence[RecordSet],
        deadline: float,
        old: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> list[ServerOutcome]:
        started = time.monotonic()
        before = _normal_old(old)
        outcomes: dict[str, ServerOutcome] = {}
        targets: dict[str, tuple[str, int]] = {}
        for server in dict.fromkeys(servers):
            try:
                targets[server] = split_server(server)
            except ValueError as exc:
                outcomes[server] = ServerOutcome(
                    server, False, None, f"bad address: {exc}", False, False
                )
        due = dict.fromkeys(targets, started)  # when each server not yet done is asked next
        last: dict[str, ServerOutcome] = {}
        running: dict[Future[list[_Seen]], str] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(targets)))) as pool:
            # Each turn starts the passes due, then waits for one to end or the next to be due.
            # Every pass ends by the deadline (each query is bounded by it) and none starts
            # after it, so the loop ends soon after the deadline at the latest.
            while due or running:
                now = time.monotonic()
                for server in [s for s, at in due.items() if at <= now]:
                    del due[server]
                    host, port = targets[server]
                    running[pool.submit(self._pass, host, port, records, deadline)] = server
                wake = max(0.0, min(due.values()) - now) if due else None
                if not running:
                    time.sleep(wake or 0.0)
                    continue
                done, _ = wait(running, timeout=wake, return_when=FIRST_COMPLETED)
                for future in done:
                    server = running.pop(future)
                    outcome = _judge(server, records, _result(future), before)
                    now = time.monotonic()
                    if outcome.ok:
                        outcome.seconds = now - started
                        outcomes[server] = outcome
                    elif now >= deadline:
                        outcomes[server] = _final(outcome, last.get(server))
                    else:
                        last[server] = outcome
                        due[server] = min(now + self.poll, deadline)
        return [replace(outcomes[s]) for s in servers]

    def _pass(
        self, host: str, port: int, records: Sequence[RecordSet], deadline: float
    ) -> list[_Seen]:
        seen = []
        for record in records:
            one = self._ask(host, port, record, deadline)
            seen.append(one)
            if not one.answered:
                break  # the server is silent or gone: the other sets would only wait as long
        return seen

    def _ask(self, host: str, port: int, record: RecordSet, deadline: float) -> _Seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _failed("timeout")
        name = dns.name.from_text(fqdn(record.name))
        rdtype = dns.rdatatype.from_text(record.type.value)
        query = dns.message.make_query(name, rdtype)
        query.flags &= ~dns.flags.RD  # an authoritative question: no recursion wanted
        # ask() counts its own deadline on time.perf_counter.
        until = time.perf_counter() + min(remaining, self.per_query)
        try:
            response = ask(query, host, port, "udp", until)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            return _failed(_failure_text(exc))
        return _read(response, name, rdtype)

    # -- nameservers ----------------------------------------------------------------------

    def nameservers(self, name: str, deadline: float) -> list[str]:
        """The addresses (A and AAAA) of the hosts in the NS records of the zone that holds
        ``name``, sorted (IPv4 first), without repeats. RetryableError if none is found."""
        try:
            resolver = self._resolver or dns.resolver.Resolver()
            zone = dns.resolver.zone_for_name(
                fqdn(name), resolver=resolver, lifetime=_lifetime(deadline)
            )
            ns = resolver.resolve(zone, "NS", lifetime=_lifetime(deadline))
        except dns.exception.DNSException as exc:
            raise RetryableError(
                f"no authoritative servers found for {name}: looking up its zone's NS records "
                f"failed ({_why(exc)})"
            ) from None
        hosts = sorted({rdata.target for rdata in ns})
        found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        problems = []
        for host in hosts:
            for rtype in ("A", "AAAA"):
                try:
                    answer = resolver.resolve(
                        host, rtype, lifetime=_lifetime(deadline), raise_on_no_answer=False
                    )
                except dns.exception.DNSException as exc:
                    problems.append(f"{host} {rtype}: {_why(exc)}")
                    continue
                found.update(ipaddress.ip_address(r.address) for r in answer)
        if not found:
            detail = f" ({'; '.join(problems)})" if problems else ""
            raise RetryableError(
                f"no authoritative servers found for {name}: the zone {zone} names "
                f"{', '.join(str(h) for h in hosts)} in its NS records but none has an "
                f"address{detail}"
            )
        return [str(a) for a in sorted(found, key=lambda a: (a.version, a))]


def _lifetime(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise dns.resolver.LifetimeTimeout(timeout=0.0, errors=[])
    return remaining


def _why(exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.resolver.LifetimeTimeout | dns.exception.Timeout):
        return "timeout"
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "NXDOMAIN"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "no server answered (SERVFAIL or REFUSED)"
    return str(exc).strip() or type(exc).__name__


# --- The fake ----------------------------------------------------------------------------

Source = tuple[MemoryDns, str] | Callable[[str, str], Sequence[str] | None]
"""What a fake server serves: a ``MemoryDns`` and the zone in it, or a function of (name,
type) giving the current values (None: NXDOMAIN)."""

_FAILURES = {"timeout", "connection refused", "connection closed", "bad response"}


class MemoryAuthority:
    """An in-memory ``Authority`` for the runbook's unit tests: each server serves what its
    source holds now, unless told to lag (serve a snapshot until a clock time) or to be silent.
    Servers are asked in rounds, ``poll`` apart on ``clock``; a fake ``sleep`` that advances a
    fake clock makes a verify step instant."""

    def __init__(
        self,
        servers: Mapping[str, Source],
        *,
        poll: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if poll <= 0:
            raise ValueError("poll must be more than 0 s")
        self.servers = dict(servers)
        self.poll = poll
        self.asked: list[tuple[str, str, str]] = []
        """Every question asked: (server, name, type)."""
        self._clock = clock
        self._sleep = sleep
        self._lags: dict[str, tuple[float, dict[Key, tuple[str, ...]]]] = {}
        self._silent: dict[str, tuple[float, str]] = {}

    def lag(
        self,
        server: str,
        until: float,
        serving: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> None:
        """Until ``until`` (on the clock) ``server`` serves ``serving`` ((name, type) ->
        values; a set not in it is NXDOMAIN), by default what its ``MemoryDns`` holds now:
        call it before the change to play a secondary that has not caught up."""
        if serving is None:
            source = self.servers[server]
            if not isinstance(source, tuple):
                raise ValueError(f"{server}: give `serving` for a server backed by a function")
            serving = {k: rs.values for k, rs in (_zone(source) or {}).items()}
        self._lags[server] = (until, {_key(n, t): tuple(v) for (n, t), v in serving.items()})

    def silence(self, server: str, *, until: float = math.inf, answer: str = "timeout") -> None:
        """Until ``until``, ``server`` answers nothing (``timeout``, ``connection refused``) or
        only ``answer`` (``REFUSED``, ``SERVFAIL``, ``NXDOMAIN``)."""
        self._silent[server] = (until, answer)

    def nameservers(self, name: str, deadline: float) -> list[str]:
        return list(self.servers)

    def verify(
        self,
        servers: Sequence[str],
        records: Sequence[RecordSet],
        deadline: float,
        old: Mapping[tuple[str, str], Sequence[str]] | None = None,
    ) -> list[ServerOutcome]:
        started = self._clock()
        before = _normal_old(old)
        outcomes: dict[str, ServerOutcome] = {}
        pending = list(dict.fromkeys(servers))
        # A round asks every server not yet new and waits `poll`; the deadline ends the loop,
        # and the round count bounds it even if the clock stands still.
        for _ in range(max(0, math.ceil((deadline - started) / self.poll)) + 1):
            for server in pending:
                seen = self._pass(server, records)
                outcomes[server] = _judge(server, records, seen, before)
                if outcomes[server].ok:
                    outcomes[server].seconds = self._clock() - started
            pending = [s for s in pending if not outcomes[s].ok]
            now = self._clock()
            if not pending or now >= deadline:
                break
            self._sleep(min(self.poll, deadline - now))
        return [replace(outcomes[s]) for s in servers]

    def _pass(self, server: str, records: Sequence[RecordSet]) -> list[_Seen]:
        seen = []
        for record in records:
            self.asked.append((server, record.name, record.type.value))
            one = self._look(server, _key(record.name, record.type))
            seen.append(one)
            if not one.answered:
                break
        return seen

    def _look(self, server: str, key: Key) -> _Seen:
        now = self._clock()
        silent_until, answer = self._silent.get(server, (-math.inf, ""))
        if server not in self.servers or now < silent_until:
            if server not in self.servers or answer in _FAILURES:
                return _failed(answer or "timeout")
            return _served(None) if answer == "NXDOMAIN" else _Seen(None, answer)
        lag_until, snapshot = self._lags.get(server, (-math.inf, {}))
        if now < lag_until:
            return _served(snapshot.get(key))
        source = self.servers[server]
        if isinstance(source, tuple):
            sets = _zone(source)
            if sets is None:
                return _Seen(None, "REFUSED")  # not a zone it serves
            record = sets.get(key)
            return _served(None if record is None else record.values)
        return _served(source(*key))


def _zone(source: tuple[MemoryDns, str]) -> dict[Key, RecordSet] | None:
    """The zone's record sets (None: no such zone), read without ``MemoryDns.read``, which
    logs calls and raises queued faults: both meant for the provider, not for its servers."""
    provider, zone = source
    return provider.zones.get(zone.lower().removesuffix("."))


# --- The report --------------------------------------------------------------------------


def render(
    outcomes: Sequence[ServerOutcome], *, started: float, ttl: int, now: datetime
) -> list[str]:
    """Report lines: one per server, then when resolvers' caches will have let go of the old
    answer. ``started`` is when the verify step began (``time.time()``), ``now`` the moment
    of the report; a naive ``now`` is taken as UTC."""
    width = max((len(o.server) for o in outcomes), default=0)
    lines = []
    for o in outcomes:
        if o.ok:
            what = f"new after {o.seconds or 0.0:.1f} s"
        elif o.old:
            what = f"STILL OLD at the deadline: {o.answer}"
        elif not o.answered:
            what = f"no answer ({o.answer})"
        else:
            what = f"NOT NEW at the deadline: {o.answer}"
        lines.append(f"  {o.server:<{width}}  {what}")
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    behind = sum(not o.ok for o in outcomes)
    if behind:
        until = now + timedelta(seconds=ttl)
        lines.append(
            f"resolvers may serve the old answer until at least {until:%H:%M:%S} UTC "
            f"(TTL {ttl} s; {behind} server{'s' if behind > 1 else ''} not serving the "
            "new values yet)"
        )
    else:
        last = max((o.seconds or 0.0 for o in outcomes), default=0.0)
        until = datetime.fromtimestamp(started + last, UTC) + timedelta(seconds=ttl)
        lines.append(f"resolvers may serve the old answer until {until:%H:%M:%S} UTC (TTL {ttl} s)")
    return lines
