"""The reference receiver's core (``Receiver.handle``), run with real shell scripts and a fake
wall clock; no sockets (the HTTP server is tested in tests/integration/test_receiver_http.py).

Each script appends ``<phase> <idempotency key>`` to ``runs.log``, so a test can count runs."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter import receiver as module
from arbiter.receiver import ConfigError, Receiver, Settings, parse_settings

KEY = b"receiver-signing-key-0123456789"
FENCE = {
    "event": "fence",
    "phase": "fence",
    "service": "web",
    "transition": 12,
    "from": "primary",
    "to": "secondary",
    "site": "primary",
    "step": "fence:primary",
    "dry_run": False,
    "idempotency_key": "web/12/fence:primary",
    "reason": "primary down",
}
LOG_RUN = 'echo "$ARBITER_PHASE $ARBITER_IDEMPOTENCY_KEY" >> "{runs}"\n'


class Rig:
    """Scripts in ``tmp``, a receiver on them, and signed calls on a fake wall clock."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.now = 1_800_000_000.0
        self.runs = tmp / "runs.log"
        self.receivers: list[Receiver] = []

    def script(self, name: str, body: str) -> Path:
        path = self.tmp / name
        path.write_text("#!/bin/sh\n" + LOG_RUN.format(runs=self.runs) + body)
        path.chmod(0o755)
        return path

    def settings(self, scripts: dict[str, Any], **extra: Any) -> Settings:
        key_file = self.tmp / "key"
        key_file.write_bytes(KEY + b"\n")
        key_file.chmod(0o600)
        phases = {
            phase: spec if isinstance(spec, dict) else {"argv": [str(spec)]}
            for phase, spec in scripts.items()
        }
        data = {"key_file": "key", "state_dir": "state", "phases": phases, **extra}
        return parse_settings(data, self.tmp)

    def receiver(self, scripts: dict[str, Any], **extra: Any) -> Receiver:
        made = Receiver(self.settings(scripts, **extra), clock=lambda: self.now)
        self.receivers.append(made)
        return made

    def headers(
        self,
        body: bytes,
        key: str | None = "web/12/fence:primary",
        sign_with: bytes = KEY,
        at: float | None = None,
    ) -> dict[str, str]:
        self.now += 1  # each call a second later: distinct signatures
        stamp = str(int(self.now if at is None else at))
        mac = hmac.new(sign_with, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"X-Arbiter-Timestamp": stamp, "X-Arbiter-Signature": f"sha256={mac}"}
        if key is not None:
            headers["X-Arbiter-Idempotency-Key"] = key
        return headers

    def call(
        self, receiver: Receiver, payload: dict[str, Any] = FENCE, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        if "key" not in kw and "idempotency_key" in payload:
            kw["key"] = payload["idempotency_key"]
        code, answer, _ = receiver.handle(self.headers(body, **kw), body, "test")
        return code, answer

    def ran(self) -> list[str]:
        return self.runs.read_text().splitlines() if self.runs.exists() else []

    def until_done(self, receiver: Receiver, payload: dict[str, Any] = FENCE) -> dict[str, Any]:
        """Poll as Arbiter does until the answer is not pending (bounded)."""
        for _ in range(200):
            code, answer = self.call(receiver, payload)
            assert code == 200
            if answer["status"] != "pending":
                return answer
            time.sleep(0.05)
        raise AssertionError("still pending after 10 s")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    for receiver in made.receivers:
        receiver.close()


def wait_for(path: Path) -> str:
    """A script that waits (bounded by its timeout) until ``path`` exists."""
    return f'while [ ! -f "{path}" ]; do sleep 0.02; done\n'


# --- Signature, timestamp, replay --------------------------------------------------------


def test_a_signed_call_runs_the_script_and_answers_its_last_stdout_line(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo stopping\necho stopped app\n")})
    code, answer = rig.call(receiver)
    assert code == 200
    assert answer["ok"] is True and answer["status"] == "done"
    assert answer["detail"] == "stopped app" and answer["exit"] == 0
    assert rig.ran() == ["fence web/12/fence:primary"]


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda h, b: h.update({"X-Arbiter-Signature": "sha256=" + "0" * 64}), "bad signature"),
        (lambda h, b: h.pop("X-Arbiter-Signature"), "missing X-Arbiter-Timestamp or"),
        (lambda h, b: h.pop("X-Arbiter-Timestamp"), "missing X-Arbiter-Timestamp or"),
        (lambda h, b: h.update({"X-Arbiter-Timestamp": "12.5"}), "not a Unix time"),
        (lambda h, b: b.extend(b" "), "bad signature"),  # the body was changed on the way
    ],
)
def test_a_call_not_signed_with_the_key_is_refused_401(rig: Rig, mutate: Any, why: str) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    body = bytearray(json.dumps(FENCE).encode())
    headers = rig.headers(bytes(body))
    mutate(headers, body)
    code, answer, _ = receiver.handle(headers, bytes(body))
    assert code == 401 and answer["ok"] is False and why in answer["error"]
    assert rig.ran() == []


