"""Every shipped scenario runs the real core in virtual time and produces what it expects."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.core import machine
from arbiter.core.errors import ConfigError
from arbiter.local.simulator import EVENT_KINDS, load_scenario, report, simulate

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


# -- a scenario is checked completely when it loads ----------------------------------------

EXAMPLE = SCENARIOS[0].parents[1] / "arbiter.example.yaml"


def problems_of(tmp_path: Path, body: str, name: str = "x.yaml") -> list[str]:
    """The problems of a scenario over the example config (``body``: its other keys)."""
    path = tmp_path / name
    path.write_text(f"name: x\nconfig: {EXAMPLE}\nduration: 1h\n{body}", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    return caught.value.problems


def test_operator_commands_are_checked_at_load(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "timeline:\n"
        "  - {kind: down, site: primary, at: 10m}\n"
        "  - {kind: operator, at: 5m, command: {command: pause}}\n"
        "  - {kind: operator, at: 6m, command: {command: resume, bogus: 1}}\n"
        "  - {kind: operator, at: 7m, command: {command: switch, to: tertiary, reason: x}}\n"
        "  - {kind: operator, at: 8m, command: {command: explode}}\n",
    )
    assert found[0] == "timeline[2].command.bogus: unknown key"
    assert found[1] == "timeline[3].command.to: Input should be 'primary' or 'secondary'"
    assert found[2].startswith("timeline[4].command: Input tag 'explode' found using 'command'")
    assert len(found) == 3


def test_the_service_must_exist_and_commands_must_name_it(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "service: api\n") == [
        "service: 'api' is not a service of the config (web)"
    ]
    command = "{command: pause, service: api}"
    assert problems_of(tmp_path, f"timeline:\n  - {{kind: operator, command: {command}}}\n") == [
        "timeline[0].command.service: 'api' is not the simulated service 'web'"
    ]


def test_regions_must_be_probe_regions_of_the_config(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "timeline:\n"
        "  - {kind: down, site: primary, at: 10m, regions: [eu-west-1, eu-north-9]}\n"
        "  - {kind: stale, region: us-west-2}\n",
    )
    regions = "(eu-west-1, eu-central-1, us-east-1)"
    assert found == [
        f"timeline[0].regions[1]: 'eu-north-9' is not a probe region of the config {regions}",
        f"timeline[1].region: 'us-west-2' is not a probe region of the config {regions}",
    ]


def test_a_skew_needs_its_offset_and_a_probe_region(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "timeline:\n  - {kind: skew, region: eu-west-1, at: 5m}\n")
    assert found == [
        "timeline[0]: a skew fault needs ahead (how far the region's clock runs ahead)"
    ]
    found = problems_of(tmp_path, "timeline:\n  - {kind: skew, region: mars-1, ahead: 1h}\n")
    assert found == [
        "timeline[0].region: 'mars-1' is not a probe region of the config "
        "(eu-west-1, eu-central-1, us-east-1)"
    ]


def test_checks_must_exist_on_that_site(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path, "timeline:\n  - {kind: down, site: secondary, checks: [ssh, helth]}\n"
    )
    assert found == [
        "timeline[0].checks[1]: 'helth' is not a check of the secondary site (homepage, ssh)"
    ]


def test_times_must_lie_inside_the_duration_and_until_after_at(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "timeline:\n"
        "  - {kind: down, site: primary, at: 10m, until: 5m}\n"
        "  - {kind: down, site: primary, at: 61m}\n"
        "  - {kind: stale, region: eu-west-1, at: 0, until: 2h}\n"
        "  - {kind: runbook_fails, at: 20m, until: 20m}\n"
        "  - {kind: gate, at: 1h, synced: true}\n",
    )
    assert found == [
        "timeline[0].until: 5m is not after at (10m)",
        "timeline[1].at: 61m is after the end of the scenario (duration 1h)",
        "timeline[2].until: 2h is after the end of the scenario (duration 1h)",
        "timeline[3].until: 20m is not after at (20m)",
    ]


def test_expectations_name_known_event_kinds_sites_and_statuses(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path,
        "expect:\n"
        "  switches: [secondary, tertiary]\n"
        "  final_status: ACTIVE\n"
        "  events: {flap_dampd: 1, both_down: -1}\n",
    )
    assert found == [
        "expect.switches[1]: Input should be 'primary' or 'secondary'",
        "expect.final_status: Input should be 'ACTIVE_PRIMARY', 'ACTIVE_SECONDARY', 'PAUSED' "
        "or 'FAILED'",
        "expect.events.flap_dampd: 'flap_dampd' is not an event kind the simulation counts; "
        "did you mean 'flap_damped'?",
        "expect.events.both_down: Input should be greater than or equal to 0",
    ]


def kinds_named_in(source: str) -> set[str]:
    """The event kinds a module names: ``kind="..."``, ``cond.hold(name, "kind", ...)``,
    ``cond.cleared(name, "kind", ...)``, and the first of a ``("kind", message)`` pair
    that is returned or is a dict's value."""
    found: set[ast.expr] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            found |= {k.value for k in node.keywords if k.arg == "kind"}
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("hold", "cleared"):
                found |= set(node.args[1:2])
        pairs = node.values if isinstance(node, ast.Dict) else []
        if isinstance(node, ast.Return) and node.value is not None:
            pairs = [node.value]
        found |= {p.elts[0] for p in pairs if isinstance(p, ast.Tuple) and len(p.elts) == 2}
    return {n.value for n in found if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_event_kinds_cover_every_kind_the_core_emits() -> None:
    """EVENT_KINDS is the one list: every kind core/machine.py names is in it."""
    emitted = kinds_named_in(Path(machine.__file__).read_text(encoding="utf-8"))
    assert {"verdict", "switch", "monitor_degraded", "flap_damped"} <= emitted
    assert emitted <= EVENT_KINDS, f"add to EVENT_KINDS: {sorted(emitted - EVENT_KINDS)}"


def test_the_kind_finder_reads_every_form() -> None:
    source = (
        'Event(kind="a")\n'
        'cond.hold("x", "b", "m")\n'
        'messages = {"y": ("c", "m")}\n'
        'def f():\n    return "d", "m"\n'
    )
    assert kinds_named_in(source) == {"a", "b", "c", "d"}


def test_empty_region_or_check_lists_and_long_durations_are_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, "timeline:\n  - {kind: down, site: primary, regions: []}\n")
    assert found == [
        "timeline[0].regions: List should have at least 1 item after validation, not 0"
    ]
    path = tmp_path / "long.yaml"
    path.write_text(f"name: x\nconfig: {EXAMPLE}\nduration: 8d\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.problems == [
        "duration: 8d is more than 7d: a week of virtual time shows every rule"
    ]


