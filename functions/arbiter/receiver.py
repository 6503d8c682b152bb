#!/usr/bin/env python3
"""Arbiter's reference webhook receiver: puts signed fence, hook and VoIP calls in front of
the operator's existing shell scripts.

    python3 receiver.py --config receiver.json          (or: python -m arbiter.receiver ...)
    python3 receiver.py --config receiver.json --check  (validate the config and exit)

It imports nothing outside Python's standard library (3.9 or later), so this one file can be
copied to the server that runs the scripts.

For each POST it:

1. refuses a body over 64 KiB (413) and a call whose signature is wrong, whose timestamp is
   outside the replay window or whose signature it has already seen in that window (401, with
   a JSON ``error``). The signature is ``X-Arbiter-Signature: sha256=<hex>``, the HMAC-SHA256
   of ``<X-Arbiter-Timestamp>.<body>`` with the shared key;
2. finds the phase (the body's ``phase``, or ``event`` for ``voip``) and its script;
3. on a dry run, only checks the script exists and is executable;
4. runs the script once per ``X-Arbiter-Idempotency-Key``: the first call starts it and waits
   up to ``sync_wait`` seconds; a later call with the same key answers what the script did (or
   ``pending`` while it runs). Results are kept in ``state_dir``, so a restarted receiver still
   never runs a step twice: a script that was running when the receiver stopped is answered
   ``failed`` (its outcome is unknown), never run again.

Answers: ``{"ok": true, "status": "done", "detail": <last stdout line>}``, ``{"ok": false,
"status": "failed", "detail": <last stderr line>, "exit": N}``, ``{"ok": true, "status":
"pending"}``. A script past its ``timeout`` is killed (its process group: SIGTERM, then SIGKILL)
and answered ``failed``. Everything is bounded: the body, the output kept, the connections,
the scripts running at once, the signatures remembered. The key is never logged.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import os
import selectors
import shlex
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PHASES = ("pre_release", "fence", "pre_acquire", "post_acquire", "post_release", "voip")
BODY_LIMIT = 64 * 1024
"""Bytes of a request body accepted (Arbiter's calls are far smaller)."""
OUTPUT_LIMIT = 64 * 1024
"""Bytes kept of each of a script's stdout and stderr: the last ones."""
DETAIL_LIMIT = 300
DEFAULT_LISTEN = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_WINDOW = 300.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_SYNC_WAIT = 5.0
MAX_SCRIPT_TIMEOUT = 3600.0
KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL for a script past its timeout."""
DRAIN = 1.0
"""Seconds the script's output is still read after it exits (a child it left may hold it)."""
REQUEST_TIMEOUT = 10.0
"""Seconds a client may take to send its whole request; then its connection is cut."""
MAX_CONNECTIONS = 32
"""Connections served at once; more are closed at once (Arbiter tries again)."""
DEFAULT_MAX_RUNNING = 8
MAX_SIGNATURES = 10000
"""Signatures remembered for the replay check; past it new calls are answered 503."""
DEFAULT_KEEP_DAYS = 30.0
BUSY_RETRY_AFTER = 5
KEY_MIN = 16
CONFIG_LIMIT = 1024 * 1024
_FIELD_LIMIT = 1024

log = logging.getLogger("arbiter-receiver")


class ConfigError(Exception):
    """The receiver's config is not valid (the message names the field)."""


@dataclass(frozen=True)
class Script:
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    """Seconds the script may run; then it is killed and answered ``failed``."""
    sync_wait: float = DEFAULT_SYNC_WAIT
    """Seconds the first call waits for the script before answering ``pending``."""


@dataclass(frozen=True)
class Settings:
    key: bytes = field(repr=False)
    state_dir: Path
    scripts: dict[str, Script]
    listen: str = DEFAULT_LISTEN
    port: int = DEFAULT_PORT
    replay_window: float = DEFAULT_WINDOW
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_running: int = DEFAULT_MAX_RUNNING
    keep_results_days: float = DEFAULT_KEEP_DAYS
    workdir: Path = Path(".")
    """Where scripts run and relative paths in the config start: the config's directory."""


# --- Config -----------------------------------------------------------------------------

_TOP = {
    "listen",
    "port",
    "key_file",
    "replay_window",
    "tls",
    "state_dir",
    "max_running",
    "keep_results_days",
    "phases",
}
_PHASE_KEYS = {"argv", "timeout", "sync_wait"}


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name}: must be a number from {low:g} to {high:g}")
    return float(value)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ConfigError(f"{name}: must be a non-empty string")
    return value


