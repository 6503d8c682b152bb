"""Check adapters: one function per config ``type``, and a bounded concurrent round.

``run_check`` never raises: whatever goes wrong becomes ``ok=False`` with a short reason, since a
probe that crashes reports nothing and a site it cannot judge must still be reported. ``run_all``
runs a round in a thread pool and returns within about the largest check timeout even when a
server stalls or drips: each checker ends at its own total deadline (TCP, SIP and DNS bound
every socket call by what is left of it; HTTP has its connection cut by a watchdog, see
``deadline.py``), which frees its thread and socket, and a check still running just past it
is reported as a timeout without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from arbiter.adapters.checks.dns import check_dns
from arbiter.adapters.checks.http import check_http
from arbiter.adapters.checks.result import result
from arbiter.adapters.checks.sip import check_sip
from arbiter.adapters.checks.tcp import check_tcp, timeout_reason
from arbiter.core.config import Check
from arbiter.core.model import CheckResult

__all__ = ["CHECKERS", "MAX_WORKERS", "run_all", "run_check"]

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

    One worker per check, up to ``max_workers`` (default MAX_WORKERS): then the round returns
    within about the largest timeout plus GRACE, whatever the servers do. Each check's budget
    starts when a worker picks it up, so with more checks than workers the round takes a few
    timeouts' worth.
    """
    if not checks:
        return []
    workers = max(1, min(len(checks), max_workers or MAX_WORKERS))
    started: list[float | None] = [None] * len(checks)

    def timed(index: int, check: Check) -> CheckResult:
        started[index] = time.perf_counter()
        return run_check(check)

    # A check can wait in the queue at most as long as the waves of checks before it.
    waves = math.ceil(len(checks) / workers)
    give_up = time.perf_counter() + waves * (max(c.timeout for c in checks) + GRACE)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="arbiter-check")
    try:
        futures = [pool.submit(timed, i, check) for i, check in enumerate(checks)]
        return [
            _collect(future, check, started, i, give_up)
            for i, (future, check) in enumerate(zip(futures, checks, strict=True))
        ]
    finally:
        # A check late past GRACE ends at its own deadline; nobody waits for it.
        pool.shutdown(wait=False, cancel_futures=True)


def _collect(
    future: Future[CheckResult],
    check: Check,
    started: list[float | None],
    index: int,
    give_up: float,
) -> CheckResult:
    # Each pass waits for the check's own deadline once it has started, or polls while it is
    # queued; past `give_up` a queued check is reported, so the loop is bounded.
    while True:
        begun = started[index]
        if begun is not None:
            wait = begun + check.timeout + GRACE - time.perf_counter()
        else:
            wait = min(_QUEUE_POLL, give_up - time.perf_counter())
        try:
            return future.result(timeout=max(0.0, wait))
        except TimeoutError:
            if begun is not None or time.perf_counter() >= give_up:
                return _failed(check, timeout_reason(check.timeout), begun)


def _failed(check: Check, reason: str, start: float | None) -> CheckResult:
    assert reason != "ok"
    return result(check, reason, start)
