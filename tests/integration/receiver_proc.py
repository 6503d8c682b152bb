"""The reference receiver as an operator runs it: the one file copied into a directory of its
own and started with ``python3 -I receiver.py --config receiver.json`` (isolated: it cannot
import Arbiter or anything installed next to it by this test run's path).

    with ReceiverProcess(tmp_path, {"fence": {"argv": ["./fence.sh"]}}, key) as receiver:
        receiver.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

from arbiter import receiver as module

START_WAIT = 15.0
STOP_WAIT = 15.0
_LISTENING = re.compile(r"listening on (https?://\S+)")


class ReceiverProcess:
    def __init__(
        self, directory: Path, phases: dict[str, Any], key: bytes, **settings: Any
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.program = directory / "receiver.py"
        shutil.copyfile(module.__file__, self.program)
        key_file = directory / "key"
        key_file.write_bytes(key + b"\n")
        key_file.chmod(0o600)
        self.config = directory / "receiver.json"
        self.config.write_text(
            json.dumps(
                {"port": 0, "key_file": "key", "state_dir": "state", "phases": phases, **settings}
            )
        )
        self.log = directory / "receiver.log"
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-I", str(self.program), "--config", str(self.config), *extra]

    def start(self) -> Self:
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(), stdout=log, stderr=log, cwd=self.directory
            )
        until = time.monotonic() + START_WAIT
        while time.monotonic() < until:  # bounded
            found = _LISTENING.search(self.log.read_text())
            if found:
                self.url = found.group(1)
                # A restart takes the same port again (the world's config holds the URL).
                config = json.loads(self.config.read_text())
                config["port"] = int(self.url.rsplit(":", 1)[1])
                self.config.write_text(json.dumps(config))
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the receiver did not start:\n{self.log.read_text()}")

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_WAIT)
        return proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
