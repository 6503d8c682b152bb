"""Check adapters: one function per config ``type``, and a bounded concurrent round.

``run_check`` never raises: whatever goes wrong becomes ``ok=False`` with a short reason, since a
probe that crashes reports nothing and a site it cannot judge must still be reported. ``run_all``
runs a round on one thread per check and returns within about the largest check timeout even
when a server stalls or drips: each checker ends at its own total deadline (TCP, SIP and DNS
bound every socket call by what is left of it; HTTP has its connection cut by a watchdog, see
``watchdog.py``), which frees its thread and socket, and a check still running just past it
is reported as a timeout without waiting.
"""

from __future__ import annotations

import _thread
import math
import threading
import time
from collections.abc import Callable, Sequence

from arbiter.adapters.checks.http import check_http
from arbiter.adapters.checks.result import result
from arbiter.adapters.checks.sip import check_sip
from arbiter.adapters.checks.tcp import check_tcp, timeout_reason
from arbiter.core.config import Check, DnsCheck
from arbiter.core.model import CheckResult

__all__ = ["CHECKERS", "MAX_WORKERS", "live_workers", "run_all", "run_check"]


def check_dns(check: DnsCheck) -> CheckResult:
    """``dns.check_dns``, imported on the first DNS check: dnspython costs a probe without DNS
    checks a sizeable part of its cold start."""
    from arbiter.adapters.checks import dns

    return dns.check_dns(check)


CHECKERS: dict[str, Callable[[Check], CheckResult]] = {
    "http": check_http,  # type: ignore[dict-item]
    "tcp": check_tcp,  # type: ignore[dict-item]
    "dns": check_dns,  # type: ignore[dict-item]
    "sip": check_sip,  # type: ignore[dict-item]
}
"""The checker for each config ``type:`` value. Each takes the check of its own type."""

MAX_WORKERS = 256
GRACE = 0.25
"""Seconds past a check's timeout that run_all waits for the checker's own, more precise,
verdict before it reports the timeout itself."""
_QUEUE_POLL = 0.05


def run_check(check: Check) -> CheckResult:
    start = time.perf_counter()
    checker = CHECKERS.get(check.type)
    if checker is None:
        return _failed(check, f"unsupported check type {check.type!r}", start)
    try:
        result = checker(check)
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure, it never crashes
        return _failed(check, f"error: {type(exc).__name__}", start)
    if result.ok and result.latency_ms > check.timeout * 1000:
        # It answered, but after its budget: the timeout is a total, not per socket call.
        return result.model_copy(update={"ok": False, "reason": timeout_reason(check.timeout)})
    return result


def run_all(checks: Sequence[Check], max_workers: int | None = None) -> list[CheckResult]:
    """Run ``checks`` concurrently; the results are in the order of ``checks``.

    One worker thread per check, up to ``max_workers`` (default MAX_WORKERS): then the round
    returns within about the largest timeout plus GRACE, whatever the servers do. Each check's
    budget starts when a worker picks it up, so with more checks than workers the round takes
    a few timeouts' worth.
    """
    if not checks:
        return []
    workers = max(1, min(len(checks), max_workers or MAX_WORKERS))
    return _Round(checks, workers).run()


_live = 0
_live_lock = threading.Lock()


def live_workers() -> int:
    """Check workers running now, in any round of the process: what a round leaves behind
    (a check still running past its round) is counted by the chaos harness and the tests."""
    return _live


class _Round:
    """One round's workers and results.

    The workers start each other as a binary tree (worker k starts 2k+1 and 2k+2, then takes
    checks until none is left), with ``_thread.start_new_thread``: ``threading.Thread.start``
    waits until the new thread is scheduled, 1 ms and more on a busy machine, and one thread
    starting 200 of them began the last check a few hundred milliseconds late. ``_thread``
    does not wait, and in a tree the starts overlap: the last check begins within a few
    milliseconds. The workers carry no ``threading.Thread``; ``live_workers()`` counts them.
    A checker must not call ``threading.current_thread()`` (``logging`` records do): in such a
    thread it registers a dummy Thread that can outlive it in ``threading.enumerate()``.
    """

    def __init__(self, checks: Sequence[Check], workers: int) -> None:
        self.checks = checks
        self.workers = workers
        self.started: list[float | None] = [None] * len(checks)
        self.results: list[CheckResult | None] = [None] * len(checks)
        self._lock = threading.Lock()
        self._next = 0
        self._left = len(checks)
        self._closed = False
        self._done = threading.Event()
        # A check can wait for a worker at most as long as the waves of checks before it.
        waves = math.ceil(len(checks) / workers)
        self.give_up = time.perf_counter() + waves * (max(c.timeout for c in checks) + GRACE)

    def run(self) -> list[CheckResult]:
        self._start(0)
        try:
            return self._collect()
        finally:
            # A check late past GRACE ends at its own deadline; nobody waits for it, and no
            # worker starts another check.
            with self._lock:
                self._closed = True

    def _start(self, worker: int) -> None:
        global _live
        with _live_lock:
            _live += 1
        try:
            _thread.start_new_thread(self._work, (worker,))
        except RuntimeError:
            with _live_lock:
                _live -= 1
            raise

    def _work(self, worker: int) -> None:
        global _live
        try:
            self._run_checks(worker)
        finally:
            with _live_lock:
                _live -= 1

    def _run_checks(self, worker: int) -> None:
        for child in (2 * worker + 1, 2 * worker + 2):
            if child < self.workers:
                try:
                    self._start(child)
                except RuntimeError:  # no more threads: the workers running take its checks
                    break
        # Each pass takes one check off the queue; the loop ends when the queue is empty.
        while (index := self._take()) is not None:
            result = run_check(self.checks[index])
            with self._lock:
                self.results[index] = result
                self._left -= 1
                if not self._left:
                    self._done.set()

    def _take(self) -> int | None:
        with self._lock:
            if self._closed or self._next >= len(self.checks):
                return None
            index = self._next
            self._next += 1
            self.started[index] = time.perf_counter()
            return index

    def _collect(self) -> list[CheckResult]:
        out: list[CheckResult | None] = [None] * len(self.checks)
        # Each pass settles every check that has its result or is past its limit (its own
        # deadline plus GRACE once started, `give_up` while queued), then sleeps until the
        # round is done or the earliest limit (polling while a check is queued): every check
        # is settled by `give_up` at the latest, so the loop ends.
        while True:
            now = time.perf_counter()
            wake = math.inf
            for index, check in enumerate(self.checks):
                if out[index] is not None:
                    continue
                result, begun = self.results[index], self.started[index]
                limit = self.give_up if begun is None else begun + check.timeout + GRACE
                if result is not None:
                    out[index] = result
                elif now >= limit:
                    out[index] = _failed(check, timeout_reason(check.timeout), begun)
                else:
                    wake = min(wake, limit if begun is not None else min(limit, now + _QUEUE_POLL))
            if wake == math.inf:
                return [result for result in out if result is not None]
            self._done.wait(max(0.0, wake - now))


def _failed(check: Check, reason: str, start: float | None) -> CheckResult:
    assert reason != "ok"
    return result(check, reason, start)
