"""A total deadline for ``requests`` sessions (the provider APIs and webhooks), whose socket
reads urllib3 and http.client drive; the deadline itself is ``watchdog.py``'s.

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

import http.client
import socket
from functools import partial
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from arbiter.adapters.checks.watchdog import Deadline

__all__ = ["REQUEST_FAILURES", "REQUEST_TIMEOUTS", "Deadline", "watched_session"]

REQUEST_FAILURES = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
"""What a failed request can raise, including one whose connection the deadline cut mid-read
(http.client and urllib3 errors surface unwrapped when a streamed body is read)."""
REQUEST_TIMEOUTS = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
"""Which of those say that the server did not answer in time."""


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
