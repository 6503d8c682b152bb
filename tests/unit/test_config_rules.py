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
