"""Benchmark: the runbook's own overhead for a switch of 10 records at 3 providers, and the
verify step's time against 4 authoritative servers, all on loopback.

The providers are real where they can run here: BIND (RFC 2136 + TSIG to a primary with
three secondaries it notifies) and PowerDNS (HTTP API, sqlite3 backend); Cloudflare is the
local stand-in that follows its API's documented shapes. The store is DynamoDB on moto,
in-process. Each switch runs the act function's ``run_transition`` as it runs in Lambda;
the time inside provider calls and inside store calls is measured apart, and what is left is
the runbook's own overhead (planning, claims, report). Prints figures; asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the local stand-ins and servers live beside the tests

SWITCHES = 6
ZONES = {"bind": "bind.example", "pdns": "pdns.example", "cf": "cf.example"}
SPLIT = {"bind": 4, "pdns": 3, "cf": 3}
"""Records per provider: 10 in all."""


class Timed:
    """Wraps an object: the seconds spent in its public methods add up in ``spent``."""

    def __init__(self, inner: Any, spent: dict[str, float], key: str) -> None:
        self._inner, self._spent, self._key = inner, spent, key

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("_"):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._spent[self._key] = self._spent.get(self._key, 0.0) + (
                    time.perf_counter() - began
                )

        return timed


def records(zone: str, provider: str, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        out.append(
            {
                "provider": provider,
                "zone": zone,
                "name": f"r{i}.{zone}",
                "type": "A",
                "ttl": 30,
                "values": {"primary": [f"203.0.113.{i + 1}"], "secondary": [f"198.51.100.{i + 1}"]},
            }
        )
    return out


def main() -> int:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    )
    import shutil

    from tests.integration.pdns import pdns_missing

    if shutil.which("named") is None or pdns_missing():
        print("runbook_dns: skipped (needs named and pdns_server)")
        return 0
    import boto3
    from moto import mock_aws

    from arbiter.adapters.dns import Deps, Providers
    from arbiter.adapters.dns.authority import DnsAuthority
    from arbiter.adapters.store import DynamoStore
    from arbiter.core.config import SiteName, parse_config
    from arbiter.core.model import ServiceState, Transition
    from arbiter.core.records import RecordSet, RecordType
    from arbiter.local.aws import create_table
    from arbiter.local.bind import BindFleet, zone_file
    from arbiter.runtime import Runtime
    from arbiter.services.actor import run_transition
    from tests.contract.cloudflare_standin import CloudflareStandIn
    from tests.integration.pdns import PdnsServer

    token = "bench-cloudflare-token"
    with (
        tempfile.TemporaryDirectory() as tmp,
        BindFleet(
            Path(tmp) / "bind", {ZONES["bind"]: zone_file(ZONES["bind"])}, secondaries=3
        ).start() as fleet,
        PdnsServer(Path(tmp)).start() as pdns,
        CloudflareStandIn(token, {ZONES["cf"]: None}) as cf,
        mock_aws(),
    ):
        pdns.create_zone(ZONES["pdns"])
        secrets = {"bench/tsig": fleet.primary.key.secret, "bench/pdns": pdns.api_key,
                   "bench/cf": token}  # fmt: skip
        data: dict[str, Any] = {
            "home_region": "eu-west-1",
            "probe_regions": ["eu-west-1", "eu-central-1", "us-east-1"],
            "dns_providers": {
                "bind": {
                    "type": "rfc2136",
                    "server": "127.0.0.1",
                    "port": fleet.primary.port,
                    "key_name": fleet.primary.key.name,
                    "key_secret": "bench/tsig",
                    "nameservers": fleet.servers,
                },
                "pdns": {
                    "type": "powerdns",
                    "url": pdns.api_url,
                    "api_key_secret": "bench/pdns",
                    "verify": False,
                },
                "cf": {
                    "type": "cloudflare",
                    "token_secret": "bench/cf",
                    "base_url": cf.url,
                    "verify": False,
                },
            },
            "services": [
                {
                    "name": "web",
                    "primary": {
                        "checks": [{"type": "tcp", "name": "t", "host": "10.0.0.1", "port": 22}]
                    },
                    "secondary": {
                        "checks": [{"type": "tcp", "name": "t", "host": "10.0.0.2", "port": 22}]
                    },
                    "dns": {
                        "records": [r for p, n in SPLIT.items() for r in records(ZONES[p], p, n)],
                        "verify": {"enabled": False},
                    },
                }
            ],
        }
        config = parse_config(data, "bench")
        create_table(boto3.client("dynamodb", region_name="eu-west-1"), "bench")
        spent: dict[str, float] = {}
        providers = Providers(config, Deps(aws=lambda n: None, secret=secrets.__getitem__))
        timed_dns = {name: Timed(providers[name], spent, "providers") for name in SPLIT}
        store = Timed(
            DynamoStore("bench", lambda: boto3.client("dynamodb", region_name="eu-west-1")),
            spent,
            "store",
        )
        rt = Runtime(
            config=config, store=store, notifier=_Quiet(), invoker=_Quiet(),
            dns=timed_dns, region="eu-west-1",
        )  # type: ignore[arg-type]  # fmt: skip
        now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
        totals, provider_times, store_times = [], [], []
        for n in range(SWITCHES):
            to = SiteName.SECONDARY if n % 2 == 0 else SiteName.PRIMARY
            state = store.load_state("web")
            t = Transition(id=state.version + 1, from_site=to.other, to_site=to,
                           reason="bench", decided_at=now(), by="bench")  # fmt: skip
            new = ServiceState(service="web", version=state.version + 1, active=to, transition=t)
            store.save_state(new, state.version, [])
            spent.clear()
            began = time.perf_counter()
            result = run_transition(rt, "web", t.id, now, time.monotonic() + 600)
            total = time.perf_counter() - began
            assert result.outcome == "done", result
            if n:  # the first switch pays for connections and imports
                totals.append(total)
                provider_times.append(spent.get("providers", 0.0))
                store_times.append(spent.get("store", 0.0))
        ms = 1000.0
        own = [t - p - s for t, p, s in zip(totals, provider_times, store_times, strict=True)]
        print(f"runbook of a switch, 10 records at 3 providers (BIND, PowerDNS, Cloudflare "
              f"stand-in), median of {len(totals)}:")  # fmt: skip
        print(f"  total                  {statistics.median(totals) * ms:8.1f} ms")
        print(f"  in provider calls      {statistics.median(provider_times) * ms:8.1f} ms")
        print(f"  in store calls (moto)  {statistics.median(store_times) * ms:8.1f} ms")
        print(f"  runbook's own overhead {statistics.median(own) * ms:8.1f} ms"
              "  (plan, report, bookkeeping)")  # fmt: skip

        # The verify step alone, against the BIND primary and its three secondaries.
        authority = DnsAuthority(poll=0.1)
        zone = ZONES["bind"]
        times = []
        for n in range(SWITCHES):
            site = SiteName.SECONDARY if n % 2 == 0 else SiteName.PRIMARY
            want = [
                RecordSet(r.name, RecordType.A, r.ttl, tuple(r.values[site]))
                for r in config.services[0].dns.records
                if r.provider == "bind"
            ]
            change = providers["bind"].upsert(zone, want, "bench")
            providers["bind"].wait_applied(change, time.monotonic() + 10)
            began = time.perf_counter()
            outcomes = authority.verify(fleet.servers, want, time.monotonic() + 30)
            times.append(time.perf_counter() - began)
            assert all(o.ok for o in outcomes), outcomes
        print(f"verify step, {len(SPLIT) and SPLIT['bind']} records at 4 authoritative servers "
              f"(primary + 3 notified secondaries), median of {len(times)}:")  # fmt: skip
        print(f"  until all 4 serve the new values {statistics.median(times) * ms:8.1f} ms")
        already = []
        for _ in range(SWITCHES):
            began = time.perf_counter()
            authority.verify(fleet.servers, want, time.monotonic() + 30)
            already.append(time.perf_counter() - began)
        print(
            f"  when all 4 already do (the queries alone) {statistics.median(already) * ms:8.1f} ms"
        )
    return 0


class _Quiet:
    def publish(self, *args: Any, **kwargs: Any) -> str:
        return "bench"

    def start(self, *args: Any) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
