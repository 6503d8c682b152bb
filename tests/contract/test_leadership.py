"""The leadership port's contract: the lease and the switch ledger, on DynamoDB (moto, which
evaluates the conditions but does not replicate: MRSC's region rules are the memory cluster's
``isolate``) and on the memory cluster the simulator uses. Both must take, renew, refuse and
record the same way, because the simulator's region-loss scenarios stand for the real table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from arbiter.adapters.leadership import (
    LEADER_PK,
    DynamoLeadership,
    LeaseCluster,
    LostLeadership,
    MemoryLeadership,
    _Lease,
)
from arbiter.core.config import LEASE_MARGIN, LEASE_SKEW, SiteName
from arbiter.core.model import Transition
from tests.factories import T0

LEASE = 150.0
HOME, STANDBY = "eu-west-1", "eu-west-2"
Make = Callable[[str], _Lease]


def transition(tid: int, to: SiteName = SiteName.SECONDARY) -> Transition:
    return Transition(
        id=tid, from_site=to.other, to_site=to, reason="test", decided_at=T0, by="decider"
    )


@pytest.fixture(params=["memory", "dynamodb"])
def make(request: pytest.FixtureRequest) -> Iterator[Make]:
    if request.param == "memory":
        cluster = LeaseCluster()
        yield lambda region: MemoryLeadership(cluster, region, LEASE)
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name=HOME)
        client.create_table(
            TableName="lease",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        # One table stands for every replica: MRSC makes them one item everywhere.
        yield lambda region: DynamoLeadership(
            "lease", lambda: boto3.client("dynamodb", region_name=HOME), region, LEASE
        )


def test_the_first_region_takes_the_lease_and_the_other_waits(make: Make) -> None:
    home, standby = make(HOME), make(STANDBY)
    assert home.hold(T0)
    assert not standby.hold(T0 + timedelta(seconds=1))
    term = standby.term()
    assert term is not None and term.holder == HOME and term.fence == 1


def test_a_standby_takes_over_only_after_the_lease_and_the_skew(make: Make) -> None:
    home, standby = make(HOME), make(STANDBY)
    assert home.hold(T0)
    end = T0 + timedelta(seconds=LEASE)
    assert not standby.hold(end)  # the lease just ended: the skew allowance is not over
    assert not standby.hold(end + timedelta(seconds=LEASE_SKEW - 1))
    assert standby.hold(end + timedelta(seconds=LEASE_SKEW + 1))
    term = standby.term()
    assert term is not None and term.holder == STANDBY and term.fence == 2
    # The old leader, back, finds it taken: it does not lead, and cannot record.
    assert not home.hold(end + timedelta(seconds=LEASE_SKEW + 2))
    with pytest.raises(LostLeadership):
        home.record("web", transition(5), end + timedelta(seconds=LEASE_SKEW + 2))


def test_a_leader_renews_only_when_due_and_keeps_the_lease(make: Make) -> None:
    home, standby = make(HOME), make(STANDBY)
    assert home.hold(T0)
    first = home.term()
    assert home.hold(T0 + timedelta(seconds=LEASE_MARGIN - 1))  # not due: no write
    assert home.term() == first
    later = T0 + timedelta(seconds=LEASE_MARGIN + 1)
    assert home.hold(later)
    term = home.term()
    assert first is not None and term is not None
    assert term.until == later + timedelta(seconds=LEASE) and term.fence == first.fence
    assert not standby.hold(first.until + timedelta(seconds=LEASE_SKEW + 1))


def test_the_ledger_takes_a_switch_once_and_never_an_older_one(make: Make) -> None:
    home, standby = make(HOME), make(STANDBY)
    assert home.hold(T0)
    home.record("web", transition(7), T0)
    with pytest.raises(LostLeadership):
        home.record("web", transition(7), T0)  # the same id again: refused
    with pytest.raises(LostLeadership):
        home.record("web", transition(6, SiteName.PRIMARY), T0)
    home.record("api", transition(3), T0)  # another service is its own entry
    assert not standby.hold(T0)
    entries = standby.entries()
    assert entries["web"].transition.id == 7 and entries["web"].closed is None
    assert entries["api"].transition.id == 3


def test_closing_a_switch_marks_its_runbook_and_only_that_switch(make: Make) -> None:
    home = make(HOME)
    assert home.hold(T0)
    home.record("web", transition(7), T0)
    home.close("web", 6, "done", T0)  # not the ledger's switch: nothing
    assert home.entries()["web"].closed is None
    home.close("web", 7, "failed", T0)
    assert home.entries()["web"].closed == "failed"


def test_cover_renews_a_short_lease_and_refuses_a_lost_one(make: Make) -> None:
    home, standby = make(HOME), make(STANDBY)
    assert home.hold(T0)
    late = T0 + timedelta(seconds=LEASE - 10)
    home.cover(late, 60)  # 10 s left: renewed
    term = home.term()
    assert term is not None and term.until == late + timedelta(seconds=LEASE)
    gone = term.until + timedelta(seconds=LEASE_SKEW + 1)
    assert standby.hold(gone)
    with pytest.raises(LostLeadership, match=STANDBY):
        home.cover(gone, 60)


def test_a_region_never_leads_without_a_lease_and_records_nothing(make: Make) -> None:
    home = make(HOME)
    with pytest.raises(LostLeadership):
        home.record("web", transition(1), T0)
    with pytest.raises(LostLeadership):
        home.cover(T0, 60)


def test_a_cut_off_region_cannot_lead_record_or_act() -> None:
    """MRSC: a region that cannot reach the other two cannot read consistently or write."""
    cluster = LeaseCluster()
    home, standby = (MemoryLeadership(cluster, r, LEASE) for r in (HOME, STANDBY))
    assert home.hold(T0)
    cluster.isolate(HOME)
    for attempt in (
        lambda: home.hold(T0),
        lambda: home.record("web", transition(2), T0),
    ):
        with pytest.raises(Exception, match="cannot reach"):
            attempt()
    with pytest.raises(LostLeadership):
        home.cover(T0, 60)
    assert standby.hold(T0 + timedelta(seconds=LEASE + LEASE_SKEW + 1))


def test_dynamodb_item_shape() -> None:
    """What the lease item looks like in the table (README documents it)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=HOME)
        client.create_table(
            TableName="lease",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        home = DynamoLeadership("lease", lambda: client, HOME, LEASE)
        assert home.hold(T0)
        home.record("web", transition(4), T0)
        item = client.get_item(TableName="lease", Key={"pk": {"S": LEADER_PK}})["Item"]
    assert item["holder"] == {"S": HOME}
    assert item["fence"] == {"N": "1"}
    assert item["ids"]["M"]["web"] == {"N": "4"}
    assert '"id":4' in item["svc"]["M"]["web"]["S"]
