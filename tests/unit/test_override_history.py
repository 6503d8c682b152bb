"""The override function's reads: ``history`` (the audit log, page by page, with who and
why) and ``status`` for every service, on the in-memory world (the store contract holds the
fake to DynamoStore's paging)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbiter.core.machine import HistoryCommand
from arbiter.services import override
from tests.factories import T0, at, config_dict
from tests.fakes import MemoryWorld, failed_over, memory_world, operator, seed, two_services

EVENTS = Path(__file__).resolve().parents[2] / "events"


def ask(world: MemoryWorld, command: dict[str, Any]) -> dict[str, Any]:
    return override.handle(world.rt, command, world.clock())


@pytest.fixture
def world() -> MemoryWorld:
    return memory_world(config_dict())


def busy(world: MemoryWorld) -> int:
    """A log with every category: verdicts, a decided switch, a condition, an operator's
    pause and resume, a refused override."""
    tid = failed_over(world)  # verdicts, then switch primary -> secondary
    world.clock.now = at(5)
    operator(world, {"command": "pause", "reason": "network work", "operator": "alice"})
    world.clock.now = at(6)
    refused = ask(world, {"command": "switch", "to": "primary", "reason": "x", "operator": "bob"})
    assert refused["ok"] is False
    world.clock.now = at(7)
    operator(world, {"command": "resume", "operator": "carol"})
    return tid


def walk(world: MemoryWorld, **command: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(50):
        sent = {"command": "history", **command} | ({"before": cursor} if cursor else {})
        answer = ask(world, sent)
        assert answer["ok"], answer
        pages.append(answer["events"])
        cursor = answer["next"]
        if cursor is None:
            return pages
    raise AssertionError("history never ended")


def test_history_pages_through_the_whole_log_newest_first(world: MemoryWorld) -> None:
    busy(world)
    everything = [e.message for e in reversed(world.store.recent_events("web", 200))]
    pages = walk(world, limit=3)
    assert all(len(page) == 3 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 3
    assert [e["message"] for page in pages for e in page] == everything
    stamps = [e["at"] for page in pages for e in page]
    assert stamps == sorted(stamps, reverse=True)


def test_history_shows_who_and_why(world: MemoryWorld) -> None:
    busy(world)
    events = ask(world, {"command": "history"})["events"]
    by_kind = {e["kind"]: e for e in reversed(events)}  # the newest of each kind
    assert by_kind["paused"]["who"] == "alice" and by_kind["paused"]["why"] == "network work"
    assert by_kind["paused"]["category"] == "override"
    assert by_kind["resumed"]["who"] == "carol"
    refused = by_kind["override_refused"]
    assert refused["who"] == "bob" and refused["why"] == "x"
    assert refused["detail"] == {"operator": "bob", "command": "switch", "reason": "x"}
    switch = by_kind["switch"]
    assert switch["who"] == "decider" and switch["category"] == "switch"
    assert switch["message"].startswith("switch primary -> secondary: Frankfurt DC (")
    assert by_kind["verdict"]["category"] == "condition"


def test_an_operator_switch_is_a_switch_and_an_override(world: MemoryWorld) -> None:
    seed(world, 0, 3)
    world.clock.now = at(2)
    from arbiter.services.decider import decide_service

    decide_service(world.rt, "web", at(2))
    operator(world, {"command": "switch", "to": "secondary", "reason": "planned", "operator": "al"})
    for kinds in ("switches", "overrides"):
        [event] = [e for e in ask(world, {"command": "history", "kinds": kinds})["events"]]
        assert event["kind"] == "override" and event["who"] == "al" and event["why"] == "planned"
        assert event["detail"]["to"] == "secondary" and event["detail"]["forced"] is False


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ("switches", {"switch"}),
        ("overrides", {"paused", "resumed", "override_refused"}),
        ("conditions", {"verdict"}),
    ],
)
def test_history_filters_by_kind_across_pages(
    world: MemoryWorld, kinds: str, expected: set[str]
) -> None:
    busy(world)
    pages = walk(world, kinds=kinds, limit=1)
    got = [e["kind"] for page in pages for e in page]
    assert set(got) == expected
    everything = world.store.recent_events("web", 200)
    wanted = [e for e in everything if e.kind in expected]
    assert len(got) == len(wanted)  # none lost, none twice


def test_a_filtered_page_stops_at_its_limit_and_goes_on_from_there(world: MemoryWorld) -> None:
    busy(world)
    first = ask(world, {"command": "history", "kinds": "overrides", "limit": 2})
    assert [e["kind"] for e in first["events"]] == ["resumed", "override_refused"]
    rest = ask(world, {"command": "history", "kinds": "overrides", "before": first["next"]})
    assert [e["kind"] for e in rest["events"]] == ["paused"] and rest["next"] is None


@pytest.mark.parametrize(
    ("before", "problem"),
    [
        ("bm90IGEgY3Vyc29y", "before: not a cursor that arbiter history gave out"),
        ("x" * 201, "before: String should have at most 200 characters"),
        ("a b", "before: String should match pattern"),
    ],
)
def test_a_garbled_cursor_is_one_problem_not_a_traceback(
    world: MemoryWorld, before: str, problem: str
) -> None:
    busy(world)
    answer = ask(world, {"command": "history", "before": before})
    assert answer["ok"] is False and answer["problems"][0].startswith(problem)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("limit", 0, "limit: Input should be greater than or equal to 1"),
        ("limit", 201, "limit: Input should be less than or equal to 200"),
        ("limit", "10", "limit: Input should be a valid integer"),
        ("kinds", "alerts", "kinds: Input should be 'switches', 'conditions', 'overrides'"),
    ],
)
def test_history_fields_are_checked(
    world: MemoryWorld, field: str, value: object, problem: str
) -> None:
    answer = ask(world, {"command": "history", field: value})
    assert answer["ok"] is False and answer["problems"][0].startswith(problem), answer


def test_history_writes_nothing(world: MemoryWorld) -> None:
    busy(world)
    before = [e.message for e in world.store.recent_events("web", 200)]
    version = world.store.load_state("web").version
    ask(world, {"command": "history", "limit": 1})
    assert [e.message for e in world.store.recent_events("web", 200)] == before
    assert world.store.load_state("web").version == version


def test_the_sample_payload_is_a_history_command(world: MemoryWorld) -> None:
    payload = json.loads((EVENTS / "override-history.json").read_text())
    assert isinstance(override.parse_command(payload), HistoryCommand)
    busy(world)
    answer = ask(world, payload)
    logged = world.store.recent_events("web", 200)
    assert answer["ok"] and answer["service"] == "web" and answer["next"] is None
    assert len(answer["events"]) == len(logged) == 7


# -- status ---------------------------------------------------------------------------


def test_status_without_a_service_answers_for_every_service() -> None:
    world = two_services()
    seed(world, 0, 3)
    answer = ask(world, {"command": "status"})
    assert answer["ok"] and [s["service"] for s in answer["services"]] == ["web", "api"]
    assert "state" not in answer


def test_status_of_one_service_keeps_its_shape(world: MemoryWorld) -> None:
    busy(world)
    answer = ask(world, {"command": "status", "service": "web"})
    assert answer["state"] == answer["services"][0]
    assert answer["state"]["service"] == "web" and len(answer["events"]) == 7
    assert answer["events"][-1]["who"] == "carol"


def test_status_shows_the_active_site_while_paused_and_who_paused(world: MemoryWorld) -> None:
    failed_over(world)
    world.clock.now = at(5)
    operator(world, {"command": "pause", "reason": "network work", "operator": "alice"})
    world.clock.now = at(17)
    [entry] = ask(world, {"command": "status"})["services"]
    assert entry["status"] == "PAUSED"
    assert entry["active"] == "secondary" and entry["active_label"] == "Amsterdam DC"
    assert entry["paused_by"] == "alice" and entry["since"] == at(5).isoformat()
    assert entry["checked_at"] == at(17).isoformat()


def test_status_shows_each_regions_freshness_and_what_it_sees(world: MemoryWorld) -> None:
    failed_over(world)  # rounds 0..4, the last decided at at(4)
    world.clock.now = at(4) + (at(1) - T0) * 5  # five intervals later: every region stale
    [entry] = ask(world, {"command": "status"})["services"]
    fresh = {f["region"]: f for f in entry["freshness"]}
    assert list(fresh) == ["eu-west-1", "eu-central-1", "us-east-1"]
    region = fresh["eu-west-1"]
    assert region["last_round_at"] == at(4).isoformat()
    assert region["age"] == 300.0 and region["fresh"] is False
    assert region["sites"] == {"primary": "DOWN", "secondary": "UP"}
    assert region["failing"] == {"primary": "health: status 503"}
    assert entry["stale_after"] == 180


def test_status_lists_a_region_that_never_reported(world: MemoryWorld) -> None:
    seed(world, 0, 1)
    [entry] = ask(world, {"command": "status"})["services"]
    assert all(f["last_round_at"] is None and f["fresh"] is False for f in entry["freshness"])


def test_status_names_the_open_conditions_and_the_pending_alerts(world: MemoryWorld) -> None:
    from arbiter.services.decider import decide_service

    for n in range(4):  # both sites down: condition both_down
        seed(world, n, n + 1, primary=False, secondary=False)
        world.clock.now = at(n)
        decide_service(world.rt, "web", at(n))
    world.notifier.fail(10)
    operator(world, {"command": "pause", "reason": "looking", "operator": "alice"})
    [entry] = ask(world, {"command": "status"})["services"]
    assert entry["open_conditions"] == [
        {
            "name": "both_down",
            "headline": "both sites DOWN: nothing to switch to",
            "severity": "critical",
        }
    ]
    assert entry["pending_alerts"] >= 1
    assert any(a["subject"] == "[arbiter] web: paused by alice" for a in entry["outbox"])
