"""Route 53 failover records switched on Route 53's data plane: a switch is one PutMetricData
per alarm region, never a Route 53 API call (``core/dataplane.py`` says how it works).

Where it departs from the port's contract (``adapters/dns/__init__.py``), and why:

- ``upsert`` takes only the record sets the config declares on this provider, with one of
  their two sites' values: the stack owns the failover record sets, and a switch can only
  choose which of them Route 53 answers with. It publishes every time (a datapoint is
  idempotent, and repeating it keeps the stream alive), so every set is reported changed.
- ``wait_applied`` returns at once: nothing tells when Route 53's health checks have seen
  the datapoint without asking the Route 53 API. The verify step, which asks the zone's
  authoritative servers, is what watches the answer change.
- ``read`` is that answer: what the zone's authoritative servers serve now for the name (the
  PRIMARY's or the SECONDARY's values), never the record sets through the Route 53 API.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from arbiter.adapters.aws import AwsApi
from arbiter.adapters.dns import Change
from arbiter.core import dataplane
from arbiter.core.config import (
    DATAPLANE_PROVIDER,
    Config,
    DnsRecord,
    Route53FailoverProvider,
    SiteName,
)
from arbiter.core.errors import ArbiterError, ProviderError, ProviderRejected
from arbiter.core.records import RecordSet, RecordType, fqdn, same

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
ATTEMPTS = 2
"""A region that is gone costs at most about (2 + 5) s x 2 attempts, in parallel with the
others: the decide pass and the act function both publish, and both have other work."""
READ_DEADLINE = 10.0
"""Seconds ``read`` may spend asking the zone's servers."""
PER_QUERY = 2.0

Ask = Callable[[dns.message.Message, str, int, str, float], dns.message.Message]