def _path(value: Any, name: str, base: Path) -> Path:
    path = Path(_text(value, name)).expanduser()
    return path if path.is_absolute() else base / path


def _unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise ConfigError(f"{where}{extra[0]}: unknown key (known: {', '.join(sorted(known))})")


def _read_key(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"key_file: cannot read {path}: {exc.strerror}") from None
    if mode & 0o007:
        raise ConfigError(f"key_file: {path} can be read or written by other users; chmod 600 it")
    key = raw.strip()
    if len(key) < KEY_MIN:
        raise ConfigError(f"key_file: the key in {path} is shorter than {KEY_MIN} bytes")
    return key


def _script(data: Any, name: str) -> Script:
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: must be an object with argv, timeout, sync_wait")
    _unknown(data, _PHASE_KEYS, f"{name}.")
    argv = data.get("argv")
    if not isinstance(argv, list) or not argv or len(argv) > 64:
        raise ConfigError(f"{name}.argv: must be a list of 1 to 64 strings (the command)")
    for i, arg in enumerate(argv):
        _text(arg, f"{name}.argv[{i}]")
    timeout = _number(
        data.get("timeout", DEFAULT_TIMEOUT), f"{name}.timeout", 1, MAX_SCRIPT_TIMEOUT
    )
    wait = _number(data.get("sync_wait", DEFAULT_SYNC_WAIT), f"{name}.sync_wait", 0, 60)
    return Script(tuple(argv), timeout, min(wait, timeout))