def test_config_problems_name_the_scenario_and_where_they_come_from(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("fall: 3", "fall: 0"))
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nconfig: broken.yaml\nduration: 1h\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.source == str(path)
    assert caught.value.problems == [
        f"config: {broken}: decision.fall: Input should be greater than or equal to 1"
    ]
    assert problems_of(tmp_path, "overrides: {decision: {quorum: 4}}\n") == [
        "overrides.decision.quorum: 4 is more than the number of probe_regions (3)"
    ]
    path.write_text("name: x\nconfig: {home_region: xx-foo-9}\nduration: 1h\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert caught.value.problems[0] == (
        "config.home_region: 'xx-foo-9' is not an AWS region (e.g. eu-west-1, us-east-1)"
    )


def test_a_config_path_with_a_nul_byte_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text('name: x\nconfig: "a\\0b.yaml"\nduration: 1h\n')
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    bad = str(tmp_path / "a\x00b.yaml")
    assert caught.value.problems == [f"config: {bad!r}: cannot read the file: embedded null byte"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"name: x\nduration: 1h\n\xff\n", "not UTF-8 text: byte 0xff on line 3"),
        (b"name: x\nname: y\nduration: 1h\n", "not valid YAML: line 2, column 1: duplicate key"),
        (b"name: [\n", "not valid YAML: line 2, column 1: expected the node content"),
    ],
)
def test_unreadable_scenario_files_are_a_config_error(
    tmp_path: Path, raw: bytes, expected: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    (problem,) = caught.value.problems
    assert problem.startswith(expected)


@st.composite
def mangled_scenarios(draw: st.DrawFn) -> str:
    """A shipped scenario with a slice replaced by random text."""
    text = draw(st.sampled_from(SCENARIOS)).read_text(encoding="utf-8")
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 30)))
    junk = st.text(alphabet=st.sampled_from(list("ab01:-[]{},&*!'\"\n mhs.")), max_size=12)
    return text[:start] + draw(junk | st.text(max_size=8)) + text[end:]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_scenarios())
def test_any_scenario_text_runs_or_is_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.yaml"
        path.write_text(text.replace("../arbiter.example.yaml", str(EXAMPLE)), encoding="utf-8")
        try:
            simulate(path)
        except ConfigError as exc:
            assert exc.source == str(path)
            assert exc.problems and all("\n" not in p for p in exc.problems)