def test_a_call_signed_with_another_key_is_refused(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    code, answer = rig.call(receiver, sign_with=b"another-key-0123456789")
    assert (code, answer["error"]) == (401, "bad signature")
    assert rig.ran() == []


@pytest.mark.parametrize("off", [-301, 301, -10_000])
def test_a_timestamp_outside_the_replay_window_is_refused(rig: Rig, off: int) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    code, answer = rig.call(receiver, at=rig.now + 1 + off)
    assert (code, answer["error"]) == (
        401,
        f"timestamp {-off:+d} s off this receiver's clock (replay window 300 s)",
    )
    assert rig.ran() == []


def test_a_timestamp_inside_the_window_is_taken(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    assert rig.call(receiver, at=rig.now - 290)[0] == 200


def test_a_replayed_signature_is_refused(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    body = json.dumps(FENCE).encode()
    headers = rig.headers(body)
    assert receiver.handle(headers, body)[0] == 200
    code, answer, _ = receiver.handle(headers, body)
    assert (code, answer["error"]) == (401, "replayed signature")
    rig.now += 400  # past the window: stale, not a replay any more
    code, answer, _ = receiver.handle(headers, body)
    assert code == 401 and "replay window" in answer["error"]
    assert rig.ran() == ["fence web/12/fence:primary"]


def test_a_body_over_64_kib_is_refused_413(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    body = json.dumps({**FENCE, "reason": "x" * 65_536}).encode()
    code, answer, _ = receiver.handle(rig.headers(body), body)
    assert code == 413 and "64 KiB" in answer["error"]
    assert rig.ran() == []


# --- Once per idempotency key ------------------------------------------------------------


def test_a_later_call_with_the_same_key_answers_the_recorded_result(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo stopped\n")})
    first = rig.call(receiver)
    second = rig.call(receiver)
    assert first == second
    other = rig.call(receiver, {**FENCE, "transition": 13, "idempotency_key": "web/13/fence:p"})
    assert other[1]["status"] == "done"
    assert rig.ran() == ["fence web/12/fence:primary", "fence web/13/fence:p"]


def test_a_recorded_failure_is_answered_again_never_rerun(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo no >&2\nexit 4\n")})
    first = rig.call(receiver)
    assert first[1] == {**first[1], "ok": False, "status": "failed", "detail": "no", "exit": 4}
    assert rig.call(receiver) == first
    assert len(rig.ran()) == 1


def test_results_survive_a_restart(rig: Rig) -> None:
    scripts = {"fence": rig.script("fence.sh", "echo stopped\n")}
    first = rig.call(rig.receiver(scripts))
    again = rig.call(rig.receiver(scripts))  # a new receiver on the same state_dir
    assert again == first
    assert len(rig.ran()) == 1


def test_a_script_running_when_the_receiver_stopped_is_never_run_again(rig: Rig) -> None:
    go = rig.tmp / "go"
    scripts = {"fence": {"argv": [str(rig.script("fence.sh", wait_for(go)))], "sync_wait": 0.1}}
    before = rig.receiver(scripts)
    assert rig.call(before)[1]["status"] == "pending"
    before.close()  # kills the script; its result stays unknown
    after = rig.receiver(scripts)
    code, answer = rig.call(after)
    assert code == 200 and answer["ok"] is False and answer["status"] == "failed"
    assert "outcome is unknown" in answer["detail"]
    assert rig.call(after)[1] == answer
    assert len(rig.ran()) == 1


def test_a_long_script_is_pending_then_done(rig: Rig) -> None:
    go = rig.tmp / "go"
    script = rig.script("fence.sh", wait_for(go) + "echo stopped late\n")
    receiver = rig.receiver({"fence": {"argv": [str(script)], "sync_wait": 0.1}})
    code, answer = rig.call(receiver)
    assert (code, answer["ok"], answer["status"]) == (200, True, "pending")
    assert rig.call(receiver)[1]["status"] == "pending"
    go.touch()
    assert rig.until_done(receiver)["detail"] == "stopped late"
    assert len(rig.ran()) == 1


def test_concurrent_first_calls_run_the_script_once(rig: Rig) -> None:
    script = rig.script("fence.sh", "sleep 0.3\necho stopped\n")
    receiver = rig.receiver({"fence": {"argv": [str(script)], "sync_wait": 5}})
    bodies = [json.dumps(FENCE).encode() for _ in range(8)]
    headers = [rig.headers(body) for body in bodies]
    answers: list[dict[str, Any]] = []

    def call(i: int) -> None:
        answers.append(receiver.handle(headers[i], bodies[i])[1])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [a["detail"] for a in answers] == ["stopped"] * 8
    assert len(rig.ran()) == 1


def test_a_script_past_its_timeout_is_killed_with_its_children(rig: Rig) -> None:
    child = rig.tmp / "child.pid"
    script = rig.script("fence.sh", f'echo started\nsleep 30 &\necho $! > "{child}"\nwait\n')
    receiver = rig.receiver({"fence": {"argv": [str(script)], "timeout": 1, "sync_wait": 0}})
    answer = rig.until_done(receiver)
    assert answer["ok"] is False and answer["status"] == "failed"
    assert answer["detail"] == "killed after its timeout of 1 s; it last said: started"
    stat = Path(f"/proc/{child.read_text().strip()}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")


def test_a_script_that_cannot_start_is_failed(rig: Rig) -> None:
    receiver = rig.receiver({"fence": str(rig.tmp / "missing.sh")})
    answer = rig.call(receiver)[1]
    assert answer["status"] == "failed" and "could not start" in answer["detail"]


def test_a_busy_receiver_answers_503_with_retry_after(rig: Rig) -> None:
    go = rig.tmp / "go"
    script = rig.script("fence.sh", wait_for(go))
    receiver = rig.receiver({"fence": {"argv": [str(script)], "sync_wait": 0}}, max_running=1)
    assert rig.call(receiver)[1]["status"] == "pending"
    body = json.dumps({**FENCE, "idempotency_key": "web/13/fence:primary"}).encode()
    code, answer, headers = receiver.handle(rig.headers(body, key="web/13/fence:primary"), body)
    assert code == 503 and headers == {"Retry-After": "5"}
    assert answer["error"] == "busy: all 1 script slots are in use (max_running)"
    go.touch()
    rig.until_done(receiver)


def test_the_output_kept_is_bounded_and_its_last_line_answered(rig: Rig) -> None:
    receiver = rig.receiver(
        {
            "fence": rig.script(
                "fence.sh", "head -c 3000000 /dev/zero | tr '\\0' x\necho\necho end\n"
            )
        }
    )
    assert rig.call(receiver)[1]["detail"] == "end"


# --- What the script gets ---------------------------------------------------------------


def test_the_script_gets_the_call_in_its_environment_and_on_stdin(rig: Rig) -> None:
    dump = rig.tmp / "env.txt"
    stdin = rig.tmp / "stdin.json"
    script = rig.script("fence.sh", f'env | grep ^ARBITER_ | sort > "{dump}"\ncat > "{stdin}"\n')
    receiver = rig.receiver({"fence": script})
    body = json.dumps(FENCE).encode()
    assert receiver.handle(rig.headers(body, key="web/12/fence:primary"), body)[0] == 200
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines())
    assert env == {
        "ARBITER_PHASE": "fence",
        "ARBITER_SERVICE": "web",
        "ARBITER_TRANSITION": "12",
        "ARBITER_FROM": "primary",
        "ARBITER_TO": "secondary",
        "ARBITER_SITE": "primary",
        "ARBITER_STEP": "fence:primary",
        "ARBITER_REASON": "primary down",
        "ARBITER_DRY_RUN": "false",
        "ARBITER_IDEMPOTENCY_KEY": "web/12/fence:primary",
    }
    assert stdin.read_bytes() == body


def test_the_idempotency_key_is_required_and_must_match_the_body(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    code, answer = rig.call(receiver, key=None)
    assert (code, answer["error"]) == (400, "missing X-Arbiter-Idempotency-Key")
    code, answer = rig.call(receiver, key="web/99/fence:primary")
    assert code == 400 and "idempotency_key" in answer["error"]
    assert rig.ran() == []


# --- Dry runs, phases --------------------------------------------------------------------


def test_a_dry_run_checks_the_script_and_never_runs_it(rig: Rig) -> None:
    script = rig.script("fence.sh", "echo ok\n")
    receiver = rig.receiver({"fence": {"argv": [str(script), "--now"], "timeout": 90}})
    code, answer = rig.call(receiver, {**FENCE, "dry_run": True}, key="web/drill/fence:primary")
    assert code == 200
    assert answer == {
        "ok": True,
        "status": "done",
        "dry_run": True,
        "detail": f"would run {script} --now (timeout 90 s)",
    }
    assert rig.ran() == []


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["./missing.sh"], "./missing.sh does not exist"),
        (["./plain.txt"], "./plain.txt is not executable"),
        (["no-such-command-xyz"], "no-such-command-xyz is not found on PATH"),
    ],
)
def test_a_dry_run_fails_when_the_script_cannot_run(rig: Rig, argv: list[str], why: str) -> None:
    (rig.tmp / "plain.txt").write_text("echo hi\n")
    receiver = rig.receiver({"fence": {"argv": argv}})
    answer = rig.call(receiver, {**FENCE, "dry_run": True})[1]
    assert answer == {"ok": False, "status": "failed", "dry_run": True, "detail": why}


def test_a_dry_run_finds_a_command_on_path(rig: Rig) -> None:
    receiver = rig.receiver({"fence": {"argv": ["sh", "-c", "true"]}})
    assert rig.call(receiver, {**FENCE, "dry_run": True})[1]["ok"] is True


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({**FENCE, "phase": "reboot", "event": "reboot"}, "unknown phase 'reboot'"),
        ({"event": "failback_gate", "service": "web"}, "unknown phase 'failback_gate'"),
        ({**FENCE, "phase": "post_release"}, "no script for phase post_release"),
    ],
)
def test_a_phase_without_a_script_is_not_ok(rig: Rig, payload: dict[str, Any], why: str) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    code, answer = rig.call(receiver, payload, key="k")
    assert code == 200 and answer["ok"] is False and why in answer["detail"]
    assert rig.ran() == []


def test_a_body_that_is_not_a_json_object_is_refused_400(rig: Rig) -> None:
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo ok\n")})
    for body in (b"[1, 2]", b"not json"):
        code, answer, _ = receiver.handle(rig.headers(body), body)
        assert (code, answer["error"]) == (400, "the body is not a JSON object")


# --- VoIP --------------------------------------------------------------------------------

READ = {
    "event": "voip",
    "action": "read",
    "numbers": ["+15551230001", "+15551230002"],
    "dry_run": True,
    "provider": "pbx",
}
ROUTE = {
    **READ,
    "action": "route",
    "target": "pbx-ams",
    "dry_run": False,
    "idempotency_key": "web/12/voip:pbx:+15551230001+1",
}


def voip_script(rig: Rig, printed: str) -> Path:
    dump = rig.tmp / "voip-env.txt"
    return rig.script(
        "voip.sh",
        f'env | grep -E "^ARBITER_(VOIP_ACTION|NUMBERS|TARGET|DRY_RUN)=" | sort > "{dump}"\n'
        f"echo '{printed}'\n",
    )


def test_a_voip_read_answers_the_scripts_json_for_the_numbers_asked(rig: Rig) -> None:
    printed = '{"+15551230001": "pbx-fra", "+15550000000": "x", "+15551230002": 7}'
    receiver = rig.receiver({"voip": voip_script(rig, printed)})
    code, answer = rig.call(receiver, READ, key=None)
    assert code == 200 and answer["ok"] is True
    assert answer["current"] == {"+15551230001": "pbx-fra"}  # 0002 unknown: not a string
    env = (rig.tmp / "voip-env.txt").read_text().splitlines()
    assert env == [
        "ARBITER_DRY_RUN=true",
        "ARBITER_NUMBERS=+15551230001 +15551230002",
        "ARBITER_VOIP_ACTION=read",
    ]
    rig.call(receiver, READ, key=None)
    assert len(rig.ran()) == 2  # reads change nothing: run every time, never recorded


def test_a_voip_read_takes_current_and_no_json_means_unknown(rig: Rig) -> None:
    receiver = rig.receiver({"voip": voip_script(rig, '{"current": {"+15551230002": "b"}}')})
    assert rig.call(receiver, READ, key=None)[1]["current"] == {"+15551230002": "b"}
    silent = rig.receiver({"voip": voip_script(rig, "routing looks fine")})
    answer = rig.call(silent, READ, key=None)[1]
    assert answer["ok"] is True and "current" not in answer


def test_a_voip_route_runs_once_with_numbers_and_target(rig: Rig) -> None:
    receiver = rig.receiver({"voip": voip_script(rig, "routed")})
    first = rig.call(receiver, ROUTE)
    assert first[1]["detail"] == "routed"
    assert rig.call(receiver, ROUTE) == first
    env = (rig.tmp / "voip-env.txt").read_text().splitlines()
    assert env == [
        "ARBITER_DRY_RUN=false",
        "ARBITER_NUMBERS=+15551230001 +15551230002",
        "ARBITER_TARGET=pbx-ams",
        "ARBITER_VOIP_ACTION=route",
    ]
    assert len(rig.ran()) == 1


@pytest.mark.parametrize(
    "change",
    [{"action": "delete"}, {"numbers": []}, {"numbers": ["a\nb"]}, {"target": ""}],
)
def test_a_malformed_voip_call_is_refused_400(rig: Rig, change: dict[str, Any]) -> None:
    receiver = rig.receiver({"voip": voip_script(rig, "routed")})
    code, _ = rig.call(receiver, {**ROUTE, **change})
    assert code == 400
    assert rig.ran() == []


# --- Secrets, config ---------------------------------------------------------------------


def test_the_key_is_never_logged_nor_shown(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = rig.receiver({"fence": rig.script("fence.sh", "echo stopped\n")})
    rig.call(receiver)
    rig.call(receiver, sign_with=b"wrong-key-0123456789")
    rig.call(receiver, {**FENCE, "phase": "nope"})
    assert "fence web/12/fence:primary from test: done (stopped)" in caplog.text
    assert "refused a call from test: bad signature" in caplog.text
    assert KEY.decode() not in caplog.text
    assert KEY.decode() not in repr(receiver.settings)


def test_old_results_are_forgotten_at_start(rig: Rig) -> None:
    scripts = {"fence": rig.script("fence.sh", "echo stopped\n")}
    rig.call(rig.receiver(scripts))
    (result,) = (rig.tmp / "state" / "results").iterdir()
    old = time.time() - 40 * 86400
    os.utime(result, (old, old))
    rig.receiver(scripts)
    assert not result.exists()


def test_config_defaults(rig: Rig) -> None:
    settings = rig.settings({"fence": {"argv": ["./fence.sh"]}})
    assert (settings.listen, settings.port, settings.replay_window) == ("127.0.0.1", 8787, 300)
    assert settings.scripts["fence"] == module.Script(("./fence.sh",), 60.0, 5.0)
    assert settings.state_dir == rig.tmp / "state" and settings.key == KEY
    assert settings.tls_cert is None and settings.max_running == 8


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"phases": {"fence": {"argv": "stop-app"}}}, "phases.fence.argv: must be a list"),
        ({"phases": {"fence": {"argv": ["x"], "timeout": 0}}}, "phases.fence.timeout"),
        ({"phases": {"fence": {"argv": ["x"], "sync": 1}}}, "phases.fence.sync: unknown key"),
        ({"phases": {"reboot": {"argv": ["x"]}}}, "phases.reboot: unknown phase"),
        ({"phases": {}}, "phases: must be an object"),
        ({"replay_window": 5}, "replay_window: must be a number from 30 to 3600"),
        ({"port": 70000}, "port: must be a whole number"),
        ({"tls": {"cert": "c.pem"}}, "tls: must be an object with cert and key"),
        ({"lisen": "0.0.0.0"}, "lisen: unknown key"),
        ({"key_file": "nokey"}, "key_file: cannot read"),
    ],
)
def test_config_problems_name_the_field(rig: Rig, change: dict[str, Any], why: str) -> None:
    (rig.tmp / "key").write_bytes(KEY)
    (rig.tmp / "key").chmod(0o600)
    data = {"key_file": "key", "state_dir": "state", "phases": {"fence": {"argv": ["x"]}}}
    with pytest.raises(ConfigError, match=why.replace(".", r"\.")):
        parse_settings({**data, **change}, rig.tmp)


@pytest.mark.parametrize(
    ("content", "mode", "why"), [(KEY, 0o644, "chmod 600"), (b"short\n", 0o600, "shorter than")]
)
def test_a_weak_or_exposed_key_file_is_refused(
    rig: Rig, content: bytes, mode: int, why: str
) -> None:
    (rig.tmp / "key").write_bytes(content)
    (rig.tmp / "key").chmod(mode)
    data = {"key_file": "key", "state_dir": "state", "phases": {"fence": {"argv": ["x"]}}}
    with pytest.raises(ConfigError, match=why) as caught:
        parse_settings(data, rig.tmp)
    assert KEY.decode() not in str(caught.value)


def test_the_receiver_imports_only_the_standard_library() -> None:
    """An operator copies this one file to a server without Arbiter's dependencies."""
    source = Path(module.__file__).read_text()
    ast.parse(source, feature_version=(3, 9))  # the oldest Python its docstring names
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add((node.module or "").split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
    assert "arbiter" not in imported
