"""Benchmark: DynamoDB reads of one decide pass, against moto.

One decide pass reads the state item (GetItem) and the new rounds of all regions (one
Query, paginated by 1 MB): O(services), never one read per observation. Prints reads per
service for growing numbers of stored observations.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto import mock_aws

from arbiter.adapters.store import DynamoStore
from arbiter.core.config import SiteName, parse_config
from arbiter.core.model import CheckResult, Observation, SiteResult
from arbiter.local.aws import create_table
from arbiter.runtime import Runtime
from arbiter.services.decider import decide_service

ROOT = Path(__file__).resolve().parents[1]
SERVICES = 20
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> int:
    # moto, with harmless fake credentials: nothing leaves this process.
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCOUNT_ID_ENDPOINT_MODE="disabled",
    )
    site = {"checks": [{"type": "tcp", "name": "t", "host": "10.0.0.1", "port": 22}]}
    config = parse_config(
        {
            "home_region": "eu-west-1",
            "probe_regions": REGIONS,
            "services": [
                {"name": f"svc-{i}", "primary": site, "secondary": site} for i in range(SERVICES)
            ],
        }
    )
    ok = SiteResult.of([CheckResult(name="t", kind="tcp", ok=True, latency_ms=3, reason="ok")])
    worst = 0.0
    with mock_aws():
        create_table(boto3.client("dynamodb"), "bench")
        store = DynamoStore("bench", lambda: boto3.client("dynamodb"))
        rt = Runtime(config, store, None, None, {}, "eu-west-1")  # type: ignore[arg-type]
        rounds_done = 0
        for batch in (1, 2, 4):
            for _ in range(batch):  # `batch` new rounds per region before this pass
                at = T0 + timedelta(minutes=rounds_done)
                for s in config.services:
                    for region in REGIONS:
                        store.put_observation(
                            Observation(
                                service=s.name,
                                region=region,
                                round_at=at,
                                sites={SiteName.PRIMARY: ok, SiteName.SECONDARY: ok},
                            ),
                            at + timedelta(days=1),
                        )
                rounds_done += 1
            before = store.reads
            now = T0 + timedelta(minutes=rounds_done - 1)
            for s in config.services:
                decide_service(rt, s.name, now)
            reads = store.reads - before
            observations = SERVICES * len(REGIONS) * batch
            per = reads / SERVICES
            worst = max(worst, per)
            print(
                f"decide pass: {SERVICES} services, {observations} new observations "
                f"({rounds_done} rounds stored per region): {reads} reads = "
                f"{per:.1f} per service"
            )
    return 0 if worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
