"""``arbiter drill --config``: the CLI with local credentials against the in-process moto
Route 53 and a signed failback gate on loopback (its key from an ``ARBITER_SECRET_*``
variable). It reads, changes nothing, and exits 1 naming the item that fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from arbiter.local import aws as local_aws
from arbiter.local.cli import main
from arbiter.local.plan import secret_env_name
from tests.factories import config_dict

pytestmark = [
    pytest.mark.integration,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.timeout(60),
]
GATE_REF = "arbiter/gate-key"
KEY = "drill-gate-signing-key-0123456789"
NAME = "www.example.com."


class Gate(ThreadingHTTPServer):
    """A failback gate that checks the signature and answers "not synced"."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), GateHandler)
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/gate"


class GateHandler(BaseHTTPRequestHandler):
    server: Gate

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers.get("X-Arbiter-Timestamp", "")
        mac = hmac.new(KEY.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(f"sha256={mac}", self.headers.get("X-Arbiter-Signature", ""))
        self.server.seen.append({"body": json.loads(body), "valid": valid})
        status, answer = (200, {"synced": False, "reason": "lag 3 s"}) if valid else (401, {})
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gate() -> Iterator[Gate]:
    server = Gate()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def zone(aws: None) -> str:
    return local_aws.create_zone(boto3.client("route53", region_name="us-east-1"), "example.com")


def serve(zone: str, value: str) -> None:
    boto3.client("route53", region_name="us-east-1").change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": NAME,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": value}],
                    },
                }
            ]
        },
    )


def write_config(tmp_path: Path, zone: str, gate: Gate) -> Path:
    data = config_dict()
    service = data["services"][0]
    service["dns"]["records"][0]["zone"] = zone
    service["failback"]["gate"] = {"url": gate.url, "secret": GATE_REF, "timeout": 5}
    path = tmp_path / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_drill_passes_reading_route53_and_asking_the_signed_gate(
    tmp_path: Path,
    zone: str,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(secret_env_name(GATE_REF), KEY)
    serve(zone, "203.0.113.10")
    code, out, err = run(
        ["drill", "web", "--config", str(write_config(tmp_path, zone, gate))], capsys
    )
    assert code == 0, out + err
    lines = out.splitlines()
    dns = next(line for line in lines if line.strip().startswith(f"dns:route53:{zone}:"))
    assert " ok " in dns and "serves 203.0.113.10 (TTL 60), the primary site's values" in dns
    gate_line = next(line for line in lines if line.strip().startswith("gate:failback"))
    assert "answered: not synced (lag 3 s); the gate works" in gate_line
    assert gate.seen == [
        {
            "body": {"event": "failback_gate", "service": "web", "to": "primary", "dry_run": True},
            "valid": True,
        }
    ]
    assert lines[-1] == "PASSED: 2 items, 0 failed, 0 with warnings; nothing was changed"
    assert KEY not in out + err


def test_drill_fails_on_the_other_sites_values_a_missing_zone_and_a_wrong_key(
    tmp_path: Path,
    zone: str,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(secret_env_name(GATE_REF), "not-the-key-9876")
    serve(zone, "198.51.100.10")
    path = write_config(tmp_path, zone, gate)
    code, out, err = run(["drill", "web", "--config", str(path)], capsys)
    assert code == 1
    assert "serves 198.51.100.10 (TTL 60), the secondary site's values, but the primary" in out
    assert "no answer: hook answered 401; an automatic failback would never happen" in out
    assert out.splitlines()[-1].startswith("FAILED: 2 items, 2 failed")
    assert "not-the-key-9876" not in out + err

    # From the secondary the same record is right; a zone Route 53 does not have is not.
    code, out, _ = run(
        ["drill", "web", "--config", str(path), "--active", "secondary", "--json"], capsys
    )
    answer = json.loads(out)
    assert code == 1 and answer["active"] == "secondary"
    assert [i["status"] for i in answer["items"]] == ["ok", "fail"]

    gone = write_config(tmp_path, "ZNOSUCHZONE0", gate)
    code, out, _ = run(["drill", "web", "--config", str(gone)], capsys)
    dns = next(line for line in out.splitlines() if "dns:route53:ZNOSUCHZONE0:" in line)
    assert code == 1 and " FAIL " in dns and "NoSuchHostedZone" in dns
