"""A real PowerDNS Authoritative server (``pdns_server``) on loopback, for the PowerDNS adapter.

It runs in the foreground as the current user, with the gsqlite3 backend on a fresh database
made from the schema the Debian package ``pdns-backend-sqlite3`` ships, DNS on one free
127.0.0.1 port and its HTTP API on another; every file (config, database, control socket) is
in ``directory``. No guardian, no daemon, no security poll (no query leaves the host).

    if (reason := pdns_missing()) is not None:
        pytest.skip(reason)
    with PdnsServer(tmp_path).start() as pdns:
        pdns.create_zone("example.test.")
        dig @127.0.0.1 -p {pdns.port} www.example.test
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import requests

from tests.integration.servers import _ChildServer, free_port

SCHEMAS = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
    Path("/usr/local/share/doc/pdns/schema.sqlite3.sql"),
)
"""Where the gsqlite3 schema is: Debian's package (``dpkg -L pdns-backend-sqlite3``), then a
build from source."""
_SBIN = ("/usr/sbin", "/usr/local/sbin")
API_TIMEOUT = 5.0
"""Seconds a helper's API call may take."""


def pdns_binary() -> str | None:
    """``pdns_server``, also where a non-root PATH does not look (it lives in /usr/sbin)."""
    found = shutil.which("pdns_server")
    for directory in _SBIN:
        found = found or shutil.which("pdns_server", path=directory)
    return found


def sqlite_schema() -> Path | None:
    return next((path for path in SCHEMAS if path.is_file()), None)


def pdns_missing() -> str | None:
    """Why a PdnsServer cannot run here (the text says "not installed"), or None."""
    if pdns_binary() is None:
        return "pdns_server is not installed (Debian: pdns-server pdns-backend-sqlite3)"
    if sqlite_schema() is None:
        return "the gsqlite3 schema is not installed (Debian: pdns-backend-sqlite3)"
    return None


class PdnsServer(_ChildServer):
    name = "pdns"

    def __init__(self, directory: Path, *, api_key: str | None = None) -> None:
        super().__init__(directory)
        self.api_key = api_key or "pdns-test-" + secrets.token_urlsafe(18)
        self.port = 0
        """The DNS port (UDP and TCP)."""
        self.api_port = 0

    @property
    def api_url(self) -> str:
        """The API's base as an operator configures it (the adapter adds ``/api/v1``)."""
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> Self:
        binary, schema = pdns_binary(), sqlite_schema()
        if binary is None or schema is None:
            raise RuntimeError(pdns_missing())
        database = self.directory / "pdns.sqlite3"
        database.unlink(missing_ok=True)
        with sqlite3.connect(database) as db:
            db.executescript(schema.read_text())
        db.close()
        self.port = free_port()
        # Two ephemeral picks in a row almost never collide; a few tries settle it.
        for _ in range(5):
            self.api_port = free_port()
            if self.api_port != self.port:
                break
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(database),
            "local-address": f"127.0.0.1:{self.port}",
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": "127.0.0.1",
            "webserver-port": str(self.api_port),
            "webserver-allow-from": "127.0.0.1",
            "security-poll-suffix": "",
            "socket-dir": str(self.directory),
            "guardian": "no",
            "daemon": "no",
            "disable-syslog": "yes",
            "receiver-threads": "1",
            "distributor-threads": "1",
        }
        (self.directory / "pdns.conf").write_text(
            "".join(f"{name}={value}\n" for name, value in settings.items())
        )
        self._spawn([binary, f"--config-dir={self.directory}"])
        self._wait_ready(self._ready)
        return self

    def _ready(self) -> bool:
        """The API answers, and so does the DNS port (REFUSED for a zone it lacks is fine)."""
        import dns.exception
        import dns.message
        import dns.query

        try:
            answer = requests.get(
                f"{self.api_url}/api/v1/servers/localhost",
                headers={"X-API-Key": self.api_key},
                timeout=0.5,
            )
        except requests.RequestException:
            return False
        if answer.status_code != 200:
            return False
        try:
            dns.query.udp(
                dns.message.make_query(".", "SOA"), "127.0.0.1", port=self.port, timeout=0.5
            )
        except (dns.exception.DNSException, OSError):
            return False
        return True

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        """One call to the API (``path`` after ``/api/v1/servers/localhost``), with the key."""
        return requests.request(
            method,
            f"{self.api_url}/api/v1/servers/localhost{path}",
            json=body,
            headers={"X-API-Key": self.api_key},
            timeout=API_TIMEOUT,
        )

    def create_zone(
        self, zone: str, *, nameservers: Sequence[str] = (), rrsets: Sequence[dict[str, Any]] = ()
    ) -> str:
        """Make a Native zone with a SOA, NS records (default ``ns1.<zone>``) and ``rrsets``
        (API form, without ``changetype``); returns its name with the trailing dot."""
        name = zone if zone.endswith(".") else zone + "."
        servers = list(nameservers) or [f"ns1.{name}"]
        soa = f"{servers[0]} hostmaster.{name} 1 10800 3600 604800 60"
        body = {
            "name": name,
            "kind": "Native",
            "nameservers": [],
            "soa_edit_api": "DEFAULT",
            "rrsets": [
                _rrset(name, "SOA", 3600, [soa]),
                _rrset(name, "NS", 3600, servers),
                *rrsets,
            ],
        }
        answer = self.api("POST", "/zones", body)
        if answer.status_code != 201:
            raise RuntimeError(f"pdns: creating {name}: HTTP {answer.status_code} {answer.text}")
        return name

    def delete_zone(self, zone: str) -> None:
        name = zone if zone.endswith(".") else zone + "."
        answer = self.api("DELETE", f"/zones/{name}")
        if answer.status_code not in (204, 404):
            raise RuntimeError(f"pdns: deleting {name}: HTTP {answer.status_code} {answer.text}")

    def serial(self, zone: str) -> int:
        name = zone if zone.endswith(".") else zone + "."
        answer = self.api("GET", f"/zones/{name}?rrsets=false")
        answer.raise_for_status()
        return int(answer.json()["serial"])


def _rrset(name: str, rtype: str, ttl: int, contents: Sequence[str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": rtype,
        "ttl": ttl,
        "records": [{"content": content, "disabled": False} for content in contents],
    }
