"""The Store port's contract, run against DynamoStore (on moto) and against MemoryStore.

A test module subclasses ``StoreContract`` and provides one fixture, ``store``: an empty
store (a fresh table). Every guarded write is covered twice: that it lands when its
condition holds, and which exception it raises, writing nothing, when it does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from arbiter.adapters.store import MAX_PAGE, BadCursor, RunbookBusy, Store, encode_cursor
from arbiter.core.config import SiteName
from arbiter.core.errors import (
    ArbiterError,
    ConflictError,
    FatalError,
    RetryableError,
    Superseded,
)
from arbiter.core.model import Alert, Event, RegionTrack, ServiceState, Status, Transition
from arbiter.core.records import RecordSet, RecordType
from arbiter.core.runbook import DnsStep, Plan, StepResult, StepStatus
from tests.factories import T0, obs

SVC = "web"


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def transition(tid: int) -> Transition:
    return Transition(
        id=tid,
        from_site=SiteName.PRIMARY,
        to_site=SiteName.SECONDARY,
        reason="primary DOWN by quorum",
        decided_at=T0,
        by="decider",
    )


def decided(tid: int, **fields: object) -> ServiceState:
    """The state the decider writes when it records transition ``tid`` (its version)."""
    return ServiceState.model_validate(
        {
            "service": SVC,
            "version": tid,
            "active": SiteName.SECONDARY,
            "transition": transition(tid),
            **fields,
        }
    )


def event(message: str, at: datetime = T0, kind: str = "note") -> Event:
    return Event(at=at, kind=kind, message=message)


def alert(key: str, at: datetime = T0) -> Alert:
    return Alert(key=key, subject=f"subject {key}", body=f"body {key}", at=at)


def plan_of(*values: str) -> Plan:
    records = [RecordSet("www.example.com.", RecordType.A, 60, (v,)) for v in values]
    step = DnsStep(name="dns:route53:Z1", provider="route53", zone="Z1", records=records)
    return Plan(steps=[step])


def open_runbook(store: Store, tid: int = 1) -> None:
    """A state whose transition ``tid`` is the open runbook (written over ``tid - 1``)."""
    store.save_state(decided(tid), tid - 1, [])


def acquire(
    store: Store,
    owner: str = "a",
    tid: int = 1,
    now: float = 0,
    until: float = 60,
    plan: Plan | None = None,
) -> None:
    store.acquire_runbook(SVC, tid, owner, s(now), s(until), plan or plan_of("192.0.2.1"))


def messages(store: Store, limit: int = 100) -> list[str]:
    return [e.message for e in store.recent_events(SVC, limit)]


def outbox(store: Store) -> list[str]:
    return [a.key for a in store.load(SVC).outbox]


class StoreContract:
    # -- the versioned state ------------------------------------------------------------

    def test_an_unknown_service_loads_as_its_initial_state(self, store: Store) -> None:
        snap = store.load("nobody")
        assert snap.state == ServiceState(service="nobody")
        assert snap.lease is None and snap.outbox == []
        assert store.load_state("nobody").version == 0

    def test_the_state_round_trips_exactly(self, store: Store) -> None:
        state = decided(
            7,
            paused=True,
            since=datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
            reason="operator switch",
            regions={"eu-west-1": RegionTrack(last_round_at=T0)},
            runbook_done=3,
            failed=5,
            settled=4,
            pinned=SiteName.SECONDARY,
            pinned_at=T0,
            conditions=["degraded"],
            switches=[T0, s(60)],
        )
        store.save_state(state, 0, [])
        assert store.load_state(SVC) == state
        assert store.load_state(SVC).status is Status.FAILED

    def test_the_first_write_expects_no_state(self, store: Store) -> None:
        store.save_state(decided(1), 0, [])
        with pytest.raises(ConflictError):
            store.save_state(decided(2), 0, [])
        assert store.load_state(SVC).version == 1

    def test_a_version_without_a_state_is_a_conflict(self, store: Store) -> None:
        with pytest.raises(ConflictError):
            store.save_state(decided(2), 1, [])
        assert store.load_state(SVC).version == 0

    def test_a_stale_version_is_a_conflict_and_writes_nothing(self, store: Store) -> None:
        store.save_state(decided(1), 0, [event("one", s(1))], [alert("a1")])
        store.save_state(decided(2, reason="second"), 1, [event("two", s(2))])
        with pytest.raises(ConflictError):
            store.save_state(decided(3), 1, [event("stale", s(3))], [alert("stale")])
        state = store.load_state(SVC)
        assert state.version == 2 and state.reason == "second"
        assert messages(store) == ["one", "two"]
        assert outbox(store) == ["a1"]

    def test_events_and_alerts_are_written_with_the_state(self, store: Store) -> None:
        events = [event(f"e{i}") for i in range(3)]  # one instant: kept in write order
        alerts = [alert("b", s(5)), alert("a", s(5)), alert("c", s(1))]
        store.save_state(decided(1), 0, events, alerts)
        assert messages(store) == ["e0", "e1", "e2"]
        snap = store.load(SVC)
        assert [a.key for a in snap.outbox] == ["c", "a", "b"]  # oldest first, then by key
        assert snap.outbox[0] == alert("c", s(1))

    def test_events_beyond_one_transaction_are_all_written(self, store: Store) -> None:
        events = [event(f"e{i:03d}", at=s(i)) for i in range(120)]
        store.save_state(decided(1), 0, events, [alert("a")])
        assert messages(store, 200) == [e.message for e in events]

    def test_two_writes_of_one_alert_are_refused(self, store: Store) -> None:
        with pytest.raises(FatalError):
            store.save_state(decided(1), 0, [event("x")], [alert("a"), alert("a")])
        assert store.load_state(SVC).version == 0 and messages(store) == []

    def test_more_alerts_than_one_transaction_holds_are_refused(self, store: Store) -> None:
        with pytest.raises(FatalError):
            store.save_state(decided(1), 0, [], [alert(f"k{i}") for i in range(100)])
        store.save_state(decided(1), 0, [], [alert(f"k{i:02d}") for i in range(99)])
        assert len(outbox(store)) == 99

    # -- events --------------------------------------------------------------------------

    def test_recent_events_are_the_latest_in_time_order(self, store: Store) -> None:
        store.append_events(SVC, [event("late", s(30)), event("early", s(10))])
        store.append_events(SVC, [event("middle", s(20))])
        store.append_events("other", [event("elsewhere", s(40))])
        assert messages(store) == ["early", "middle", "late"]
        assert messages(store, 2) == ["middle", "late"]
        assert store.recent_events(SVC)[0] == event("early", s(10))

    def test_a_limit_below_one_is_refused(self, store: Store) -> None:
        with pytest.raises(ArbiterError):
            store.recent_events(SVC, 0)

    # -- the event log, page by page -------------------------------------------------------

    def test_pages_walk_the_whole_log_newest_first_and_end_with_no_cursor(
        self, store: Store
    ) -> None:
        # Given 7 events, two of them at one instant (kept in write order), and another
        # service's events around them
        store.append_events(SVC, [event(f"e{i}", s(i)) for i in range(5)])
        store.append_events(SVC, [event("e5", s(9)), event("e6", s(9))])
        store.append_events("other", [event("x", s(3)), event("y", s(20))])
        # When read 3 at a time
        seen: list[list[str]] = []
        cursor = None
        for _ in range(10):
            page = store.events_page(SVC, 3, cursor)
            seen.append([e.message for e in page.events])
            cursor = page.next
            if cursor is None:
                break
        # Then every event once, newest first, and no cursor after the last page
        assert seen == [["e6", "e5", "e4"], ["e3", "e2", "e1"], ["e0"]]

    def test_each_event_has_the_cursor_that_continues_right_after_it(self, store: Store) -> None:
        store.append_events(SVC, [event(f"e{i}", s(i)) for i in range(5)])
        page = store.events_page(SVC, 4)
        assert len(page.cursors) == 4 and page.cursors[-1] == page.next
        after_second = store.events_page(SVC, 10, page.cursors[1])
        assert [e.message for e in after_second.events] == ["e2", "e1", "e0"]

    def test_a_page_that_ends_the_log_exactly_has_no_cursor(self, store: Store) -> None:
        store.append_events(SVC, [event(f"e{i}", s(i)) for i in range(4)])
        first = store.events_page(SVC, 2)
        assert [e.message for e in first.events] == ["e3", "e2"] and first.next is not None
        last = store.events_page(SVC, 2, first.next)
        assert [e.message for e in last.events] == ["e1", "e0"] and last.next is None
        whole = store.events_page(SVC, 4)
        assert len(whole.events) == 4 and whole.next is None

    def test_an_empty_log_is_one_empty_page(self, store: Store) -> None:
        page = store.events_page("nobody", 50)
        assert page.events == [] and page.next is None

    def test_a_page_holds_whole_events(self, store: Store) -> None:
        detail: dict[str, object] = {"operator": "alice", "reason": "x"}
        sent = Event(
            at=s(1), kind="paused", message="paused by alice: x", alert=True, detail=detail
        )
        store.append_events(SVC, [sent])
        assert store.events_page(SVC, 1).events == [sent]

    def test_events_written_after_a_cursor_do_not_shift_the_next_page(self, store: Store) -> None:
        store.append_events(SVC, [event(f"e{i}", s(i)) for i in range(4)])
        first = store.events_page(SVC, 2)
        store.append_events(SVC, [event("new", s(100))])
        assert [e.message for e in store.events_page(SVC, 2, first.next).events] == ["e1", "e0"]

    def test_a_page_size_outside_the_bounds_is_refused(self, store: Store) -> None:
        for limit in (0, -1, MAX_PAGE + 1):
            with pytest.raises(ValueError, match="limit"):
                store.events_page(SVC, limit)
        store.append_events(SVC, [event(f"e{i:03d}", s(i)) for i in range(MAX_PAGE + 1)])
        page = store.events_page(SVC, MAX_PAGE)
        assert len(page.events) == MAX_PAGE and page.next is not None

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "not a cursor",
            "%%%",
            "A" * 5000,
            "ZXZpbA",  # base64 of "evil": no service, no key
            encode_cursor(SVC, "STATE"),  # a real key of the partition, not an event's
            encode_cursor(SVC, "EVT#2026-01-01T00:00:00.000000Z#0000-0000000g"),
            encode_cursor(SVC, "EVT#~"),
        ],
    )
    def test_a_forged_or_garbled_cursor_is_refused(self, store: Store, cursor: str) -> None:
        store.append_events(SVC, [event("e0", s(0))])
        reads = store.reads  # type: ignore[attr-defined]
        with pytest.raises(BadCursor, match="not a cursor"):
            store.events_page(SVC, 10, cursor)
        assert store.reads == reads  # type: ignore[attr-defined]  # refused before any read

    def test_a_cursor_of_another_service_is_refused(self, store: Store) -> None:
        store.append_events("other", [event(f"o{i}", s(i)) for i in range(3)])
        store.append_events(SVC, [event(f"e{i}", s(i)) for i in range(3)])
        cursor = store.events_page("other", 1).next
        assert cursor is not None
        with pytest.raises(BadCursor, match="belongs to another service \\('other'\\)"):
            store.events_page(SVC, 10, cursor)

    def test_a_cursor_cannot_reach_past_the_event_log(self, store: Store) -> None:
        """A cursor past every event (a well-formed key from the future) reads only events:
        never the state, the outbox or the runbook items of the partition."""
        store.save_state(decided(1), 0, [event("logged", s(1))], [alert("a1")])
        future = encode_cursor(SVC, "EVT#9999-12-31T23:59:59.999999Z#9999-ffffffff")
        page = store.events_page(SVC, 50, future)
        assert [e.message for e in page.events] == ["logged"] and page.next is None

    # -- observations --------------------------------------------------------------------

    def test_rounds_since_are_the_later_rounds_in_stamp_then_region_order(
        self, store: Store
    ) -> None:
        stamps = [(60, "us-east-1"), (0, "eu-west-1"), (120, "eu-west-1"), (60, "eu-central-1")]
        for seconds, region in stamps:
            at = s(seconds)
            store.put_observation(obs(region, at), at + timedelta(days=1))
        store.put_observation(obs("eu-west-1", s(90), service="other"), s(1000))
        got = [(o.round_at, o.region) for o in store.rounds_since(SVC, s(0))]
        assert got == [(s(60), "eu-central-1"), (s(60), "us-east-1"), (s(120), "eu-west-1")]
        assert store.rounds_since(SVC, s(-1))[0].region == "eu-west-1"
        assert store.rounds_since(SVC, s(120)) == []
        plus2 = timezone(timedelta(hours=2))
        assert len(store.rounds_since(SVC, s(59.999999).astimezone(plus2))) == 3

    def test_a_round_stored_again_replaces_it(self, store: Store) -> None:
        first = obs("eu-west-1", s(60))
        again = obs("eu-west-1", s(60), primary=False)
        assert store.put_observation(first, s(1000)) is True
        assert store.put_observation(again, s(1000)) is True
        assert store.rounds_since(SVC, s(0)) == [again]

    def test_a_queued_round_stored_again_is_refused_and_the_first_kept(self, store: Store) -> None:
        """SQS delivers a round at least once: the second copy must change nothing."""
        first = obs("eu-west-1", s(60))
        again = obs("eu-west-1", s(60), primary=False)
        assert store.put_observation(first, s(1000), once=True) is True
        assert store.put_observation(again, s(1000), once=True) is False
        assert store.rounds_since(SVC, s(0)) == [first]
        # another region, or another stamp, is another round
        assert store.put_observation(obs("us-east-1", s(60)), s(1000), once=True) is True
        assert store.put_observation(obs("eu-west-1", s(60.000001)), s(1000), once=True)

    # -- the outbox ----------------------------------------------------------------------

    def test_a_claimed_alert_waits_for_its_claim_to_expire(self, store: Store) -> None:
        store.save_state(decided(1), 0, [], [alert("a")])
        assert store.claim_alert(SVC, "a", s(0), s(60))
        assert not store.claim_alert(SVC, "a", s(30), s(90))
        assert not store.claim_alert(SVC, "a", s(60), s(120))  # expires after, not at
        assert store.claim_alert(SVC, "a", s(60.000001), s(120))
        assert outbox(store) == ["a"]  # a claim does not remove it

    # -- channel deliveries (the notify function's markers) --------------------------------

    def test_a_delivery_is_claimed_once_then_marked_delivered(self, store: Store) -> None:
        later = s(86400)
        assert store.claim_delivery("web/v1/00/pd", s(0), s(60), later) == "claimed"
        assert store.claim_delivery("web/v1/00/pd", s(1), s(61), later) == "busy"
        assert store.claim_delivery("web/v1/00/slack", s(1), s(61), later) == "claimed"
        store.settle_delivery("web/v1/00/pd", delivered=True)
        assert store.claim_delivery("web/v1/00/pd", s(120), s(180), later) == "delivered"

    def test_a_failed_delivery_can_be_claimed_again_at_once(self, store: Store) -> None:
        later = s(86400)
        assert store.claim_delivery("k/hook", s(0), s(60), later) == "claimed"
        store.settle_delivery("k/hook", delivered=False)
        assert store.claim_delivery("k/hook", s(1), s(61), later) == "claimed"

    def test_an_abandoned_delivery_claim_lapses(self, store: Store) -> None:
        later = s(86400)
        assert store.claim_delivery("k/hook", s(0), s(60), later) == "claimed"
        assert store.claim_delivery("k/hook", s(60), s(120), later) == "busy"  # after, not at
        assert store.claim_delivery("k/hook", s(60.5), s(120), later) == "claimed"

    def test_a_released_alert_can_be_claimed_at_once(self, store: Store) -> None:
        store.save_state(decided(1), 0, [], [alert("a")])
        assert store.claim_alert(SVC, "a", s(0), s(60))
        store.release_alert(SVC, "a")
        assert store.claim_alert(SVC, "a", s(1), s(61))

    def test_a_deleted_alert_is_gone(self, store: Store) -> None:
        store.save_state(decided(1), 0, [], [alert("a"), alert("b")])
        assert store.claim_alert(SVC, "a", s(0), s(60))
        store.delete_alert(SVC, "a")
        assert outbox(store) == ["b"]
        assert not store.claim_alert(SVC, "a", s(100), s(160))
        store.release_alert(SVC, "a")  # neither complains about a missing alert
        store.delete_alert(SVC, "a")
        assert not store.claim_alert(SVC, "missing", s(0), s(60))

    def test_an_alert_written_again_replaces_it_claim_included(self, store: Store) -> None:
        store.save_state(decided(1), 0, [], [alert("a")])
        assert store.claim_alert(SVC, "a", s(0), s(60))
        store.save_state(decided(2), 1, [], [alert("a", s(9))])
        assert store.load(SVC).outbox == [alert("a", s(9))]
        assert store.claim_alert(SVC, "a", s(1), s(61))

    # -- the runbook: acquire ------------------------------------------------------------

    def test_acquire_holds_the_lease_and_freezes_the_plan(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", plan=plan_of("192.0.2.1"))
        snap = store.load(SVC)
        assert snap.lease is not None
        assert (snap.lease.owner, snap.lease.transition, snap.lease.until) == ("a", 1, s(60))
        assert snap.runbook_live(s(59)) and not snap.runbook_live(s(60))
        record = store.load_run(SVC, 1)
        assert record.plan == plan_of("192.0.2.1") and record.steps == {}
        store.release_runbook(SVC, "a")
        acquire(store, "b", now=1, plan=plan_of("198.51.100.7"))
        assert store.load_run(SVC, 1).plan == plan_of("192.0.2.1")  # the first one stays

    def test_a_run_never_acquired_has_no_plan(self, store: Store) -> None:
        assert store.load_run(SVC, 1).plan is None and store.load_steps(SVC, 1) == {}

    def test_acquiring_a_superseded_transition_is_superseded(self, store: Store) -> None:
        open_runbook(store, 1)
        store.save_state(decided(2), 1, [])
        with pytest.raises(Superseded):
            acquire(store, "a", tid=1)
        assert store.load(SVC).lease is None and store.load_run(SVC, 1).plan is None

    def test_acquiring_without_any_state_is_superseded(self, store: Store) -> None:
        with pytest.raises(Superseded):
            acquire(store)
        assert store.load(SVC).lease is None

    def test_acquiring_a_closed_runbook_is_superseded(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a")
        store.close_runbook(SVC, 1, "a", False, [], [])
        with pytest.raises(Superseded):
            acquire(store, "b", now=1)

    def test_another_owners_live_lease_is_busy(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        for now in (30, 60):  # live up to and including its end
            with pytest.raises(RunbookBusy) as busy:
                acquire(store, "b", now=now, until=now + 60)
            assert isinstance(busy.value, RetryableError)
        lease = store.load(SVC).lease
        assert lease is not None and lease.owner == "a" and lease.until == s(60)

    def test_an_expired_lease_can_be_taken(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        acquire(store, "b", now=60.000001, until=120)
        lease = store.load(SVC).lease
        assert lease is not None and (lease.owner, lease.until) == ("b", s(120))

    def test_superseded_wins_over_busy(self, store: Store) -> None:
        open_runbook(store, 1)
        acquire(store, "a", tid=1)
        store.save_state(decided(2), 1, [])
        with pytest.raises(Superseded):
            acquire(store, "b", tid=1, now=1)
        with pytest.raises(RunbookBusy):
            acquire(store, "b", tid=2, now=1)  # the newer one waits for a's lease
        acquire(store, "a", tid=2, now=1, until=90)  # the holder may go on to it
        lease = store.load(SVC).lease
        assert lease is not None and (lease.transition, lease.until) == (2, s(90))

    def test_the_owner_renews_its_lease(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        acquire(store, "a", now=59, until=600)
        lease = store.load(SVC).lease
        assert lease is not None and lease.until == s(600)

    def test_lease_times_come_back_in_utc(self, store: Store) -> None:
        open_runbook(store)
        plus2 = timezone(timedelta(hours=2))
        now, until = s(0).astimezone(plus2), s(60).astimezone(plus2)
        store.acquire_runbook(SVC, 1, "a", now, until, plan_of("192.0.2.1"))
        lease = store.load(SVC).lease
        assert lease is not None and lease.until == s(60)
        assert lease.until.utcoffset() == timedelta(0)

    # -- the runbook: steps --------------------------------------------------------------

    def test_claim_step_counts_attempts_and_renews_the_lease(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        first = store.claim_step(SVC, 1, "dns", "a", s(10), s(70))
        assert (first.status, first.attempts, first.started_at) == (StepStatus.RUNNING, 1, s(10))
        assert store.load_steps(SVC, 1) == {"dns": first}
        second = store.claim_step(SVC, 1, "dns", "a", s(20), s(80))
        assert second.attempts == 2 and store.load_steps(SVC, 1)["dns"] == second
        lease = store.load(SVC).lease
        assert lease is not None and lease.until == s(80)
        done = second.model_copy(
            update={"status": StepStatus.DONE, "detail": "1 changed", "lines": ["changed x"]}
        )
        store.finish_step(SVC, 1, "dns", done)
        assert store.load_run(SVC, 1).steps == {"dns": done}
        assert store.claim_step(SVC, 1, "dns", "a", s(30), s(90)).attempts == 3
        assert store.claim_step(SVC, 1, "verify", "a", s(30), s(90)).attempts == 1
        assert set(store.load_steps(SVC, 1)) == {"dns", "verify"}

    def test_claim_step_after_a_newer_switch_is_superseded(self, store: Store) -> None:
        open_runbook(store, 1)
        acquire(store, "a")
        claim = store.claim_step(SVC, 1, "dns", "a", s(1), s(60))
        store.save_state(decided(2), 1, [])
        with pytest.raises(Superseded):
            store.claim_step(SVC, 1, "dns", "a", s(2), s(60))
        assert store.load_steps(SVC, 1) == {"dns": claim}

    def test_claim_step_by_another_owner_is_busy(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        with pytest.raises(RunbookBusy):
            store.claim_step(SVC, 1, "dns", "b", s(1), s(60))
        assert store.load_steps(SVC, 1) == {}
        assert store.claim_step(SVC, 1, "dns", "b", s(61), s(120)).attempts == 1  # expired

    def test_a_step_of_a_runbook_never_acquired_is_refused(self, store: Store) -> None:
        result = StepResult(status=StepStatus.DONE, started_at=T0)
        with pytest.raises(FatalError):
            store.finish_step(SVC, 1, "dns", result)

    # -- the runbook: close and release --------------------------------------------------

    @pytest.mark.parametrize("failed", [False, True])
    def test_close_records_the_outcome_drops_the_lease_and_reports(
        self, store: Store, failed: bool
    ) -> None:
        open_runbook(store)
        acquire(store, "a")
        store.close_runbook(SVC, 1, "a", failed, [event("closed")], [alert("web/run1")])
        snap = store.load(SVC)
        assert snap.state.version == 2 and snap.state.open_runbook is None
        if failed:
            assert snap.state.failed == 1 and snap.state.runbook_done is None
            assert snap.state.status is Status.FAILED
        else:
            assert snap.state.runbook_done == 1 and snap.state.failed is None
            assert snap.state.status is Status.ACTIVE_SECONDARY
        assert snap.state.transition == transition(1)  # the rest of the state is untouched
        assert snap.lease is None and [a.key for a in snap.outbox] == ["web/run1"]
        assert messages(store) == ["closed"]

    def test_a_close_bumps_the_version_so_an_older_copy_conflicts(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a")
        held = store.load_state(SVC)
        store.close_runbook(SVC, 1, "a", False, [], [])
        with pytest.raises(ConflictError):
            store.save_state(held.model_copy(update={"version": 2}), held.version, [])
        assert store.load_state(SVC).runbook_done == 1

    def test_close_after_a_newer_switch_is_superseded_and_writes_nothing(
        self, store: Store
    ) -> None:
        open_runbook(store, 1)
        acquire(store, "a")
        store.save_state(decided(2), 1, [])
        with pytest.raises(Superseded):
            store.close_runbook(SVC, 1, "a", False, [event("late")], [alert("late")])
        snap = store.load(SVC)
        assert snap.state.version == 2 and snap.state.runbook_done is None
        assert snap.lease is not None and snap.lease.owner == "a"
        assert snap.outbox == [] and messages(store) == []

    def test_closing_twice_is_superseded(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a")
        store.close_runbook(SVC, 1, "a", False, [], [alert("one")])
        with pytest.raises(Superseded):
            store.close_runbook(SVC, 1, "a", True, [], [alert("two")])
        assert store.load_state(SVC).failed is None and outbox(store) == ["one"]

    def test_close_by_another_than_the_lease_owner_is_busy(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        with pytest.raises(RunbookBusy):
            store.close_runbook(SVC, 1, "b", False, [event("b")], [alert("b")])
        snap = store.load(SVC)
        assert snap.state.version == 1 and snap.state.open_runbook == 1
        assert snap.lease is not None and snap.lease.owner == "a"
        assert snap.outbox == [] and messages(store) == []
        acquire(store, "b", now=61, until=120)  # a's lease expired and b took it
        with pytest.raises(RunbookBusy):
            store.close_runbook(SVC, 1, "a", False, [], [])
        store.close_runbook(SVC, 1, "b", False, [], [])
        assert store.load_state(SVC).runbook_done == 1

    def test_close_without_a_lease_is_busy(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a")
        store.release_runbook(SVC, "a")
        with pytest.raises(RunbookBusy):
            store.close_runbook(SVC, 1, "a", False, [], [])

    def test_release_only_releases_our_own_lease(self, store: Store) -> None:
        open_runbook(store)
        acquire(store, "a", until=60)
        store.release_runbook(SVC, "b")
        lease = store.load(SVC).lease
        assert lease is not None and lease.owner == "a"
        store.release_runbook(SVC, "a")
        assert store.load(SVC).lease is None
        store.release_runbook(SVC, "a")  # nothing left to release: no error
        acquire(store, "b", now=1)  # free again, long before a's lease would have ended

    # -- reads ---------------------------------------------------------------------------

    def test_each_read_counts_once(self, store: Store) -> None:
        reads = store.reads  # type: ignore[attr-defined]
        store.load(SVC)
        store.rounds_since(SVC, T0)
        store.recent_events(SVC)
        store.load_run(SVC, 1)
        assert store.reads - reads == 4  # type: ignore[attr-defined]
