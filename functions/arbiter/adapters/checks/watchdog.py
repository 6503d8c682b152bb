"""A total deadline on sockets: at the deadline one shared watchdog thread shuts the watched
sockets down, so whatever call is blocked on them returns at once (plain or TLS), and the
caller's thread and socket are freed. Standard library only: the probe's HTTP check imports it
without ``requests``.

The watchdog keeps a duplicate of each watched descriptor (shutdown acts on the connection,
not on the descriptor) and closes it on release: it never shuts down a descriptor number that
the owner closed and the process then gave to another socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Self


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
    an idle process (a frozen Lambda, a test between rounds) carries no extra thread.

    Arming wakes it only for a deadline earlier than the one it sleeps until, and disarming
    only when none is left: in a round of 200 checks with one timeout it wakes once or twice,
    not 400 times, each time taking the GIL from checks that are opening connections."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[Deadline] = set()
        self._running = False
        self._wakes_at = 0.0

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.add(deadline)
            if not self._running:
                self._running = True
                self._wakes_at = deadline.at
                threading.Thread(target=self._run, name="arbiter-deadline", daemon=True).start()
            elif deadline.at < self._wakes_at:
                self._wakes_at = deadline.at
                self._cond.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.discard(deadline)
            if not self._armed:
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
                self._wakes_at = min(d.at for d in self._armed)
                self._cond.wait(self._wakes_at - now)
            self._running = False
            return []


_WATCHDOG = _Watchdog()