def load_settings(path: Path) -> Settings:
    """The config at ``path``; ConfigError names the first problem."""
    try:
        if path.stat().st_size > CONFIG_LIMIT:
            raise ConfigError(f"larger than {CONFIG_LIMIT // 1024} KiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"not JSON: {exc}") from None
    return parse_settings(data, path.resolve().parent)


def parse_settings(data: Any, base: Path) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object")
    _unknown(data, _TOP, "")
    for required in ("key_file", "state_dir", "phases"):
        if required not in data:
            raise ConfigError(f"{required}: missing")
    phases = data["phases"]
    if not isinstance(phases, dict) or not phases:
        raise ConfigError(f"phases: must be an object with at least one of {', '.join(PHASES)}")
    for phase in phases:
        if phase not in PHASES:
            raise ConfigError(f"phases.{phase}: unknown phase (known: {', '.join(PHASES)})")
    tls = data.get("tls")
    cert = key = None
    if tls is not None:
        if not isinstance(tls, dict) or set(tls) != {"cert", "key"}:
            raise ConfigError("tls: must be an object with cert and key (PEM file paths)")
        cert, key = _path(tls["cert"], "tls.cert", base), _path(tls["key"], "tls.key", base)
    port = data.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError("port: must be a whole number from 0 to 65535 (0: any free port)")
    running = data.get("max_running", DEFAULT_MAX_RUNNING)
    if isinstance(running, bool) or not isinstance(running, int) or not 1 <= running <= 64:
        raise ConfigError("max_running: must be a whole number from 1 to 64")
    return Settings(
        key=_read_key(_path(data["key_file"], "key_file", base)),
        state_dir=_path(data["state_dir"], "state_dir", base),
        scripts={p: _script(s, f"phases.{p}") for p, s in phases.items()},
        listen=_text(data.get("listen", DEFAULT_LISTEN), "listen"),
        port=port,
        replay_window=_number(data.get("replay_window", DEFAULT_WINDOW), "replay_window", 30, 3600),
        tls_cert=cert,
        tls_key=key,
        max_running=running,
        keep_results_days=_number(
            data.get("keep_results_days", DEFAULT_KEEP_DAYS), "keep_results_days", 1, 3650
        ),
        workdir=base,
    )


# --- Running a script -------------------------------------------------------------------


class _Tail:
    """The last OUTPUT_LIMIT bytes of a stream."""

    def __init__(self) -> None:
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > OUTPUT_LIMIT:
            del self.data[: len(self.data) - OUTPUT_LIMIT]


@dataclass
class Outcome:
    exit: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    seconds: float = 0.0
    error: str = ""
    """Why the script could not be started."""


def last_line(data: bytes) -> str:
    for line in reversed(data.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return " ".join(line.split())[:DETAIL_LIMIT]
    return ""


def _kill(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # its own session: the script's children go too
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen[bytes]) -> None:
    _kill(proc, signal.SIGTERM)
    try:
        proc.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        _kill(proc, signal.SIGKILL)
        try:
            proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            log.error("script pid %d did not die after SIGKILL", proc.pid)


def run_script(
    argv: tuple[str, ...],
    env: Mapping[str, str],
    stdin: bytes,
    timeout: float,
    cwd: Path,
    track: Callable[[subprocess.Popen[bytes] | None], None] = lambda _: None,
) -> Outcome:
    """Run ``argv`` with ``stdin`` for at most ``timeout`` seconds. ``track`` is told the
    process once started (and None once done), so a stopping receiver can kill it."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as feed:
        # A file, not a pipe: a script that never reads its stdin cannot block the receiver.
        feed.write(stdin)
        feed.seek(0)
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=feed,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                cwd=str(cwd),
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return Outcome(None, error=f"could not start {argv[0]}: {reason}")
    track(proc)
    try:
        out, err, timed_out = _collect(proc, started + timeout)
        if timed_out:
            _stop(proc)
    finally:
        track(None)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return Outcome(proc.returncode, out, err, timed_out, time.monotonic() - started)


def _collect(proc: subprocess.Popen[bytes], end: float) -> tuple[bytes, bytes, bool]:
    """The script's output until it exits (and its pipes close, or DRAIN more seconds pass),
    or ``end``: (stdout tail, stderr tail, timed out)."""
    out, err = _Tail(), _Tail()
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)  # type: ignore[arg-type]
        selector.register(proc.stderr, selectors.EVENT_READ, err)  # type: ignore[arg-type]
        # Each pass waits at most 0.2 s; the loop ends by ``end`` or DRAIN after the exit.
        while selector.get_map():
            now = time.monotonic()
            if now >= end:
                return bytes(out.data), bytes(err.data), True
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at >= DRAIN:
                break
            for key, _ in selector.select(min(0.2, end - now)):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
    try:
        proc.wait(max(0.0, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        return bytes(out.data), bytes(err.data), True
    return bytes(out.data), bytes(err.data), False


def answer_of(outcome: Outcome, timeout: float) -> dict[str, Any]:
    seconds = round(outcome.seconds, 3)
    if outcome.error:
        return {"ok": False, "status": "failed", "detail": outcome.error}
    if outcome.timed_out:
        said = last_line(outcome.stderr) or last_line(outcome.stdout)
        return {
            "ok": False,
            "status": "failed",
            "detail": f"killed after its timeout of {timeout:g} s"
            + (f"; it last said: {said}" if said else ""),
            "exit": outcome.exit,
            "seconds": seconds,
        }
    if outcome.exit == 0:
        detail = last_line(outcome.stdout) or "exit 0"
        return {"ok": True, "status": "done", "detail": detail, "exit": 0, "seconds": seconds}
    return {
        "ok": False,
        "status": "failed",
        "detail": last_line(outcome.stderr) or f"exit status {outcome.exit}",
        "exit": outcome.exit,
        "seconds": seconds,
    }


# --- Results kept across restarts --------------------------------------------------------


class Results:
    """One small JSON file per idempotency key (named by its SHA-256), written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _file(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def load(self, key: str) -> dict[str, Any] | None:
        path = self._file(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"key": key, "status": "unreadable"}
        return record if isinstance(record, dict) else {"key": key, "status": "unreadable"}

    def save(self, key: str, record: dict[str, Any]) -> None:
        path = self._file(key)
        fd, tmp = tempfile.mkstemp(dir=str(self.directory), prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def prune(self, older_than: float) -> int:
        """Forget results older than ``older_than`` seconds; how many were removed."""
        cutoff = time.time() - older_than
        removed = 0
        for path in self.directory.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


# --- The receiver -----------------------------------------------------------------------

Response = tuple[int, dict[str, Any], dict[str, str]]


def _refused(code: int, error: str) -> Response:
    return code, {"ok": False, "error": error}, {}


def _failed(detail: str) -> Response:
    return 200, {"ok": False, "status": "failed", "detail": detail}, {}


@dataclass
class _Job:
    key: str
    phase: str
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None


def _env_text(value: Any) -> str:
    """A body field as an environment value: text without control characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return "".join(c for c in value if c.isprintable())[:_FIELD_LIMIT]
    return ""


def _label(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


class Receiver:
    """The receiver without its HTTP server: ``handle`` answers one call (tests drive it)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self.results = Results(settings.state_dir / "results")
        removed = self.results.prune(settings.keep_results_days * 86400)
        if removed:
            log.info("forgot %d results older than %g days", removed, settings.keep_results_days)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._slots = threading.BoundedSemaphore(settings.max_running)
        self._seen: dict[str, float] = {}
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._closing = False

    # The signature and the replay window

    def verify(self, headers: Mapping[str, str], body: bytes) -> Response | None:
        """None for a call signed with the key, fresh and not seen before; else the refusal."""
        timestamp = headers.get("x-arbiter-timestamp", "")
        signature = headers.get("x-arbiter-signature", "")
        if not timestamp or not signature:
            return _refused(401, "missing X-Arbiter-Timestamp or X-Arbiter-Signature")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return _refused(401, "X-Arbiter-Timestamp is not a Unix time in seconds")
        mac = hmac.new(self.settings.key, timestamp.encode() + b"." + body, hashlib.sha256)
        expected = ("sha256=" + mac.hexdigest()).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return _refused(401, "bad signature")
        now = self._clock()
        window = self.settings.replay_window
        skew = now - int(timestamp)
        if abs(skew) > window:
            return _refused(
                401,
                f"timestamp {skew:+.0f} s off this receiver's clock (replay window {window:g} s)",
            )
        with self._lock:
            if len(self._seen) >= MAX_SIGNATURES // 2:
                self._seen = {s: until for s, until in self._seen.items() if until > now}
            if signature in self._seen:
                return _refused(401, "replayed signature")
            if len(self._seen) >= MAX_SIGNATURES:
                return (
                    503,
                    {"ok": False, "error": "too many calls"},
                    {"Retry-After": str(BUSY_RETRY_AFTER)},
                )
            self._seen[signature] = int(timestamp) + window + 1
        return None

    # One call

    def handle(self, headers: Mapping[str, str], body: bytes, client: str = "-") -> Response:
        if len(body) > BODY_LIMIT:
            return _refused(413, f"the body is larger than {BODY_LIMIT // 1024} KiB")
        lowered = {k.lower(): v for k, v in headers.items()}
        refused = self.verify(lowered, body)
        if refused is not None:
            log.warning("refused a call from %s: %s", client, refused[1]["error"])
            return refused
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return _refused(400, "the body is not a JSON object")
        response = self._dispatch(data, lowered.get("x-arbiter-idempotency-key"), body)
        answer = response[1]
        log.info(
            "%s %s from %s: %s%s",
            _env_text(data.get("phase") or data.get("event"))[:40] or "-",
            _env_text(lowered.get("x-arbiter-idempotency-key"))[:200] or "-",
            client,
            answer.get("status") or answer.get("error") or response[0],
            f" ({answer['detail']})" if answer.get("detail") else "",
        )
        return response

    def _dispatch(self, data: dict[str, Any], key: str | None, body: bytes) -> Response:
        phase = data.get("phase") or data.get("event")
        if not isinstance(phase, str) or phase not in PHASES:
            shown = _env_text(phase)[:40]
            return _failed(f"unknown phase {shown!r} (this receiver knows {', '.join(PHASES)})")
        script = self.settings.scripts.get(phase)
        if script is None:
            return _failed(f"no script for phase {phase} in this receiver's config")
        env = self._env(phase, data, key)
        if phase == "voip":
            problem = self._voip_env(data, env)
            if problem:
                return _refused(400, problem)
            if data["action"] == "read":
                return self._read(script, env, body, data["numbers"])
        if data.get("dry_run") is True:
            return 200, self._dry(script), {}
        if not key:
            return _refused(400, "missing X-Arbiter-Idempotency-Key")
        if len(key) > 256 or not key.isprintable():
            return _refused(400, "X-Arbiter-Idempotency-Key is longer than 256 or not printable")
        if data.get("idempotency_key", key) != key:
            return _refused(400, "the body's idempotency_key is not X-Arbiter-Idempotency-Key")
        return self._once(key, phase, script, env, body)

    def _env(self, phase: str, data: dict[str, Any], key: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
        env.update(
            {
                "ARBITER_PHASE": phase,
                "ARBITER_SERVICE": _env_text(data.get("service")),
                "ARBITER_TRANSITION": _env_text(data.get("transition")),
                "ARBITER_FROM": _env_text(data.get("from")),
                "ARBITER_TO": _env_text(data.get("to")),
                "ARBITER_SITE": _env_text(data.get("site")),
                "ARBITER_STEP": _env_text(data.get("step")),
                "ARBITER_REASON": _env_text(data.get("reason")),
                "ARBITER_DRY_RUN": "true" if data.get("dry_run") is True else "false",
                "ARBITER_IDEMPOTENCY_KEY": _env_text(key),
            }
        )
        return env

    @staticmethod
    def _voip_env(data: dict[str, Any], env: dict[str, str]) -> str:
        """Adds the VoIP fields to ``env``; the problem with them, if any."""
        action = data.get("action")
        if action not in ("read", "route"):
            return "voip: action must be read or route"
        numbers = data.get("numbers")
        if not isinstance(numbers, list) or not 0 < len(numbers) <= 1000:
            return "voip: numbers must be a list of 1 to 1000 numbers"
        if not all(_label(n) for n in numbers):
            return "voip: each number must be printable text of 1 to 64 characters"
        env["ARBITER_VOIP_ACTION"] = action
        env["ARBITER_NUMBERS"] = " ".join(numbers)
        env["ARBITER_PROVIDER"] = _env_text(data.get("provider"))
        if action == "route":
            if not _label(data.get("target")):
                return "voip: target must be printable text of 1 to 64 characters"
            env["ARBITER_TARGET"] = data["target"]
        return ""

    # Scripts

    def _executable(self, script: Script) -> str:
        """What is wrong with the script's command, or ``""``."""
        program = script.argv[0]
        if os.sep not in program:
            return "" if shutil.which(program) else f"{program} is not found on PATH"
        path = Path(program) if Path(program).is_absolute() else self.settings.workdir / program
        if not path.is_file():
            return f"{program} does not exist"
        if not os.access(str(path), os.X_OK):
            return f"{program} is not executable"
        return ""

    def _dry(self, script: Script) -> dict[str, Any]:
        problem = self._executable(script)
        if problem:
            return {"ok": False, "status": "failed", "dry_run": True, "detail": problem}
        return {
            "ok": True,
            "status": "done",
            "dry_run": True,
            "detail": f"would run {shlex.join(script.argv)} (timeout {script.timeout:g} s)",
        }

    def _track(self, proc: subprocess.Popen[bytes] | None, mine: list[Any]) -> None:
        with self._lock:
            if proc is None:
                self._procs.difference_update(mine)
                mine.clear()
                return
            mine.append(proc)
            self._procs.add(proc)
            closing = self._closing
        if closing:  # started while the receiver stops: it must not outlive it
            _kill(proc, signal.SIGKILL)

    def _run(self, script: Script, env: Mapping[str, str], body: bytes) -> Outcome:
        mine: list[Any] = []
        return run_script(
            script.argv,
            env,
            body,
            script.timeout,
            self.settings.workdir,
            lambda proc: self._track(proc, mine),
        )

    def _read(
        self, script: Script, env: dict[str, str], body: bytes, numbers: list[str]
    ) -> Response:
        """A VoIP read: the script runs every time (it changes nothing), synchronously."""
        env["ARBITER_DRY_RUN"] = "true"
        if not self._slots.acquire(blocking=False):
            return self._busy()
        try:
            outcome = self._run(script, env, body)
        finally:
            self._slots.release()
        answer = answer_of(outcome, script.timeout)
        if answer["ok"]:
            current = _current(outcome.stdout, numbers)
            if current is not None:
                answer["current"] = current
                answer["detail"] = f"{len(current)} of {len(numbers)} numbers known"
        return 200, answer, {}

    def _busy(self) -> Response:
        running = self.settings.max_running
        return (
            503,
            {"ok": False, "error": f"busy: all {running} script slots are in use (max_running)"},
            {"Retry-After": str(BUSY_RETRY_AFTER)},
        )

    def _once(
        self, key: str, phase: str, script: Script, env: dict[str, str], body: bytes
    ) -> Response:
        """Start the script for ``key`` unless it ran or runs; wait up to ``sync_wait``."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                recorded = self.results.load(key)
                if recorded is not None:
                    return 200, self._recorded(key, recorded), {}
                if self._closing or not self._slots.acquire(blocking=False):
                    return self._busy()
                job = _Job(key, phase, time.monotonic())
                self._jobs[key] = job
                try:
                    # Before it starts: if the receiver dies now, the step is never run twice.
                    self.results.save(
                        key,
                        {"key": key, "phase": phase, "status": "running", "started": self._clock()},
                    )
                except OSError as exc:
                    del self._jobs[key]
                    self._slots.release()
                    return _failed(f"cannot record the call in state_dir: {exc.strerror}")
                threading.Thread(
                    target=self._execute, args=(job, script, env, body), daemon=True
                ).start()
        job.done.wait(script.sync_wait)
        if job.answer is not None:
            return 200, dict(job.answer), {}
        running = time.monotonic() - job.started
        return (
            200,
            {
                "ok": True,
                "status": "pending",
                "detail": f"running for {running:.0f} s (timeout {script.timeout:g} s)",
            },
            {},
        )

    def _execute(self, job: _Job, script: Script, env: dict[str, str], body: bytes) -> None:
        try:
            outcome = self._run(script, env, body)
            answer = answer_of(outcome, script.timeout)
            if self._closing:  # killed by a stop: left "running", answered unknown later
                log.warning("%s %s: killed as the receiver stops", job.phase, job.key)
                return
            record = {
                "key": job.key,
                "phase": job.phase,
                "status": answer["status"],
                "answer": answer,
                "finished": self._clock(),
            }
            try:
                self.results.save(job.key, record)
            except OSError as exc:
                log.error("cannot record the result of %s: %s", job.key, exc.strerror)
            log.info("%s %s: %s (%s)", job.phase, job.key, answer["status"], answer["detail"])
            job.answer = answer
        finally:
            with self._lock:
                self._jobs.pop(job.key, None)
            self._slots.release()
            job.done.set()

    def _recorded(self, key: str, record: dict[str, Any]) -> dict[str, Any]:
        answer = record.get("answer")
        if record.get("status") in ("done", "failed") and isinstance(answer, dict):
            return dict(answer)
        if record.get("status") == "running":
            detail = (
                "the script's outcome is unknown (the receiver stopped while it ran, or "
                "state_dir could not be written); it is not run again: check by hand, then "
                "ack the switch"
            )
        else:
            detail = "the recorded result of this call cannot be read; the script is not run again"
        answer = {"ok": False, "status": "failed", "detail": detail}
        with contextlib.suppress(OSError):
            self.results.save(key, {**record, "status": "failed", "answer": answer})
        return answer

    def close(self) -> None:
        """Kill the scripts still running (their calls stay unanswered: never run twice)."""
        with self._lock:
            self._closing = True
            procs = list(self._procs)
        for proc in procs:
            _kill(proc, signal.SIGKILL)


def _current(stdout: bytes, numbers: list[str]) -> dict[str, str] | None:
    """A read script's answer: a JSON object ``{"<number>": "<target>"}``, bare or under
    ``current``, as its whole output or its last line. None: it printed none."""
    text = stdout.decode("utf-8", "replace")
    found: Any = None
    for candidate in (text, last_line(stdout)):
        try:
            found = json.loads(candidate)
            break
        except ValueError:
            continue
    if not isinstance(found, dict):
        return None
    table = found["current"] if isinstance(found.get("current"), dict) else found
    return {n: table[n] for n in numbers if isinstance(table.get(n), str)}


# --- HTTP -------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server: Server
    timeout = REQUEST_TIMEOUT
    server_version = "arbiter-receiver"

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        # The socket timeout bounds each read; the timer bounds the whole request, so a client
        # that drips its bytes cannot hold one of the MAX_CONNECTIONS for long.
        self.request.settimeout(self.timeout)
        self._reading = threading.Timer(REQUEST_TIMEOUT, self._cut)
        self._reading.daemon = True
        self._reading.start()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in this connection's thread, not in accept
        super().setup()

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._reading.cancel()
        super().finish()

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self._send(*_refused(411, "send a Content-Length, not a chunked body"))
            return
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            self._send(*_refused(411, "Content-Length is required"))
            return
        if int(length) > BODY_LIMIT:
            self.close_connection = True  # the body is not read
            self._send(*_refused(413, f"the body is larger than {BODY_LIMIT // 1024} KiB"))
            return
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            return  # the client hung up, or took too long to send
        self._reading.cancel()  # the script may take sync_wait: not the client's time
        self._send(*self.server.receiver.handle(dict(self.headers.items()), body, self._client()))

    def _refuse_method(self) -> None:
        self._reading.cancel()
        self._send(405, {"ok": False, "error": "only POST"}, {"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse_method

    def _client(self) -> str:
        return str(self.client_address[0]) if self.client_address else "-"

    def _send(self, code: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Not the request line: a URL may carry a token. ``handle`` logs each call."""

    def log_error(self, format: str, *args: Any) -> None:
        log.warning("bad request from %s", self._client())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, receiver: Receiver, tls: ssl.SSLContext | None = None) -> None:
        settings = receiver.settings
        self.address_family = socket.AF_INET6 if ":" in settings.listen else socket.AF_INET
        self.receiver = receiver
        self._tls = tls
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((settings.listen, settings.port), Handler)

    @property
    def url(self) -> str:
        host, port = _address(self.server_address)
        shown = f"[{host}]" if ":" in host else host
        return f"{'https' if self._tls else 'http'}://{shown}:{port}"

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # without HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = _address(self.server_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            log.warning(
                "%d connections open: one from %s closed", MAX_CONNECTIONS, client_address[0]
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        kind = sys.exc_info()[0]
        log.warning(
            "connection from %s failed: %s", client_address[0], kind.__name__ if kind else "?"
        )


def _address(address: Any) -> tuple[str, int]:
    host, port = address[:2]
    return (host.decode() if isinstance(host, bytes) else str(host)), int(port)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    return context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="receiver.py",
        description="Run the operator's scripts for Arbiter's signed fence, hook and VoIP calls.",
    )
    parser.add_argument("--config", required=True, help="the receiver's JSON config")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        settings = load_settings(Path(args.config))
    except ConfigError as exc:
        print(f"receiver: {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK (phases: {', '.join(sorted(settings.scripts))})")
        return 0
    try:
        receiver = Receiver(settings)
        server = Server(receiver, tls_context(settings))
    except (OSError, ssl.SSLError) as exc:
        print(f"receiver: cannot start: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on %s (phases: %s)", server.url, ", ".join(sorted(settings.scripts)))
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        receiver.close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
