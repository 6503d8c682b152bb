"""Real BIND servers that take RFC 2136 updates, for the rfc2136 adapter's tests and for
whoever needs a zone served by several authoritative servers.

- ``TsigKey``: a TSIG key made with ``secrets`` (as ``tsig-keygen`` makes one), its
  ``key`` clause for named.conf and its dnspython form.
- ``UpdatableNamed``: ``named`` on a free loopback port, primary for its zones, taking
  updates signed with its key (``update-policy``), journals in its directory.
- ``SecondaryNamed``: ``named`` secondary for the zones, transferring them from a primary
  through a ``DnsRelay`` of its own, so that a test can make it lag.
- ``BindFleet``: one primary plus N secondaries that it notifies.
- ``DnsRelay``: a TCP + UDP relay on one loopback port in front of a DNS server, which can
  fail the next exchanges: never answer, or answer an rcode (SERVFAIL, REFUSED...).
- ``lookup``, ``soa_serial``: ask one of these servers directly.

Every wait here is bounded, and every process and thread ends on ``stop()``.

    with BindFleet(tmp_path, {"example.test": ZONE}, secondaries=2).start() as fleet:
        provider = Rfc2136("bind", fleet.primary.settings(), fleet.primary.secret)
        provider.upsert("example.test", [record], "switch")
        fleet.wait_synced("example.test")        # every secondary serves the new serial
        fleet.servers                            # ["127.0.0.1:PRIMARY", "127.0.0.1:S1", ...]
        fleet.secondaries[1].lag()               # it keeps answering, with the old zone
        fleet.secondaries[0].pause()             # SIGSTOP: it answers nothing
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import selectors
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig

from arbiter.local.peers import MAX_HOLD, NamedServer, free_port

HOST = "127.0.0.1"
SECRET_NAME = "arbiter/test/tsig"
"""The Secrets Manager name under which ``UpdatableNamed.secret`` gives the key's secret."""
ASK_TIMEOUT = 0.5
"""Seconds one helper query waits for an answer."""


def need_named() -> None:
    """Skip the calling test when BIND is not installed."""
    import pytest

    if shutil.which("named") is None:
        pytest.skip("the named command is not installed (Debian package bind9)")


# --- Keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TsigKey:
    name: str
    """Without the trailing dot, as named.conf and the Arbiter config spell it."""
    secret: str
    """Base64, as ``tsig-keygen`` prints it."""
    algorithm: str = "hmac-sha256"

    @classmethod
    def generate(cls, name: str = "arbiter-key", algorithm: str = "hmac-sha256") -> TsigKey:
        """A new random key; its secret is as long as the algorithm's digest (tsig-keygen's
        choice)."""
        size = {"hmac-md5": 16, "hmac-sha1": 20, "hmac-sha224": 28, "hmac-sha256": 32}
        secret = secrets.token_bytes(size.get(algorithm, 64 if "512" in algorithm else 48))
        return cls(name, base64.b64encode(secret).decode(), algorithm)

    def clause(self) -> str:
        """The ``key`` statement of named.conf."""
        return f'key "{self.name}" {{ algorithm {self.algorithm}; secret "{self.secret}"; }};\n'

    def dnspython(self) -> dns.tsig.Key:
        from arbiter.adapters.dns.rfc2136 import ALGORITHMS

        return dns.tsig.Key(self.name + ".", self.secret, ALGORITHMS[self.algorithm])


# --- Asking a server ---------------------------------------------------------------------


def _split(server: str | int) -> tuple[str, int]:
    if isinstance(server, int):
        return HOST, server
    host, _, port = server.rpartition(":")
    return host, int(port)


def ask(server: str | int, name: str, rtype: str, timeout: float = ASK_TIMEOUT) -> Any:
    """The answer of ``server`` (``"127.0.0.1:PORT"`` or a port) over UDP; None when it does
    not answer in time or cannot be reached."""
    host, port = _split(server)
    query = dns.message.make_query(name, rtype)
    query.flags &= ~dns.flags.RD
    try:
        return dns.query.udp(query, host, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return None


def lookup(server: str | int, name: str, rtype: str) -> list[str] | None:
    """The values ``server`` serves authoritatively at ``name`` (presentation format, sorted);
    [] when it has none; None when it does not answer, or not authoritatively."""
    response = ask(server, name, rtype)
    if response is None or not response.flags & dns.flags.AA:
        return None
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    rdtype = dns.rdatatype.from_text(rtype)
    return sorted(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset
    )


def soa_serial(server: str | int, zone: str) -> int | None:
    """The zone's serial that ``server`` serves; None when it does not serve the zone (yet)."""
    response = ask(server, zone, "SOA")
    if response is None or response.rcode() != dns.rcode.NOERROR:
        return None
    if not response.flags & dns.flags.AA:
        return None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset[0].serial)
    return None


