from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.core.config import SiteName, load_config, load_config_text, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import config_dict

ROOT = Path(__file__).resolve().parents[2]


def problems_of(data: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_example_config_is_valid_and_quiet() -> None:
    config = load_config(str(ROOT / "arbiter.example.yaml"))
    assert config.quorum == 2
    assert config.stale_after == 180.0
    assert config.services[0].primary.checks[0].type == "http"
    assert config.warnings() == []


def test_durations_accept_units() -> None:
    data = config_dict(probe={"interval": "30s", "retention": "2h"})
    data["services"][0]["failback"]["hold"] = "5m"
    config = parse_config(data)
    assert config.probe.interval == 30.0
    assert config.probe.retention == 7200.0
    assert config.services[0].failback.hold == 300.0


def test_quorum_defaults_to_strict_majority() -> None:
    five = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"]
    assert parse_config(config_dict(probe_regions=five)).quorum == 3
    assert parse_config(config_dict()).quorum == 2


def test_unknown_keys_are_named_with_their_path() -> None:
    data = config_dict(bogus=1)
    data["services"][0]["primary"]["checks"][0]["expect_stauts"] = [200]
    assert problems_of(data) == [
        "services[0].primary.checks[0].expect_stauts: unknown key",
        "bogus: unknown key",
    ]


def test_wrong_types_name_field_and_reason() -> None:
    data = config_dict()
    data["services"][0]["secondary"]["checks"][0]["timeout"] = "soon"
    data["decision"]["fall"] = "three"
    found = problems_of(data)
    assert any(p.startswith("decision.fall: Input should be a valid integer") for p in found)
    assert any(
        p.startswith("services[0].secondary.checks[0].timeout: 'soon' is not a duration")
        for p in found
    )


def test_quorum_larger_than_regions() -> None:
    data = config_dict(decision={"quorum": 4})
    assert problems_of(data) == ["decision.quorum: 4 is more than the number of probe_regions (3)"]


def test_site_without_checks() -> None:
    data = config_dict()
    data["services"][0]["primary"]["checks"] = []
    (problem,) = problems_of(data)
    assert problem.startswith("services[0].primary.checks: List should have at least 1 item")


def test_record_without_value_for_a_site() -> None:
    data = config_dict()
    del data["services"][0]["dns"]["records"][0]["values"]["secondary"]
    assert problems_of(data) == [
        "services[0].dns.records[0]: no value for the secondary site (values.secondary)"
    ]


def test_record_value_must_fit_type() -> None:
    data = config_dict()
    data["services"][0]["dns"]["records"][0]["values"]["primary"] = ["not-an-ip"]
    (problem,) = problems_of(data)
    assert problem.startswith(
        "services[0].dns.records[0].values: primary[0]: 'not-an-ip' is not an IPv4 address"
    )


def test_every_error_is_reported_not_just_the_first() -> None:
    data = config_dict(probe_regions=["eu-west-1"], decision={"fall": 0})
    data["services"][0]["primary"]["checks"][0]["port"] = 1
    found = problems_of(data)
    assert len(found) == 3


def test_not_yaml() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("services: [\n  - name: web\n  bad", "x.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("not valid YAML: line ")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text("- a\n- b\n", "x.yaml")
    assert caught.value.problems == ["(top level): expected a mapping of keys to values"]


def test_interval_must_fit_the_schedule() -> None:
    (problem,) = problems_of(config_dict(probe={"interval": 45}))
    assert problem.startswith("probe.interval: below 60 s the interval must divide 60")
    (problem,) = problems_of(config_dict(probe={"interval": 90}))
    assert "whole number of minutes" in problem


def test_duplicates_are_rejected() -> None:
    data = config_dict()
    data["services"].append(data["services"][0])
    (problem,) = problems_of(data)
    assert problem == "services: 'web' appears more than once"


def test_head_check_cannot_match_body() -> None:
    data = config_dict()
    data["services"][0]["primary"]["checks"][0].update(method="HEAD", expect_body="OK")
    (problem,) = problems_of(data)
    assert "HEAD check has no body" in problem


def test_high_ttl_is_a_warning_not_an_error() -> None:
    data = config_dict()
    data["services"][0]["dns"]["records"][0]["ttl"] = 3600
    config = parse_config(data)
    (warning,) = config.warnings()
    assert warning.startswith("services[0].dns.records[0].ttl: 3600 s is above 300 s")


def test_minority_quorum_warns() -> None:
    five = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"]
    config = parse_config(config_dict(probe_regions=five, decision={"quorum": 2}))
    assert any("not a majority" in w for w in config.warnings())


def test_tls_verification_is_on_unless_turned_off() -> None:
    config = parse_config(config_dict())
    assert config.services[0].primary.checks[0].verify_tls is True


def test_site_name_other() -> None:
    assert SiteName.PRIMARY.other is SiteName.SECONDARY
    assert SiteName.SECONDARY.other is SiteName.PRIMARY


def test_credential_in_a_check_header_warns() -> None:
    data = config_dict()
    data["services"][0]["primary"]["checks"][0]["headers"] = {
        "Authorization": "Bearer abc",
        "Accept": "text/plain",
    }
    (warning,) = parse_config(data).warnings()
    assert warning.startswith("services[0].primary.checks[0].headers.Authorization: looks like")
    assert "Bearer abc" not in warning
