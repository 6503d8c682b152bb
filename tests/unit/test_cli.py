from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from arbiter.local.cli import main
from arbiter.services import override
from arbiter.services.decider import decide_service
from tests.factories import at, round_of
from tests.fakes import MemoryWorld, act, failed_over, operator, seed, two_services

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_validate_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(ROOT / "arbiter.example.yaml"))
    assert code == 0
    assert (
        "OK: 1 service(s), 4 checks, 2 DNS records, 1 VoIP routes, 4 fences and hooks; "
        "3 probe regions, quorum 2" in out
    )
    assert err == ""


def test_validate_bad_file_lists_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "arbiter.example.yaml")
        .read_text()
        .replace("fall: 3", "fall: three")
        .replace("port: 22", "port: 0", 1)
        .replace("ttl: 60", "ttl: 600", 1)
    )
    code, out, err = run(capsys, "validate", str(bad))
    assert code == 1
    assert "invalid (2 problems)" in err
    assert "error: decision.fall: Input should be a valid integer" in err
    assert "error: services[0].primary.checks[1].port: Input should be greater than" in err
    assert "Traceback" not in err + out


def test_validate_warns_on_high_ttl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ttl.yaml"
    path.write_text((ROOT / "arbiter.example.yaml").read_text().replace("ttl: 60", "ttl: 600", 1))
    code, _, err = run(capsys, "validate", str(path))
    assert code == 0
    assert "warning: services[0].dns.records[0].ttl: 600 s is above 300 s" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("home_region: [", "not valid YAML: line 1"),
        ("just a string", "(top level): expected a mapping"),
    ],
)
def test_validate_not_yaml(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and expected in err


def test_validate_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "cannot read the file" in err


def test_validate_a_file_that_is_not_utf8(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes((ROOT / "arbiter.example.yaml").read_bytes().replace(b"Frankfurt", b"K\xf6ln"))
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1
    assert f"{path}: invalid (1 problem)" in err
    assert "error: not UTF-8 text: byte 0xf6 on line " in err
    assert "Traceback" not in out + err


def test_validate_a_duplicate_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(
        (ROOT / "arbiter.example.yaml").read_text().replace("rise: 2", "rise: 2\n  rise: 3")
    )
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1 and "duplicate key 'rise' (first at line " in err


def scenario_files(tmp_path: Path) -> list[str]:
    """Two good scenarios around four bad ones: a bad field, not UTF-8, not YAML, missing."""
    scenarios = sorted((ROOT / "scenarios").glob("*.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"name: bad\nconfig: {ROOT / 'arbiter.example.yaml'}\nduration: 1h\ntimeline:\n"
        "  - {kind: down, site: primary}\n"
        "  - {kind: down, site: primary, regions: [eu-west-1]}\n"
        "  - {kind: down, site: primary, regions: [eu-north-9]}\n"
        "  - {kind: operator, command: {command: switch, to: tertiary, reason: x}}\n"
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: K\xf6ln\nduration: 1h\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    missing = tmp_path / "missing.yaml"
    return [str(p) for p in (scenarios[0], bad, latin, broken, missing, scenarios[-1])]


def test_simulate_summary_reports_every_file_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = scenario_files(tmp_path)
    code, out, err = run(capsys, "simulate", "--summary", *files)
    assert code != 0
    lines = out.splitlines()
    assert [line.split(": ")[0] for line in lines] == files
    assert lines[0].startswith(f"{files[0]}: ok; switches: secondary@")
    assert lines[1] == (
        f"{files[1]}: invalid: timeline[3].command.to: Input should be 'primary' or 'secondary'"
    )
    assert lines[2] == f"{files[2]}: invalid: not UTF-8 text: byte 0xf6 on line 1 cannot be decoded"
    assert lines[3].startswith(f"{files[3]}: invalid: not valid YAML: line 2, column 1: ")
    assert lines[4] == f"{files[4]}: invalid: cannot read the file: No such file or directory"
    assert lines[5].startswith(f"{files[5]}: ok; switches: ")
    assert err == "" and "Traceback" not in out


def test_simulate_names_file_and_field_on_one_line_per_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = scenario_files(tmp_path)[1]
    Path(bad).write_text(Path(bad).read_text().replace("tertiary", "secondary"))
    code, out, err = run(capsys, "simulate", bad)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{bad}: timeline[2].regions[0]: 'eu-north-9' is not a probe region of the config "
        "(eu-west-1, eu-central-1, us-east-1)"
    ]


def test_override_commands_invoke_the_function_and_render_the_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    client = boto3.client("lambda", region_name="eu-west-1")
    stub = Stubber(client)
    answer = {
        "ok": True,
        "changed": True,
        "transition": 7,
        "state": {
            "service": "web",
            "status": "ACTIVE_SECONDARY",
            "active": "secondary",
            "since": "2026-01-01T12:00:00+00:00",
            "version": 7,
            "reason": "operator alice: maintenance",
            "sites": {"primary": "UP", "secondary": "UP"},
            "regions": {"eu-west-1": {"primary": "UP", "secondary": "UP"}},
            "conditions": [],
            "failed": None,
        },
    }
    stub.add_response(
        "invoke",
        {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())},
        {
            "FunctionName": "arbiter-override",
            "Payload": json.dumps(
                {
                    "command": "switch",
                    "operator": "alice",
                    "to": "secondary",
                    "reason": "maintenance",
                    "force": False,
                }
            ).encode(),
        },
    )
    monkeypatch.setattr(boto3, "client", lambda *a, **k: client)
    with stub:
        code, out, _ = run(
            capsys,
            "switch",
            "secondary",
            "--reason",
            "maintenance",
            "--operator",
            "alice",
            "--function",
            "arbiter-override",
        )
    assert code == 0
    assert out.splitlines()[:3] == [
        "done (switch #7 started)",
        "web  ON secondary  automatic",
        "  ACTIVE_SECONDARY since 2026-01-01 12:00:00Z: operator alice: maintenance",
    ]


def test_refused_override_exits_one(capsys: pytest.CaptureFixture[str]) -> None:
    from arbiter.local.cli import render_answer

    text = render_answer(
        {"ok": False, "error": "invalid override", "problems": ["to: Field required"]}
    )
    assert text == "refused: invalid override\n  to: Field required"


def test_status_shows_the_pin_the_open_runbook_and_pending_alerts() -> None:
    from arbiter.local.cli import render_answer

    state = {
        "service": "web",
        "status": "ACTIVE_SECONDARY",
        "version": 9,
        "since": "2026-01-01T09:00:00+00:00",
        "reason": "operator alice: maintenance",
        "sites": {"primary": "UP", "secondary": "UP"},
        "pinned": "secondary",
        "pinned_at": "2026-01-01T09:00:00+00:00",
        "open_runbook": 9,
        "pending_alerts": 2,
    }
    text = render_answer({"ok": True, "changed": False, "state": state})
    assert text.splitlines()[1] == (
        "web  ON secondary  PINNED by an operator: no automatic failback until "
        "`arbiter resume web`  SWITCHING (#9 being carried out)"
    )
    assert "  2 alert(s) waiting to be delivered" in text


# -- the override commands, end to end: the CLI -> a Lambda stand-in running the real
# -- override service on an in-memory world -------------------------------------------


class Deployed:
    """``boto3.client`` for the CLI: ``cloudformation`` answers the control stack's outputs,
    ``lambda`` runs the real override service on ``world`` (its answer goes through JSON,
    as Lambda's does). Records every payload sent and how each client was made."""

    def __init__(self, world: MemoryWorld) -> None:
        self.world = world
        self.sent: list[dict[str, Any]] = []
        self.made: list[tuple[str, dict[str, Any]]] = []
        self.stacks: list[str] = []

    def __call__(self, service: str, **kwargs: Any) -> Deployed:
        self.made.append((service, kwargs))
        return self

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.stacks.append(StackName)
        outputs = [{"OutputKey": "OverrideFunctionName", "OutputValue": "arbiter-override"}]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        assert FunctionName == "arbiter-override"
        payload = json.loads(Payload)
        self.sent.append(payload)
        answer = override.handle(self.world.rt, payload, self.world.clock())
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Deployed:
    """web failed over to the secondary and paused by alice 12 minutes ago; api on its
    primary; every region last seen one interval ago. The CLI runs in the repository root
    (its arbiter.example.yaml finds the stack)."""
    world = two_services()
    tid = failed_over(world)  # rounds 0..4 of web; the decider switched at round 4
    world.clock.now = at(4) + (at(1) - at(0)) / 2
    act(world, tid)  # the runbook ran half a minute later
    for n in range(5):
        for obs in [o.model_copy(update={"service": "api"}) for o in round_of(n)]:
            world.store.put_observation(obs, obs.round_at)
    decide_service(world.rt, "api", at(4))
    world.clock.now = at(5)
    pause = {"command": "pause", "service": "web", "reason": "network work tonight"}
    operator(world, {**pause, "operator": "alice"})
    for n in range(5, 18):  # the primary stays down; every region reports on, both services
        seed(world, n, n + 1, primary=False)
        for obs in [o.model_copy(update={"service": "api"}) for o in round_of(n)]:
            world.store.put_observation(obs, obs.round_at)
        decide_service(world.rt, "web", at(n))
        decide_service(world.rt, "api", at(n))
    world.clock.now = at(17) + (at(1) - at(0)) / 3  # 20 s after the last round
    fake = Deployed(world)
    monkeypatch.setattr(boto3, "client", fake)
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ARBITER_CONFIG", raising=False)
    monkeypatch.setenv("ARBITER_OPERATOR", "bob")
    return fake


def test_status_shows_every_service_the_active_site_first(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, err = run(capsys, "status")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "web  ON secondary (Amsterdam DC)  PAUSED by alice 12 min ago"
    assert lines[1] == ("  PAUSED since 2026-01-01 12:05:00Z (12 min ago): network work tonight")
    assert lines[2] == "  sites: primary (Frankfurt DC) DOWN, secondary (Amsterdam DC) UP"
    assert lines[3].split() == [
        "eu-west-1", "last", "round", "20", "s", "ago", "primary", "DOWN", "secondary", "UP",
        "[primary:", "health:", "status", "503]",
    ]  # fmt: skip
    api = lines[lines.index("") + 1]
    assert api == "api  ON primary (Frankfurt DC)  automatic"
    assert deployed.stacks == ["arbiter-control"]  # found from ./arbiter.example.yaml
    assert deployed.made[0] == ("cloudformation", {"region_name": "eu-west-1"})
    assert deployed.sent == [{"command": "status"}]  # a read names no operator


def test_status_of_one_service_shows_its_last_events(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "status", "web")
    assert code == 0 and deployed.sent == [{"command": "status", "service": "web"}]
    assert out.splitlines()[0].startswith("web  ON secondary (Amsterdam DC)  PAUSED by alice")
    events = out.split("  last events, newest first:\n")[1].splitlines()
    assert events[0] == (
        "    2026-01-01 12:05:00Z  paused       by alice    paused by alice: network work tonight"
    )
    assert len(events) == 7 and events[-1].startswith("    2026-01-01 12:01:00Z  verdict ")


def test_service_may_still_be_given_as_an_option(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    run(capsys, "status", "--service", "api")
    code, _, err = run(capsys, "status", "web", "--service", "api")
    assert deployed.sent == [{"command": "status", "service": "api"}]
    assert code == 2 and err == "error: two services named: 'web' and --service 'api'\n"


def test_history_pages_with_a_cursor_footer(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "history", "web", "--limit", "4")
    assert code == 0
    *lines, footer = out.splitlines()
    assert lines[0] == (
        "2026-01-01 12:05:00Z  paused       by alice    paused by alice: network work tonight"
    )
    assert lines[3] == (
        "2026-01-01 12:04:00Z  switch       by decider  primary -> secondary: Frankfurt DC "
        "(primary DOWN in 3/3 regions); Amsterdam DC (secondary UP in 3/3 regions)"
    )
    assert footer.startswith("--- more: arbiter history web --limit 4 --before ")
    cursor = footer.rsplit(" ", 1)[1]
    code, out, _ = run(capsys, "history", "web", "--limit", "4", "--before", cursor)
    rest = out.splitlines()
    assert code == 0 and [line.split()[2] for line in rest] == ["verdict"] * 3
    assert "--- more" not in out
    assert deployed.sent[-1] == {
        "command": "history", "service": "web", "limit": 4, "kinds": "all", "before": cursor,
    }  # fmt: skip


def test_history_by_kind_and_as_json(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "history", "web", "--kinds", "switches", "--json")
    answer = json.loads(out)
    assert code == 0 and [e["kind"] for e in answer["events"]] == ["runbook_done", "switch"]
    assert answer["next"] is None
    assert [e["who"] for e in answer["events"]] == ["runbook", "decider"]


def test_a_garbled_cursor_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "history", "web", "--before", "Zm9yZ2Vk")
    assert code == 2
    assert out == (
        "refused: invalid override\n  before: not a cursor that arbiter history gave out\n"
    )


@pytest.mark.parametrize("limit", ["0", "201", "ten"])
def test_history_limit_is_checked_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], deployed: Deployed, limit: str
) -> None:
    code, _, err = run(capsys, "history", "web", "--limit", limit)
    assert code == 2 and "argument --limit" in err and deployed.sent == []


@pytest.mark.parametrize(
    ("argv", "sent"),
    [
        (["switch", "primary", "--reason", "back", "--force"],
         {"command": "switch", "operator": "bob", "to": "primary", "reason": "back",
          "force": True}),
        (["switch", "web", "primary", "--reason", "back", "--force", "--operator", "carol"],
         {"command": "switch", "service": "web", "operator": "carol", "to": "primary",
          "reason": "back", "force": True}),
        (["switch", "--service", "web", "primary", "--reason", "back", "--force"],
         {"command": "switch", "service": "web", "operator": "bob", "to": "primary",
          "reason": "back", "force": True}),
        (["resume", "web"], {"command": "resume", "service": "web", "operator": "bob"}),
        (["pause", "api", "--reason", "x"],
         {"command": "pause", "service": "api", "operator": "bob", "reason": "x"}),
        (["ack", "web", "--reason", "fixed"],
         {"command": "ack", "service": "web", "operator": "bob", "reason": "fixed"}),
    ],
)  # fmt: skip
def test_commands_take_the_service_first_and_name_the_operator(
    capsys: pytest.CaptureFixture[str],
    deployed: Deployed,
    argv: list[str],
    sent: dict[str, Any],
) -> None:
    run(capsys, *argv)
    assert deployed.sent == [sent]
    # A change is sent once (a retried invoke could apply it twice); reads may be retried.
    assert deployed.made[-1][1]["config"].retries["total_max_attempts"] == 1


def test_a_switch_leaving_out_the_service_needs_one_service(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "switch", "primary", "--reason", "back")
    assert code == 2 and out.splitlines() == [
        "refused: invalid override",
        "  service: required when there are several services (web, api)",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["switch", "web", "tertiary", "--reason", "x"],
         "error: switch: the site is primary or secondary, not 'tertiary'\n"),
        (["switch", "a", "b", "primary", "--reason", "x"],
         "error: switch takes [SERVICE] {primary,secondary}\n"),
    ],
)  # fmt: skip
def test_bad_switch_arguments_are_one_line(
    capsys: pytest.CaptureFixture[str], deployed: Deployed, argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err == message and deployed.sent == []


def test_resume_then_status_shows_the_site_and_who(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "resume", "web")
    assert code == 0
    assert out.splitlines()[:2] == ["done", "web  ON secondary (Amsterdam DC)  automatic"]
    code, out, _ = run(capsys, "history", "web", "--kinds", "overrides")
    assert out.splitlines()[0] == (
        "2026-01-01 12:17:20Z  resumed      by bob      resumed by bob: automatic actions resume"
    )


def test_a_refused_switch_exits_one(capsys: pytest.CaptureFixture[str], deployed: Deployed) -> None:
    code, out, _ = run(capsys, "switch", "web", "primary", "--reason", "back")
    assert code == 1
    assert out.splitlines()[0] == (
        "refused: primary is DOWN, not UP: refusing to switch (set force: true to override the "
        "health gate)"
    )


def test_status_json_is_the_functions_answer(
    capsys: pytest.CaptureFixture[str], deployed: Deployed
) -> None:
    code, out, _ = run(capsys, "status", "--json")
    answer = json.loads(out)
    assert code == 0 and [s["service"] for s in answer["services"]] == ["web", "api"]
    web = answer["services"][0]
    assert web["active"] == "secondary" and web["paused_by"] == "alice"
    assert {f["region"] for f in web["freshness"]} == {"eu-west-1", "eu-central-1", "us-east-1"}


def test_an_aws_error_with_json_is_json_on_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import NoCredentialsError

    def no_credentials(service: str, **kwargs: Any) -> Any:
        raise NoCredentialsError()

    monkeypatch.setattr(boto3, "client", no_credentials)
    code, out, err = run(capsys, "status", "--function", "f", "--region", "eu-west-1", "--json")
    assert code == 2 and err == ""
    assert json.loads(out) == {
        "ok": False,
        "error": "no AWS credentials found: run 'aws configure' or 'aws sso login', or set "
        "AWS_PROFILE",
    }
    code, out, err = run(capsys, "status", "--function", "f", "--region", "eu-west-1")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err


def test_a_usage_error_with_json_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", "--json", "--colour")
    assert code == 2 and json.loads(out) == {
        "ok": False,
        "error": "arbiter: unrecognized arguments: --colour",
    }


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"arbiter {version('arbiter')}\n"


# -- --json for the local commands ---------------------------------------------------------


def test_validate_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "validate", str(ROOT / "arbiter.example.yaml"), "--json")
    answer = json.loads(out)
    assert code == 0 and err == "" and answer["ok"] is True
    assert answer["services"] == ["web"] and answer["quorum"] == 2 and answer["problems"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("home_region: [\n")
    code, out, err = run(capsys, "validate", str(bad), "--json")
    answer = json.loads(out)
    assert code == 1 and err == "" and answer["ok"] is False
    assert answer["problems"][0].startswith("not valid YAML")


def test_probe_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from arbiter.services import probe
    from tests.factories import T0, obs

    monkeypatch.setattr(probe, "probe_round", lambda *a: [obs("local", T0, primary=False)])
    code, out, _ = run(capsys, "probe", str(ROOT / "arbiter.example.yaml"), "--json")
    answer = json.loads(out)
    assert code == 1 and answer["ok"] is False
    [observed] = answer["observations"]
    assert observed["sites"]["primary"]["checks"][0]["reason"] == "status 503"


# -- simulate --config: the built-in scenarios on the operator's own config --------------


def test_simulate_config_runs_the_built_in_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", "--config", str(ROOT / "arbiter.example.yaml"))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert "fall 3, rise 2, quorum 2, failback automatic" in lines[0]
    assert [line[:32] for line in lines[1:6]] == [
        "  ok    primary down, then back ",
        "  ok    one probe region cut off",
        "  ok    a flapping primary      ",
        "  ok    both sites down         ",
        "  ok    a blip shorter than fall",
    ]
    assert "secondary at 0:12:20 (140 s after the fault); primary at " in lines[1]
    assert lines[-1] == "5 scenarios: all as expected"


def test_simulate_config_exits_one_when_the_config_misbehaves(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    loose = tmp_path / "loose.yaml"
    loose.write_text((ROOT / "arbiter.example.yaml").read_text().replace("fall: 3", "fall: 1", 1))
    code, out, _ = run(capsys, "simulate", "--config", str(loose), "--summary")
    assert code == 1
    flapping = next(line for line in out.splitlines() if "a flapping primary" in line)
    assert flapping.split()[0] == "FAIL" and "FALSE SWITCH" in flapping
    assert "not as expected: 2 false switches, expected 0" in out
    assert "skip  a blip shorter than fall  fall is 1" in out
    assert out.splitlines()[-1] == "5 scenarios: 1 NOT as expected"


def test_simulate_config_follows_a_manual_failback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manual = tmp_path / "manual.yaml"
    manual.write_text(
        (ROOT / "arbiter.example.yaml").read_text().replace("policy: automatic", "policy: manual")
    )
    code, out, _ = run(capsys, "simulate", "--config", str(manual), "--json")
    answer = json.loads(out)
    assert code == 0 and answer["ok"] is True
    first = answer["scenarios"][0]
    assert [s["to"] for s in first["switches"]] == ["secondary"]
    assert first["final_status"] == "ACTIVE_SECONDARY" and first["switches"][0]["detection"] > 0


def test_simulate_needs_files_or_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "simulate")
    assert code == 2
    assert err == "error: name SCENARIO.yaml files, or --config FILE to simulate your config\n"


def test_simulate_files_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    files = scenario_files(tmp_path)
    code, out, _ = run(capsys, "simulate", "--json", files[0], files[1])
    answer = json.loads(out)
    assert code == 2 and answer["ok"] is False
    good, bad = answer["scenarios"]
    assert good["ok"] is True and good["switches"][0]["to"] == "secondary"
    assert bad == {
        "source": files[1],
        "ok": False,
        "problems": ["timeline[3].command.to: Input should be 'primary' or 'secondary'"],
    }


def test_simulate_config_names_an_unknown_service(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "simulate", "--config", str(ROOT / "arbiter.example.yaml"), "--service", "api"
    )
    assert code == 2
    assert err == "error: no service 'api' in " + str(ROOT / "arbiter.example.yaml") + (
        " (services: web)\n"
    )


def test_status_block_names_a_failed_switch_and_the_open_conditions() -> None:
    from arbiter.local.cli import render_status

    entry = {
        "service": "web",
        "status": "FAILED",
        "active": "secondary",
        "active_label": "Amsterdam DC",
        "failed": 7,
        "reason": "operator alice: maintenance",
        "since": "2026-01-01T09:00:00+00:00",
        "checked_at": "2026-01-01T11:30:00+00:00",
        "sites": {"primary": "DOWN", "secondary": "DOWN"},
        "stale_after": 180,
        "freshness": [
            {"region": "eu-west-1", "last_round_at": None, "age": None, "fresh": False,
             "sites": {}},
        ],
        "open_conditions": [
            {"name": "both_down", "headline": "both sites DOWN: nothing to switch to",
             "severity": "critical"},
        ],
        "pending_alerts": 1,
        "outbox": [{"key": "k", "subject": "[arbiter] web: both sites DOWN", "at": "x"}],
    }  # fmt: skip
    lines = render_status({"ok": True, "services": [entry]}).splitlines()
    assert lines[0] == (
        "web  ON secondary (Amsterdam DC)  FAILED switch #7: `arbiter ack web --reason ...` "
        "once fixed"
    )
    assert lines[1] == (
        "  FAILED since 2026-01-01 09:00:00Z (2 h 30 min ago): operator alice: maintenance"
    )
    assert "    eu-west-1  no round yet" in lines[3] and "STALE" in lines[3]
    assert "  open: both sites DOWN: nothing to switch to [critical]" in lines
    assert lines[-1] == (
        "  1 alert(s) waiting to be delivered (oldest: [arbiter] web: both sites DOWN)"
    )


def test_the_deployed_drill_finds_its_function_or_says_how(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARBITER_CONFIG", raising=False)
    code, out, err = run(capsys, "drill", "web")
    assert code == 2 and out == ""
    assert err == (
        "error: no config found (no arbiter.yaml or arbiter.example.yaml here): set "
        "ARBITER_CONFIG, or name the function with --function NAME --region REGION\n"
    )


def test_the_deployed_drill_through_the_stack_output(
    capsys: pytest.CaptureFixture[str], deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {"service": "web", "active": "secondary", "items": []}
    monkeypatch.setattr(override, "_drill", lambda rt, name: {"ok": True, "drill": report})
    code, out, _ = run(capsys, "drill", "web", "--json")
    assert code == 0 and json.loads(out) == {"ok": True, "drill": report}
    assert deployed.stacks == ["arbiter-control"]
    assert deployed.sent == [{"command": "drill", "service": "web"}]
    [(_, made)] = [m for m in deployed.made if m[0] == "lambda"]
    assert made["config"].retries["total_max_attempts"] == 1 and made["config"].read_timeout > 900
