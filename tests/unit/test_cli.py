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
    assert "OK: 1 service(s), 4 checks, 2 DNS records; 3 probe regions, quorum 2" in out
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
