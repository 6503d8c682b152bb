"""``arbiter notify-test``: from this machine (``--here``) against a Slack stand-in and a
PagerDuty stand-in, and through the deployed notify function found by the stack's output."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from arbiter import runtime
from arbiter.adapters.channels.memory import MemoryChannel
from arbiter.handlers import notify
from arbiter.local.cli import main
from arbiter.local.context import LocalContext
from arbiter.local.plan import secret_env_name
from arbiter.local.standins.pagerduty import PagerDutyStandIn
from arbiter.local.standins.slack import SlackStandIn
from tests.factories import config_dict
from tests.fakes import memory_world

PD_KEY = "R0123456789abcdef0123456789abcde"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def channels(pd_url: str) -> list[dict[str, Any]]:
    return [
        {"type": "slack", "name": "chat", "webhook_url_secret": "arbiter/slack"},
        {"type": "pagerduty", "name": "pager", "routing_key_secret": "arbiter/pd",
         "base_url": pd_url},
    ]  # fmt: skip


def write_config(tmp_path: Path, pd_url: str) -> Path:
    data = config_dict()
    data["notifications"]["channels"] = channels(pd_url)
    path = tmp_path / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_here_sends_through_every_channel_and_leaves_no_incident_open(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with SlackStandIn() as slack, PagerDutyStandIn(PD_KEY) as pd:
        path = write_config(tmp_path, pd.url)
        monkeypatch.setenv(secret_env_name("arbiter/slack"), slack.webhook_url)
        monkeypatch.setenv(secret_env_name("arbiter/pd"), PD_KEY)
        code, out, err = run(
            capsys, "notify-test", "--here", "--config", str(path), "--operator", "alice"
        )
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0].startswith("chat (slack)") and " ok " in lines[0]
        assert lines[1].startswith("pager (pagerduty)") and " ok " in lines[1]
        assert lines[-1] == "2 of 2 took the test alert"
        assert len(slack.posts) == 1 and "alice" in json.dumps(slack.posts[0])
        assert pd.open_incidents() == {}  # triggered, then resolved


def test_here_reports_a_failing_channel_and_exits_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with SlackStandIn() as slack, PagerDutyStandIn(PD_KEY) as pd:
        path = write_config(tmp_path, pd.url)
        slack.refuse(5, 410, "channel_is_archived")
        monkeypatch.setenv(secret_env_name("arbiter/slack"), slack.webhook_url)
        monkeypatch.setenv(secret_env_name("arbiter/pd"), PD_KEY)
        code, out, _ = run(capsys, "notify-test", "--here", "--config", str(path), "--json")
        url = slack.webhook_url
    answer = json.loads(out)
    assert code == 1 and answer["ok"] is False
    chat, pager = answer["channels"]
    assert (chat["channel"], chat["ok"]) == ("chat", False)
    assert "channel_is_archived" in chat["detail"]
    assert url not in out and "/services/" not in out  # the webhook URL is a credential
    assert pager["ok"] is True


def test_here_without_channels_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "arbiter.yaml"
    path.write_text(yaml.safe_dump(config_dict()))
    code, out, err = run(capsys, "notify-test", "--here", "--config", str(path))
    assert (code, out) == (2, "")
    assert err == f"error: {path}: notifications.channels is empty: nothing to test\n"


class DeployedNotify:
    """boto3 for the CLI: the stack names the notify function; invoking it runs the real
    handler on a memory runtime with two channels, one of them failing."""

    def __init__(self) -> None:
        data = config_dict()
        data["notifications"]["channels"] = channels("https://events.pagerduty.com")
        self.world = memory_world(data)
        broken = MemoryChannel("pager", "pagerduty")
        broken.fail(5)
        self.chat = MemoryChannel("chat", "slack")
        self.world.rt.channels = {"chat": self.chat, "pager": broken}
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, service: str, **kwargs: Any) -> DeployedNotify:
        return self

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        outputs = [
            {"OutputKey": "OverrideFunctionName", "OutputValue": "arbiter-override"},
            {"OutputKey": "NotifyFunctionName", "OutputValue": "arbiter-notify"},
        ]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        payload = json.loads(Payload)
        self.sent.append((FunctionName, payload))
        runtime.install(self.world.rt)
        # The function's own log lines (and any metrics buffered by earlier tests) go to its
        # log, not to the operator's terminal.
        logs = io.StringIO()
        try:
            with contextlib.redirect_stdout(logs):
                answer = notify.handler(payload, LocalContext())
        finally:
            runtime.install(None)
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


def test_deployed_test_finds_the_notify_function_and_reports_each_channel_and_email(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = DeployedNotify()
    monkeypatch.setattr(boto3, "client", fake)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.delenv("ARBITER_CONFIG", raising=False)
    code, out, err = run(capsys, "notify-test", "--operator", "bob")
    assert fake.sent == [("arbiter-notify", {"notify_test": {"operator": "bob"}})]
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0].startswith("chat (slack)") and " ok " in lines[0]
    assert lines[1].startswith("pager (pagerduty)") and "FAILED" in lines[1]
    assert lines[2].startswith("email (sns)") and " ok " in lines[2]
    assert lines[-1] == "2 of 3 took the test alert"
    assert len(fake.chat.sent) == 1 and "bob" in fake.chat.sent[0].body
    [published] = fake.world.notifier.take()
    assert "bob" in published.message


def test_here_and_function_do_not_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "notify-test", "--here", "--function", "x")
    assert (code, out) == (2, "")
    assert err == "error: --function goes with the deployed test, not with --here\n"
