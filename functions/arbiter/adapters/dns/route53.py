"""Route 53: one UPSERT batch per hosted zone for the sets that differ, then a bounded
``GetChange`` poll until the change is INSYNC at all of Route 53's name servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from arbiter.adapters.aws import AwsApi
from arbiter.adapters.dns import Change
from arbiter.core.errors import DeadlineExceeded
from arbiter.core.records import RecordSet, RecordType, fqdn


def zone_id(zone: str) -> str:
    return zone.removeprefix("/hostedzone/")


class Route53:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        label: str = "route53",
        poll_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = AwsApi(client_factory, "Route 53", {"PriorRequestNotComplete"})
        self.label = label
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        todo: list[RecordSet] = []
        done: list[RecordSet] = []
        for record in records:
            current = self.read(zone, record.name, record.type.value)
            (done if record.same_as(current) else todo).append(record)
        change = Change(
            id=None,
            changed=[r.label for r in todo],
            unchanged=[r.label for r in done],
        )
        if not todo:
            return change
        response = self.api.call(
            "change_resource_record_sets",
            HostedZoneId=zone_id(zone),
            ChangeBatch={
                "Comment": comment[:256],
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": r.name,
                            "Type": r.type.value,
                            "TTL": r.ttl,
                            "ResourceRecords": [{"Value": v} for v in r.values],
                        },
                    }
                    for r in todo
                ],
            },
        )
        change.id = str(response["ChangeInfo"]["Id"])
        return change

    def wait_applied(self, change: Change, deadline: float) -> float:
        """Poll until INSYNC; ``deadline`` is on this object's monotonic clock."""
        if change.id is None:
            return 0.0
        start = self._clock()
        while True:
            status = self.api.call("get_change", Id=change.id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return self._clock() - start
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise DeadlineExceeded(
                    f"Route 53 change {change.id} still {status} after "
                    f"{self._clock() - start:.0f} s"
                )
            self._sleep(min(self.poll_interval, remaining))

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        name = fqdn(name)
        response = self.api.call(
            "list_resource_record_sets",
            HostedZoneId=zone_id(zone),
            StartRecordName=name,
            StartRecordType=rtype,
            MaxItems="1",
        )
        for rrset in response.get("ResourceRecordSets", []):
            if rrset["Name"].lower() == name.lower() and rrset["Type"] == rtype:
                values = tuple(r["Value"] for r in rrset.get("ResourceRecords", []))
                return RecordSet(name, RecordType(rtype), int(rrset.get("TTL", 0)), values)
        return None
