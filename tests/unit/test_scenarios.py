"""Every shipped scenario runs the real core in virtual time and produces what it expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.core.errors import ConfigError
from arbiter.local.simulator import report, simulate

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def test_at_least_fifteen_scenarios_ship() -> None:
    assert len(SCENARIOS) >= 15


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_outcome_is_as_expected(path: Path) -> None:
    result = simulate(path)
    assert result.ok, report(result)
    assert result.rounds > 0 and result.decide_passes > 0


def test_primary_outage_timeline_and_detection() -> None:
    result = simulate(SCENARIOS[0])
    failover, failback = result.switches
    assert failover.fault_at == 600 and failover.detection is not None
    # fall 3 at 60 s in two of three regions whose phases are spread by 20 s
    assert 120 <= failover.detection <= 180
    assert failback.at - 2400 >= 300  # primary healthy at 40m, hold 5m
    text = report(result)
    assert "*** primary down" in text and "as expected" in text


def test_fast_config_beats_route53_default() -> None:
    result = simulate(next(p for p in SCENARIOS if "fast" in p.stem))
    detection = result.switches[0].detection
    assert detection is not None and detection < 90  # Route 53: 30 s x 3 failures


def test_degraded_monitor_counts_a_missed_switch() -> None:
    result = simulate(next(p for p in SCENARIOS if "no-quorum" in p.stem))
    assert len(result.missed) == 1
    assert result.events["monitor_degraded"] == 1


def test_expectations_can_fail(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(
        SCENARIOS[0].read_text().replace("switches: [secondary, primary]", "switches: []")
    )
    (tmp_path / "arbiter.example.yaml").write_text(
        (SCENARIOS[0].parents[1] / "arbiter.example.yaml").read_text()
    )
    scenario.write_text(
        scenario.read_text().replace("../arbiter.example.yaml", "arbiter.example.yaml")
    )
    result = simulate(scenario)
    assert not result.ok
    assert result.failures[0] == "switches ['secondary', 'primary'], expected []"


def test_bad_scenario_is_a_clear_error(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "name: x\nduration: 1h\nconfig: nowhere.yaml\n"
        "timeline:\n  - {kind: slow, site: primary, at: 5m}\n  - {kind: meteor}\n"
    )
    with pytest.raises(ConfigError) as caught:
        simulate(scenario)
    problems = caught.value.problems
    assert any(p.startswith("timeline[0]: a slow fault needs delay") for p in problems)
    assert any(p.startswith("timeline[1]: Input tag 'meteor'") for p in problems)
