"""Each handler module's cold import time, as a ratio to a bare ``import boto3``.

Run as ``python bench/cold_start.py`` (``make bench``). For every Lambda entry point in
``functions/arbiter/handlers/`` (a module with a top-level ``def handler``), a fresh
interpreter imports ``arbiter.handlers.<name>`` from ``build/asset-host`` (the asset's layout,
wheels for this machine) with the environment the functions get, and nothing from the
development virtualenv (``-S``); alternated with a fresh interpreter that imports boto3 from
the runtime's stand-in (``bench/lambda_env.py``). After one untimed warm-up of each (which
also writes the bytecode caches), ``--repeat`` rounds; each figure is a median of the import
alone (interpreter start-up excluded). Exits non-zero when a handler's median exceeds 1.3x
boto3's.

The last column goes on to what the first invocation does before its first AWS call (which
imports boto3): load the config and validate the function's sample event, which imports the
Powertools parser and builds the models deferred to first use. Printed, not judged.

With ``--from-source`` the handlers import without bytecode caches, as on Lambda, whose
read-only ``/var/task`` keeps Python from caching what it compiles (boto3 keeps its bytecode,
as the runtime's copy has it): printed, not judged.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lambda_env import ROOT, host_asset, lambda_env, python_command

REPEAT = 7
MAX_RATIO = 1.3
HANDLERS = ROOT / "functions" / "arbiter" / "handlers"
_TIMED = """
import json, sys, time
wall, cpu = time.perf_counter(), time.process_time()
__import__(sys.argv[1])
figures = [time.perf_counter() - wall, time.process_time() - cpu]
if len(sys.argv) > 2:  # what a first invocation adds before its first AWS call
    from arbiter import runtime
    runtime.config_from_env()
    with open(sys.argv[2]) as sample:
        event = json.load(sample)
    exec(sys.argv[3], {"event": event})
    figures.append(time.perf_counter() - wall)
print(*figures)
"""
FIRST_EVENT = {
    "probe": ("probe-schedule.json", "events.parse(event, events.ScheduleEvent)"),
    "decide": ("decide-stream.json", "events.StreamEvent.model_validate(event)"),
    "act": ("act.json", "events.ActEvent.model_validate(event)"),
    "notify": ("notify-sns-alert.json", "notify.notify_event().model_validate(event)"),
    "override": ("override-status.json", "override.COMMAND.validate_python(event)"),
}
"""Each function's sample event and how its handler validates it first thing: the Powertools
parser and the models built on first use are part of a cold start's first invocation."""
_FIRST_IMPORTS = (
    "from arbiter.handlers import events, notify\nfrom arbiter.services import override\n"
)


@dataclass
class Figures:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    first_call: list[float] = field(default_factory=list)

    def add(self, values: list[float]) -> None:
        self.wall.append(values[0])
        self.cpu.append(values[1])
        if len(values) > 2:
            self.first_call.append(values[2])


def entry_points() -> list[str]:
    """Handler modules Lambda runs (``def handler`` at the top level), by name."""
    return sorted(
        path.stem
        for path in HANDLERS.glob("*.py")
        if re.search(r"^def handler\(", path.read_text(encoding="utf-8"), re.MULTILINE)
    )


def import_seconds(module: str, env: dict[str, str], *extra: str) -> list[float]:
    """[wall, cpu] seconds of the import in a fresh interpreter (and the wall time until the
    config is loaded and the sample event validated, given ``event_file, validation``)."""
    done = subprocess.run(
        python_command(_TIMED, module, *extra),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"FAIL: import {module} failed:\n{done.stderr[-3000:]}")
    return [float(v) for v in done.stdout.strip().splitlines()[-1].split()]


def first(name: str) -> tuple[str, ...]:
    """The extra arguments that time ``name``'s first event too (none for a handler without
    a sample: a new entry point)."""
    if name not in FIRST_EVENT:
        return ()
    sample, validation = FIRST_EVENT[name]
    return str(ROOT / "events" / sample), _FIRST_IMPORTS + validation


def drop_bytecode(tree: Path) -> None:
    for cache in tree.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument(
        "--from-source", action="store_true", help="also time the handlers without bytecode"
    )
    args = parser.parse_args(argv)

    asset = host_asset()
    drop_bytecode(asset)
    names = entry_points()
    envs = {name: lambda_env(asset, name) for name in names}
    boto_env = envs[names[0]]
    for name in names:  # warm-up: bytecode caches, page cache
        import_seconds(f"arbiter.handlers.{name}", envs[name])
    import_seconds("boto3", boto_env)

    handlers = {name: Figures() for name in names}
    boto = Figures()
    for _ in range(args.repeat):
        for name in names:  # each handler next to a boto3 import, so both see the same load
            handlers[name].add(import_seconds(f"arbiter.handlers.{name}", envs[name], *first(name)))
            boto.add(import_seconds("boto3", boto_env))
    source: dict[str, list[float]] = {}
    if args.from_source:
        for name in names:
            env = {**envs[name], "PYTHONDONTWRITEBYTECODE": "1"}
            drop_bytecode(asset)
            source[name] = [
                import_seconds(f"arbiter.handlers.{name}", env)[0] for _ in range(args.repeat)
            ]

    base, base_cpu = statistics.median(boto.wall), statistics.median(boto.cpu)
    load = os.getloadavg()
    print(f"asset:        {asset.relative_to(ROOT)} (wheels for this machine), python -S")
    print(f"repetitions:  {args.repeat}, each handler alternated with a bare import boto3")
    print(f"import boto3: median {base * 1000:.0f} ms (cpu {base_cpu * 1000:.0f} ms)"
          f"  [{_spread(boto.wall)}]")  # fmt: skip
    print("handler       import (median)  ratio   cpu ratio  + config and first event")
    code = 0
    for name in names:
        figures = handlers[name]
        median = statistics.median(figures.wall)
        ratio = median / base
        cpu_ratio = statistics.median(figures.cpu) / base_cpu
        loaded = statistics.median(figures.first_call) if figures.first_call else math.nan
        verdict = "" if ratio <= MAX_RATIO else f"  FAIL (limit {MAX_RATIO}x)"
        print(f"{name:<12}  {median * 1000:6.0f} ms       {ratio:4.2f}x  {cpu_ratio:4.2f}x"
              f"      {loaded * 1000:6.0f} ms ({loaded / base:.2f}x){verdict}")  # fmt: skip
        code |= ratio > MAX_RATIO
    for name, values in source.items():
        median = statistics.median(values)
        print(f"{name:<12}  from source {median * 1000:4.0f} ms  {median / base:.2f}x boto3")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    if code:
        print(f"FAIL: a handler imports in more than {MAX_RATIO}x boto3's time", file=sys.stderr)
    return int(code)


def _spread(values: list[float]) -> str:
    return " ".join(f"{v * 1000:.0f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
