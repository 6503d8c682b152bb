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


def test_demo_switches_run_every_phase_through_the_receivers_and_move_the_numbers() -> None:
    """Each switch fences the old site and runs one hook per phase through the reference
    receivers (their scripts' own words come back), in the fixed order, and moves both
    numbers at the Telnyx stand-in; the timeline prints them."""
    out = io.StringIO()
    try:
        assert run(out) == 0
    finally:
        runtime.install(None)
    text = out.getvalue()
    failover = [line.split()[2] for line in text.splitlines() if "runbook_step: #5 " in line]
    assert [name.rstrip(":").split(":")[0] for name in failover] == [
        "pre_release", "fence", "pre_acquire", "dns", "voip", "post_acquire", "post_release",
    ]  # fmt: skip
    assert (
        "fence:primary: the primary site confirmed it stopped after" in text
        and "Frankfurt DC: app stopped, no longer serving (switch #5, primary -> secondary)" in text
    )
    assert "Amsterdam DC: database promoted, app started (switch #5" in text
    assert "Telnyx: +4969123456 -> secondary PBX, +31201234567 -> secondary PBX" in text
    assert "changed +4969123456 connection_id=1684641123236054255" in text
    assert "fence:secondary: the secondary site confirmed it stopped" in text
    assert "Telnyx now: +4969123456 -> primary PBX, +31201234567 -> primary PBX" in text


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
