"""One slow failback gate never delays another service's decision (issue 6, item 14)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from arbiter.adapters.hooks import WebhookClient
from arbiter.core.config import SiteName
from arbiter.core.model import Health, ServiceState, SiteVerdict
from arbiter.handlers import decide
from arbiter.local.context import LocalContext
from tests.factories import REGIONS, at, config_dict, obs
from tests.integration.world import World, make_world

pytestmark = pytest.mark.integration


class _Gate(BaseHTTPRequestHandler):
    """Answers "synced" only once the other service has been decided (waits up to 5 s)."""

    server: _GateServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        synced = self.server.other_decided.wait(5)
        body = json.dumps({"synced": synced}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up at its timeout

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Keys:
    """The gate's signing key (this gate does not check it)."""

    def get(self, name: str) -> bytes:
        return b"gate-key"


class _GateServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.other_decided = threading.Event()
        super().__init__(("127.0.0.1", 0), _Gate)


@pytest.fixture
def gate() -> Iterator[_GateServer]:
    server = _GateServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def two_services(gate_url: str) -> dict[str, Any]:
    data = config_dict()
    web = data["services"][0]
    web["failback"] = {
        "policy": "automatic",
        "hold": 0,
        "gate": {"url": gate_url, "secret": "arbiter/gate", "timeout": 2},
    }
    api = json.loads(json.dumps(web))
    api["name"] = "api"
    api.pop("failback")
    api["dns"]["records"][0]["name"] = "api.example.com"
    data["services"] = [web, api]
    return data


def test_a_slow_gate_never_delays_another_services_decision(aws: None, gate: _GateServer) -> None:
    world: World = make_world(two_services(f"http://127.0.0.1:{gate.server_address[1]}/gate"))
    world.rt.hooks = WebhookClient(_Keys())  # type: ignore[arg-type]
    # web runs on the secondary; its primary has been UP for an hour: a failback is due.
    up = SiteVerdict(health=Health.UP, since=at(-60))
    web = ServiceState(
        service="web",
        version=1,
        active=SiteName.SECONDARY,
        verdicts={SiteName.PRIMARY: up, SiteName.SECONDARY: up},
    )
    world.store.save_state(web, 0, [])
    save = world.store.save_state

    def noting_save(state: ServiceState, *args: Any) -> None:
        save(state, *args)
        if state.service == "api":
            gate.other_decided.set()

    world.store.save_state = noting_save  # type: ignore[method-assign]
    for n in range(3):
        for service in ("web", "api"):
            for region in REGIONS:
                o = obs(region, at(n), service=service)
                world.store.put_observation(o, o.round_at + timedelta(days=1))
    world.clock.now = at(2)

    result = decide.handler(
        {
            "version": "0",
            "id": "schedule",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-01-01T12:02:00Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/arbiter-decide"],
            "detail": {},
        },
        LocalContext(),
    )
    # Decided one after the other, web's gate would still be waiting when its 2 s ran out.
    assert gate.other_decided.is_set()
    assert result["web"]["transition"] is not None
    assert world.store.load_state("web").active is SiteName.PRIMARY
