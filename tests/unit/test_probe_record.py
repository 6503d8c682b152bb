"""services.probe.record: a write never outlives the round, never raises, says why, and tells a
round already stored (a duplicate) from a failure."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from arbiter.adapters.store import StoreError, StoreRejected
from arbiter.core.model import Observation
from arbiter.services.probe import WRITE_ATTEMPTS, record
from tests.factories import REGIONS, T0, make_config, obs


class FlakyStore:
    """Raises the next of ``failures`` on each write (then succeeds), counting the tries; a
    write that succeeds is refused as a duplicate when its stamp and region are stored."""

    def __init__(self, *failures: Exception, landed: bool = False) -> None:
        self.failures = list(failures)
        self.tries: list[str] = []
        self.stored: set[tuple[str, datetime, str]] = set()
        self.landed = landed
        """A failure still stores the item (a timeout after DynamoDB wrote it)."""

    def put_observation(
        self, observation: Observation, expires_at: datetime, once: bool = False
    ) -> bool:
        self.tries.append(observation.service)
        key = (observation.service, observation.round_at, observation.region)
        if self.failures:
            if self.landed:
                self.stored.add(key)
            raise self.failures.pop(0)
        if once and key in self.stored:
            return False
        self.stored.add(key)
        return True


def run(
    store: Any, *, left: float = 10.0, attempt: float = 2.0, services: int = 1, once: bool = False
) -> Any:
    observations = [obs(REGIONS[0], T0, service=f"s{i}") for i in range(services)]
    return record(store, make_config(), observations, time.monotonic() + left, attempt, once)


def test_a_write_that_succeeds_is_not_reported() -> None:
    store = FlakyStore()
    assert run(store, services=2).failed == {}
    assert store.tries == ["s0", "s1"]


def test_a_retryable_failure_is_tried_once_more() -> None:
    store = FlakyStore(StoreError("DynamoDB put_item: ReadTimeoutError"))
    assert run(store).failed == {}
    assert store.tries == ["s0", "s0"]


def test_retryable_failures_end_after_the_last_attempt_with_the_reason() -> None:
    store = FlakyStore(*[StoreError("DynamoDB put_item: ReadTimeoutError")] * 5)
    assert run(store).failed == {"s0": "DynamoDB put_item: ReadTimeoutError"}
    assert store.tries == ["s0"] * WRITE_ATTEMPTS


def test_a_refusal_is_not_tried_again_and_the_next_service_is_written() -> None:
    store = FlakyStore(StoreRejected("DynamoDB put_item: AccessDeniedException"))
    assert run(store, services=2).failed == {"s0": "DynamoDB put_item: AccessDeniedException"}
    assert store.tries == ["s0", "s1"]


def test_no_attempt_starts_that_could_outlive_the_round() -> None:
    store = FlakyStore()
    assert run(store, left=1.0, attempt=2.0, services=2).failed == {
        "s0": "no time left in the round",
        "s1": "no time left in the round",
    }
    assert store.tries == []


def test_a_queued_round_already_stored_is_a_duplicate_not_a_failure() -> None:
    store = FlakyStore()
    first = run(store, services=2, once=True)
    again = run(store, services=2, once=True)
    assert first.duplicates == frozenset() and first.failed == {}
    assert again.duplicates == {"s0", "s1"} and again.failed == {}


def test_a_scheduled_round_stored_again_replaces_it_and_is_no_duplicate() -> None:
    store = FlakyStore()
    run(store)
    again = run(store)
    assert again.duplicates == frozenset() and again.failed == {}


def test_a_retry_after_a_write_that_landed_counts_as_a_duplicate_not_a_failure() -> None:
    store = FlakyStore(StoreError("DynamoDB put_item: ReadTimeoutError"), landed=True)
    done = run(store, once=True)
    assert store.tries == ["s0", "s0"]
    assert done.failed == {} and done.duplicates == {"s0"}
