"""The probe function, built from its environment as Lambda builds it, writing to a table that
accepts connections and never answers: each round's PutItem fails within the round's budget,
the round's results are still logged, the failure is logged and counted, the next round runs."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from arbiter import runtime
from arbiter.core.schedule import round_budget
from arbiter.handlers import probe
from arbiter.local.context import LocalContext
from arbiter.observability import logger, metrics
from tests.factories import T0, config_dict
from tests.integration.servers import HttpSite, TcpSite

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(60),
]
EVENTS = Path(__file__).resolve().parents[2] / "events"


def stdout_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines that the Logger and the metrics printed (EMF blobs have ``_aws``)."""
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def emitted(records: list[dict[str, Any]], name: str) -> list[float]:
    """The values of metric ``name`` over every EMF blob."""
    values: list[float] = []
    for record in records:
        names = [
            m["Name"]
            for d in record.get("_aws", {}).get("CloudWatchMetrics", [])
            for m in d["Metrics"]
        ]
        if name in names:
            value = record[name]
            values.extend(value if isinstance(value, list) else [value])
    return values


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the Logger writes (its handler holds the stdout of import time, which no capture
    fixture sees)."""
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)
    try:
        yield buffer
    finally:
        logger.registered_handler.setStream(previous)


@pytest.fixture
def stalled_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TcpSite]:
    """The probe's environment, its AWS endpoint a loopback port that accepts and is silent."""
    with HttpSite() as site, TcpSite(banner=None) as table:
        data = config_dict(probe={"interval": "30s"})
        for name in ("primary", "secondary"):
            data["services"][0][name]["checks"] = [
                {"type": "http", "name": "health", "url": site.url_for("/"), "timeout": 2}
            ]
        config_file = tmp_path / "arbiter_config.json"
        config_file.write_text(json.dumps(data))
        for key, value in {
            "ARBITER_CONFIG_FILE": str(config_file),
            "ARBITER_TABLE": "arbiter-table",
            "ARBITER_TABLE_REGION": "eu-west-1",
            "ARBITER_REGION_LABEL": "eu-central-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{table.port}",
        }.items():
            monkeypatch.setenv(key, value)
        # The demo disables metrics for the process, and Powertools then keeps what it was given.
        monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        metrics.clear_metrics()
        runtime.install(None)
        try:
            yield table
        finally:
            runtime.install(None)


def test_a_stalled_table_write_fails_within_the_round_budget(
    stalled_table: TcpSite, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the probe built from its environment, two rounds a minute (virtual waits)
    rt = runtime.current()
    now = [T0]
    rt.clock = lambda: now[0]

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    rt.sleep = sleep
    budget = round_budget(rt.config)

    # When it runs against a table that never answers
    start = time.monotonic()
    result = probe.handler(json.loads((EVENTS / "probe-schedule.json").read_text()), LocalContext())
    took = time.monotonic() - start

    # Then both rounds ran, and each one's write gave up within the round's budget
    assert result == {"region": "eu-central-1", "rounds": 2}
    records = stdout_records(capsys.readouterr().out)  # the metrics (EMF)
    round_ms = emitted(records, "ProbeRoundMs")
    assert len(round_ms) == 2
    assert all(ms < budget * 1000 for ms in round_ms), (round_ms, budget)
    assert took < 2 * budget
    # ...each round's results are logged, with why they were not recorded
    logs = stdout_records(log_lines.getvalue())
    logged = [r for r in logs if r.get("message") == "round not recorded"]
    assert len(logged) == 2
    for line in logged:
        assert line["level"] == "ERROR"
        assert line["service"] == "web" and line["region"] == "eu-central-1"
        assert line["sites"] == {"primary": True, "secondary": True}
        assert line["write_error"] == "DynamoDB put_item: ReadTimeoutError"
    # ...and the failure is counted, not a round recorded
    assert emitted(records, "ObservationWriteFailures") == [1.0, 1.0]
    assert emitted(records, "RoundsRecorded") == []
    assert emitted(records, "CheckFailures") == [0.0, 0.0]
