"""core/schedule.py: which boundaries a tick owns, their delays, what is dropped as late."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.schedule import (
    MAX_DELAY,
    delay_for,
    is_late,
    late_after,
    owned_boundaries,
    plan_tick,
    queued,
    scheduled_minute,
    stamp,
)

M = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""A scheduled minute (the event's ``time``)."""
INTERVALS = [1, 1.5, 2, 3, 5, 7.5, 10, 12, 15, 20, 30]


def s(seconds: float) -> datetime:
    return M + timedelta(seconds=seconds)


@pytest.mark.parametrize("interval", [1, 10, 15, 20, 30])
def test_a_tick_exactly_on_the_minute_sends_the_next_minute_each_delayed_to_its_boundary(
    interval: float,
) -> None:
    plan = plan_tick(M, M, interval)
    count = int(60 / interval)
    assert [b for b, _ in plan.send] == [s(60 + k * interval) for k in range(count)]
    assert [d for _, d in plan.send] == [60 + k * interval for k in range(count)]
    assert plan.late == [] and plan.too_far == []


def test_a_tick_a_few_seconds_in_rounds_each_delay_to_the_nearest_second() -> None:
    plan = plan_tick(M, s(3.4), 15)
    assert plan.send == [(s(60), 57), (s(75), 72), (s(90), 87), (s(105), 102)]
    plan = plan_tick(M, s(3.6), 15)
    assert [d for _, d in plan.send] == [56, 71, 86, 101]


def test_the_event_time_counts_by_its_minute_whatever_its_seconds_or_offset() -> None:
    berlin = datetime(2026, 1, 1, 13, 0, 7, tzinfo=ZoneInfo("Europe/Berlin"))  # 12:00:07 UTC
    assert scheduled_minute(berlin) == M
    assert owned_boundaries(s(7), 30) == owned_boundaries(M, 30) == [s(60), s(90)]
    assert owned_boundaries(berlin, 30) == [s(60), s(90)]


def test_a_late_tick_drops_what_is_more_than_half_an_interval_past_and_sends_the_rest() -> None:
    # Given a 10 s interval and a tick running 85 s after its scheduled minute
    plan = plan_tick(M, s(85), 10)
    # Then 60 and 70 (25 s and 15 s past) are dropped, 80 (5 s past: exactly half) goes at once
    assert plan.late == [s(60), s(70)]
    assert plan.send == [(s(80), 0), (s(90), 5), (s(100), 15), (s(110), 25)]


def test_a_tick_later_than_its_whole_minute_sends_nothing_and_never_a_negative_delay() -> None:
    plan = plan_tick(M, s(130), 10)
    assert plan.send == []
    assert plan.late == owned_boundaries(M, 10)


def test_an_event_stamped_far_ahead_is_not_sent_past_sqss_longest_timer() -> None:
    plan = plan_tick(M, M - timedelta(minutes=14), 30)
    assert plan.send == [(s(60), 900)]  # 14 min + 60 s = 900 s: the longest timer
    assert plan.too_far == [s(90)]


def test_lateness_is_half_an_interval_but_never_under_a_second() -> None:
    assert late_after(30) == 15 and late_after(2) == 1 and late_after(1) == 1
    assert not is_late(s(0), s(15), 30) and is_late(s(0), s(15.001), 30)
    assert not is_late(s(0), s(1), 1) and is_late(s(0), s(1.001), 1)
    assert not is_late(s(10), s(0), 10)  # ahead of its boundary is not late


def test_only_intervals_below_a_minute_are_queued() -> None:
    assert queued(30) and queued(1) and not queued(60) and not queued(300)


def test_boundaries_are_utc_so_a_dst_change_shifts_nothing() -> None:
    """Europe/Berlin leaps from 02:00 to 03:00 at 01:00 UTC on 2026-03-29: ticks on either
    side, named in local time, still own consecutive 60 s stretches."""
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 29, 0, 59, tzinfo=UTC).astimezone(berlin)  # 01:59 CET
    after = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).astimezone(berlin)  # 03:00 CEST
    both = owned_boundaries(before, 20) + owned_boundaries(after, 20)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(both)}
    assert gaps == {20.0}
    assert [stamp(b) for b in both[:1]] == ["2026-03-29T01:00:00Z"]


def test_a_boundary_names_itself_in_utc_with_microseconds_only_when_it_has_them() -> None:
    assert stamp(s(60)) == "2026-01-01T12:01:00Z"
    assert stamp(owned_boundaries(M, 7.5)[1]) == "2026-01-01T12:01:07.500000Z"
    assert stamp(s(60).astimezone(ZoneInfo("Asia/Tokyo"))) == "2026-01-01T12:01:00Z"


@given(
    interval=st.sampled_from(INTERVALS),
    minutes=st.integers(min_value=1, max_value=30),
)
def test_consecutive_ticks_own_every_boundary_once_evenly_spaced(
    interval: float, minutes: int
) -> None:
    owned = [b for m in range(minutes) for b in owned_boundaries(s(60 * m), interval)]
    assert len(owned) == len(set(owned)) == minutes * round(60 / interval)
    assert owned[0] == s(60)
    assert all(
        (b - a).total_seconds() == pytest.approx(interval) for a, b in itertools.pairwise(owned)
    )


@given(
    interval=st.sampled_from(INTERVALS),
    ran_at=st.floats(min_value=-1200, max_value=200, allow_nan=False),
)
def test_every_owned_boundary_is_sent_late_or_too_far_and_delays_stay_in_sqss_range(
    interval: float, ran_at: float
) -> None:
    now = s(ran_at)
    plan = plan_tick(M, now, interval)
    assert sorted([b for b, _ in plan.send] + plan.late + plan.too_far) == owned_boundaries(
        M, interval
    )
    for boundary, delay in plan.send:
        assert 0 <= delay <= MAX_DELAY
        # visible within half a second of its boundary, or at once when slightly past it
        assert abs((now + timedelta(seconds=delay) - boundary).total_seconds()) <= max(
            0.5, late_after(interval)
        )
    assert all(delay_for(b, now) > MAX_DELAY for b in plan.too_far)
    assert all(is_late(b, now, interval) for b in plan.late)
