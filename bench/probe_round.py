"""One probe round of 200 HTTP checks, timed against ``curl --parallel`` on the same server.

Run as ``python bench/probe_round.py`` (``make bench``). One run:

1. starts a loopback server in a process of its own: 200 endpoints on 127.0.0.1, each
   answering 200 ms after its request, one asyncio loop that holds any number of connections
   at once (so the server is never what a round waits for);
2. after one untimed warm-up of each, alternates ``--repeat`` times the project's real round
   (``arbiter.adapters.checks.run_all`` over 200 ``HttpCheck``: what the probe function runs)
   with ``curl --parallel --parallel-immediate --parallel-max 200`` over the same URLs (one
   connection each, as the round opens; without ``--parallel-immediate`` curl 7.88 waits to
   multiplex on one HTTP/1.1 connection and takes the 40 s of the serial case), and prints both
   medians and their ratio;
3. measures the round's memory in a separate, untimed pass: tracemalloc's peak (Python
   allocations) and the growth of this process's peak RSS;
4. runs the probe function's handler as Lambda would, in a fresh process with only the asset
   on its path (``bench/lambda_env.py``), configured by its environment, its table on a moto
   server on loopback, for one round over the 200 endpoints and one over the example config's
   checks, and prints each process's peak RSS next to the probe's memory setting.

Exits non-zero when a check or curl fails, or when the round's median exceeds 1.2x curl's.
The figures are timings: nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lambda_env import EXAMPLE, ROOT, host_asset, lambda_env, python_command

from arbiter.adapters.checks import run_all
from arbiter.core import config_pickle
from arbiter.core.config import Config, HttpCheck, SiteName, parse_config, read_yaml

ENDPOINTS = 200
DELAY = 0.2
REPEAT = 7
MAX_RATIO = 1.2
TIMEOUT = 5.0
MIB = 1024 * 1024


# --- the loopback server (a process of its own) ------------------------------------------


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        path = head.split(b" ", 2)[1].decode("latin-1")
        await asyncio.sleep(DELAY)
        body = f"endpoint {path} OK".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        pass  # a TCP check connects and leaves: nothing to answer
    finally:
        writer.close()


async def _serve() -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Serve until the parent closes stdin (or exits).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


@contextmanager
def loopback_server() -> Iterator[int]:
    """The server process; yields its port."""
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
            raise SystemExit("FAIL: the loopback server did not start")
        yield port
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


# --- the round and curl -------------------------------------------------------------------


def urls(port: int, count: int) -> list[str]:
    return [f"http://127.0.0.1:{port}/ep/{i}" for i in range(count)]


def checks_for(port: int, count: int) -> list[HttpCheck]:
    return [
        HttpCheck(type="http", name=f"ep-{i}", url=url, expect_body=f"/ep/{i} OK", timeout=TIMEOUT)
        for i, url in enumerate(urls(port, count))
    ]


def time_round(checks: list[HttpCheck]) -> tuple[float, set[str]]:
    """Wall time of one round, and the reasons of the checks that failed."""
    start = time.perf_counter()
    results = run_all(checks)
    took = time.perf_counter() - start
    return took, {r.reason for r in results if not r.ok}


def curl_command(targets: list[str]) -> list[str]:
    command = ["curl", "--parallel", "--parallel-immediate", "--parallel-max", str(len(targets))]
    command += ["--silent", "--max-time", str(TIMEOUT), "--write-out", "%{http_code}\\n"]
    for url in targets:
        command += ["--output", "/dev/null", url]
    return command


def time_curl(command: list[str], expected: int) -> tuple[float, int]:
    """Wall time of one curl run (its process start included), and how many URLs did not
    answer 200."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    return took, expected - done.stdout.split().count("200")


# --- memory -------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM)."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def round_memory(checks: list[HttpCheck]) -> tuple[float, float, float]:
    """(tracemalloc peak, peak RSS before, peak RSS after) of one untimed round, in MiB."""
    before = peak_rss_mib()
    tracemalloc.start()
    run_all(checks)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / MIB, before, peak_rss_mib()


