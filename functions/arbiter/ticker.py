"""The ticker's composition root: its interval, its queue and its clock, from the environment.

Separate from ``runtime.py``, which loads the config file and builds every adapter: the
ticker needs neither (infra sets the interval from the same config at synth time), so its
cold start is a few imports, and nothing is built at import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from arbiter.adapters.queue import RoundQueue, SqsRoundQueue
from arbiter.core.errors import FatalError
from arbiter.core.schedule import MINUTE, queued

INTERVAL_ENV = "ARBITER_PROBE_INTERVAL"
QUEUE_ENV = "ARBITER_ROUNDS_QUEUE_URL"


class TickerSetting(FatalError):
    """A ticker setting in the environment is missing or not valid."""


@dataclass
class Ticker:
    interval: float
    """Seconds between rounds, below 60 and dividing 60 (the config's ``probe.interval``)."""
    queue: RoundQueue
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def interval_from(text: str | None) -> float:
    """``ARBITER_PROBE_INTERVAL`` as seconds; an error names the variable and the rule."""
    try:
        interval = float(text or "")
    except ValueError:
        raise TickerSetting(f"{INTERVAL_ENV}: {text!r} is not a number of seconds") from None
    if not (interval >= 1 and queued(interval)) or MINUTE % interval:
        raise TickerSetting(
            f"{INTERVAL_ENV}: {interval:g} s: the ticker serves intervals from 1 s to below "
            "60 s that divide 60 (from 60 s up the schedule invokes the probe itself)"
        )
    return interval


def _sqs() -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5
    )
    return boto3.client("sqs", config=config)


def from_env() -> Ticker:
    url = os.environ.get(QUEUE_ENV)
    if not url:
        raise TickerSetting(f"environment variable {QUEUE_ENV} is not set")
    return Ticker(
        interval=interval_from(os.environ.get(INTERVAL_ENV)), queue=SqsRoundQueue(url, _sqs)
    )


_current: Ticker | None = None


def current() -> Ticker:
    global _current
    if _current is None:
        _current = from_env()
    return _current


def install(ticker: Ticker | None) -> None:
    """Use this ticker from now on (None: build from the environment on next use)."""
    global _current
    _current = ticker
