"""Shared fixtures. AWS calls go to moto; network servers live on 127.0.0.1 only."""

from __future__ import annotations

import os
import sys

import pytest

# Before any boto3 client exists: fake credentials, never a real endpoint.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_METRICS_NAMESPACE": "Arbiter",
        "POWERTOOLS_SERVICE_NAME": "arbiter",
    }
)
os.environ.pop("AWS_PROFILE", None)


# In CI (.ci/run sets ARBITER_REQUIRE_PEERS) a test skipped for a missing protocol peer
# (named, sipp, openssl) fails the run: CI installs them, so a skip there hides a gap.
_skipped_for_peers: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and os.environ.get("ARBITER_REQUIRE_PEERS"):
        reason = str(report.longrepr)
        if "not installed" in reason or "not available" in reason:
            _skipped_for_peers.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_for_peers:
        print(f"\n{len(_skipped_for_peers)} tests skipped for a missing peer:", file=sys.stderr)
        for nodeid in _skipped_for_peers:
            print(f"  {nodeid}", file=sys.stderr)
        session.exitstatus = 1
