"""The one way a checker turns its verdict into a CheckResult."""

from __future__ import annotations

import time
from typing import Any

from arbiter.core.config import Check
from arbiter.core.model import CheckResult


def result(check: Check, reason: str, start: float | None, **extra: Any) -> CheckResult:
    """``reason`` is ``"ok"`` for a pass; ``start`` is the ``time.perf_counter()`` at which
    the check began (None: it never started, so no latency)."""
    latency_ms = (time.perf_counter() - start) * 1000 if start is not None else 0.0
    return CheckResult(
        name=check.name,
        kind=check.type,
        ok=reason == "ok",
        latency_ms=round(latency_ms, 1),
        reason=reason,
        required=check.required,
        **extra,
    )
