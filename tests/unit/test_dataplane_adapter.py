"""The ``route53_failover`` DNS provider: a switch is PutMetricData in every alarm region
(moto), never a Route 53 API call; a lost region is reported and a lost majority fails the
step; ``read`` is what the zone's authoritative servers answer (a stand-in ``ask``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import botocore.client
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from arbiter.adapters.dns import Deps, Providers
from arbiter.adapters.dns.route53_failover import Route53Failover
from arbiter.core import dataplane
from arbiter.core.config import Config, Route53FailoverProvider, SiteName, parse_config
from arbiter.core.errors import ProviderError, ProviderRejected
from arbiter.core.records import RecordSet, RecordType
from tests.factories import T0, config_dict

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]
ZONE = "ZEXAMPLE"
WWW_PRIMARY = RecordSet("www.example.com.", RecordType.A, 60, ("203.0.113.10",))
WWW_SECONDARY = RecordSet("www.example.com.", RecordType.A, 60, ("198.51.100.10",))


def dp_config(standbys: bool = True) -> Config:
    data = config_dict(
        home_region="us-east-1",
        probe_regions=list(REGIONS),
        **(
            {"control": {"standby_regions": ["us-east-2"], "witness_region": "us-west-2"}}
            if standbys
            else {}
        ),
    )
    data["dns_providers"] = {
        "dp": {"type": "route53_failover", "nameservers": ["192.0.2.53", "192.0.2.54"]}
    }
    web = data["services"][0]
    web["dns"] = {
        "verify_timeout": "5m",
        "records": [{"provider": "dp", **web["dns"]["records"][0]}],
    }
    return parse_config(data)


def adapter(config: Config, cloudwatch: Any = None, **kw: Any) -> Route53Failover:
    settings = config.dns_provider("dp")
    assert isinstance(settings, Route53FailoverProvider)
    factory = cloudwatch or (lambda region: boto3.client("cloudwatch", region_name=region))
    return Route53Failover("dp", settings, config, factory, clock=lambda: T0, **kw)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """Every AWS API call made through botocore: (service, region, operation)."""
    seen: list[tuple[str, str, str]] = []
    original = botocore.client.BaseClient._make_api_call

    def spy(self: Any, operation: str, params: Any) -> Any:
        seen.append((self.meta.service_model.service_name, self.meta.region_name, operation))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    with mock_aws():
        yield seen


def datapoints(region: str, service: str = "web") -> list[float]:
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    answer = cloudwatch.get_metric_statistics(
        Namespace="Arbiter/DataPlane",
        MetricName="PrimaryWanted",
        Dimensions=[{"Name": "App", "Value": "arbiter"}, {"Name": "Service", "Value": service}],
        StartTime=T0 - timedelta(minutes=5),
        EndTime=T0 + timedelta(minutes=5),
        Period=60,
        Statistics=["Minimum"],
    )
    return [point["Minimum"] for point in answer["Datapoints"]]


def test_a_switch_is_putmetricdata_in_every_alarm_region_and_no_route53_call(
    calls: list[tuple[str, str, str]],
) -> None:
    # Given a hosted zone that a control-plane switch would change
    route53 = boto3.client("route53", region_name="us-east-1")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="x")["HostedZone"]
    before = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    calls.clear()
    # When the runbook's DNS step switches to the secondary
    provider = adapter(dp_config())
    change = provider.upsert(ZONE, [WWW_SECONDARY], "arbiter: web switch #7 to secondary")
    # Then one PutMetricData per alarm region, and nothing else at all
    assert sorted(calls) == [("cloudwatch", r, "PutMetricData") for r in REGIONS]
    for region in REGIONS:
        assert datapoints(region) == [0.0]
    assert change.id is None and change.changed == [WWW_SECONDARY.label]
    assert change.notes[:3] == [
        f"published Arbiter/DataPlane PrimaryWanted web=0 to {r}" for r in REGIONS
    ]
    assert "3 of 3 alarm regions took the datapoint (at least 2 needed)" in change.notes[3]
    assert provider.wait_applied(change, 0.0) == 0.0
    after = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    assert after == before


def test_the_primary_is_1_and_all_services_go_in_one_call_per_region(
    calls: list[tuple[str, str, str]],
) -> None:
    provider = adapter(dp_config(standbys=False))
    published = provider.publish({"web": SiteName.PRIMARY, "api": SiteName.SECONDARY}, T0)
    assert calls == [("cloudwatch", "us-east-1", "PutMetricData")]
    assert published.ok == ["us-east-1"] and published.enough
    assert datapoints("us-east-1", "web") == [1.0]
    assert datapoints("us-east-1", "api") == [0.0]
    assert datapoints("us-east-2", "web") == []


class _Refusing:
    """A CloudWatch client of a region that refuses (or is gone)."""

    def put_metric_data(self, **kwargs: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InternalFailure", "Message": "down"}}, "PutMetricData"
        )


def _some_regions_down(*down: str) -> Any:
    def factory(region: str) -> Any:
        return _Refusing() if region in down else boto3.client("cloudwatch", region_name=region)

    return factory


def test_one_lost_region_is_reported_and_the_other_two_decide(
    calls: list[tuple[str, str, str]],
) -> None:
    provider = adapter(dp_config(), _some_regions_down("us-east-1"))
    change = provider.upsert(ZONE, [WWW_SECONDARY], "c")
    assert change.changed == [WWW_SECONDARY.label]
    assert (
        "NOT published to us-east-1: CloudWatch us-east-1 put_metric_data: InternalFailure"
        in change.notes
    )
    assert "2 of 3 alarm regions took the datapoint" in change.notes[-1]
    assert datapoints("us-east-2") == [0.0] and datapoints("us-west-2") == [0.0]


def test_two_lost_regions_fail_the_step_retryably_naming_them(
    calls: list[tuple[str, str, str]],
) -> None:
    provider = adapter(dp_config(), _some_regions_down("us-east-1", "us-west-2"))
    with pytest.raises(ProviderError) as caught:
        provider.upsert(ZONE, [WWW_SECONDARY], "c")
    message = str(caught.value)
    assert "1 of 3 alarm regions took the datapoint (at least 2 needed)" in message
    assert "us-east-1: CloudWatch us-east-1 put_metric_data: InternalFailure" in message
    assert "us-west-2:" in message


def test_a_record_set_the_config_does_not_declare_is_refused_before_any_call(
    calls: list[tuple[str, str, str]],
) -> None:
    provider = adapter(dp_config())
    stranger = RecordSet("mail.example.com.", RecordType.A, 60, ("203.0.113.10",))
    with pytest.raises(ProviderRejected, match="is not a record of this provider in the config"):
        provider.upsert(ZONE, [stranger], "c")
    neither = RecordSet("www.example.com.", RecordType.A, 60, ("192.0.2.99",))
    with pytest.raises(ProviderRejected, match="is neither site's values"):
        provider.upsert(ZONE, [neither], "c")
    assert calls == []


def test_the_registry_builds_it_from_the_config() -> None:
    config = dp_config()
    built = Providers(config, Deps(aws=lambda *a: None, secret=lambda n: ""))["dp"]
    assert isinstance(built, Route53Failover)
    assert built.regions == REGIONS and built.label == "dp (route53_failover)"


# -- read: the authoritative answer ----------------------------------------------------------


def _answer(
    query: dns.message.Message,
    *,
    aa: bool = True,
    values: tuple[str, ...] = (),
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
) -> dns.message.Message:
    response = dns.message.make_response(query)
    if aa:
        response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    if values:
        response.answer.append(
            dns.rrset.from_text_list(query.question[0].name, 60, "IN", "A", list(values))
        )
    return dns.message.from_wire(response.to_wire())  # as a server's answer arrives


def test_read_is_the_first_authoritative_answer_asked_without_recursion() -> None:
    asked: list[tuple[str, int, bool]] = []

    def ask(
        query: dns.message.Message, host: str, port: int, transport: str, deadline: float
    ) -> dns.message.Message:
        asked.append((host, port, bool(query.flags & dns.flags.RD)))
        if host == "192.0.2.53":
            return _answer(query, aa=False, values=("192.0.2.1",))  # a cache, not the zone
        return _answer(query, values=("198.51.100.10",))

    provider = adapter(dp_config(), ask=ask)
    assert provider.read(ZONE, "www.example.com", "A") == WWW_SECONDARY
    assert asked == [("192.0.2.53", 53, False), ("192.0.2.54", 53, False)]


def test_read_of_a_missing_name_is_none_and_no_answer_at_all_is_retryable() -> None:
    def nxdomain(query: dns.message.Message, *args: Any) -> dns.message.Message:
        return _answer(query, rcode=dns.rcode.NXDOMAIN)

    assert adapter(dp_config(), ask=nxdomain).read(ZONE, "www.example.com", "A") is None

    def silent(query: dns.message.Message, *args: Any) -> dns.message.Message:
        raise dns.exception.Timeout

    with pytest.raises(ProviderError) as caught:
        adapter(dp_config(), ask=silent).read(ZONE, "www.example.com", "A")
    assert str(caught.value) == (
        "dp (route53_failover): no authoritative answer for www.example.com. A "
        "(192.0.2.53: Timeout; 192.0.2.54: Timeout)"
    )


def test_dataplane_names_match_what_the_stack_creates() -> None:
    config = dp_config()
    assert dataplane.set_identifier(config, SiteName.PRIMARY) == "arbiter-primary"
    assert dataplane.step_names(config, config.services[0]) == ["dns:dp:ZEXAMPLE"]


def test_plan_describes_a_data_plane_switch_and_reads_the_served_answer() -> None:
    from arbiter.local.plan import make_plan, render

    config = dp_config()

    def primary_served(query: dns.message.Message, *args: Any) -> dns.message.Message:
        return _answer(query, values=("203.0.113.10",))

    provider = adapter(config, ask=primary_served)
    planned = make_plan(config, config.services[0], SiteName.SECONDARY, {"dp": provider})
    text = render(planned, config)
    assert (
        "* data plane: the switch publishes Arbiter/DataPlane PrimaryWanted=0 for web to "
        "us-east-1, us-east-2, us-west-2 (PutMetricData; no Route 53 API call)\n"
        "* Route 53 answers with the secondary failover record set once 2 of the 3 alarms "
        "agree; 'current' is what the zone's authoritative servers answer now\n"
        "* Update    www.example.com. A\n"
        "*   current 203.0.113.10 (TTL 60)\n"
        "*   new     198.51.100.10 (TTL 60)\n"
    ) in text
    assert planned.problems == []
