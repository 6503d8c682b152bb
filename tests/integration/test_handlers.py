"""The four handlers, run directly with a stand-in Lambda context, against moto and real
servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from arbiter.core.config import SiteName
from arbiter.core.errors import ConflictError, ProviderError
from arbiter.core.model import Event, ServiceState
from arbiter.handlers import act, decide, override, probe
from arbiter.local import aws as local_aws
from arbiter.local.context import LocalContext
from arbiter.services.decider import decide_service
from tests.factories import REGIONS, T0, at, config_dict
from tests.integration.servers import HttpSite, TcpSite, refused_port
from tests.integration.world import World, failed_over, make_world, seed

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def world(aws: None) -> World:
    return make_world(config_dict())


# -- probe ---------------------------------------------------------------------------


def loopback_config(url: str, **overrides: Any) -> dict[str, Any]:
    """The test config with one HTTP check per site, both on the loopback ``url``."""
    data = config_dict(**overrides)
    for site in ("primary", "secondary"):
        data["services"][0][site]["checks"] = [
            {"type": "http", "name": "h", "url": url, "timeout": 2}
        ]
    return data


@pytest.fixture
def sites() -> Iterator[tuple[HttpSite, TcpSite]]:
    with HttpSite() as http, TcpSite(banner="SSH-2.0-test\r\n") as tcp:
        yield http, tcp


def test_probe_records_one_observation_with_reasons(
    aws: None, sites: tuple[HttpSite, TcpSite]
) -> None:
    http, tcp = sites
    http.set_response("/ok", body="all OK here")
    http.set_response("/wrong", body="hello")
    http.set_response("/slow", body="OK", delay=3)
    http.set_response("/down", status=503, body="maintenance")
    with refused_port() as closed:
        data = config_dict()
        data["services"][0]["primary"]["checks"] = [
            {"type": "http", "name": "ok", "url": http.url_for("/ok"), "expect_body": "OK"},
            {"type": "http", "name": "body", "url": http.url_for("/wrong"), "expect_body": "OK"},
            {"type": "http", "name": "slow", "url": http.url_for("/slow"), "timeout": 0.5},
            {"type": "tcp", "name": "refused", "host": "127.0.0.1", "port": closed},
        ]
        data["services"][0]["secondary"]["checks"] = [
            {"type": "http", "name": "down", "url": http.url_for("/down")},
            {
                "type": "tcp",
                "name": "ssh",
                "host": "127.0.0.1",
                "port": tcp.port,
                "expect_banner": "SSH-",
            },
            {"type": "http", "name": "optional", "url": http.url_for("/nope"), "required": False},
        ]
        world = make_world(data)
        world.rt.region = "eu-central-1"
        result = probe.handler(sample("probe-schedule.json"), LocalContext())

    assert result == {"region": "eu-central-1", "rounds": 1}
    (item,) = world.items()
    assert item["pk"]["S"] == "SVC#web"
    assert item["sk"]["S"] == "OBS#2026-01-01T12:00:00.000000Z#eu-central-1"
    assert int(item["expires_at"]["N"]) == int((T0 + timedelta(days=1)).timestamp())
    (obs,) = world.store.rounds_since("web", T0 - timedelta(seconds=1))
    primary = {c.name: c for c in obs.sites[SiteName.PRIMARY].checks}
    assert {n: c.reason for n, c in primary.items()} == {
        "ok": "ok",
        "body": 'body lacks "OK"',
        "slow": "timeout after 0.5 s",
        "refused": "connection refused",
    }
    assert not obs.sites[SiteName.PRIMARY].ok
    assert primary["ok"].latency_ms > 0
    secondary = {c.name: c for c in obs.sites[SiteName.SECONDARY].checks}
    assert secondary["down"].reason == "status 503"
    assert secondary["ssh"].ok
    assert secondary["optional"].reason == "status 404" and not secondary["optional"].required


def test_probe_passing_site_is_ok(aws: None, sites: tuple[HttpSite, TcpSite]) -> None:
    http, tcp = sites
    data = config_dict()
    for site in ("primary", "secondary"):
        data["services"][0][site]["checks"] = [
            {
                "type": "http",
                "name": "h",
                "url": http.url_for("/"),
                "expect_body": "OK",
                "expect_body_not": "maintenance",
            },
            {"type": "tcp", "name": "t", "host": "127.0.0.1", "port": tcp.port},
        ]
    world = make_world(data)
    probe.handler(sample("probe-schedule.json"), LocalContext())
    (obs,) = world.store.rounds_since("web", T0 - timedelta(seconds=1))
    assert obs.sites[SiteName.PRIMARY].ok and obs.sites[SiteName.SECONDARY].ok


# -- decide --------------------------------------------------------------------------


def stream_event(world: World) -> dict[str, Any]:
    return local_aws.stream_events(
        __import__("boto3").client("dynamodbstreams", region_name="eu-west-1"),
        world.stream_arn,
        {},
    )


def test_decide_from_the_real_stream_switches_once(world: World) -> None:
    seed(world, 0, 3)
    seed(world, 3, 5, primary=False)
    world.clock.now = at(4)
    event = stream_event(world)
    assert len(event["Records"]) == 15
    result = decide.handler(event, LocalContext())
    state = world.store.load_state("web")
    assert result["web"]["transition"] == state.version
    assert world.invoker.started == [("web", state.version)]
    assert state.active is SiteName.SECONDARY
    # The same batch delivered again (Lambda retries stream batches) decides nothing new.
    again = decide.handler(event, LocalContext())
    assert again["web"]["transition"] is None
    assert len(world.invoker.started) == 1


def test_decide_on_schedule_notices_silence(world: World) -> None:
    seed(world, 0, 3)
    world.clock.now = at(2)
    decide.handler(sample("decide-schedule.json"), LocalContext())
    world.messages()
    world.clock.now = at(2) + timedelta(minutes=10)  # nobody probed since
    result = decide.handler(sample("decide-schedule.json"), LocalContext())
    assert "monitor_degraded" in result["web"]["events"]
    (alert,) = world.messages()
    assert "monitor degraded" in alert["message"]


def test_concurrent_double_decide_starts_only_one_switch(world: World) -> None:
    """Two deciders read the same state version, then both try to write."""
    seed(world, 0, 3)
    seed(world, 3, 5, primary=False)
    both_read = threading.Barrier(2, timeout=10)
    writes = threading.Lock()
    conflicts: list[str] = []
    save = world.store.save_state
    first_write = threading.local()

    def racing_save(
        state: ServiceState, expected: int, events: list[Event], alerts: Any = ()
    ) -> None:
        if not getattr(first_write, "done", False):
            first_write.done = True
            both_read.wait()  # both have read version N and decided before either writes
        with writes:
            try:
                save(state, expected, events, alerts)
            except ConflictError:
                conflicts.append(threading.current_thread().name)
                raise

    world.store.save_state = racing_save  # type: ignore[method-assign]
    passes: dict[str, Any] = {}

    def run(name: str) -> None:
        passes[name] = decide_service(world.rt, "web", at(4))

    threads = [threading.Thread(target=run, args=(f"d{i}",), name=f"d{i}") for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(conflicts) == 1
    transitions = [p.outcome.transition for p in passes.values() if p.outcome.transition]
    assert len(transitions) == 1
    assert world.invoker.started == [("web", transitions[0].id)]
    loser = next(p for p in passes.values() if p.outcome.transition is None)
    assert loser.attempts == 2
    state = world.store.load_state("web")
    assert state.active is SiteName.SECONDARY and state.transition == transitions[0]


# -- act -----------------------------------------------------------------------------


def test_act_switches_dns_and_notifies_once(world: World) -> None:
    transition = failed_over(world)
    event = {"service": "web", "transition": transition}
    first = act.handler(event, LocalContext())
    assert first == {
        "ok": True,
        "service": "web",
        "transition": transition,
        "outcome": "done",
        "ran": [f"dns:route53:{world.zone_id}"],
    }
    assert world.record_values() == ["198.51.100.10"]
    (message,) = world.messages()
    assert message["subject"] == "[arbiter] web: switched to secondary (Amsterdam DC)"
    body = message["message"]
    assert "Reason:   Frankfurt DC (primary DOWN in 3/3 regions)" in body
    assert "eu-central-1  DOWN     UP" in body
    assert "eu-central-1 primary: health: status 503" in body
    assert f"dns:route53:{world.zone_id}" in body and "done" in body

    # Lambda may deliver the same async event twice: nothing more happens.
    second = act.handler(event, LocalContext())
    assert second["outcome"] == "nothing to do" and second["ran"] == []
    assert world.messages() == []
    assert world.store.load_state("web").runbook_done == transition


def test_act_resumes_after_a_crash_without_repeating(world: World) -> None:
    transition = failed_over(world)
    calls: list[str] = []
    upsert = world.dns.upsert

    def counting_upsert(*args: Any) -> str:
        calls.append("upsert")
        return upsert(*args)

    world.dns.upsert = counting_upsert  # type: ignore[method-assign]
    close = world.store.close_runbook

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("the act function died before recording the outcome")

    world.store.close_runbook = crash  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        act.handler({"service": "web", "transition": transition}, LocalContext())
    world.store.close_runbook = close  # type: ignore[method-assign]
    assert world.messages() == []
    result = act.handler({"service": "web", "transition": transition}, LocalContext())
    assert result["outcome"] == "done" and result["ran"] == []
    assert calls == ["upsert"]
    (report,) = world.messages()
    assert report["subject"] == "[arbiter] web: switched to secondary (Amsterdam DC)"
    assert report["key"] == f"web/run{transition:08d}/done"


def test_act_skips_a_superseded_transition(world: World) -> None:
    transition = failed_over(world)
    result = act.handler({"service": "web", "transition": transition - 1}, LocalContext())
    assert result["outcome"] == "superseded"
    assert world.record_values() == []


def test_act_failure_alerts_and_records(world: World) -> None:
    transition = failed_over(world)
    # Point the record at a zone that does not exist: Route 53 refuses the change.
    service = world.config.services[0]
    bad = service.dns.records[0].model_copy(update={"zone": "ZNOSUCHZONE"})
    dns = service.dns.model_copy(update={"records": [bad]})
    world.rt.config = world.config.model_copy(
        update={"services": [service.model_copy(update={"dns": dns})]}
    )
    result = act.handler({"service": "web", "transition": transition}, LocalContext())
    assert result["outcome"] == "failed"
    (alert,) = world.messages()
    assert "FAILED switching to secondary" in alert["subject"]
    steps = world.store.load_steps("web", transition)
    assert steps["dns:route53:ZNOSUCHZONE"].status.value == "failed"
    assert "NoSuchHostedZone" in steps["dns:route53:ZNOSUCHZONE"].detail
    kinds = [e.kind for e in world.store.recent_events("web", 50)]
    assert "runbook_failed" in kinds
    state = world.store.load_state("web")
    assert state.status.value == "FAILED" and state.failed == transition

    # FAILED: the primary comes back, but nothing switches by itself...
    for n in range(5, 12):
        seed(world, n, n + 1)
        decide_service(world.rt, "web", at(n))
    assert world.store.load_state("web").status.value == "FAILED"
    assert world.invoker.started == [("web", transition)]  # only the switch that failed
    # ...until an operator acknowledges.
    world.clock.now = at(12)
    acked = override.handler({"command": "ack", "operator": "bob"}, LocalContext())
    assert acked["ok"] and acked["state"]["failed"] is None
    seed(world, 12, 13)
    decided = decide_service(world.rt, "web", at(12))
    assert decided.outcome.transition is not None
    assert decided.outcome.transition.to_site is SiteName.PRIMARY


# -- override ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("switch", "(payload): expected a JSON object"),
        ({}, "command: missing; expected one of status, switch, pause, resume, ack"),
        (
            {"command": "explode"},
            "command: unknown command 'explode'; expected one of status, "
            "switch, pause, resume, ack",
        ),
        ({"command": "x" * 1_000_000}, "command: unknown command 'xxxxxxxx"),
        (
            {"command": "switch", "to": "secondary", "reason": "x", "force": "yes"},
            "force: Input should be a valid boolean",
        ),
        ({"command": "status", "service": "w" * 1_000_000}, "service: String should have at most"),
        ({"command": "pause", "reason": "a\r\nBcc: x"}, "reason: String should match pattern"),
        ({"command": "pause", "reason": 42}, "reason: Input should be a valid string"),
        ({"command": "switch", "to": "secondary", "reason": "x" * 501}, "reason: String should"),
        ({"command": "explode"}, "command: unknown command 'explode'"),
        ({"command": "switch", "reason": "x"}, "to: Field required"),
        (
            {"command": "switch", "to": "tertiary", "reason": "x"},
            "to: Input should be 'primary' or 'secondary'",
        ),
        ({"command": "switch", "to": "secondary"}, "reason: Field required"),
        (
            {"command": "switch", "to": "secondary", "reason": "x", "force": "maybe"},
            "force: Input should be a valid boolean",
        ),
        ({"command": "pause", "colour": "red"}, "colour: unknown field"),
        ({"command": "status", "service": "mail"}, "service: unknown service 'mail'"),
    ],
)
def test_malformed_override_is_refused_and_changes_nothing(
    world: World, payload: Any, problem: str
) -> None:
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    before = world.items()
    result = override.handler(payload, LocalContext())
    assert result["ok"] is False
    assert any(p.startswith(problem) for p in result["problems"]), result["problems"]
    assert all(len(p) < 300 for p in result["problems"])  # never echoes a megabyte
    assert world.items() == before
    assert world.invoker.started == []


def test_override_switch_is_recorded_and_starts_the_runbook(world: World) -> None:
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    result = override.handler(sample("override-switch.json"), LocalContext())
    assert result["ok"] and result["changed"]
    state = world.store.load_state("web")
    assert state.active is SiteName.SECONDARY
    assert world.invoker.started == [("web", result["transition"])]
    messages = [e.message for e in world.store.recent_events("web", 50)]
    assert (
        "alice switched to secondary: planned maintenance in Frankfurt; pinned there until `resume`"
    ) in messages
    assert world.store.load_state("web").pinned is SiteName.SECONDARY


def test_override_switch_refused_by_health_gate_is_logged(world: World) -> None:
    seed(world, 0, 3, secondary=False)
    decide_service(world.rt, "web", at(2))
    world.clock.now = at(3)
    version = world.store.load_state("web").version
    result = override.handler(sample("override-switch.json"), LocalContext())
    assert result["ok"] is False and "not UP" in result["error"]
    assert world.store.load_state("web").version == version
    kinds = [e.kind for e in world.store.recent_events("web", 50)]
    assert kinds[-1] == "override_refused"


def test_override_pause_resume_and_status(world: World) -> None:
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    paused = override.handler(sample("override-pause.json"), LocalContext())
    assert paused["state"]["status"] == "PAUSED"
    (alert,) = world.messages()
    assert "paused by alice: network work tonight" in alert["message"]
    assert alert["subject"] == "[arbiter] web: paused by alice"
    seed(world, 3, 8, primary=False)
    decide_service(world.rt, "web", at(7))
    assert world.invoker.started == []  # paused: no automatic switch
    status = override.handler(sample("override-status.json"), LocalContext())
    assert status["state"]["status"] == "PAUSED"
    assert status["state"]["sites"] == {"primary": "DOWN", "secondary": "UP"}
    assert sorted(status["state"]["regions"]) == sorted(REGIONS)
    assert any("paused by alice" in e["message"] for e in status["events"])
    resumed = override.handler(sample("override-resume.json"), LocalContext())
    assert resumed["state"]["status"] == "ACTIVE_PRIMARY"


def test_a_lost_act_invocation_is_started_again_at_the_next_pass(world: World) -> None:
    """The async invocation of act was lost: the next decide pass starts the runbook again
    (no act invocation holds its lease), and nothing after the runbook has finished."""
    transition = failed_over(world)
    assert world.invoker.started == [("web", transition)]
    seed(world, 5, 6, primary=False)
    decided = decide_service(world.rt, "web", at(5))  # one round later
    assert decided.outcome.restart_runbook == transition
    assert world.invoker.started == [("web", transition)] * 2
    kinds = [e.kind for e in world.store.recent_events("web", 50)]
    assert "runbook_restarted" in kinds

    act.handler({"service": "web", "transition": transition}, LocalContext())
    for n in range(6, 20):
        seed(world, n, n + 1, primary=False)
        decide_service(world.rt, "web", at(n))
    assert len(world.invoker.started) == 2
    assert world.record_values() == ["198.51.100.10"]


def test_a_failed_invoke_never_blocks_the_alerts_and_is_retried(world: World) -> None:
    class Failing:
        def __init__(self) -> None:
            self.tries = 0

        def start(self, service: str, transition_id: int) -> None:
            self.tries += 1
            raise ProviderError("Lambda invoke: TooManyRequestsException")

    failing = Failing()
    world.rt.invoker = failing
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    seed(world, 3, 5, primary=False)
    decided = decide_service(world.rt, "web", at(4))
    assert decided.outcome.transition is not None and decided.invoke_failed
    assert failing.tries == 1
    world.rt.invoker = world.invoker
    seed(world, 5, 6, primary=False)
    again = decide_service(world.rt, "web", at(5))
    assert again.outcome.restart_runbook == decided.outcome.transition.id
    assert world.invoker.started == [("web", decided.outcome.transition.id)]


def test_events_of_one_write_keep_their_order(world: World) -> None:
    events = [Event(at=T0, kind=f"k{i}", message=f"m{i}") for i in range(12)]
    world.store.save_state(ServiceState(service="web", version=1), 0, events)
    world.store.append_events("web", [Event(at=T0, kind="k12", message="m12")], first_seq=12)
    assert [e.kind for e in world.store.recent_events("web", 50)] == [f"k{i}" for i in range(13)]


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({}, "service: Field required"),
        ({"service": "web"}, "transition: Field required"),
        ({"service": "web", "transition": "5"}, "transition: Input should be a valid integer"),
        ({"service": "web", "transition": 0}, "transition: Input should be greater than"),
        ("not an object", "Input should be a valid dictionary"),
        ({"service": "web", "transition": 1, "extra": 1}, "extra: unknown key"),
    ],
)
def test_act_refuses_a_malformed_event_without_raising(
    world: World, event: Any, problem: str
) -> None:
    before = world.items()
    result = act.handler(event, LocalContext())
    assert result["ok"] is False and result["error"] == "malformed act event"
    assert any(problem in p for p in result["problems"]), result["problems"]
    assert world.items() == before


def test_act_refuses_an_unknown_service(world: World) -> None:
    result = act.handler({"service": "mail", "transition": 3}, LocalContext())
    assert result == {
        "ok": False,
        "error": "unknown service",
        "problems": ["service: unknown service 'mail'"],
    }


@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, [], {"detail-type": 5}])
def test_decide_refuses_a_malformed_event_without_raising(world: World, event: Any) -> None:
    before = world.items()
    result = decide.handler(event, LocalContext())
    assert result["ok"] is False and result["error"] == "malformed decide event"
    assert result["problems"]
    assert world.items() == before


def test_status_writes_nothing(world: World) -> None:
    seed(world, 0, 3)
    decide_service(world.rt, "web", at(2))
    before = world.items()
    for _ in range(3):
        assert override.handler({"command": "status"}, LocalContext())["ok"]
    assert world.items() == before
