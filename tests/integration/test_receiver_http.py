"""The reference receiver as a process on 127.0.0.1: its HTTP rules, its command line, TLS,
and Arbiter's own webhook runner talking to it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from arbiter import receiver as receiver_module
from arbiter.adapters.actions import ActionCall, ActionRefused
from arbiter.adapters.actions.webhook import WebhookActions
from arbiter.core.config import SiteName, WebhookFence
from tests.integration.receiver_proc import ReceiverProcess
from tests.integration.servers import self_signed_cert

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(120),
]
KEY = b"receiver-http-key-0123456789"
CALL = ActionCall(
    phase="fence",
    service="web",
    transition=7,
    from_site=SiteName.PRIMARY,
    to_site=SiteName.SECONDARY,
    site=SiteName.PRIMARY,
    step="fence:primary",
)


def script(directory: Path, name: str, body: str) -> str:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return f"./{name}"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    fence = script(tmp_path, "fence.sh", 'echo "stopped on $ARBITER_SITE"\n')
    with ReceiverProcess(tmp_path, {"fence": {"argv": [fence]}}, KEY) as proc:
        yield proc


def signed(
    body: bytes, key: bytes = KEY, idempotency: str = "web/7/fence:primary"
) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Arbiter-Timestamp": stamp,
        "X-Arbiter-Signature": f"sha256={mac}",
        "X-Arbiter-Idempotency-Key": idempotency,
        "Content-Type": "application/json",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=10)


def test_a_signed_call_is_run_and_a_replay_refused(receiver: ReceiverProcess) -> None:
    body = json.dumps(CALL.payload()).encode()
    headers = signed(body)
    answer = post(receiver.url + "/arbiter/fence", body, headers)
    assert answer.status_code == 200
    assert answer.json() == {**answer.json(), "ok": True, "status": "done"}
    assert answer.json()["detail"] == "stopped on primary"
    replay = post(receiver.url, body, headers)
    assert (replay.status_code, replay.json()) == (
        401,
        {"ok": False, "error": "replayed signature"},
    )
    log = receiver.log.read_text()
    assert "refused a call from 127.0.0.1: replayed signature" in log
    assert KEY.decode() not in log


def test_an_unsigned_call_is_refused_401(receiver: ReceiverProcess) -> None:
    answer = post(receiver.url, b"{}", {"Content-Type": "application/json"})
    assert answer.status_code == 401 and "missing" in answer.json()["error"]


def test_a_large_body_is_refused_413_without_being_read(receiver: ReceiverProcess) -> None:
    host, port = receiver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n{"
        )
        reply = b""
        for _ in range(100):  # until the receiver closes (it does not read the body)
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 413 ")
    assert b"larger than 64 KiB" in reply


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_only_post_is_served(receiver: ReceiverProcess, method: str) -> None:
    answer = requests.request(method, receiver.url, timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


def test_a_missing_length_is_refused_411(receiver: ReceiverProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"{}"

    answer = requests.post(receiver.url, data=chunks(), timeout=10)
    assert answer.status_code == 411


def test_sigterm_stops_it_and_kills_a_running_script(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    slow = script(tmp_path, "slow.sh", f'sleep 2\necho late > "{marker}"\n')
    proc = ReceiverProcess(tmp_path, {"fence": {"argv": [slow], "sync_wait": 0}}, KEY).start()
    body = json.dumps(CALL.payload()).encode()
    assert post(proc.url, body, signed(body)).json()["status"] == "pending"
    assert proc.stop() == 0
    time.sleep(2.5)  # past the script's own sleep: it would have written by now
    assert not marker.exists()
    assert "stopped" in proc.log.read_text()


def test_check_validates_the_config(tmp_path: Path) -> None:
    proc = ReceiverProcess(tmp_path, {"fence": {"argv": ["./fence.sh"]}}, KEY)
    ok = subprocess.run(proc.command("--check"), capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "OK (phases: fence)" in ok.stdout
    proc.config.write_text(json.dumps({"key_file": "key", "state_dir": "s", "phases": {}}))
    bad = subprocess.run(proc.command("--check"), capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "phases: must be an object" in bad.stderr


def test_it_runs_as_a_module_too(tmp_path: Path) -> None:
    proc = ReceiverProcess(tmp_path, {"fence": {"argv": ["./fence.sh"]}}, KEY)
    run = subprocess.run(
        [sys.executable, "-m", "arbiter.receiver", "--config", str(proc.config), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr


def fence_action(url: str, **fields: Any) -> WebhookFence:
    return WebhookFence.model_validate(
        {"type": "webhook", "url": url, "secret": "k", "timeout": 20, **fields}
    )


def test_arbiters_runner_polls_the_receiver_until_the_script_ends(tmp_path: Path) -> None:
    slow = script(tmp_path, "fence.sh", "sleep 1\necho stopped after a second\n")
    with ReceiverProcess(tmp_path, {"fence": {"argv": [slow], "sync_wait": 0.2}}, KEY) as proc:
        runner = WebhookActions(lambda _: KEY, poll=0.2)
        done = runner.run(fence_action(proc.url), CALL, 20, time.monotonic() + 60)
        again = runner.run(fence_action(proc.url), CALL, 20, time.monotonic() + 60)
    assert done.detail == again.detail == "stopped after a second"
    log = proc.log.read_text()
    assert log.count("fence web/7/fence:primary from 127.0.0.1: pending") >= 1
    assert log.count("fence web/7/fence:primary: done") == 1  # one run for every call


def test_a_failing_script_is_refused_with_its_last_stderr_line(tmp_path: Path) -> None:
    said = "echo trying\necho 'app.service: 3 sessions left' >&2\nexit 3\n"
    bad = script(tmp_path, "fence.sh", said)
    with ReceiverProcess(tmp_path, {"fence": {"argv": [bad]}}, KEY) as proc:
        runner = WebhookActions(lambda _: KEY, poll=0.2)
        with pytest.raises(ActionRefused) as caught:
            runner.run(fence_action(proc.url), CALL, 20, time.monotonic() + 60)
    assert str(caught.value).endswith("answered failed: app.service: 3 sessions left (exit 3)")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls(tmp_path: Path) -> None:
    made = self_signed_cert(tmp_path)
    if made is None:
        pytest.skip("openssl is not installed")
    cert, key = made
    fence = script(tmp_path, "fence.sh", "echo stopped over TLS\n")
    tls = {"cert": str(cert), "key": str(key)}
    with ReceiverProcess(tmp_path, {"fence": {"argv": [fence]}}, KEY, tls=tls) as proc:
        assert proc.url.startswith("https://")
        runner = WebhookActions(lambda _: KEY, poll=0.2)
        done = runner.run(fence_action(proc.url, verify_tls=False), CALL, 20, time.monotonic() + 60)
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(proc.url, data=b"{}", timeout=10)  # not trusted: verified by default
    assert done.detail == "stopped over TLS"


def closed(conn: socket.socket) -> bool:
    """The peer has closed (or reset) the connection; nothing is read."""
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def test_a_client_that_drips_its_request_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte comes well inside the socket timeout; the request as a whole does not."""
    monkeypatch.setattr(receiver_module, "REQUEST_TIMEOUT", 0.5)
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "key").chmod(0o600)
    settings = receiver_module.parse_settings(
        {"port": 0, "key_file": "key", "state_dir": "s", "phases": {"fence": {"argv": ["x"]}}},
        tmp_path,
    )
    server = receiver_module.Server(receiver_module.Receiver(settings))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    request = b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200  # 23 s if all dripped
    sent = 0
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as conn:
            for byte in request:
                if closed(conn):
                    break
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert sent < len(request) // 2  # cut long before the whole request was dripped