_PROBE = """
import json, sys
from arbiter.handlers import probe
from arbiter.local.context import LocalContext
with open(sys.argv[1]) as event:
    answer = probe.handler(json.load(event), LocalContext(function_name="arbiter-probe"))
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"answer": answer, "peak_kib": peak}))
"""
"""The probe function's invocation. Its peak is VmHWM, this process's high-water mark:
getrusage's ru_maxrss keeps the peak of the process before exec (a fork of this bench)."""


def endpoints_config(port: int, count: int) -> Config:
    """The example config with ``count`` HTTP checks on the loopback server instead of its
    own: 10 services (fewer when ``count`` is small), their checks split over both sites."""
    data: dict[str, Any] = read_yaml(EXAMPLE)
    template = data["services"][0]
    services = max(1, min(10, count // 20))
    services_data = []
    for number in range(services):
        service = json.loads(json.dumps(template))
        service["name"] = f"svc{number}"
        service["dns"]["records"] = [
            {**record, "name": f"s{number}-{record['name']}"}
            for record in service["dns"]["records"]
        ]
        service.pop("voip", None)
        services_data.append(service)
    for index in range(count):
        service = services_data[index % services]
        site = ("primary", "secondary")[(index // services) % 2]
        service[site].setdefault("_checks", []).append(
            {
                "type": "http",
                "name": f"ep-{index}",
                "url": f"http://127.0.0.1:{port}/ep/{index}",
                "expect_body": f"/ep/{index} OK",
                "timeout": "3s",
            }
        )
    for service in services_data:
        for site in ("primary", "secondary"):
            service[site]["checks"] = service[site].pop("_checks")
    data["services"] = services_data
    return parse_config(data)


def example_config(port: int) -> Config:
    """The example config, its checks pointed at the loopback server (the TCP checks connect
    to it without expecting a banner)."""
    data: dict[str, Any] = read_yaml(EXAMPLE)
    for service in data["services"]:
        for site in ("primary", "secondary"):
            for check in service[site]["checks"]:
                if check["type"] == "http":
                    check["url"] = f"http://127.0.0.1:{port}/ep/{check['name']}"
                    check["expect_body"] = f"/ep/{check['name']} OK"
                    check.pop("expect_body_not", None)
                elif check["type"] == "tcp":
                    check.update(host="127.0.0.1", port=port)
                    check.pop("expect_banner", None)
    return parse_config(data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe_rss(port: int) -> list[tuple[str, int, int, float]]:
    """[(config, checks, checks passed, peak RSS in MiB)] of the probe handler, each in a fresh
    process running one round, its table on a moto server."""
    import boto3
    from moto.server import ThreadedMotoServer

    from arbiter.local import aws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    asset = host_asset()
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    work = Path(tempfile.mkdtemp(prefix="bench-probe-"))
    endpoint = f"http://127.0.0.1:{moto_port}"
    figures: list[tuple[str, int, int, float]] = []
    try:
        for label, config in (
            (f"{ENDPOINTS} endpoints", endpoints_config(port, ENDPOINTS)),
            ("example config", example_config(port)),
        ):
            table = f"bench-{len(figures)}"
            dynamodb = boto3.client(
                "dynamodb",
                region_name=config.home_region,
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            aws.create_table(dynamodb, table)
            config_file = work / f"config-{len(figures)}.json"
            text = (config.model_dump_json(indent=2) + "\n").encode()
            config_file.write_bytes(text)  # as the asset carries it: JSON and its pickle
            config_file.with_suffix(config_pickle.SUFFIX).write_bytes(
                config_pickle.dump(config, text)
            )
            env = lambda_env(
                asset,
                "probe",
                {
                    "ARBITER_CONFIG_FILE": str(config_file),
                    "ARBITER_TABLE": table,
                    "ARBITER_REGION_LABEL": "eu-central-1",
                    "AWS_ENDPOINT_URL": endpoint,
                    "POWERTOOLS_METRICS_DISABLED": "true",
                },
            )
            done = subprocess.run(
                python_command(_PROBE, str(ROOT / "events" / "probe-schedule.json")),
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"FAIL: the probe handler ({label}):\n{done.stderr[-3000:]}")
            lines = done.stdout.strip().splitlines()
            answer = json.loads(lines[-1])
            if answer["answer"].get("rounds") != 1:
                raise SystemExit(f"FAIL: the probe handler ({label}) answered {answer['answer']}")
            checks = sum(
                len(service.site(site).checks) for service in config.services for site in SiteName
            )
            recorded, failing = _round_logged(lines)
            if recorded != len(config.services):
                raise SystemExit(f"FAIL: the probe handler ({label}) recorded {recorded} services")
            figures.append((label, checks, checks - failing, answer["peak_kib"] / 1024))
    finally:
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _round_logged(lines: list[str]) -> tuple[int, int]:
    """(services recorded, failing checks) from the handler's "round recorded" log lines."""
    recorded = failing = 0
    for line in lines:
        if line.startswith("{") and '"round recorded"' in line:
            record = json.loads(line)
            recorded += 1
            failing += sum(len(f) for f in record.get("failing", {}).values())
    return recorded, failing


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=ENDPOINTS)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--no-probe", action="store_true", help="skip the probe-handler RSS pass")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    if shutil.which("curl") is None:
        print("FAIL: curl is not installed", file=sys.stderr)
        return 1

    rounds: list[float] = []
    curls: list[float] = []
    failed: set[str] = set()
    curl_failed = 0
    with loopback_server() as port:
        checks = checks_for(port, args.endpoints)
        command = curl_command(urls(port, args.endpoints))
        time_round(checks)  # warm-up: first thread starts, lazy imports
        time_curl(command, len(checks))
        for rep in range(args.repeat):
            # Alternate who goes first, so neither always runs right after the other.
            for who in ("round", "curl") if rep % 2 == 0 else ("curl", "round"):
                if who == "round":
                    took, reasons = time_round(checks)
                    rounds.append(took)
                    failed |= reasons
                else:
                    took, missing = time_curl(command, len(checks))
                    curls.append(took)
                    curl_failed += missing
        peak, rss_before, rss_after = round_memory(checks)
        probes = [] if args.no_probe else probe_rss(port)

    from infra.lambdas import PROBE

    round_median, curl_median = statistics.median(rounds), statistics.median(curls)
    ratio = round_median / curl_median
    load = os.getloadavg()
    print(f"endpoints:         {len(checks)} on 127.0.0.1, each answers in {DELAY * 1000:.0f} ms")
    print(f"repetitions:       {args.repeat} of each, alternated, after one warm-up of each")
    print(f"round (run_all):   median {round_median:.3f} s  [{_spread(rounds)}]")
    print(f"curl --parallel:   median {curl_median:.3f} s  [{_spread(curls)}]")
    print(f"ratio:             {ratio:.2f}x curl (limit {MAX_RATIO}x)")
    print(
        f"round memory:      tracemalloc peak {peak:.1f} MiB; "
        f"bench process peak RSS {rss_before:.1f} -> {rss_after:.1f} MiB"
    )
    for label, count, passed, rss in probes:
        print(
            f"probe handler:     peak RSS {rss:.1f} MiB, fresh process, one round, {label} "
            f"({passed}/{count} checks passed)"
        )
    print(f"probe memory:      {PROBE.memory_mb} MB configured (infra/lambdas.py PROBE)")
    print(f"load average:      {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    code = 0
    if failed:
        print(f"FAIL: checks failed: {', '.join(sorted(failed))}", file=sys.stderr)
        code = 1
    if curl_failed:
        print(f"FAIL: curl got {curl_failed} answers other than 200", file=sys.stderr)
        code = 1
    if any(passed != count for _, count, passed, _ in probes):
        print("FAIL: a check of the probe handler's round failed", file=sys.stderr)
        code = 1
    if ratio > MAX_RATIO:
        print(f"FAIL: the round took {ratio:.2f}x curl (limit {MAX_RATIO}x)", file=sys.stderr)
        code = 1
    return code


def _spread(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
