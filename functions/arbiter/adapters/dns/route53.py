"""Route 53: one UPSERT batch per hosted zone, then a bounded ``GetChange`` poll for INSYNC."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from arbiter.adapters.aws import AwsApi
from arbiter.core.config import DnsRecord, RecordType, SiteName
from arbiter.core.errors import DeadlineExceeded


class Route53:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        poll_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = AwsApi(client_factory, "Route 53", {"PriorRequestNotComplete"})
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    def upsert(self, zone_id: str, records: Sequence[DnsRecord], site: SiteName) -> str:
        changes = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": record.name,
                    "Type": record.type.value,
                    "TTL": record.ttl,
                    "ResourceRecords": [{"Value": v} for v in record.values[site]],
                },
            }
            for record in records
        ]
        response = self.api.call(
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": f"arbiter: switch to {site.value}", "Changes": changes},
        )
        return str(response["ChangeInfo"]["Id"])

    def wait_applied(self, change_id: str, deadline: float) -> float:
        """Poll until INSYNC; ``deadline`` is on this object's monotonic clock."""
        start = self._clock()
        while True:
            status = self.api.call("get_change", Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return self._clock() - start
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise DeadlineExceeded(
                    f"Route 53 change {change_id} still {status} after "
                    f"{self._clock() - start:.0f} s"
                )
            self._sleep(min(self.poll_interval, remaining))

    def get(self, zone_id: str, name: str, rtype: str) -> list[str]:
        fqdn = name if name.endswith(".") else name + "."
        response = self.api.call(
            "list_resource_record_sets",
            HostedZoneId=zone_id,
            StartRecordName=fqdn,
            StartRecordType=rtype,
            MaxItems="1",
        )
        for rrset in response.get("ResourceRecordSets", []):
            if rrset["Name"] == fqdn and rrset["Type"] == rtype:
                return [r["Value"] for r in rrset.get("ResourceRecords", [])]
        return []


__all__ = ["RecordType", "Route53"]
