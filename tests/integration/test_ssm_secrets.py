"""Secrets in Parameter Store, through the runtime the functions build (``runtime.from_env``)
against moto: the decider's failback gate, the act function's fence and the notify function's
webhook channel all sign with a SecureString's key, read once per warm function; a missing
parameter is a refusal naming the reference, never a value; a parameter ARN is read in its own
region."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from arbiter import runtime
from arbiter.adapters.actions import ActionCall
from arbiter.adapters.hooks import ask_gate
from arbiter.core.config import SiteName, Webhook
from arbiter.core.errors import ProviderRejected
from tests.contract.channel_helpers import degraded
from tests.factories import config_dict
from tests.integration.endpoint import Answer, Endpoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(60),
]
HOME = "eu-west-1"
KEY = b"ssm-signing-key-0123456789abcdef"
REF = "ssm:/arbiter/hooks"
CALL = ActionCall(
    phase="fence",
    service="web",
    transition=7,
    from_site=SiteName.PRIMARY,
    to_site=SiteName.SECONDARY,
    site=SiteName.PRIMARY,
    step="fence:primary",
    reason="primary down in 3 of 3 regions",
)


@pytest.fixture
def site() -> Iterator[Endpoint]:
    with Endpoint(KEY) as endpoint:
        endpoint.answer(Answer(200, {"ok": True, "synced": True, "status": "done"}))
        yield endpoint


@pytest.fixture
def reads(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every GetParameter the runtime's clients send: (region, name)."""
    seen: list[tuple[str, str]] = []
    make = runtime._client

    def counted(service: str, region: str | None = None) -> Any:
        client = make(service, region)
        if service == "ssm":
            where = client.meta.region_name
            client.meta.events.register(
                "provide-client-params.ssm.GetParameter",
                lambda params, **_: seen.append((where, params["Name"])),
            )
        return client

    monkeypatch.setattr(runtime, "_client", counted)
    return seen


def deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any]) -> None:
    """What the stack gives each function: the config file and the table's region."""
    config_file = tmp_path / "arbiter_config.json"
    config_file.write_text(json.dumps(data), encoding="utf-8")
    for key, value in {
        "ARBITER_CONFIG_FILE": str(config_file),
        "ARBITER_TABLE": "arbiter-table",
        "ARBITER_TABLE_REGION": HOME,
    }.items():
        monkeypatch.setenv(key, value)


def signed_everywhere(url: str, secret: str) -> dict[str, Any]:
    data = config_dict()
    service = data["services"][0]
    service["failback"]["gate"] = {"url": url, "secret": secret, "timeout": 5}
    service["primary"]["fence"] = {"type": "webhook", "url": url, "secret": secret}
    data["notifications"]["channels"] = [
        {"type": "webhook", "name": "hook", "url": url, "secret": secret}
    ]
    return data


def test_gate_fence_and_channel_sign_with_the_parameter_read_once(
    site: Endpoint,
    reads: list[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    boto3.client("ssm", region_name=HOME).put_parameter(
        Name="/arbiter/hooks", Value=KEY.decode(), Type="SecureString"
    )
    deploy(tmp_path, monkeypatch, signed_everywhere(site.url, REF))
    rt = runtime.from_env()
    assert reads == []  # no client, no read before the first call that needs the key

    gate = rt.config.services[0].failback.gate
    assert gate is not None
    assert ask_gate(rt.hooks, gate, "web") == (True, "synced")
    fence = rt.config.services[0].primary.fence
    assert fence is not None
    done = rt.action_runner().run(fence, CALL, 10, time.monotonic() + 30)
    assert done.detail
    sent = rt.alert_channels()["hook"].send(degraded())
    assert sent.detail == "HTTP 200" and not sent.skipped

    assert len(site.requests) == 3 and all(r.signed for r in site.requests)
    assert reads == [(HOME, "/arbiter/hooks")]  # one read for the three, cached
    assert not any(KEY in r.body or KEY.decode() in json.dumps(r.headers) for r in site.requests)


def test_a_missing_parameter_is_refused_naming_it(
    site: Endpoint, reads: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(tmp_path, monkeypatch, signed_everywhere(site.url, "ssm:/arbiter/missing"))
    rt = runtime.from_env()
    gate = rt.config.services[0].failback.gate
    assert gate is not None
    is_open, why = ask_gate(rt.hooks, gate, "web")
    assert not is_open
    assert "ssm:/arbiter/missing" in why and "ParameterNotFound" in why
    fence = rt.config.services[0].primary.fence
    assert fence is not None
    with pytest.raises(ProviderRejected, match=r"secret ssm:/arbiter/missing: .*ParameterNotFound"):
        rt.action_runner().run(fence, CALL, 10, time.monotonic() + 30)
    assert site.requests == []  # nothing is sent unsigned
    # A refusal is not cached: the key put in place later is read on the next call.
    boto3.client("ssm", region_name=HOME).put_parameter(
        Name="/arbiter/missing", Value=KEY.decode(), Type="SecureString"
    )
    assert ask_gate(rt.hooks, gate, "web")[0] is True
    assert reads == [(HOME, "/arbiter/missing")] * 3


def test_a_parameter_arn_is_read_in_its_region_and_a_plain_string_is_refused(
    site: Endpoint, reads: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/arbiter/hooks", Value=KEY.decode(), Type="SecureString"
    )
    boto3.client("ssm", region_name=HOME).put_parameter(
        Name="/arbiter/plain", Value="not-encrypted-value", Type="String"
    )
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/arbiter/hooks"
    deploy(tmp_path, monkeypatch, signed_everywhere(site.url, f"ssm:{arn}"))
    rt = runtime.from_env()
    gate = rt.config.services[0].failback.gate
    assert gate is not None
    assert ask_gate(rt.hooks, gate, "web")[0] is True
    assert site.requests[0].signed
    assert reads == [("us-east-1", arn)]

    plain = Webhook(url=site.url, secret="ssm:/arbiter/plain", timeout=5)
    is_open, why = ask_gate(rt.hooks, plain, "web")
    assert not is_open and "is a String, not a SecureString" in why
    assert "not-encrypted-value" not in why
