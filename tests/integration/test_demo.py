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
