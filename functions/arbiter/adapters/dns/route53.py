"""Route 53: one UPSERT batch per hosted zone, then a bounded ``GetChange`` poll for INSYNC."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from arbiter.core.config import DnsRecord, RecordType, SiteName
from arbiter.core.errors import DeadlineExceeded, ProviderError, ProviderRejected

_RETRYABLE = {"Throttling", "ThrottlingException", "PriorRequestNotComplete", "ServiceUnavailable"}


class Route53:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        poll_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code in _RETRYABLE:
                raise ProviderError(f"Route 53 {op}: {code}") from exc
            raise ProviderRejected(f"Route 53 {op}: {code}: {message}"[:300]) from exc
        except BotoCoreError as exc:
            raise ProviderError(f"Route 53 {op}: {type(exc).__name__}") from exc

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
        response = self._call(
            "change_resource_record_sets",
            HostedZoneId=zone_id,
            ChangeBatch={"Comment": f"arbiter: switch to {site.value}", "Changes": changes},
        )
        return str(response["ChangeInfo"]["Id"])

    def wait_applied(self, change_id: str, deadline: float) -> float:
        """Poll until INSYNC; ``deadline`` is on this object's monotonic clock."""
        start = self._clock()
        while True:
            status = self._call("get_change", Id=change_id)["ChangeInfo"]["Status"]
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
        response = self._call(
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
