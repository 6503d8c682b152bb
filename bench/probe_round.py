"""One probe round of 200 HTTP checks against loopback endpoints that each answer in 200 ms.

Run as ``python bench/probe_round.py``. In series the round would take 40 s; the probe runs
its checks concurrently, so it must finish in under 1 s. Exits non-zero when a check fails
or the round is too slow. Prints wall time, the round's tracemalloc peak and the process's
peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arbiter.adapters.checks import run_all
from arbiter.core.config import HttpCheck

ENDPOINTS = 200
DELAY = 0.2
LIMIT = 1.0


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(DELAY)
        body = f"endpoint {self.path} OK".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve() -> None:
    """The server process: print the port, then serve until stdin closes."""
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    server.shutdown()
    server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=ENDPOINTS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0

    # The servers run in their own process, as the real sites do: the round's time and
    # memory are the probe's alone, not shared with 200 handler threads under one GIL.
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline() or "0")
        if not port:
            print("FAIL: the server process did not start", file=sys.stderr)
            return 1
        checks = [
            HttpCheck(
                type="http",
                name=f"ep-{i}",
                url=f"http://127.0.0.1:{port}/ep/{i}",
                expect_body=f"/ep/{i} OK",
                timeout=5,
            )
            for i in range(args.endpoints)
        ]
        tracemalloc.start()
        start = time.perf_counter()
        results = run_all(checks)
        wall = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)

    passed = sum(r.ok for r in results)
    failures = sorted({r.reason for r in results if not r.ok})
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    serial = len(checks) * DELAY
    print(f"checks:           {len(checks)} ({DELAY * 1000:.0f} ms each, {serial:.0f} s in series)")
    print(f"wall time:        {wall:.3f} s")
    print(f"passed:           {passed}/{len(checks)}")
    print(f"tracemalloc peak: {peak / 2**20:.1f} MiB (the round)")
    print(f"maxrss:           {maxrss_mib:.1f} MiB (the probe process)")
    if failures:
        print(f"failure reasons:  {', '.join(failures)}")
    if passed != len(checks) or wall >= LIMIT:
        print(f"FAIL: every check must pass in under {LIMIT:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
