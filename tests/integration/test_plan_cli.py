"""``arbiter plan`` reads every provider (here a real PowerDNS on loopback and the in-process
moto Route 53), prints what a switch would change, changes nothing, and exits 1 naming the
problem when a provider or a record cannot be read."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from arbiter.local import aws as local_aws
from arbiter.local.cli import main
from arbiter.local.plan import secret_env_name
from tests.factories import config_dict
from tests.integration.pdns import PdnsServer, pdns_missing

pytestmark = pytest.mark.integration
KEY_REF = "arbiter/pdns-key"


@pytest.fixture(scope="module")
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PdnsServer]:
    reason = pdns_missing()
    if reason is not None:
        pytest.skip(reason)
    with PdnsServer(tmp_path_factory.mktemp("pdns")).start() as server:
        yield server


@pytest.fixture
def zone(pdns: PdnsServer) -> Iterator[str]:
    name = pdns.create_zone(
        f"z{uuid.uuid4().hex[:8]}.example.test",
    )
    pdns.api(
        "PATCH",
        f"/zones/{name}",
        {
            "rrsets": [
                {
                    "name": f"www.{name}",
                    "type": "A",
                    "ttl": 60,
                    "changetype": "REPLACE",
                    "records": [{"content": "203.0.113.10", "disabled": False}],
                },
                {
                    "name": f"mail.{name}",
                    "type": "MX",
                    "ttl": 300,
                    "changetype": "REPLACE",
                    "records": [{"content": f"10 mx.{name}", "disabled": False}],
                },
            ]
        },
    ).raise_for_status()
    yield name
    pdns.delete_zone(name)


def write_config(tmp_path: Path, pdns: PdnsServer, zone: str, r53_zone: str, **extra: Any) -> Path:
    data = config_dict()
    data["dns_providers"] = {
        "pdns": {
            "type": "powerdns",
            "url": pdns.api_url,
            "api_key_secret": KEY_REF,
            "nameservers": [f"127.0.0.1:{pdns.port}"],
        }
    }
    data["services"][0]["dns"]["records"] = [
        {
            "zone": r53_zone,
            "name": "www.example.com",
            "type": "A",
            "values": {"primary": ["203.0.113.10"], "secondary": ["198.51.100.10"]},
        },
        {
            "provider": "pdns",
            "zone": extra.get("pdns_zone", zone),
            "name": f"www.{zone}",
            "type": "A",
            "values": {"primary": ["203.0.113.10"], "secondary": ["198.51.100.10"]},
        },
        {
            "provider": "pdns",
            "zone": extra.get("pdns_zone", zone),
            "name": f"mail.{zone}",
            "type": "MX",
            "ttl": 300,
            "values": {"primary": [f"10 mx.{zone}"], "secondary": [f"10 mx2.{zone}"]},
        },
    ]
    path = tmp_path / "arbiter.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def r53_zone(aws: None) -> str:
    r53 = boto3.client("route53", region_name="us-east-1")
    zone_id = local_aws.create_zone(r53, "example.com")
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "www.example.com.",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "198.51.100.10"}],
                    },
                }
            ]
        },
    )
    return zone_id


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_plan_shows_each_change_and_changes_nothing(
    tmp_path: Path,
    pdns: PdnsServer,
    zone: str,
    r53_zone: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(secret_env_name(KEY_REF), pdns.api_key)
    path = write_config(tmp_path, pdns, zone, r53_zone)
    serial = pdns.serial(zone)
    code, out, err = run(["plan", str(path), "web", "--to", "secondary"], capsys)
    assert code == 0, out + err
    assert f"* pdns (powerdns) zone {zone}" in out
    assert f"* Update    www.{zone} A" in out
    assert "*   current 203.0.113.10 (TTL 60)" in out
    assert "*   new     198.51.100.10 (TTL 60)" in out
    assert f"*   new     10 mx2.{zone} (TTL 300)" in out
    assert f"* route53 (route53) zone {r53_zone}" in out
    assert "* No change www.example.com. A  198.51.100.10 (TTL 60)" in out
    assert f"verify:pdns:{zone}: ask 127.0.0.1:{pdns.port} until each serves" in out
    assert "health gate: an operator switch" in out
    assert "Summary: 2 to change, 1 already right, 0 missing, 0 unreadable" in out
    assert pdns.serial(zone) == serial  # nothing was written
    assert pdns.api_key not in out + err


def test_plan_fails_naming_a_refused_key(
    tmp_path: Path,
    pdns: PdnsServer,
    zone: str,
    r53_zone: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(secret_env_name(KEY_REF), "wrong-key-123456")
    path = write_config(tmp_path, pdns, zone, r53_zone)
    code, out, _ = run(["plan", str(path), "web", "--to", "secondary"], capsys)
    assert code == 1
    assert f"error: pdns (powerdns) zone {zone}: cannot read www.{zone} A:" in out
    assert "API key was refused" in out
    assert "wrong-key-123456" not in out


def test_plan_fails_naming_a_missing_zone_and_a_missing_record(
    tmp_path: Path,
    pdns: PdnsServer,
    zone: str,
    r53_zone: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(secret_env_name(KEY_REF), pdns.api_key)
    path = write_config(tmp_path, pdns, zone, r53_zone)
    pdns.api(
        "PATCH",
        f"/zones/{zone}",
        {"rrsets": [{"name": f"mail.{zone}", "type": "MX", "changetype": "DELETE"}]},
    ).raise_for_status()
    code, out, _ = run(["plan", str(path), "web", "--to", "secondary"], capsys)
    assert code == 1
    assert f"error: pdns (powerdns) zone {zone}: mail.{zone} MX does not exist there" in out

    gone = write_config(tmp_path, pdns, zone, r53_zone, pdns_zone="example.test")
    code, out, _ = run(["plan", str(gone), "web", "--to", "secondary"], capsys)
    assert code == 1 and "UNREADABLE" in out and "error: pdns (powerdns)" in out


def test_plan_refuses_an_unknown_service(
    tmp_path: Path,
    pdns: PdnsServer,
    zone: str,
    r53_zone: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, pdns, zone, r53_zone)
    code, _, err = run(["plan", str(path), "nope", "--to", "primary"], capsys)
    assert code == 2 and "no service 'nope'" in err and "services: web" in err
