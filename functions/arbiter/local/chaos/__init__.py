"""The chaos suite: the real probe, decide, act and override handlers against moto and two
loopback data centers, through scenarios that break the sites, the regions' views, AWS and
the act invocations, in virtual time. Each scenario is scored against the truth the harness
knows (see ``score``); ``arbiter chaos`` prints the table and exits non-zero when any count
is not zero or a scenario did not produce the switches it expects.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from arbiter.local.chaos.harness import Harness
from arbiter.local.chaos.scenarios import BY_NAME, SCENARIOS
from arbiter.local.chaos.score import Outcome, as_json, header, row, total_row
from arbiter.local.chaos.world import Scenario

__all__ = ["BY_NAME", "SCENARIOS", "Outcome", "Scenario", "run", "run_scenario"]

_ENV = {
    "AWS_ACCESS_KEY_ID": "chaos",
    "AWS_SECRET_ACCESS_KEY": "chaos",
    "AWS_SESSION_TOKEN": "chaos",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@contextlib.contextmanager
def _fake_aws() -> Iterator[None]:
    """Fake credentials for moto, and no metrics; the environment is restored after."""
    saved = {key: os.environ.get(key) for key in [*_ENV, "AWS_PROFILE"]}
    os.environ.update(_ENV)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The handlers' JSON logs and metrics stay out of the table: scenarios fail things on
    purpose, and every failure logs."""
    from arbiter.observability import logger

    level = logger.log_level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # powertools: "No application metrics to publish"
            yield
    finally:
        logger.setLevel(level)


def run_scenario(scenario: Scenario) -> Outcome:
    import boto3
    from moto import mock_aws

    began = time.perf_counter()
    with _fake_aws(), _quiet(), mock_aws():
        harness = Harness(scenario, boto3)
        try:
            harness.setup()
            harness.run()
            harness.drain()
            harness.finish()
        finally:
            harness.close()
    return harness.outcome(time.perf_counter() - began)


def run(
    names: Sequence[str] = (),
    out: TextIO | None = None,
    json_output: bool = False,
    timeline: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> int:
    """Run the named scenarios (all by default); print the table (or JSON). Returns the exit
    status: 0 when every count is 0 and every scenario produced what it expects."""
    out = out or sys.stdout
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        known = ", ".join(BY_NAME)
        print(f"unknown scenario {', '.join(unknown)}; known: {known}", file=sys.stderr)
        return 2
    scenarios = [BY_NAME[n] for n in names] if names else SCENARIOS
    width = max(len("TOTAL (00 scenarios)"), *(len(s.name) for s in scenarios))
    if not json_output:
        print(header(width), file=out, flush=True)
    outcomes = []
    for scenario in scenarios:
        outcome = run_scenario(scenario)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
        if json_output:
            continue
        print(row(outcome, width), file=out, flush=True)
        for problem in outcome.problems:
            print(f"  NOT AS EXPECTED: {problem}", file=out)
        if timeline or not outcome.ok:
            for line in outcome.timeline:
                print(f"    {line}", file=out)
    if json_output:
        print(as_json(outcomes), file=out)
    else:
        print(total_row(outcomes, width), file=out)
    return 0 if all(o.ok for o in outcomes) else 1
