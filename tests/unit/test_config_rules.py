"""Config rules beyond types: real AWS regions, URLs, headers and names that cannot break
a request, DNS records a switch can really apply, and settings that fit together."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.config import AWS_REGIONS, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import REGIONS, config_dict

CHECK = "services[0].primary.checks[0]"


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


# -- regions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["us-east-1", "ap-southeast-7", "mx-central-1", "eu-south-2", "il-central-1"]
)
def test_current_regions_are_accepted(region: str) -> None:
    parse_config(config_dict(probe_regions=[*REGIONS[:2], region]))


def test_the_region_list_spans_commercial_govcloud_and_china() -> None:
    assert {AWS_REGIONS[r] for r in ("ca-west-1", "us-gov-west-1", "cn-north-1")} == {
        "aws",
        "aws-us-gov",
        "aws-cn",
    }
    assert len(AWS_REGIONS) >= 38


def test_made_up_regions_are_refused_in_home_and_probe_regions() -> None:
    data = config_dict(home_region="xx-foo-9", probe_regions=[*REGIONS[:2], "eu-nort-1"])
    assert problems_of(data) == [
        "home_region: 'xx-foo-9' is not an AWS region (e.g. eu-west-1, us-east-1)",
        "probe_regions[2]: 'eu-nort-1' is not an AWS region; did you mean 'eu-north-1'?",
    ]


def test_regions_of_two_partitions_are_refused() -> None:
    data = config_dict(probe_regions=[*REGIONS[:2], "cn-north-1"])
    assert problems_of(data) == [
        "probe_regions[2]: 'cn-north-1' is in the aws-cn partition and home_region "
        "'eu-west-1' in aws; one deployment cannot span partitions"
    ]


# -- URLs, hosts, headers, labels -----------------------------------------------------------


def with_check(**fields: Any) -> dict[str, Any]:
    data = config_dict()
    data["services"][0]["primary"]["checks"][0].update(fields)
    return data


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h.example.com:70000/", "the URL's port '70000' is not a number from 1 to 65535"),
        ("http://h.example.com:0/", "the URL's port '0' is not a number from 1 to 65535"),
        ("http://h.example.com:http/", "the URL's port 'http' is not a number from 1 to 65535"),
        ("http://[::1/health", "the URL does not parse (Invalid IPv6 URL)"),
        ("ftp://h.example.com/", "the URL must start with http:// or https:// and a host"),
        ("https:///health", "the URL must start with http:// or https:// and a host"),
        ("http://h.example.com/a b", "the URL contains a space or a control character"),
        ("http://h.example.com/\x00", "the URL contains a space or a control character"),
        ("http://a..b/", "'a..b' has an empty label (a leading dot, or two in a row)"),
        ("http://a_b!c/", "'a_b!c' is neither an IP address nor a host name"),
    ],
)
def test_urls_that_cannot_be_fetched_are_refused(url: str, expected: str) -> None:
    (problem,) = problems_of(with_check(url=url))
    assert problem.startswith(f"{CHECK}.url: {expected}")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/health", "https://[2001:db8::1]/x?y=1", "http://localhost/"]
)
def test_urls_that_can_be_fetched_are_accepted(url: str) -> None:
    parse_config(with_check(url=url))


@pytest.mark.parametrize(
    "url", ["https://user:s3cret@h.example.com/", "https://tok@h.example.com/"]
)
def test_credentials_in_a_url_are_refused_without_echoing_them(url: str) -> None:
    data = config_dict()
    data["services"][0]["failback"]["gate"] = {"url": url, "secret": "arbiter/gate"}
    data["services"][0]["secondary"]["checks"][0]["url"] = url
    found = problems_of(data)
    assert [p.split(":")[0] for p in found] == [
        "services[0].secondary.checks[0].url",
        "services[0].failback.gate.url",
    ]
    assert all("holds credentials (user:password@host)" in p for p in found)
    assert not any("s3cret" in p or "tok" in p for p in found)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("fra.example.com:22", "neither an IP address nor a host name (letters, digits, '-' and "
         "'_' between dots); give the port in `port`"),
        ("fra example.com", "'fra example.com' contains a space"),
        ("fra.example.com\r\nX-Evil: 1", "contains a control character (U+000D)"),
        ("münchen.example", "contains a non-ASCII character: write the name in its punycode"),
    ],
)  # fmt: skip
def test_tcp_and_sip_hosts_must_be_resolvable_names(host: str, expected: str) -> None:
    data = config_dict()
    data["services"][0]["primary"]["checks"] = [
        {"type": "tcp", "name": "ssh", "host": host, "port": 22},
        {"type": "sip", "name": "sbc", "host": host},
    ]
    found = problems_of(data)
    assert [p.split(": ", 1)[0] for p in found] == [f"{CHECK}.host", f"{CHECK[:-2]}1].host"]
    assert all(expected in p for p in found)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Probe": "1\r\nX-Evil: yes"}, "header 'X-Probe': a line break (CR or LF) in a header"),
        ({"X-Probe": "1\nX-Evil: yes"}, "header 'X-Probe': a line break (CR or LF) in a header"),
        ({"X-Evil\r\nHost": "x"}, "header 'X-Evil\\r\\nHost': a line break (CR or LF)"),
        ({"X Probe": "1"}, "header 'X Probe': a header name is letters, digits and"),
        ({"X-Probe": "a\x00b"}, "header 'X-Probe': the value contains a control character"),
        ({"X-Probe": " 1"}, "header 'X-Probe': the value starts with a space"),
        ({"X-Probe": "\u20ac"}, "header 'X-Probe': the value has characters beyond Latin-1"),
    ],
)
def test_header_injection_and_unsendable_headers_are_refused(
    headers: dict[str, str], expected: str
) -> None:
    (problem,) = problems_of(with_check(headers=headers))
    assert problem.startswith(f"{CHECK}.headers: {expected}")
    assert "Evil: yes" not in problem  # a value is never echoed


def test_labels_and_check_names_with_control_characters_are_refused() -> None:
    data = config_dict()
    data["services"][0]["primary"]["label"] = "Frankfurt\nDC"
    data["services"][0]["secondary"]["checks"][0]["name"] = "health\x1b[31m"
    data["services"][0]["name"] = "web\n"
    assert problems_of(data) == [
        "services[0].name: String should match pattern '^[a-z][a-z0-9-]{0,39}$'",
        "services[0].primary.label: 'Frankfurt\\nDC' contains a control character (U+000A)",
        "services[0].secondary.checks[0].name: 'health\\x1b[31m' contains a control character "
        "(U+001B)",
    ]


def test_a_bidi_override_in_a_label_is_refused() -> None:
    data = config_dict()
    data["services"][0]["primary"]["label"] = "Frankfurt \u202eCD"
    (problem,) = problems_of(data)
    assert problem.endswith("contains a control character (U+202E)")


# -- DNS records ---------------------------------------------------------------------------

RECORD = "services[0].dns.records[0]"


def with_record(**fields: Any) -> dict[str, Any]:
    data = config_dict()
    data["services"][0]["dns"]["records"][0].update(fields)
    return data


@pytest.mark.parametrize(
    ("rtype", "primary", "secondary"),
    [
        ("A", ["203.0.113.10"], ["203.0.113.10"]),
        ("A", ["203.0.113.10", "203.0.113.11"], ["203.0.113.11", "203.0.113.10"]),
        ("AAAA", ["2001:db8::1"], ["2001:DB8:0::1"]),
        ("CNAME", ["fra.example.com"], ["FRA.example.com."]),
    ],
)
def test_the_same_values_for_both_sites_are_refused(
    rtype: str, primary: list[str], secondary: list[str]
) -> None:
    data = with_record(type=rtype, values={"primary": primary, "secondary": secondary})
    assert problems_of(data) == [
        f"{RECORD}: values.primary and values.secondary are the same: a switch would change nothing"
    ]


def test_a_value_twice_for_one_site_is_refused() -> None:
    values = {"primary": ["203.0.113.10", "203.0.113.10"], "secondary": ["198.51.100.10"]}
    assert problems_of(with_record(values=values)) == [
        f"{RECORD}: values.primary: '203.0.113.10' appears more than once"
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "a DNS name needs at least one label"),
        (".", "a DNS name needs at least one label"),
        ("www..example.com", "'www..example.com' has an empty label"),
        (".example.com", "'.example.com' has an empty label"),
        ("x" * 64 + ".example.com", "the label 'xxxxxxxxxxxxxxxxxxxx'... has 64 characters"),
        ("a." * 127 + "com", "the name has 257 characters; a DNS name has at most 253"),
        ("www example.com", "'www example.com' contains a space"),
        ("www\texample.com", "'www\\texample.com' contains a control character (U+0009)"),
        ("exämple.com", "'exämple.com' contains a non-ASCII character: write the name in its"),
    ],
)
def test_malformed_record_names_are_refused(name: str, expected: str) -> None:
    (problem,) = problems_of(with_record(name=name))
    assert problem.startswith(f"{RECORD}.name: {expected}")


@pytest.mark.parametrize("name", ["*.example.com", "_sip._udp.example.com", "a" * 63 + ".com."])
def test_record_names_route53_takes_are_accepted(name: str) -> None:
    config = parse_config(with_record(name=name))
    assert config.services[0].dns.records[0].name == name.removesuffix(".") + "."


def test_a_malformed_cname_value_is_refused() -> None:
    data = with_record(type="CNAME", values={"primary": ["fra..x"], "secondary": ["ams.x"]})
    assert problems_of(data) == [
        f"{RECORD}.values: primary[0]: 'fra..x' is not a host name such as www.example.net "
        "(A DNS label is empty.)"
    ]


def test_the_same_record_twice_in_a_service_is_refused() -> None:
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    records.append({**records[0], "name": "WWW.example.com."})
    assert problems_of(data) == [
        "services[0].dns.records[1]: WWW.example.com. A in zone ZEXAMPLE is also "
        f"{RECORD}; each switch would overwrite the other's values"
    ]


def test_the_same_record_in_two_services_is_refused() -> None:
    data = config_dict()
    other = {**data["services"][0], "name": "api"}
    data["services"].append(other)
    assert problems_of(data) == [
        "services[1].dns.records[0]: www.example.com. A in zone ZEXAMPLE is also "
        f"{RECORD}; each switch would overwrite the other's values"
    ]


def test_a_cname_beside_another_record_is_refused_but_a_and_aaaa_may_share() -> None:
    data = config_dict()
    records = data["services"][0]["dns"]["records"]
    aaaa = {"type": "AAAA", "values": {"primary": ["2001:db8::1"], "secondary": ["2001:db8::2"]}}
    records.append({**records[0], **aaaa})
    parse_config(data)
    cname = {"type": "CNAME", "values": {"primary": ["fra.example.net"], "secondary": ["x.y"]}}
    records.append({**records[0], **cname})
    assert problems_of(data) == [
        "services[0].dns.records[2]: www.example.com. in zone ZEXAMPLE cannot be both a CNAME "
        f"and an A record ({RECORD})"
    ]


def test_every_cross_section_problem_is_reported_at_once() -> None:
    data = config_dict(probe_regions=[*REGIONS[:2], "cn-north-1"], decision={"quorum": 4})
    data["services"][0]["dns"]["records"].append(data["services"][0]["dns"]["records"][0])
    found = problems_of(data)
    assert [p.split(":")[0] for p in found] == [
        "probe_regions[2]",
        "decision.quorum",
        "services[0].dns.records[1]",
    ]


# -- settings that must fit together --------------------------------------------------------


def test_stale_after_shorter_than_the_interval_is_refused() -> None:
    data = config_dict(probe={"interval": "2m"}, decision={"stale_after": "90s"})
    assert problems_of(data) == [
        "decision.stale_after: 90s is shorter than probe.interval (2m): every region would be "
        "stale between its rounds"
    ]
    parse_config(config_dict(probe={"interval": "2m"}, decision={"stale_after": "2m"}))


def test_a_check_timeout_longer_than_stale_after_is_refused() -> None:
    data = with_check(timeout="4m")
    assert problems_of(data) == [
        f"{CHECK}.timeout: 4m is longer than decision.stale_after (3m): a round that slow "
        "reaches the decider after its region already counts as stale"
    ]
    parse_config(with_check(timeout="3m"))


def test_retention_shorter_than_the_deciders_look_back_is_refused() -> None:
    # stale_after 3m + max(fall 2, rise 4) rounds of 1m = 7m
    data = config_dict(probe={"interval": 60, "retention": "6m"}, decision={"rise": 4})
    assert problems_of(data) == [
        "probe.retention: 6m is shorter than the decider's look-back of 7m (stale_after 3m + "
        "4 rounds of 1m, for max(fall, rise)): rounds it still needs would expire"
    ]
    parse_config(config_dict(probe={"interval": 60, "retention": "7m"}, decision={"rise": 4}))


def test_a_probe_function_past_lambdas_maximum_is_refused() -> None:
    # 10 s rounds are queued, one per invocation: a round takes up to 896 + 5 s: 901 s
    data = config_dict(probe={"interval": 10}, decision={"stale_after": "15m"})
    data["services"][0]["secondary"]["checks"][0]["timeout"] = 896
    assert problems_of(data) == [
        "services[0].secondary.checks[0].timeout: the probe function would need 901 s (a "
        "round may take this 896s + 5 s), more than Lambda's 900 s"
    ]
    data["services"][0]["secondary"]["checks"][0]["timeout"] = 895
    parse_config(data)


def test_a_one_minute_probe_with_a_slow_check_is_refused() -> None:
    data = config_dict(decision={"stale_after": "15m"})
    data["services"][0]["primary"]["checks"][0]["timeout"] = 896
    (problem,) = problems_of(data)
    assert problem.startswith(f"{CHECK}.timeout: the probe function would need 901 s")


def test_every_webhook_is_signed_so_a_gate_without_a_secret_is_refused() -> None:
    data = config_dict()
    data["services"][0]["failback"]["gate"] = {"url": "https://fra.example.com/synced"}
    assert problems_of(data) == ["services[0].failback.gate.secret: Field required"]
