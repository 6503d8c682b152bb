"""Every number in the config is bounded to what works: a value past its bound is refused
with its field path, never an OverflowError (or a broken deploy) later."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.core.config import load_config_text, parse_config
from arbiter.core.errors import ConfigError
from tests.factories import config_dict

CHECK = "services[0].primary.checks[0]"


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def setting(path: str, value: Any) -> dict[str, Any]:
    """``config_dict()`` with one dotted path (``services.0.failback.hold``) set."""
    data = config_dict()
    *parents, last = path.split(".")
    here: Any = data
    for part in parents:
        here = here[int(part)] if part.isdigit() else here.setdefault(part, {})
    here[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("probe.retention", 1e300, "probe.retention: 1e+300 is longer than any setting allows"),
        ("probe.retention", 10**400, "probe.retention: inf is longer than any setting allows"),
        ("probe.retention", float("inf"), "probe.retention: inf is longer than any setting"),
        ("probe.retention", "99999999999999d", "probe.retention: '99999999999999d' is longer"),
        ("probe.interval", float("nan"), "probe.interval: expected a number of seconds, not NaN"),
        ("decision.stale_after", -1e300, "decision.stale_after: -1e+300 is longer than any"),
        (
            "services.0.primary.checks.0.timeout",
            1e20,
            f"{CHECK}.timeout: 1e+20 is longer than any setting allows (3650d)",
        ),
    ],
)
def test_huge_or_non_finite_durations_are_refused(path: str, value: Any, expected: str) -> None:
    (problem,) = problems_of(setting(path, value))
    assert problem.startswith(expected)


def test_yaml_infinity_and_nan_are_refused() -> None:
    text = "\n".join(
        [
            "home_region: eu-west-1",
            "probe_regions: [eu-west-1, eu-central-1, us-east-1]",
            "probe: {interval: .nan, retention: .inf}",
            "services: []",
        ]
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    assert caught.value.problems[:2] == [
        "probe.interval: expected a number of seconds, not NaN",
        "probe.retention: inf is longer than any setting allows (3650d)",
    ]


@pytest.mark.parametrize(
    ("path", "too_much", "enough", "expected"),
    [
        (
            "services.0.primary.checks.0.timeout",
            "16m",
            "14m",
            f"{CHECK}.timeout: 16m is more than 15m: a round runs inside one probe function "
            "invocation, which Lambda stops at 15m",
        ),
        (
            "services.0.dns.verify_timeout",
            "11m",
            "10m",
            "services[0].dns.verify_timeout: 11m is more than 10m: it is the act function's "
            "whole wait for a change across its retries, and Lambda stops that function at 15m",
        ),
        (
            "services.0.failback.gate",
            {"url": "https://h.example.com/", "secret": "k", "timeout": "11s"},
            {"url": "https://h.example.com/", "secret": "k", "timeout": "10s"},
            "services[0].failback.gate.timeout: 11s is more than 10s: the decider asks the gate "
            "inside its own 60 s pass",
        ),
        ("probe.interval", "2h", "1h", "probe.interval: 2h is more than 1h: an outage"),
        ("probe.retention", "366d", "365d", "probe.retention: 366d is more than 365d"),
        ("decision.stale_after", "25h", "1d", "decision.stale_after: 25h is more than 1d"),
        ("services.0.failback.hold", "8d", "7d", "services[0].failback.hold: 8d is more than 7d"),
        ("decision.max_switches", 101, 100, "decision.max_switches: Input should be less than"),
        (
            "services.0.primary.checks.0.cert_warning_days",
            366,
            365,
            f"{CHECK}.cert_warning_days: Input should be less than or equal to 365",
        ),
    ],
)
def test_each_bound_refuses_past_it_and_accepts_up_to_it(
    path: str, too_much: Any, enough: Any, expected: str
) -> None:
    (problem,) = problems_of(setting(path, too_much))
    assert problem.startswith(expected)
    data = setting(path, enough)
    data["probe"]["retention"] = "2d"  # covers the decider's look-back of a long stale_after
    if path.endswith("checks.0.timeout"):
        data["decision"]["stale_after"] = "15m"  # longer than a long check timeout
    parse_config(data)
