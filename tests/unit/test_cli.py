from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.local.cli import main

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
    import io
    import json

    import boto3
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
        "web: ACTIVE_SECONDARY since 2026-01-01T12:00:00+00:00 (version 7)",
        "  reason: operator alice: maintenance",
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
    assert (
        "  pinned to secondary by an operator since 2026-01-01T09:00:00+00:00: no automatic "
        "failback until `arbiter resume`"
    ) in text
    assert "  switch #9 is being carried out" in text
    assert "  2 alert(s) waiting to be delivered" in text
