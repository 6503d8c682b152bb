"""The README's demo, as a test: fail over and back between two loopback data centers."""

from __future__ import annotations

import io

import pytest

from arbiter import runtime
from arbiter.local.demo import run

pytestmark = pytest.mark.integration


def test_demo_fails_over_and_back() -> None:
    out = io.StringIO()
    try:
        code = run(out)
    finally:
        runtime.install(None)
    text = out.getvalue()
    assert code == 0, text
    assert "*** primary breaks" in text
    assert "switch primary -> secondary: Frankfurt DC (primary DOWN in 3/3 regions)" in text
    assert "Route 53: www.example.com A -> ['198.51.100.10']" in text
    assert "notification: [arbiter-demo] web: switched to secondary (Amsterdam DC)" in text
    assert "switch secondary -> primary: failback: Frankfurt DC UP for 2m" in text
    assert "Route 53 now: www.example.com A ['203.0.113.10']" in text
    assert text.rstrip().endswith("Demo PASSED: failover and failback both happened.")
    assert '"_aws"' not in text  # metrics stay out of the timeline


def test_rehearsal_switches_route53_and_a_real_bind_and_verifies_every_server() -> None:
    """``make rehearsal``: moto's Route 53 and a real BIND (a primary taking RFC 2136
    updates and three secondaries) fail over and back; the verify step asks all four."""
    import re
    import shutil

    if shutil.which("named") is None:
        pytest.skip("the named command is not installed (Debian package bind9)")
    out = io.StringIO()
    try:
        code = run(out, rehearsal=True)
    finally:
        runtime.install(None)
    text = out.getvalue()
    assert code == 0, text
    assert "BIND: all 4 servers: www.corp.example A 198.51.100.10" in text
    assert "BIND now: all 4 servers: www.corp.example A 203.0.113.10, 203.0.113.11" in text
    assert text.count("all 4 authoritative servers serve the new values") >= 2
    assert len(re.findall(r"\| +127\.0\.0\.1:\d+ +new after \d+\.\d s", text)) == 8
    assert "changed _sip._udp.corp.example SRV 10 5 5060 ams.corp.example. (TTL 30)" in text
    assert text.rstrip().endswith("Demo PASSED: failover and failback both happened.")
