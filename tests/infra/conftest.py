"""Fixtures of the infra tests: the example app is built once per session."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from tests.infra.helpers import EXAMPLE, build_templates, example_data


@pytest.fixture(scope="session")
def example() -> dict[str, Template]:
    """Stack name -> template of the app built from arbiter.example.yaml."""
    return build_templates(EXAMPLE)


@pytest.fixture(scope="session")
def dashboarded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """The example with ``monitoring.dashboard: true`` (the dashboard is off by default)."""
    data = example_data()
    data["monitoring"] = {"dashboard": True}
    tmp = tmp_path_factory.mktemp("dashboard")
    path = tmp / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return build_templates(path, asset_dir=tmp / "asset")


@pytest.fixture(scope="session")
def five_minutes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """A richer config: 5 min interval, two emails, two services sharing one of their zones."""
    data = example_data()
    data["probe"]["interval"] = "5m"
    data["notifications"]["emails"] = ["oncall@example.com", "noc@example.org"]
    api = copy.deepcopy(data["services"][0])
    api["name"] = "api"
    api["dns"]["records"][0]["zone"] = "ZSECONDZONE"
    api["dns"]["records"][0]["name"] = "api.example.org"
    api["dns"]["records"][1]["name"] = "sip-api.example.com"  # same zone, its own record
    data["services"].append(api)
    tmp = tmp_path_factory.mktemp("five-minutes")
    path = tmp / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return build_templates(path, asset_dir=tmp / "asset")


@pytest.fixture(scope="session")
def ten_seconds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """The example at a 10 s interval: each probe region gets the ticker and the rounds queue."""
    data = example_data()
    data["probe"]["interval"] = "10s"
    tmp = tmp_path_factory.mktemp("ten-seconds")
    path = tmp / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return build_templates(path, asset_dir=tmp / "asset")


@pytest.fixture
def build_variant(tmp_path: Path) -> Callable[[dict[str, Any]], dict[str, Template]]:
    """Write a config to a temp file and build the app from it (asset staged under tmp)."""

    def build(data: dict[str, Any]) -> dict[str, Template]:
        path = tmp_path / "arbiter.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return build_templates(path, asset_dir=tmp_path / "asset")

    return build
