"""The data-plane failover mode in the config: the ``route53_failover`` provider, the records
it takes, the warnings, and what ``core/dataplane.py`` derives (alarm regions, threshold, the
site the steady publisher may say)."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import pytest

from arbiter.core import dataplane
from arbiter.core.config import SiteName, parse_config
from arbiter.core.errors import ConfigError
from arbiter.core.model import ServiceState, Transition
from arbiter.core.runbook import StepResult, StepStatus
from tests.factories import T0, config_dict

DP = {"type": "route53_failover"}
RECORD = "services[0].dns.records[0]"


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "provider": "dp",
        "zone": "ZEXAMPLE",
        "name": "www.example.com",
        "type": "A",
        "ttl": 60,
        "values": {"primary": ["203.0.113.10"], "secondary": ["198.51.100.10"]},
    }
    return {**base, **fields}


def with_records(*records: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = config_dict(**extra)
    data["dns_providers"] = {"dp": DP, "dp2": DP}
    data["services"][0]["dns"] = {"records": list(records), "verify_timeout": "5m"}
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_a_failover_record_parses_and_is_a_data_plane_record() -> None:
    config = parse_config(
        with_records(
            record(),
            record(
                name="api.example.com",
                type="CNAME",
                values={"primary": ["fra.example.net"], "secondary": ["ams.example.net"]},
            ),
        )
    )
    service = config.services[0]
    assert [r.name for r in dataplane.records(config, service)] == [
        "www.example.com.",
        "api.example.com.",
    ]
    assert dataplane.providers(config) == ["dp"]
    assert config.warnings() == []


def test_the_zone_is_a_hosted_zone_id() -> None:
    (problem,) = problems(with_records(record(zone="example.com")))
    assert problem.startswith(f"{RECORD}.zone: ") and "not a Route 53 hosted zone id" in problem


@pytest.mark.parametrize("rtype", ["MX", "TXT", "SRV"])
def test_only_a_sites_address_fails_over(rtype: str) -> None:
    values = {
        "MX": (["10 mx1.example.com"], ["10 mx2.example.com"]),
        "TXT": (["a"], ["b"]),
        "SRV": (["10 5 5060 a.example.com"], ["10 5 5060 b.example.com"]),
    }[rtype]
    data = with_records(record(type=rtype, values={"primary": values[0], "secondary": values[1]}))
    assert problems(data) == [
        f"{RECORD}.type: a route53_failover record is A, AAAA or CNAME (the address of a site), "
        f"not {rtype}; give a route53 provider for it"
    ]


def test_an_unknown_provider_key_is_named_by_its_path() -> None:
    data = with_records(record())
    data["dns_providers"]["dp"] = {"type": "route53_failover", "zone_name": "example.com"}
    assert problems(data) == ["dns_providers.dp.zone_name: unknown key"]


def test_a_simple_record_of_the_same_name_and_type_is_refused() -> None:
    simple = record(
        provider="route53", values={"primary": ["192.0.2.1"], "secondary": ["192.0.2.2"]}
    )
    (problem,) = problems(with_records(record(), simple))
    assert problem.startswith(f"{RECORD}: www.example.com. A in zone ZEXAMPLE is also ")
    assert "services[0].dns.records[1] (A at route53)" in problem
    assert "cannot hold next to another record set of that name and type" in problem


def test_a_cname_clashes_with_any_type_but_other_names_and_types_do_not() -> None:
    cname = record(
        provider="route53",
        type="CNAME",
        values={"primary": ["a.example.net"], "secondary": ["b.example.net"]},
    )
    assert len(problems(with_records(record(), cname))) == 1
    aaaa = record(
        provider="route53",
        type="AAAA",
        values={"primary": ["2001:db8::1"], "secondary": ["2001:db8::2"]},
    )
    other_zone = record(provider="route53", zone="ZOTHER")
    other_name = record(provider="route53", name="sip.example.com")
    parse_config(with_records(record(), aaaa, other_zone, other_name))


def test_two_failover_providers_on_one_record_set_are_reported_once() -> None:
    assert problems(with_records(record(), record(provider="dp2"))) == [
        f"{RECORD}: www.example.com. A in zone ZEXAMPLE is also services[0].dns.records[1] "
        "(A at dp2); the stack creates failover record sets for it, which Route 53 cannot "
        "hold next to another record set of that name and type: remove one of the two"
    ]


def test_a_ttl_above_60_is_a_warning() -> None:
    config = parse_config(with_records(record(ttl=120)))
    assert config.warnings() == [
        f"{RECORD}.ttl: 120 s is above 60 s, which AWS recommends at most for failover "
        "records; resolvers keep the old answer that long after Route 53 switches"
    ]


def test_a_short_verify_timeout_is_a_warning_unless_verify_is_off() -> None:
    data = with_records(record())
    data["services"][0]["dns"]["verify_timeout"] = "2m"
    (warning,) = parse_config(data).warnings()
    assert warning.startswith("services[0].dns.verify_timeout: 2m is shorter than 5m")
    data["services"][0]["dns"]["verify"] = {"enabled": False}
    assert parse_config(data).warnings() == []


# -- what core/dataplane derives ---------------------------------------------------------


@pytest.mark.parametrize(
    ("control", "regions", "threshold"),
    [
        ({}, ["us-east-1"], 1),
        (
            {"standby_regions": ["us-east-2"], "witness_region": "us-west-2"},
            ["us-east-1", "us-east-2", "us-west-2"],
            2,
        ),
        (
            {"standby_regions": ["us-east-2", "us-west-2"]},
            ["us-east-1", "us-east-2", "us-west-2"],
            2,
        ),
    ],
)
def test_alarm_regions_are_the_home_region_or_the_lease_tables_three(
    control: dict[str, Any], regions: list[str], threshold: int
) -> None:
    data = with_records(
        record(),
        home_region="us-east-1",
        probe_regions=["us-east-1", "us-east-2", "us-west-2"],
        control=control,
    )
    config = parse_config(data)
    assert dataplane.alarm_regions(config) == regions
    assert dataplane.health_threshold(config) == threshold
    assert dataplane.alarm_name(config, "web") == "arbiter-dataplane-web"
    assert dataplane.dimensions(config, "web") == [
        {"Name": "App", "Value": "arbiter"},
        {"Name": "Service", "Value": "web"},
    ]


def _state(**fields: Any) -> ServiceState:
    return ServiceState(service="web", **fields)


def _to_secondary(tid: int = 7) -> Transition:
    return Transition(
        id=tid,
        from_site=SiteName.PRIMARY,
        to_site=SiteName.SECONDARY,
        reason="r",
        decided_at=T0,
        by="decider",
    )


def _step(status: StepStatus) -> dict[str, StepResult]:
    return {"dns:dp:ZEXAMPLE": StepResult(status=status, started_at=T0 + timedelta(seconds=1))}


def _never() -> dict[str, StepResult]:
    raise AssertionError("no switch under way: the steps are not read")


def test_committed_site_without_a_switch_under_way_is_the_active_site() -> None:
    assert dataplane.committed_site(_state(), _never) is SiteName.PRIMARY
    done = _state(active=SiteName.SECONDARY, transition=_to_secondary(), runbook_done=7)
    assert dataplane.committed_site(done, _never) is SiteName.SECONDARY


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ({}, None),  # fence and hooks first: the metric must not move yet
        (_step(StepStatus.RUNNING), None),  # it may have published or not: say nothing
        (_step(StepStatus.FAILED), None),
        (_step(StepStatus.DONE), SiteName.SECONDARY),
        (_step(StepStatus.WARNED), SiteName.SECONDARY),
    ],
)
def test_committed_site_during_a_switch_follows_its_dns_step(
    steps: dict[str, StepResult], expected: SiteName | None
) -> None:
    for state in (
        _state(active=SiteName.SECONDARY, transition=_to_secondary()),  # open
        _state(active=SiteName.SECONDARY, transition=_to_secondary(), failed=7),
        _state(active=SiteName.SECONDARY, transition=_to_secondary(), settled=7),
    ):
        assert dataplane.committed_site(state, functools.partial(dict, steps)) is expected
