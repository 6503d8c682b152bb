"""The config's DNS providers and records: named provider instances, zones in each
provider's own terms, every record type, secrets by reference only."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.config import SiteName, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import config_dict

RECORD = "services[0].dns.records[0]"


def with_records(*records: dict[str, Any], **providers: Any) -> dict[str, Any]:
    data = config_dict()
    data["services"][0]["dns"]["records"] = list(records)
    if providers:
        data["dns_providers"] = providers
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "zone": "ZEXAMPLE",
        "name": "www.example.com",
        "type": "A",
        "values": {"primary": ["203.0.113.10"], "secondary": ["198.51.100.10"]},
    }
    return {**base, **fields}


BIND = {"type": "rfc2136", "server": "192.0.2.10", "key_name": "k", "key_secret": "a/b"}


def test_a_config_without_providers_is_route53_and_reads_the_old_zone_id_key() -> None:
    old = record()
    old["zone_id"] = old.pop("zone")
    config = parse_config(with_records(old))
    (rec,) = config.services[0].dns.records
    assert rec.provider == "route53" and rec.zone == "ZEXAMPLE"
    assert config.dns_provider("route53").type == "route53"


def test_a_record_names_a_provider_that_exists() -> None:
    assert problems(with_records(record(provider="nope"))) == [
        f"{RECORD}.provider: 'nope' is not in dns_providers (route53)"
    ]


@pytest.mark.parametrize(
    ("kind", "zone", "expected"),
    [
        ("route53", "example.com", "is not a Route 53 hosted zone id"),
        ("rfc2136", "example.org", "www.example.com. is not inside the zone example.org"),
        ("rfc2136", "ZEXAMPLE", "www.example.com. is not inside the zone ZEXAMPLE"),
        ("cloudflare", "bad zone", "contains a space"),
    ],
)
def test_the_zone_is_in_the_providers_terms(kind: str, zone: str, expected: str) -> None:
    settings = {
        "route53": {"type": "route53"},
        "rfc2136": BIND,
        "cloudflare": {"type": "cloudflare", "token_secret": "cf/token"},
    }[kind]
    (problem,) = problems(with_records(record(provider="p", zone=zone), p=settings))
    assert problem.startswith(f"{RECORD}.zone: ") and expected in problem


def test_a_cloudflare_zone_is_an_id_or_a_name() -> None:
    cf = {"type": "cloudflare", "token_secret": "cf/token"}
    for zone in ("0123456789abcdef0123456789abcdef", "example.com"):
        parse_config(with_records(record(provider="cf", zone=zone), cf=cf))


def test_route53_is_a_reserved_provider_name() -> None:
    found = problems(with_records(record(), route53=BIND))
    assert (
        "dns_providers.route53: the name route53 means Route 53 (records use it by default); "
        "give this provider another name"
    ) in found


def test_provider_errors_name_the_provider_and_field() -> None:
    found = problems(
        with_records(
            record(),
            cf={"type": "cloudflare", "token_secret": "has spaces in it", "proxied": "maybe"},
            pd={"type": "powerdns", "url": "ftp://x", "api_key_secret": "k"},
            ns={
                "type": "rfc2136",
                "server": "ns1",
                "key_name": "k",
                "key_secret": "s",
                "key_algorithm": "hmac-sha3",
            },
            bad={"type": "gandi"},
        )
    )
    text = "\n".join(found)
    assert "dns_providers.cf.token_secret: expected the name or ARN of a Secrets Manager" in text
    assert "has spaces in it" not in text  # never echoed: it may be the secret itself
    assert "dns_providers.cf.proxied:" in text
    assert "dns_providers.pd.url: the URL must start with http:// or https://" in text
    assert "dns_providers.ns.server: 'ns1' is not an IP address" in text
    assert "dns_providers.ns.key_algorithm:" in text
    assert "dns_providers.bad:" in text and "gandi" in text


@pytest.mark.parametrize(
    ("rtype", "given", "stored"),
    [
        ("AAAA", ["2001:DB8::1", "2001:db8::2"], ("2001:db8::1", "2001:db8::2")),
        ("CNAME", ["Fra.Example.net"], ("Fra.Example.net.",)),
        ("MX", ["10 mail.example.com", "20 mx2.example.com."], ("10 mail.example.com.",
                                                                 "20 mx2.example.com.")),
        ("TXT", ['v=spf1 "quoted" -all'], ('"v=spf1 \\"quoted\\" -all"',)),
        ("SRV", ["10 5 5060 sip.example.com"], ("10 5 5060 sip.example.com.",)),
    ],
)  # fmt: skip
def test_every_record_type_is_kept_in_presentation_format(
    rtype: str, given: list[str], stored: tuple[str, ...]
) -> None:
    other = {"AAAA": ["2001:db8::9"], "CNAME": ["ams.example.net"], "MX": ["5 other.example"],
             "TXT": ["other"], "SRV": ["1 1 5061 x.example"]}[rtype]  # fmt: skip
    config = parse_config(
        with_records(record(type=rtype, values={"primary": given, "secondary": other}))
    )
    assert config.services[0].dns.records[0].record_set(SiteName.PRIMARY).values == stored


def test_a_long_txt_value_is_split_into_strings_of_255_bytes() -> None:
    text = "x" * 600
    config = parse_config(
        with_records(record(type="TXT", values={"primary": [text], "secondary": ["y"]}))
    )
    (value,) = config.services[0].dns.records[0].values[SiteName.PRIMARY]
    assert value == " ".join(f'"{"x" * n}"' for n in (255, 255, 90))


@pytest.mark.parametrize(
    ("rtype", "value", "expected"),
    [
        ("MX", "mail.example.com", "is not a preference and a host name"),
        ("SRV", "10 5 sip.example.com", "is not priority weight port target"),
        ("AAAA", "192.0.2.1", "is not an IPv6 address"),
        ("TXT", "line\nbreak", "a TXT value contains a control character"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_named(rtype: str, value: str, expected: str) -> None:
    (problem,) = problems(
        with_records(record(type=rtype, values={"primary": [value], "secondary": ["x"]}))
    )
    assert problem.startswith(f"{RECORD}.values: primary[0]: ") and expected in problem


def test_values_equal_as_dns_compares_them_are_the_same() -> None:
    same = record(type="MX", values={"primary": ["10 MAIL.example.com"],
                                     "secondary": ["10 mail.example.com."]})  # fmt: skip
    (problem,) = problems(with_records(same))
    assert "values.primary and values.secondary are the same" in problem


def test_one_record_set_may_live_at_two_providers_but_not_twice_at_one() -> None:
    public = record()
    internal = record(provider="office", zone="example.com")
    parse_config(with_records(public, internal, office=BIND))
    found = problems(with_records(internal, dict(internal), office=BIND))
    assert found == [
        "services[0].dns.records[1]: www.example.com. A in zone example.com is also "
        f"{RECORD}; each switch would overwrite the other's values"
    ]


def test_nameservers_take_an_address_and_an_optional_port() -> None:
    ok = {**BIND, "nameservers": ["192.0.2.53", "192.0.2.54:5353", "[2001:db8::53]:53",
                                  "2001:db8::54"]}  # fmt: skip
    parse_config(with_records(record(provider="office", zone="example.com"), office=ok))
    bad = {**BIND, "nameservers": ["ns1.example.com", "192.0.2.1:99999"]}
    found = problems(with_records(record(provider="office", zone="example.com"), office=bad))
    assert any(p.startswith("dns_providers.office.nameservers[0]:") for p in found)
    assert any("dns_providers.office.nameservers[1]:" in p and "port" in p for p in found)
