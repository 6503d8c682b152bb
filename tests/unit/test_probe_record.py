"""services.probe.record: a write never outlives the round, never raises, and says why."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from arbiter.adapters.store import StoreError, StoreRejected
from arbiter.core.model import Observation
from arbiter.services.probe import WRITE_ATTEMPTS, record
from tests.factories import REGIONS, T0, make_config, obs


class FlakyStore:
    """Raises the next of ``failures`` on each write (then succeeds), counting the tries."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.tries: list[str] = []

    def put_observation(self, observation: Observation, expires_at: datetime) -> None:
        self.tries.append(observation.service)
        if self.failures:
            raise self.failures.pop(0)


def run(store: Any, *, left: float = 10.0, attempt: float = 2.0, services: int = 1) -> Any:
    observations = [obs(REGIONS[0], T0, service=f"s{i}") for i in range(services)]
    return record(store, make_config(), observations, time.monotonic() + left, attempt)


def test_a_write_that_succeeds_is_not_reported() -> None:
    store = FlakyStore()
    assert run(store, services=2) == {}
    assert store.tries == ["s0", "s1"]


def test_a_retryable_failure_is_tried_once_more() -> None:
    store = FlakyStore(StoreError("DynamoDB put_item: ReadTimeoutError"))
    assert run(store) == {}
    assert store.tries == ["s0", "s0"]


def test_retryable_failures_end_after_the_last_attempt_with_the_reason() -> None:
    store = FlakyStore(*[StoreError("DynamoDB put_item: ReadTimeoutError")] * 5)
    assert run(store) == {"s0": "DynamoDB put_item: ReadTimeoutError"}
    assert store.tries == ["s0"] * WRITE_ATTEMPTS


def test_a_refusal_is_not_tried_again_and_the_next_service_is_written() -> None:
    store = FlakyStore(StoreRejected("DynamoDB put_item: AccessDeniedException"))
    assert run(store, services=2) == {"s0": "DynamoDB put_item: AccessDeniedException"}
    assert store.tries == ["s0", "s1"]


def test_no_attempt_starts_that_could_outlive_the_round() -> None:
    store = FlakyStore()
    assert run(store, left=1.0, attempt=2.0, services=2) == {
        "s0": "no time left in the round",
        "s1": "no time left in the round",
    }
    assert store.tries == []
