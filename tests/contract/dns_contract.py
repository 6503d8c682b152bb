"""The DNS provider port's contract, run against every adapter and the in-memory fake.

A test module subclasses ``DnsContract`` and provides the fixtures:

- ``provider``: a ``DnsProvider`` holding the zone ``zone`` (in the provider's own terms), whose
  name is ``zone_name`` (``example.test.``); the zone starts without the test's records;
- ``missing_zone``: a zone id or name the provider does not have;
- ``throttle``: ``throttle(n)`` makes the provider's next ``n`` API calls fail the way that
  provider signals "slow down / try later" (HTTP 429 with ``Retry-After``, Route 53's
  ``Throttling``, a DNS server that does not answer), then behave again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from arbiter.adapters.dns import DnsProvider
from arbiter.core.errors import DeadlineExceeded, FatalError, RetryableError
from arbiter.core.records import RecordSet, RecordType, presentation

Throttle = Callable[[int], None]


def rs(zone_name: str, label: str, rtype: str, *values: str, ttl: int = 60) -> RecordSet:
    kind = RecordType(rtype)
    return RecordSet(
        f"{label}.{zone_name}", kind, ttl, tuple(presentation(kind, v) for v in values)
    )


def applied(provider: DnsProvider, zone: str, records: list[RecordSet]) -> None:
    change = provider.upsert(zone, records, "arbiter contract test")
    provider.wait_applied(change, time.monotonic() + 30)


class DnsContract:
    def test_upsert_then_read_back_serves_the_values(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        record = rs(zone_name, "www", "A", "192.0.2.10", "192.0.2.11")
        applied(provider, zone, [record])
        assert record.same_as(provider.read(zone, record.name, "A"))
        moved = rs(zone_name, "www", "A", "198.51.100.10")
        applied(provider, zone, [moved])
        got = provider.read(zone, record.name, "A")
        assert moved.same_as(got) and not record.same_as(got)

    def test_every_record_type_round_trips(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        records = [
            rs(zone_name, "rr", "A", "192.0.2.1", "192.0.2.2", "192.0.2.3"),
            rs(zone_name, "v6", "AAAA", "2001:db8::1", "2001:DB8::2"),
            rs(zone_name, "alias", "CNAME", f"target.{zone_name}"),
            rs(zone_name, "mail", "MX", f"10 mx1.{zone_name}", f"20 mx2.{zone_name}", ttl=300),
            rs(zone_name, "txt", "TXT", "v=spf1 ip4:192.0.2.0/24 -all", 'say "hi"'),
            rs(zone_name, "_sip._udp", "SRV", f"10 5 5060 sip.{zone_name}", ttl=120),
        ]
        applied(provider, zone, records)
        for record in records:
            got = provider.read(zone, record.name, record.type.value)
            assert record.same_as(got), (record, got)

    def test_upsert_twice_changes_nothing(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        records = [
            rs(zone_name, "www", "A", "192.0.2.10"),
            rs(zone_name, "txt", "TXT", "hello world"),
        ]
        first = provider.upsert(zone, records, "first")
        provider.wait_applied(first, time.monotonic() + 30)
        assert sorted(first.changed) == sorted(r.label for r in records)
        second = provider.upsert(zone, records, "second")
        assert second.changed == [] and second.id is None
        assert sorted(second.unchanged) == sorted(first.changed)
        assert provider.wait_applied(second, time.monotonic() + 30) == 0.0

    def test_only_what_differs_is_changed(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        same = rs(zone_name, "same", "A", "192.0.2.1")
        applied(provider, zone, [same, rs(zone_name, "moves", "A", "192.0.2.2")])
        change = provider.upsert(zone, [same, rs(zone_name, "moves", "A", "192.0.2.3")], "partial")
        assert change.changed == [f"moves.{zone_name} A"]
        assert change.unchanged == [f"same.{zone_name} A"]

    def test_a_ttl_change_alone_is_a_change(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        applied(provider, zone, [rs(zone_name, "ttl", "A", "192.0.2.1", ttl=60)])
        change = provider.upsert(zone, [rs(zone_name, "ttl", "A", "192.0.2.1", ttl=30)], "ttl")
        assert change.changed == [f"ttl.{zone_name} A"]

    def test_the_wait_is_bounded_by_its_deadline(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        change = provider.upsert(zone, [rs(zone_name, "wait", "A", "192.0.2.77")], "wait")
        began = time.monotonic()
        try:
            provider.wait_applied(change, began - 1.0)  # already past
        except DeadlineExceeded:
            pass  # a provider that had to wait says so
        assert time.monotonic() - began < 5.0

    def test_reading_a_missing_record_is_none(
        self, provider: DnsProvider, zone: str, zone_name: str
    ) -> None:
        assert provider.read(zone, f"nothing-here.{zone_name}", "A") is None

    def test_an_unknown_zone_is_fatal(
        self, provider: DnsProvider, missing_zone: str, zone_name: str
    ) -> None:
        with pytest.raises(FatalError):
            provider.upsert(missing_zone, [rs(zone_name, "www", "A", "192.0.2.1")], "x")
        with pytest.raises(FatalError):
            provider.read(missing_zone, f"www.{zone_name}", "A")

    def test_throttling_is_retryable(
        self, provider: DnsProvider, zone: str, zone_name: str, throttle: Throttle
    ) -> None:
        record = rs(zone_name, "busy", "A", "192.0.2.55")
        throttle(1000)  # never lets up within the call
        with pytest.raises(RetryableError):
            provider.upsert(zone, [record], "throttled")
        throttle(0)
        applied(provider, zone, [record])  # and it works once the provider lets up
        assert record.same_as(provider.read(zone, record.name, "A"))

    def test_a_short_throttle_is_ridden_out_or_retryable(
        self, provider: DnsProvider, zone: str, zone_name: str, throttle: Throttle
    ) -> None:
        record = rs(zone_name, "blip", "A", "192.0.2.56")
        throttle(1)
        try:
            applied(provider, zone, [record])
        except RetryableError:
            applied(provider, zone, [record])  # the runbook's next attempt
        assert record.same_as(provider.read(zone, record.name, "A"))
