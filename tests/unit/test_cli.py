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
