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
from arbiter.observability import metrics
from tests.emf import emitted, logged, stdout_records
from tests.factories import T0, config_dict
from tests.integration.servers import HttpSite, TcpSite

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1", "::1"]),
    pytest.mark.timeout(60),
]
EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    with logged() as buffer:
        yield buffer


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


def queued_round(at: str) -> dict[str, Any]:
    """The rounds queue's event for the round at ``at`` (the sample, another boundary)."""
    event = json.loads((EVENTS / "probe-sqs.json").read_text())
    event["Records"][0]["body"] = json.dumps({"round_at": at})
    return event


def test_a_stalled_table_write_fails_within_the_round_budget(
    stalled_table: TcpSite, log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the probe built from its environment, 30 s rounds queued by the ticker
    rt = runtime.current()
    now = [T0]
    rt.clock = lambda: now[0]
    budget = round_budget(rt.config)

    # When two rounds run against a table that never answers, each when its message arrives
    start = time.monotonic()
    results = []
    for offset in (0, 30):
        now[0] = T0 + timedelta(seconds=offset)
        results.append(probe.handler(queued_round(now[0].isoformat()), LocalContext()))
    took = time.monotonic() - start

    # Then both rounds ran, and each one's write gave up within the round's budget
    assert results == [{"region": "eu-central-1", "rounds": 1, "stale": 0}] * 2
    records = stdout_records(capsys.readouterr().out)  # the metrics (EMF)
    assert took < 2 * budget
    # ...each round's results are logged, with why they were not recorded and how long the
    # round took
    logs = stdout_records(log_lines.getvalue())
    unrecorded = [r for r in logs if r.get("message") == "round not recorded"]
    assert len(unrecorded) == 2
    for line in unrecorded:
        assert line["level"] == "ERROR"
        assert line["service"] == "web" and line["region"] == "eu-central-1"
        assert line["up"] == {"primary": 1, "secondary": 1}
        assert line["write_error"] == "DynamoDB put_item: ReadTimeoutError"
        assert 0 < line["round_ms"] < budget * 1000, (line["round_ms"], budget)
    # ...and the failure is the one metric sent
    assert emitted(records, "ObservationWriteFailures") == [1.0, 1.0]
    assert [r for r in records if "_aws" in r and "ObservationWriteFailures" not in r] == []