def cloudwatch_client(region: str) -> Any:
    """A CloudWatch client for one alarm region, with short timeouts and few retries."""
    import boto3
    from botocore.config import Config as BotoConfig

    config = BotoConfig(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("cloudwatch", region_name=region, config=config)


class Route53Failover:
    def __init__(
        self,
        name: str,
        settings: Route53FailoverProvider,
        config: Config,
        cloudwatch: Callable[[str], Any],
        *,
        authority: Any = None,
        ask: Ask | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self.label = f"{name} ({DATAPLANE_PROVIDER})"
        self.settings = settings
        self.config = config
        self.regions = dataplane.alarm_regions(config)
        self._apis = {
            region: AwsApi(functools.partial(cloudwatch, region), f"CloudWatch {region}")
            for region in self.regions
        }
        self._authority = authority
        self._ask = ask
        self._clock = clock

    # -- the switch ----------------------------------------------------------------------

    def publish(self, wanted: Mapping[str, SiteName], at: datetime) -> dataplane.Published:
        """One PutMetricData per alarm region (in parallel) with each service's wanted site;
        never raises: each region's failure is reported in the result."""
        values = {service: dataplane.WANTED[site] for service, site in wanted.items()}
        result = dataplane.Published(values, needed=dataplane.health_threshold(self.config))
        data = [
            {
                "MetricName": dataplane.METRIC,
                "Dimensions": dataplane.dimensions(self.config, service),
                "Timestamp": at,
                "Value": value,
                "Unit": "None",
                "StorageResolution": 60,
            }
            for service, value in sorted(values.items())
        ]
        if not data:
            return result
        with ThreadPoolExecutor(max_workers=len(self.regions)) as pool:
            outcomes = list(pool.map(lambda region: self._put(region, data), self.regions))
        for region, problem in zip(self.regions, outcomes, strict=True):
            if problem is None:
                result.ok.append(region)
            else:
                result.failed[region] = problem
        return result

    def _put(self, region: str, data: Sequence[dict[str, Any]]) -> str | None:
        try:
            for start in range(0, len(data), dataplane.MAX_PER_CALL):
                self._apis[region].call(
                    "put_metric_data",
                    Namespace=dataplane.NAMESPACE,
                    MetricData=list(data[start : start + dataplane.MAX_PER_CALL]),
                )
        except ArbiterError as exc:
            return str(exc)
        return None

    def upsert(self, zone: str, records: Sequence[RecordSet], comment: str) -> Change:
        if not records:
            return Change(id=None)
        wanted: dict[str, SiteName] = {}
        for record in records:
            service, site = self._site_of(zone, record)
            if wanted.setdefault(service, site) is not site:
                raise ProviderRejected(
                    f"{self.label}: one change asks for both sites of service {service}"
                )
        published = self.publish(wanted, self._clock())
        change = Change(id=None, notes=published.lines())
        if not published.enough:
            raise ProviderError(
                f"{self.label}: {dataplane.summary(published, self.regions)}: "
                + "; ".join(f"{r}: {why}" for r, why in sorted(published.failed.items()))
            )
        change.changed = [r.label for r in records]
        change.notes.append(
            f"{dataplane.summary(published, self.regions)}; Route 53's health checks move the "
            "answer after the alarm period (60 s) and their own reaction"
        )
        return change

    def _site_of(self, zone: str, record: RecordSet) -> tuple[str, SiteName]:
        """The service and site whose values ``record`` holds, from the config."""
        declared = self._declared(zone, record)
        if declared is None:
            raise ProviderRejected(
                f"{self.label}: {record.label} in zone {zone} is not a record of this provider "
                "in the config; the stack owns its failover record sets, a switch only "
                "chooses between them"
            )
        service, config_record = declared
        for site in SiteName:
            if same(record.type, config_record.values[site], record.values):
                return service, site
        raise ProviderRejected(
            f"{self.label}: {record.label} {', '.join(record.values)} is neither site's "
            "values in the config; the failover record sets hold only those"
        )

    def _declared(self, zone: str, record: RecordSet) -> tuple[str, DnsRecord] | None:
        want = (zone.removeprefix("/hostedzone/"), fqdn(record.name).lower(), record.type)
        for service in dataplane.services(self.config):
            for found in dataplane.records(self.config, service):
                if found.provider != self.name:
                    continue
                have = (found.zone.removeprefix("/hostedzone/"), found.name.lower(), found.type)
                if have == want:
                    return service.name, found
        return None

    def wait_applied(self, change: Change, deadline: float) -> float:
        """Nothing to wait on without the Route 53 API: the verify step watches the answer."""
        return 0.0

    # -- the answer ------------------------------------------------------------------------

    def read(self, zone: str, name: str, rtype: str) -> RecordSet | None:
        """What the zone's authoritative servers answer for ``name`` now (the first server
        that answers with authority; RD off, so never a cache)."""
        deadline = time.monotonic() + READ_DEADLINE
        servers = self.settings.nameservers
        if servers is None:
            servers = self._nameservers(name, deadline)
        problems = []
        for server in servers:
            if time.monotonic() >= deadline:
                problems.append("out of time")
                break
            try:
                return self._answer(server, name, RecordType(rtype), deadline)
            except _NoAnswer as exc:
                problems.append(f"{server}: {exc}")
        raise ProviderError(
            f"{self.label}: no authoritative answer for {fqdn(name)} {rtype} "
            f"({'; '.join(problems) or 'no servers'})"
        )

    def _nameservers(self, name: str, deadline: float) -> list[str]:
        if self._authority is None:
            from arbiter.adapters.dns.authority import DnsAuthority

            self._authority = DnsAuthority()
        found: list[str] = self._authority.nameservers(name, deadline)
        return found

    def _answer(
        self, server: str, name: str, rtype: RecordType, deadline: float
    ) -> RecordSet | None:
        from arbiter.adapters.checks.dns import ask
        from arbiter.adapters.dns.authority import split_server

        try:
            host, port = split_server(server)
        except ValueError as exc:
            raise _NoAnswer(str(exc)) from None
        qname = dns.name.from_text(fqdn(name))
        rdtype = dns.rdatatype.from_text(rtype.value)
        query = dns.message.make_query(qname, rdtype)
        query.flags &= ~dns.flags.RD
        until = time.perf_counter() + max(0.0, min(PER_QUERY, deadline - time.monotonic()))
        try:
            response = (self._ask or ask)(query, host, port, "udp", until)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise _NoAnswer(type(exc).__name__) from None
        if not response.flags & dns.flags.AA:
            raise _NoAnswer("not authoritative")
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return None
        if rcode != dns.rcode.NOERROR:
            raise _NoAnswer(dns.rcode.to_text(rcode))
        rrset = response.get_rrset(response.answer, qname, dns.rdataclass.IN, rdtype)
        if rrset is None or not len(rrset):
            return None
        values = tuple(rdata.to_text() for rdata in rrset)
        return RecordSet(fqdn(name), rtype, int(rrset.ttl), values)


class _NoAnswer(Exception):
    """One server gave no usable answer; the next one is asked."""
