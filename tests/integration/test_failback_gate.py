"""The failback gate: a signed webhook on loopback, its key in (moto) Secrets Manager."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from arbiter.adapters.hooks import SecretsManagerKeys, WebhookClient, ask_gate
from arbiter.core.config import SiteName, Webhook
from arbiter.services.decider import decide_service
from tests.factories import at, config_dict, round_of
from tests.integration.world import World, make_world

pytestmark = pytest.mark.integration
KEY = "s3cr3t-signing-key"


class GateServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), GateHandler)
        self.answer: tuple[int, Any] = (200, {"synced": True})
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/gate"


class GateHandler(BaseHTTPRequestHandler):
    server: GateServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        timestamp = self.headers.get("X-Arbiter-Timestamp", "")
        expected = (
            "sha256="
            + hmac.new(KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        valid = hmac.compare_digest(expected, self.headers.get("X-Arbiter-Signature", ""))
        fresh = abs(time.time() - int(timestamp or 0)) < 300
        self.server.seen.append({"body": json.loads(body), "valid": valid and fresh})
        status, answer = self.server.answer if valid and fresh else (401, {"error": "bad sig"})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gate() -> Iterator[GateServer]:
    server = GateServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def world(aws: None, gate: GateServer) -> World:
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="arbiter/gate", SecretString=KEY
    )
    data = config_dict()
    data["services"][0]["failback"] = {
        "policy": "automatic",
        "hold": 60,
        "gate": {"url": gate.url, "secret": "arbiter/gate", "timeout": 2},
    }
    world = make_world(data)
    world.rt.hooks = WebhookClient(
        SecretsManagerKeys(lambda: boto3.client("secretsmanager", region_name="eu-west-1"))
    )
    return world


def run_rounds(world: World, first: int, last: int, **kw: Any) -> list[Any]:
    passes = []
    for n in range(first, last):
        for obs in round_of(n, **kw):
            world.store.put_observation(obs, obs.round_at)
        passes.append(decide_service(world.rt, "web", at(n)))
    return passes


def test_failback_waits_for_the_gate(world: World, gate: GateServer) -> None:
    run_rounds(world, 0, 3)
    run_rounds(world, 3, 5, primary=False)
    assert world.store.load_state("web").active is SiteName.SECONDARY
    assert gate.seen == []  # the gate is only asked when a failback is due

    gate.answer = (200, {"synced": False, "reason": "replication lag 42 s"})
    passes = run_rounds(world, 5, 10)
    assert all(p.outcome.transition is None for p in passes)
    assert len(gate.seen) >= 2 and all(s["valid"] for s in gate.seen)
    assert gate.seen[0]["body"] == {"event": "failback_gate", "service": "web", "to": "primary"}
    kinds = [e.kind for e in world.store.recent_events("web", 100)]
    assert kinds.count("awaiting_sync") == 1

    gate.answer = (200, {"synced": True})
    (decided,) = run_rounds(world, 10, 11)
    assert decided.outcome.transition is not None
    assert decided.outcome.transition.to_site is SiteName.PRIMARY
    assert "gate says data is synced back" in decided.outcome.transition.reason


def test_gate_errors_count_as_closed(world: World, gate: GateServer) -> None:
    client = world.rt.hooks
    hook = world.config.services[0].failback.gate
    assert hook is not None
    gate.answer = (503, {"error": "busy"})
    assert ask_gate(client, hook, "web") == (False, "hook answered 503")
    gate.answer = (200, ["not", "an", "object"])
    assert ask_gate(client, hook, "web") == (False, "hook answered with JSON that is not an object")
    wrong_key = Webhook(url=hook.url, secret="arbiter/missing", timeout=2)
    is_open, why = ask_gate(client, wrong_key, "web")
    assert not is_open and "ResourceNotFoundException" in why
    unsigned = Webhook(url=hook.url, timeout=2)
    assert ask_gate(client, unsigned, "web") == (False, "hook answered 401")
    assert KEY not in why
