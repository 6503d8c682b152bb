"""A total deadline for HTTP requests, whose socket reads urllib3 and http.client drive.

urllib3's timeouts bound each socket call, not the request: a server that drips its response
headers (or TLS records) one byte at a time keeps a request alive far past its budget, and
each such request holds a thread and a socket. Here every connection a request opens is
watched: at the deadline one shared watchdog thread shuts its socket down, so whatever call is
blocked on it returns at once (plain or TLS), and the caller's thread and socket are freed.

The watchdog keeps a duplicate of each watched descriptor (shutdown acts on the connection,
not on the descriptor) and closes it on release: it never shuts down a descriptor number that
the owner closed and the process then gave to another socket.

    with Deadline(2.0) as deadline, watched_session(deadline) as session:
        ...  # deadline.expired: the watchdog cut the connection, so the verdict is a timeout
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from functools import partial
from typing import Any, Self

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

REQUEST_FAILURES = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
"""What a failed request can raise, including one whose connection the deadline cut mid-read
(http.client and urllib3 errors surface unwrapped when a streamed body is read)."""


class Deadline:
    """``timeout`` seconds after ``start`` (a ``time.perf_counter()``, default now). As a context
    manager it is armed in the watchdog on entry and releases its sockets on exit."""

    def __init__(self, timeout: float, start: float | None = None) -> None:
        self.at = (time.perf_counter() if start is None else start) + timeout
        self.expired = False
        """The watchdog fired: what a library says about the cut connection is not the cause."""
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._released = False

    def remaining(self) -> float:
        return self.at - time.perf_counter()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        with self._lock:
            if self._released:
                return
            dup = sock.dup()
            self._watched.append(dup)
            if self.expired:
                _cut(dup)

    def expire(self) -> None:
        with self._lock:
            if self._released:
                return
            self.expired = True
            for dup in self._watched:
                _cut(dup)

    def release(self) -> None:
        _WATCHDOG.disarm(self)
        with self._lock:
            self._released = True
            for dup in self._watched:
                dup.close()
            self._watched.clear()

    def __enter__(self) -> Self:
        _WATCHDOG.arm(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _cut(sock: socket.socket) -> None:
    # The peer may have closed it already (ENOTCONN): then there is nothing to wake.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread that expires overdue deadlines. It runs only while a deadline is armed, so
    an idle process (a frozen Lambda, a test between rounds) carries no extra thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Deadline] = set()
        self._running = False

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.add(deadline)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="arbiter-deadline", daemon=True).start()
            self._cond.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.discard(deadline)
            self._cond.notify()

    def _run(self) -> None:
        # Each pass expires the deadlines that are due; the thread ends when none is armed.
        while due := self._next_due():
            for deadline in due:
                deadline.expire()

    def _next_due(self) -> list[Deadline]:
        """Wait until some armed deadline is due and disarm it; [] when none is armed."""
        with self._cond:
            # Each pass returns what is due or sleeps until the earliest deadline or a change.
            while self._armed:
                now = time.perf_counter()
                due = [d for d in self._armed if d.at <= now]
                if due:
                    self._armed.difference_update(due)
                    return due
                self._cond.wait(min(d.at for d in self._armed) - now)
            self._running = False
            return []


_WATCHDOG = _Watchdog()


class WatchedHTTPConnection(HTTPConnection):
    """A connection whose socket its ``deadline`` watches from the moment it is connected."""

    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)  # before any TLS handshake, which happens on this socket
        return sock


class WatchedHTTPSConnection(WatchedHTTPConnection, HTTPSConnection):
    pass


class WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def __init__(self, deadline: Deadline, https_pool: type[HTTPSConnectionPool]) -> None:
        self.deadline = deadline
        self.https_pool = https_pool
        super().__init__()  # which builds the pool manager: after the fields it reads

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # The pools hand ``deadline`` on to each connection they make.
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(WatchedHTTPPool, deadline=self.deadline),
            "https": partial(self.https_pool, deadline=self.deadline),
        }


def watched_session(
    deadline: Deadline, https_pool: type[HTTPSConnectionPool] = WatchedHTTPSPool
) -> requests.Session:
    """A session whose every connection ``deadline`` watches. ``https_pool``: a subclass of
    WatchedHTTPSPool for connections that do more (keep the peer certificate).

    It takes nothing from the environment: a proxy's connection would not be watched (and a
    probe measures the direct path), and no .netrc adds credentials to a request."""
    session = requests.Session()
    session.trust_env = False
    adapter = _WatchedAdapter(deadline, https_pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
