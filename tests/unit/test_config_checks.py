"""Config validation of the DNS and SIP checks and of the HTTP check's certificate warning."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.config import DnsCheck, HttpCheck, SipCheck, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import config_dict

WHERE = "services[0].primary.checks[0]"


def with_check(check: dict[str, Any]) -> dict[str, Any]:
    data = config_dict()
    data["services"][0]["primary"]["checks"] = [check]
    return data


def parsed(check: dict[str, Any]) -> Any:
    return parse_config(with_check(check)).services[0].primary.checks[0]


def problems_of(check: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_check(check))
    return caught.value.problems


DNS = {"type": "dns", "name": "ns", "query": "www.example.com", "server": "198.51.100.53"}
SIP = {"type": "sip", "name": "sbc", "host": "sbc.example.com"}


# --- DNS ---------------------------------------------------------------------------------


def test_dns_check_defaults() -> None:
    check = parsed(DNS)
    assert isinstance(check, DnsCheck)
    assert (check.record_type, check.port, check.transport) == ("A", 53, "udp")
    assert (check.expect_rcode, check.expect_answer) == ("NOERROR", None)
    assert (check.timeout, check.required) == (5.0, True)


def test_dns_check_with_every_field() -> None:
    check = parsed(
        {
            **DNS,
            "record_type": "mx",
            "server": "2001:0db8::0053",
            "port": 5353,
            "transport": "tcp",
            "expect_rcode": "nxdomain",
            "expect_answer": ["mail.example.com"],
            "timeout": "2s",
            "required": False,
        }
    )
    assert (check.record_type, check.expect_rcode) == ("MX", "NXDOMAIN")
    assert check.server == "2001:db8::53"
    assert (check.port, check.transport, check.timeout) == (5353, "tcp", 2.0)
    assert check.expect_answer == ["mail.example.com"]


@pytest.mark.parametrize("query", ["example.com.", ".", "_sip._udp.example.com"])
def test_dns_query_names(query: str) -> None:
    assert parsed({**DNS, "query": query}).query == query


def test_dns_bad_record_type() -> None:
    (problem,) = problems_of({**DNS, "record_type": "PTRX"})
    assert problem.startswith(f"{WHERE}.record_type: Input should be 'A', 'AAAA', 'CNAME'")


def test_dns_bad_transport() -> None:
    (problem,) = problems_of({**DNS, "transport": "quic"})
    assert problem == f"{WHERE}.transport: Input should be 'udp' or 'tcp'"


@pytest.mark.parametrize("port", [0, 65536])
def test_dns_port_out_of_range(port: int) -> None:
    (problem,) = problems_of({**DNS, "port": port})
    assert problem.startswith(f"{WHERE}.port: Input should be")


def test_dns_server_is_required() -> None:
    check = dict(DNS)
    del check["server"]
    assert problems_of(check) == [f"{WHERE}.server: Field required"]


def test_dns_server_must_be_an_ip_address() -> None:
    assert problems_of({**DNS, "server": "ns1.example.com"}) == [
        f"{WHERE}.server: 'ns1.example.com' is not an IP address"
    ]


def test_dns_bad_rcode_and_query_and_empty_expectations() -> None:
    found = problems_of({**DNS, "expect_rcode": "NOPE", "query": "a..b", "expect_answer": []})
    assert [p.split(":")[0] for p in found] == [
        f"{WHERE}.query",
        f"{WHERE}.expect_rcode",
        f"{WHERE}.expect_answer",
    ]


# --- SIP ---------------------------------------------------------------------------------


def test_sip_check_defaults() -> None:
    check = parsed(SIP)
    assert isinstance(check, SipCheck)
    assert (check.port, check.transport, check.expect_status) == (5060, "udp", [200])
    assert (check.uri, check.from_user, check.timeout, check.required) == (
        None,
        "arbiter",
        5.0,
        True,
    )


def test_sip_check_with_every_field() -> None:
    check = parsed(
        {
            **SIP,
            "port": 5080,
            "transport": "tcp",
            "expect_status": [200, 404],
            "uri": "sip:ping@sbc.example.com",
            "from_user": "probe-eu",
            "timeout": 3,
            "required": False,
        }
    )
    assert (check.port, check.transport, check.expect_status) == (5080, "tcp", [200, 404])
    assert (check.uri, check.from_user) == ("sip:ping@sbc.example.com", "probe-eu")


def test_sip_bad_transport_and_port() -> None:
    found = problems_of({**SIP, "transport": "tls", "port": 70000})
    assert found[0] == f"{WHERE}.port: Input should be less than or equal to 65535"
    assert found[1] == f"{WHERE}.transport: Input should be 'udp' or 'tcp'"


def test_sip_provisional_status_cannot_be_expected() -> None:
    (problem,) = problems_of({**SIP, "expect_status": [100]})
    assert problem.startswith(f"{WHERE}.expect_status[0]: Input should be greater than or equal")


def test_sip_host_is_required_and_uri_must_be_sip() -> None:
    check = {**SIP, "uri": "http://sbc.example.com"}
    del check["host"]
    found = problems_of(check)
    assert found[0] == f"{WHERE}.host: Field required"
    assert found[1].startswith(f"{WHERE}.uri: String should match pattern")


def test_sip_unknown_key() -> None:
    assert problems_of({**SIP, "expect_stauts": [200]}) == [f"{WHERE}.expect_stauts: unknown key"]


# --- HTTP certificate warning, and paths ---------------------------------------------------


def test_http_cert_warning_days() -> None:
    http = {"type": "http", "name": "web", "url": "https://www.example.com/"}
    check = parsed(http)
    assert isinstance(check, HttpCheck)
    assert check.cert_warning_days == 14
    assert parsed({**http, "cert_warning_days": 0}).cert_warning_days == 0
    (problem,) = problems_of({**http, "cert_warning_days": -1})
    assert problem.startswith(f"{WHERE}.cert_warning_days: Input should be greater than")


def test_unknown_check_type_is_named() -> None:
    (problem,) = problems_of({"type": "icmp", "name": "ping"})
    assert problem.startswith(f"{WHERE}: Input tag 'icmp' found using 'type' does not match")
    assert "'dns'" in problem and "'sip'" in problem


def test_service_dns_section_keeps_its_name_in_paths() -> None:
    # The union tag "dns" is dropped from check paths only, not from services[0].dns.
    data = config_dict()
    data["services"][0]["dns"]["records"][0]["ttl"] = 0
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    (problem,) = caught.value.problems
    assert problem.startswith("services[0].dns.records[0].ttl: Input should be greater")
