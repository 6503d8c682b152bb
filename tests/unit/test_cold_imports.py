"""What each Lambda entry point imports at cold start: the heavy libraries a handler does not
need on every call stay out until the call that uses them (``bench/cold_start.py`` times it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
NEVER_AT_IMPORT = [
    "boto3",  # imported with the first client (runtime._client)
    "botocore.client",
    "botocore.exceptions",  # with the first call (adapters/aws.py)
    "requests",  # with the first post (hooks.py, http.py)
    "urllib3",
    "yaml",  # the functions read the config as JSON (core/yaml_text.py)
    "dns",  # with the first DNS check or record parse (checks/dns.py, core/records.py)
    # with the first event: Powertools' parser package and its models (handlers/events.py)
    "aws_lambda_powertools.utilities.parser",
    # with the first validator pydantic builds (its plugin scan): none is built at import
    "pydantic.plugin._loader",
    "importlib.metadata",
]
ALSO_NOT = {
    "probe": ["arbiter.core.runbook"],
    "decide": ["arbiter.core.runbook", "arbiter.adapters.checks"],
    "act": ["arbiter.adapters.checks"],
    "notify": ["arbiter.core.runbook"],
    "override": ["arbiter.core.runbook"],
    "tick": ["arbiter.core.runbook", "arbiter.adapters.checks", "arbiter.core.config"],
}


def imported_by(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("handler", sorted(ALSO_NOT))
def test_a_handler_imports_no_more_than_it_needs_on_every_call(handler: str) -> None:
    modules = imported_by(f"arbiter.handlers.{handler}")
    assert f"arbiter.handlers.{handler}" in modules
    unwanted = [*NEVER_AT_IMPORT, *ALSO_NOT[handler]]
    assert [m for m in unwanted if m in modules] == []


def test_every_entry_point_is_covered() -> None:
    """A new handler (``def handler`` at the top level) gets its own line in ALSO_NOT."""
    entry_points = {
        path.stem
        for path in (FUNCTIONS / "arbiter" / "handlers").glob("*.py")
        if "\ndef handler(" in path.read_text(encoding="utf-8")
    }
    assert entry_points == set(ALSO_NOT)
