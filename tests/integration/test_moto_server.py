"""The functions as Lambda builds them: configured only by environment variables
(``runtime.from_env``), talking HTTP to a moto server on 127.0.0.1 through the standard
``AWS_ENDPOINT_URL``, probing a real site on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from arbiter import runtime
from arbiter.handlers import act, decide, override, probe
from arbiter.local import aws
from arbiter.local.context import LocalContext
from tests.factories import config_dict
from tests.integration.servers import HttpSite

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()
        runtime.install(None)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_handlers_from_environment_against_moto_server(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.create_table(boto3.client("dynamodb", region_name="eu-west-1"), "arbiter-table")
    topic, inbox = aws.create_topic_with_inbox(
        boto3.client("sns", region_name="eu-west-1"),
        boto3.client("sqs", region_name="eu-west-1"),
        "arbiter-alerts",
    )
    zone = aws.create_zone(boto3.client("route53", region_name="us-east-1"), "example.com")
    with HttpSite() as site:
        data = config_dict()
        for name in ("primary", "secondary"):
            data["services"][0][name]["checks"] = [
                {"type": "http", "name": "health", "url": site.url_for("/"), "expect_body": "OK"}
            ]
        data["services"][0]["dns"]["records"][0]["zone"] = zone
        data["dns_providers"] = {"route53": {"type": "route53", "verify": False}}
        config_file = tmp_path / "arbiter_config.json"
        config_file.write_text(json.dumps(data))
        for key, value in {
            "ARBITER_CONFIG_FILE": str(config_file),
            "ARBITER_TABLE": "arbiter-table",
            "ARBITER_TABLE_REGION": "eu-west-1",
            "ARBITER_TOPIC_ARN": topic,
            "ARBITER_ACT_FUNCTION": "arbiter-act",
        }.items():
            monkeypatch.setenv(key, value)

        for region in ("eu-west-1", "eu-central-1", "us-east-1"):
            for _ in range(2):
                monkeypatch.setenv("ARBITER_REGION_LABEL", region)
                runtime.install(None)  # a cold start in that region
                assert probe.handler(sample("probe-schedule.json"), LocalContext())["rounds"] == 1

    monkeypatch.delenv("ARBITER_REGION_LABEL")
    runtime.install(None)
    result = decide.handler(sample("decide-schedule.json"), LocalContext())
    assert result["web"]["status"] == "ACTIVE_PRIMARY"
    assert result["web"]["transition"] is None

    status = override.handler(sample("override-status.json"), LocalContext())
    assert status["state"]["sites"] == {"primary": "UP", "secondary": "UP"}
    assert sorted(status["state"]["regions"]) == ["eu-central-1", "eu-west-1", "us-east-1"]

    paused = override.handler(sample("override-pause.json"), LocalContext())
    assert paused["ok"] and paused["state"]["status"] == "PAUSED"
    (alert,) = aws.read_inbox(boto3.client("sqs", region_name="eu-west-1"), inbox)
    assert alert["subject"] == "[arbiter] web: paused by alice"
    assert "paused by alice" in alert["message"]
    assert alert["key"].startswith("web/v")  # the dedupe key travels as a message attribute

    nothing = act.handler({"service": "web", "transition": 99}, LocalContext())
    assert nothing["outcome"] == "nothing to do"


def test_missing_setting_is_named(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBITER_CONFIG_FILE", raising=False)
    runtime.install(None)
    with pytest.raises(runtime.MissingSetting, match="ARBITER_CONFIG_FILE is not set"):
        runtime.current()
