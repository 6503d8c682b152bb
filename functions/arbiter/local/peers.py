"""Real protocol peers run as child processes on loopback: BIND's ``named`` (and, in
``local/bind.py``, an updatable primary with its secondaries). The tests and the local
rehearsal start them on free high ports and always stop them; nothing here needs root."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

MAX_HOLD = 30.0
"""Longest that a server holds a stalled response or an idle connection open."""


START_WITHIN = 10.0
"""Seconds a server process gets to answer its first request."""
STOP_WITHIN = 5.0
"""Seconds a server process gets to exit on SIGTERM before it is killed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP right now (for a child process to take next)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Each try picks a new ephemeral port; ten tries are plenty on a quiet loopback.
    for _ in range(10):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")


class ChildServer:
    """A server binary run as a child process, its output in ``log``; always reaped by stop()."""

    name = "server"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _spawn(self, command: list[str]) -> None:
        with open(self.log, "wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaps its children too
            )

    def _wait_ready(self, ready: Callable[[], bool]) -> None:
        """Poll ``ready`` until it says yes; if the process dies or START_WITHIN passes
        first (or anything else goes wrong), stop it and raise."""
        try:
            self._poll_ready(ready)
        except BaseException:
            self.stop()
            raise

    def _poll_ready(self, ready: Callable[[], bool]) -> None:
        assert self._process is not None
        give_up = time.monotonic() + START_WITHIN
        # Each pass costs at most one probe's own short timeout plus a 50 ms pause.
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.output()}")
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {START_WITHIN} s:\n{self.output()}")

    def output(self, limit: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_WITHIN)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NamedServer(ChildServer):
    """BIND's ``named`` in the foreground on 127.0.0.1, authoritative for ``zones`` only.

    ``zones`` maps a zone name to its zone file's text; a text that does not load leaves that
    zone answering SERVFAIL. No recursion, no control channel, every file in ``directory``;
    it runs as the current user (root or not: ``-u`` is not given).

        with NamedServer(tmp_path, {"example.test": ZONE}).start() as named:
            dig @127.0.0.1 -p {named.port} www.example.test
    """

    name = "named"

    def __init__(self, directory: Path, zones: Mapping[str, str]) -> None:
        super().__init__(directory)
        self.zones = dict(zones)
        self.port = 0

    def start(self) -> Self:
        binary = shutil.which("named")
        if binary is None:
            raise RuntimeError("the named command is not installed (Debian: bind9)")
        self.port = free_port()
        config = self.directory / "named.conf"
        zone_lines = []
        for zone, text in self.zones.items():
            path = self.directory / f"{zone}.zone"
            path.write_text(text)
            zone_lines.append(f'zone "{zone}" {{ type primary; file "{path}"; }};')
        config.write_text(
            "options {\n"
            f'  directory "{self.directory}";\n'
            f'  pid-file "{self.directory / "named.pid"}";\n'
            f'  session-keyfile "{self.directory / "session.key"}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no;\n"
            "  dnssec-validation no;\n"
            "  notify no;\n"
            "};\n"
            "controls { };\n" + "\n".join(zone_lines) + "\n"
        )
        self._spawn([binary, "-g", "-c", str(config), "-p", str(self.port)])
        self._wait_ready(self._answers)
        return self

    def _answers(self) -> bool:
        import dns.exception
        import dns.message
        import dns.query

        zone = next(iter(self.zones), ".")
        query = dns.message.make_query(zone, "SOA")
        try:
            dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
        except (dns.exception.DNSException, OSError):
            return False
        return True
