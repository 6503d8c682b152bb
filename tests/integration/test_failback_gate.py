"""The failback gate: a signed webhook on loopback, its key in (moto) Secrets Manager."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from arbiter.adapters.hooks import ANSWER_LIMIT, SecretsManagerKeys, WebhookClient, ask_gate
from arbiter.core.config import SiteName, Webhook
from arbiter.services.decider import decide_service
from tests.factories import at, config_dict, round_of
from tests.integration.servers import DripSite, byte_by_byte
from tests.integration.world import World, make_world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(60),
]
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
    assert KEY not in why


# --- A gate that drips or floods its answer ------------------------------------------------

GATE_TIMEOUT = 1.0
MARGIN = 0.5
"""Seconds past its timeout within which a gate that does not answer must be given up."""
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def headers_dripped(request: bytes) -> tuple[bytes, Iterator[bytes]]:
    return b"", byte_by_byte(OK_HEAD + b"X-Pad: " + b"a" * 4000 + b"\r\n\r\n{}")


def yes_dripped(request: bytes) -> tuple[bytes, Iterator[bytes]]:
    """A yes that would arrive after about 2 s."""
    yes = b'{"synced": true, "detail": "' + b"." * 20 + b'"}'
    return OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(yes), byte_by_byte(yes)


FLOOD = b"x" * 65536
FLOOD_PIECES = 300_000_000 // len(FLOOD)


def flood_declared(request: bytes) -> tuple[bytes, Iterator[bytes]]:
    """An answer that says it is 300 MB long, then sends as fast as it can."""
    head = OK_HEAD + b"Content-Length: %d\r\n\r\n" % (len(FLOOD) * FLOOD_PIECES)
    return head, itertools.repeat(FLOOD, FLOOD_PIECES)


def flood_undeclared(request: bytes) -> tuple[bytes, Iterator[bytes]]:
    """300 MB with no length: the body ends when the server closes."""
    return OK_HEAD + b"Connection: close\r\n\r\n", itertools.repeat(FLOOD, FLOOD_PIECES)


def ask(url: str) -> tuple[tuple[bool, str], float]:
    # model_construct: the config refuses credentials in a URL; the client must not leak one
    hook = Webhook.model_construct(url=url, timeout=GATE_TIMEOUT, secret=None, verify_tls=True)
    start = time.perf_counter()
    answer = ask_gate(WebhookClient(None), hook, "web")
    return answer, time.perf_counter() - start


def test_a_gate_that_drips_its_headers_is_given_up_at_its_timeout() -> None:
    with DripSite(headers_dripped) as tarpit:
        url = f"http://user:s3cret@127.0.0.1:{tarpit.port}/gate?token=s3cret"
        (is_open, why), took = ask(url)
    assert (is_open, why) == (False, "hook timed out after 1.0 s")
    assert took < GATE_TIMEOUT + MARGIN
    assert "s3cret" not in why


def test_a_yes_that_comes_too_late_is_a_no() -> None:
    with DripSite(yes_dripped) as tarpit:
        (is_open, why), took = ask(f"{tarpit.url}/gate")
    assert (is_open, why) == (False, "hook timed out after 1.0 s")
    assert took < GATE_TIMEOUT + MARGIN


@pytest.mark.parametrize("answer", [flood_declared, flood_undeclared])
def test_a_gate_answer_larger_than_64_kib_is_refused_without_reading_it(
    answer: Callable[[bytes], tuple[bytes, Iterator[bytes]]],
) -> None:
    with DripSite(answer, interval=0) as flood:
        tracemalloc.start()
        try:
            (is_open, why), took = ask(f"{flood.url}/gate")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        time.sleep(0.2)  # the server notices the hang-up
        sent = flood.sent
    assert (is_open, why) == (False, "hook answered more than 64 KiB")
    assert took < GATE_TIMEOUT
    # The kernel's socket buffers take some megabytes; the client read no more than the cap.
    assert sent < 64 * 2**20
    assert peak < ANSWER_LIMIT * 8, f"traced peak {peak} bytes"