def notify(server: str | int, zone: str) -> bool:
    """Send ``server`` a NOTIFY for ``zone`` (RFC 1996): a secondary then checks its primary
    at once. Whether the server acknowledged it."""
    host, port = _split(server)
    message = dns.message.make_query(zone, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags | dns.flags.AA) & ~dns.flags.RD
    try:
        response = dns.query.udp(message, host, port=port, timeout=ASK_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return False
    return response.rcode() == dns.rcode.NOERROR


def zone_file(zone: str, serial: int = 1) -> str:
    """A minimal zone: SOA (short timers), one NS and its address."""
    origin = zone.rstrip(".") + "."
    return (
        "$TTL 60\n"
        f"{origin} IN SOA ns1.{origin} hostmaster.{origin} {serial} 3600 600 86400 60\n"
        f"{origin} IN NS ns1.{origin}\n"
        f"ns1.{origin} IN A 127.0.0.1\n"
    )


# --- Servers -----------------------------------------------------------------------------


def _options(directory: Path, port: int, extra: str = "") -> str:
    return (
        "options {\n"
        f'  directory "{directory}";\n'
        f'  pid-file "{directory / "named.pid"}";\n'
        f'  session-keyfile "{directory / "session.key"}";\n'
        f'  managed-keys-directory "{directory}";\n'
        f"  listen-on port {port} {{ {HOST}; }};\n"
        "  listen-on-v6 { none; };\n"
        "  recursion no;\n"
        "  dnssec-validation no;\n"
        f"{extra}"
        "};\n"
        "controls { };\n"
    )


def _unique_ports(count: int) -> list[int]:
    """``count`` distinct ports free for TCP and UDP right now."""
    ports: list[int] = []
    # Each pass adds a port unless it repeats one; 20 extra passes are plenty.
    for _ in range(count + 20):
        if len(ports) == count:
            break
        port = free_port()
        if port not in ports:
            ports.append(port)
    if len(ports) < count:
        raise RuntimeError(f"could not find {count} distinct free ports")
    return ports


class UpdatableNamed(NamedServer):
    """``named`` primary for ``zones`` on 127.0.0.1, taking updates signed with ``key``.

    Each zone's ``update-policy`` grants the key every name in the zone (``zonesub ANY``)
    but the names in ``locked`` (labels, e.g. ``locked`` -> ``locked.<zone>``), which it
    denies: an update touching one of them is answered REFUSED. Journals (``.jnl``) live in
    ``directory``. ``check_integrity`` is off unless asked for: BIND's default refuses an
    update adding an MX or SRV record whose target in the zone has no address record.
    ``notify`` lists ports on 127.0.0.1 to notify of every change (its secondaries), which
    may transfer the zones from 127.0.0.1.

        with UpdatableNamed(tmp_path, {"example.test": zone_file("example.test")}).start() as n:
            provider = Rfc2136("bind", n.settings(), n.secret)
    """

    def __init__(
        self,
        directory: Path,
        zones: Mapping[str, str],
        *,
        key: TsigKey | None = None,
        locked: Sequence[str] = (),
        notify: Sequence[int] = (),
        port: int = 0,
        check_integrity: bool = False,
    ) -> None:
        super().__init__(directory, zones)
        self.check_integrity = check_integrity
        self.key = key or TsigKey.generate()
        self.locked = list(locked)
        self.notify = list(notify)
        self.port = port

    @property
    def server(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> Self:
        binary = shutil.which("named")
        if binary is None:
            raise RuntimeError("the named command is not installed (Debian: bind9)")
        self.port = self.port or free_port()
        if self.notify:
            targets = " ".join(f"{HOST} port {p};" for p in self.notify)
            extra = f"  notify explicit;\n  also-notify {{ {targets} }};\n  notify-delay 0;\n"
        else:
            extra = "  notify no;\n"
        clauses = [self.key.clause()]
        for zone, text in self.zones.items():
            origin = zone.rstrip(".")
            path = self.directory / f"{origin}.zone"
            path.write_text(text)
            rules = [f"deny {self.key.name} name {label}.{origin}. ANY;" for label in self.locked]
            rules.append(f"grant {self.key.name} zonesub ANY;")
            clauses.append(
                f'zone "{origin}" {{ type primary; file "{path}"; '
                f'journal "{self.directory / (origin + ".jnl")}"; '
                f"update-policy {{ {' '.join(rules)} }}; allow-transfer {{ {HOST}; }}; "
                f"check-integrity {'yes' if self.check_integrity else 'no'}; }};\n"
            )
        config = self.directory / "named.conf"
        config.write_text(_options(self.directory, self.port, extra) + "".join(clauses))
        self._spawn([binary, "-g", "-c", str(config), "-p", str(self.port)])
        self._wait_ready(self._serves_all)
        return self

    def _serves_all(self) -> bool:
        return all(soa_serial(self.port, zone) is not None for zone in self.zones)

    def settings(self, **overrides: Any) -> Any:
        """An ``Rfc2136Provider`` config for this server and its key (secret: ``secret``)."""
        from arbiter.core.config import Rfc2136Provider

        fields: dict[str, Any] = {
            "type": "rfc2136",
            "server": HOST,
            "port": self.port,
            "key_name": self.key.name,
            "key_algorithm": self.key.algorithm,
            "key_secret": SECRET_NAME,
            "timeout": 2.0,
        }
        fields.update(overrides)
        return Rfc2136Provider(**fields)

    def secret(self, name: str) -> str:
        """Secrets Manager as the adapter sees it: this key's secret under SECRET_NAME."""
        if name != SECRET_NAME:
            raise KeyError(f"no secret named {name}")
        return self.key.secret


class SecondaryNamed(NamedServer):
    """``named`` secondary for ``zones`` on 127.0.0.1. It transfers them from the primary on
    ``primary_port`` through a ``DnsRelay`` of its own, and takes NOTIFY from 127.0.0.1.

    ``pause()``/``resume()``: SIGSTOP/SIGCONT, it answers nothing meanwhile (queries queue
    in the kernel and are answered late). ``lag()``/``catch_up()``: it keeps answering, but
    with the zones as they were: its relay refuses its refresh queries and transfers; on
    ``catch_up`` the relay forwards again and the secondary is notified.
    """

    def __init__(
        self, directory: Path, zones: Iterable[str], primary_port: int, *, port: int = 0
    ) -> None:
        super().__init__(directory, {zone.rstrip("."): "" for zone in zones})
        self.primary_port = primary_port
        self.port = port
        self.relay = DnsRelay(primary_port)
        self.paused = False

    @property
    def server(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> Self:
        binary = shutil.which("named")
        if binary is None:
            raise RuntimeError("the named command is not installed (Debian: bind9)")
        self.port = self.port or free_port()
        self.relay.start()
        clauses = [
            f'zone "{zone}" {{ type secondary; file "{self.directory / (zone + ".zone")}"; '
            f"masterfile-format text; primaries {{ {HOST} port {self.relay.port}; }}; "
            f"allow-notify {{ {HOST}; }}; }};\n"
            for zone in self.zones
        ]
        config = self.directory / "named.conf"
        config.write_text(_options(self.directory, self.port, "  notify no;\n") + "".join(clauses))
        self._spawn([binary, "-g", "-c", str(config), "-p", str(self.port)])
        self._wait_ready(self._serves_all)  # on failure it calls stop(), relay included
        return self

    def _serves_all(self) -> bool:
        return all(soa_serial(self.port, zone) is not None for zone in self.zones)

    def pause(self) -> None:
        """SIGSTOP: the process stops answering anything until ``resume()``."""
        if self._process is not None and not self.paused:
            os.killpg(self._process.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self._process is not None and self.paused:
            os.killpg(self._process.pid, signal.SIGCONT)
        self.paused = False

    def lag(self) -> None:
        """From now on it serves the zones as they are: its transfers are refused."""
        self.relay.hold("REFUSED")

    def catch_up(self) -> None:
        """Transfers go through again, and the secondary is told to check its zones now."""
        self.relay.release()
        for zone in self.zones:
            notify(self.port, zone)

    def stop(self) -> None:
        self.resume()  # a stopped process would not act on SIGTERM
        super().stop()
        self.relay.stop()


class BindFleet:
    """One ``UpdatableNamed`` primary and ``secondaries`` ``SecondaryNamed``, each its own
    ``named`` on its own loopback port, serving the same ``zones``. The primary notifies
    the secondaries of every change (``notify explicit``, ``also-notify``, no delay), and they
    transfer it (IXFR) from it, so that an update at the primary reaches all of them within
    about a second.

    ``servers``: every server as ``"127.0.0.1:PORT"``, the primary first. ``start()`` returns
    once every secondary serves every zone; ``stop()`` stops them all. See
    ``SecondaryNamed`` to pause one or make it lag.
    """

    def __init__(
        self,
        directory: Path,
        zones: Mapping[str, str],
        *,
        secondaries: int = 2,
        key: TsigKey | None = None,
        locked: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.zones = {zone.rstrip("."): text for zone, text in zones.items()}
        ports = _unique_ports(1 + secondaries)
        (directory / "primary").mkdir(parents=True, exist_ok=True)
        self.primary = UpdatableNamed(
            directory / "primary",
            self.zones,
            key=key,
            locked=locked,
            notify=ports[1:],
            port=ports[0],
        )
        self.secondaries: list[SecondaryNamed] = []
        for number, port in enumerate(ports[1:], start=1):
            place = directory / f"secondary-{number}"
            place.mkdir(parents=True, exist_ok=True)
            self.secondaries.append(SecondaryNamed(place, self.zones, ports[0], port=port))

    @property
    def servers(self) -> list[str]:
        return [self.primary.server] + [s.server for s in self.secondaries]

    def start(self) -> Self:
        try:
            self.primary.start()
            for secondary in self.secondaries:
                secondary.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for secondary in self.secondaries:
            secondary.stop()
        self.primary.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serials(self, zone: str) -> dict[str, int | None]:
        """Each server's serial for ``zone`` (None: no answer)."""
        return {server: soa_serial(server, zone) for server in self.servers}

    def wait_synced(self, zone: str, timeout: float = 10.0) -> float:
        """Wait until every server serves the primary's serial of ``zone``; the seconds it
        took. TimeoutError names the servers still behind."""
        return self.wait_for(
            lambda server: soa_serial(server, zone) == soa_serial(self.primary.server, zone),
            timeout,
            f"the primary's serial of {zone}",
        )

    def wait_for(
        self, serves: Callable[[str], bool], timeout: float = 10.0, what: str = "the change"
    ) -> float:
        """Poll every server until ``serves(server)`` holds for all of them; the seconds it
        took. TimeoutError names the servers that never did."""
        began = time.monotonic()
        behind = list(self.servers)
        # Each pass asks each lagging server once (ASK_TIMEOUT at most) and pauses 50 ms.
        while time.monotonic() - began < timeout:
            behind = [server for server in behind if not serves(server)]
            if not behind:
                return time.monotonic() - began
            time.sleep(0.05)
        raise TimeoutError(f"{', '.join(behind)} did not serve {what} within {timeout} s")


# --- A relay that fails on demand ---------------------------------------------------------


class DnsRelay:
    """A relay on one loopback port (TCP and UDP) to the DNS server on ``target_port``.

    An exchange is one TCP connection or one UDP datagram. ``fail(n, how, after=m)``: after
    ``m`` more exchanges pass, the next ``n`` fail: ``how="drop"`` takes the query and never
    answers (a TCP connection stays open, silent); an rcode name (``"SERVFAIL"``,
    ``"REFUSED"``...) answers each query with it, signed with ``keyring`` when the query is
    signed with that key (as the server itself would), else unsigned. ``hold(how)`` fails
    every exchange until ``release()``. ``opcodes``: the opcode of the first query of every
    exchange so far (``QUERY``, ``UPDATE``, ``NOTIFY``).
    """

    def __init__(self, target_port: int, *, keyring: dns.tsig.Key | None = None) -> None:
        self.target_port = target_port
        self.keyring = keyring
        self.port = 0
        self.opcodes: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._skip = 0
        self._fail = 0
        self._how = "drop"
        self._tcp: socket.socket | None = None
        self._udp: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def fail(self, n: int, how: str = "drop", *, after: int = 0) -> None:
        if how != "drop":
            dns.rcode.from_text(how)  # a typo fails here, not as a forwarded exchange
        with self._lock:
            self._skip, self._fail, self._how = after, n, how

    def hold(self, how: str = "drop") -> None:
        self.fail(sys.maxsize, how)

    def release(self) -> None:
        self.fail(0)

    def _fault(self, wire: bytes) -> str | None:
        """What to do with this exchange: None forwards it."""
        with self._lock:
            self.opcodes.append(_opcode(wire))
            if self._skip > 0:
                self._skip -= 1
                return None
            if self._fail > 0:
                self._fail -= 1
                return self._how
            return None

    def start(self) -> Self:
        # Each try takes a new ephemeral TCP port and tries the same number over UDP.
        for _ in range(10):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind((HOST, 0))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind((HOST, tcp.getsockname()[1]))
            except OSError:
                tcp.close()
                udp.close()
                continue
            break
        else:
            raise RuntimeError("no port free for both TCP and UDP")
        tcp.listen(64)
        tcp.settimeout(0.05)
        udp.settimeout(0.05)
        self._tcp, self._udp = tcp, udp
        self.port = int(tcp.getsockname()[1])
        for loop in (self._accept, self._datagrams):
            self._spawn_thread(loop)
        return self

    def _spawn_thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=2)
        for sock in (self._tcp, self._udp):
            if sock is not None:
                sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # UDP: each datagram is an exchange.

    def _datagrams(self) -> None:
        assert self._udp is not None
        # Each pass waits at most the socket's 50 ms timeout; stop() ends the loop.
        while not self._stopping.is_set():
            try:
                wire, client = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            how = self._fault(wire)
            if how is None:
                self._spawn_thread(self._forward_datagram, wire, client)
            elif how != "drop":
                answer = self._answer(wire, how)
                if answer is not None:
                    with contextlib.suppress(OSError):
                        self._udp.sendto(answer, client)

    def _forward_datagram(self, wire: bytes, client: tuple[str, int]) -> None:
        assert self._udp is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(2.0)
            try:
                upstream.sendto(wire, (HOST, self.target_port))
                answer = upstream.recv(65535)
                self._udp.sendto(answer, client)
            except OSError:
                return  # the server did not answer: neither does the relay

    # TCP: each connection is an exchange, decided on its first query.

    def _accept(self) -> None:
        assert self._tcp is not None
        # Each pass waits at most the listener's 50 ms timeout; stop() ends the loop.
        while not self._stopping.is_set():
            try:
                conn, _ = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn_thread(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        give_up = time.monotonic() + MAX_HOLD
        with contextlib.suppress(OSError), conn:
            first = self._read_message(conn, give_up)
            if first is None:
                return
            how = self._fault(first)
            if how is None:
                self._pump(conn, first, give_up)
            elif how == "drop":
                # Holds the connection, silent, until the client hangs up, stop() or MAX_HOLD.
                while self._read_message(conn, give_up) is not None:
                    pass
            else:
                query: bytes | None = first
                # Each pass answers one query; EOF, stop() or MAX_HOLD ends the loop.
                while query is not None:
                    answer = self._answer(query, how)
                    if answer is None:
                        return
                    conn.sendall(len(answer).to_bytes(2, "big") + answer)
                    query = self._read_message(conn, give_up)

    def _read_message(self, conn: socket.socket, give_up: float) -> bytes | None:
        """One length-prefixed DNS message; None on EOF, stop() or ``give_up``."""
        conn.settimeout(0.05)
        data = b""
        # Each pass waits at most 50 ms; stop(), give_up, EOF or a whole message ends it.
        while not self._stopping.is_set() and time.monotonic() < give_up:
            if len(data) >= 2 and len(data) >= 2 + int.from_bytes(data[:2], "big"):
                return data[2 : 2 + int.from_bytes(data[:2], "big")]
            try:
                chunk = conn.recv(65537)
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        return None

    def _pump(self, conn: socket.socket, first: bytes, give_up: float) -> None:
        """Forward the connection both ways until either side closes."""
        with socket.create_connection((HOST, self.target_port), timeout=2.0) as upstream:
            upstream.sendall(len(first).to_bytes(2, "big") + first)
            conn.setblocking(False)
            upstream.setblocking(False)
            with selectors.DefaultSelector() as selector:
                selector.register(conn, selectors.EVENT_READ, upstream)
                selector.register(upstream, selectors.EVENT_READ, conn)
                # Each pass waits at most 50 ms; EOF, stop() or give_up ends the loop.
                while not self._stopping.is_set() and time.monotonic() < give_up:
                    for ready, _ in selector.select(timeout=0.05):
                        source: Any = ready.fileobj
                        chunk = source.recv(65536)
                        if not chunk:
                            return
                        ready.data.settimeout(2.0)  # sendall, bounded
                        ready.data.sendall(chunk)
                        ready.data.setblocking(False)

    def _answer(self, wire: bytes, how: str) -> bytes | None:
        """``wire``'s query answered with the rcode ``how``, signed when it was signed with
        this relay's key."""
        try:
            query = dns.message.from_wire(wire, keyring=self.keyring or False)
        except (dns.exception.DNSException, ValueError):
            try:
                query = dns.message.from_wire(wire, keyring=False)  # another key: unsigned
            except (dns.exception.DNSException, ValueError):
                return None
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.from_text(how))
        return response.to_wire()


def _opcode(wire: bytes) -> str:
    if len(wire) < 4:
        return "?"
    return dns.opcode.to_text(dns.opcode.from_flags(int.from_bytes(wire[2:4], "big")))
