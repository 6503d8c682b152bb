"""``arbiter cost`` counts what the stacks create: the alarms, the one dashboard, the functions'
memory (``local/cost.py`` prices them from the config; these tests hold the counts to the
synthesized templates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from arbiter.core.config import parse_config
from arbiter.local import cost
from tests.infra.helpers import example_data

pytestmark = pytest.mark.infra

CONTROL = "arbiter-control"
CHANNELS = [
    {"type": "slack", "name": "slack-oncall", "webhook_url_secret": "arbiter/slack-url"},
    {"type": "pagerduty", "name": "pd", "routing_key_secret": "arbiter/pd-key"},
]


def _memory(template: Template) -> dict[str, int]:
    return {
        f["Properties"]["Handler"].split(".")[2]: f["Properties"]["MemorySize"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("arbiter.handlers.")
    }


def test_alarms_dashboard_and_memory_of_the_example(example: dict[str, Template]) -> None:
    config = parse_config(example_data())
    control = example[CONTROL]
    assert len(control.find_resources("AWS::CloudWatch::Alarm")) == cost.alarms(config) == 6
    # off by default, as the model prices it
    assert len(control.find_resources("AWS::CloudWatch::Dashboard")) == 0
    assert not cost.estimate(config).assumptions.dashboard
    for role, mb in _memory(control).items():
        assert cost.MEMORY_MB[role] == mb, role


def test_alarms_with_channels(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    data = example_data()
    data["notifications"]["channels"] = CHANNELS
    data["probe_regions"] = [*data["probe_regions"], "us-west-2"]
    templates = build_variant(data)
    alarms = templates[CONTROL].find_resources("AWS::CloudWatch::Alarm")
    # one ChannelFailures-<channel> per channel; one RegionSilent for all probe regions
    assert len(alarms) == cost.alarms(parse_config(data)) == 6 + 2
