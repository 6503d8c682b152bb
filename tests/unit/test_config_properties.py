"""Every config that validates also runs: one probe round (checkers stubbed, no socket), its
recording, one decide pass and the runbook of a switch, without an exception.

The configs come from strategies that mix values that work with values that are plausible
but wrong (a made-up region, a huge timeout, a URL with a bad port, two sites with the
same record value), so the property also holds at the edges of what validation accepts.
"""

from __future__ import annotations

import math
import random
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.adapters.checks import CHECKERS
from arbiter.adapters.checks.result import result
from arbiter.core.config import AWS_REGIONS, Check, Config, SiteName, parse_config
from arbiter.core.errors import ConfigError
from arbiter.core.machine import decide
from arbiter.core.model import ServiceState, Transition
from arbiter.core.runbook import plan, render_report
from arbiter.core.schedule import round_budget
from arbiter.services.decider import rounds_window_start
from arbiter.services.probe import probe_round
from tests.factories import T0


@st.composite
def mostly(draw: st.DrawFn, good: st.SearchStrategy[Any], *bad: Any) -> Any:
    """``good`` about 39 times in 40, else one of the plausible mistakes ``bad`` (many
    fields each with a rare mistake: a fair share of the configs validate)."""
    return draw(st.sampled_from(bad)) if draw(st.integers(1, 40)) == 13 else draw(good)


# Durations as numbers and as strings, in the ranges that work and just past them.
UNITS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_MISTAKES = (0, -5, 1e300, float("inf"), float("nan"), 10**30, "soon", "5 minutes", True)


def durations(low: float, high: float, *past: Any) -> st.SearchStrategy[Any]:
    """Between ``low`` and ``high`` seconds (a float, an int or a string with a unit), or a
    mistake: a general one, or one of ``past`` (just past a bound)."""
    numbers = st.floats(low, high, allow_nan=False) | st.integers(math.ceil(low) or 1, int(high))
    texts = [
        st.integers(math.ceil(low / size) or 1, int(high / size)).map(lambda n, u=unit: f"{n}{u}")
        for unit, size in UNITS.items()
        if int(high / size) >= (math.ceil(low / size) or 1)
    ]
    return mostly(st.one_of(numbers, *texts), *DURATION_MISTAKES, *past)


COMMERCIAL = sorted(r for r, partition in AWS_REGIONS.items() if partition == "aws")
REGIONS = st.sampled_from(COMMERCIAL)
REGION_MISTAKES = ("xx-foo-9", "eu-nort-1", "EU-WEST-1", "", "cn-north-1", "us-gov-west-1")
HOSTS = st.sampled_from(["fra.example.com", "127.0.0.1", "2001:db8::5", "localhost", "a-b_c.x"])
HOST_MISTAKES = ("fra.example.com:22", "a..b", "a b", "x" * 64 + ".com", "h\r\nX: 1", "")
URL_MISTAKES = (
    "http://h.example.com:70000/",
    "https://user:pass@h.example.com/",
    "http://[::1/",
    "ftp://h.example.com/",
    "http://h.example.com/a b",
    "http://:80/",
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(HOSTS)
    host = f"[{host}]" if ":" in host else host
    port = draw(st.sampled_from(["", ":1", ":8080", ":65535"]))
    return f"{scheme}://{host}{port}{draw(st.sampled_from(['', '/', '/health?x=1']))}"


def check_fields(draw: st.DrawFn, kind: str, name: str, slow: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": st.just(kind), "name": mostly(st.just(name), "", "a\nb")}
    fields["timeout"] = durations(0.001, 900 if slow else 30, 31, 200, 880, 901)
    fields["required"] = st.booleans()
    if kind == "http":
        fields["url"] = mostly(urls(), *URL_MISTAKES)
        fields["method"] = st.sampled_from(["GET", "HEAD"])
        fields["headers"] = mostly(st.just({"X-Probe": "eu"}), {"X-A": "1\r\nX-B: 2"}, {"A B": "1"})
        fields["cert_warning_days"] = mostly(st.integers(0, 365), -1, 10**9)
    elif kind == "tcp":
        fields["host"] = mostly(HOSTS, *HOST_MISTAKES)
        fields["port"] = mostly(st.integers(1, 65535), 0, 65536, 10**20)
    elif kind == "dns":
        fields["query"] = mostly(st.sampled_from(["www.example.com", ".", "_sip._udp.x."]), "a..b")
        fields["server"] = mostly(st.sampled_from(["198.51.100.53", "2001:db8::53"]), "ns1.x")
        fields["record_type"] = st.sampled_from(["A", "AAAA", "cname", "MX", "TXT"])
    else:
        fields["host"] = mostly(HOSTS, *HOST_MISTAKES)
        fields["transport"] = st.sampled_from(["udp", "tcp"])
    return {key: draw(value) for key, value in fields.items()}


@st.composite
def sites(draw: st.DrawFn, label: str, slow: bool) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(["http", "tcp", "dns", "sip"]), min_size=1, max_size=4))
    checks = [check_fields(draw, kind, f"{kind}-{i}", slow) for i, kind in enumerate(kinds)]
    return {"label": draw(mostly(st.just(label), "", "Frankfurt\x1b DC")), "checks": checks}


VALUES = {  # two values for each site
    "A": ["203.0.113.10", "203.0.113.11", "198.51.100.10", "198.51.100.11"],
    "AAAA": ["2001:db8::1", "2001:DB8::2", "2001:db8::a", "2001:db8::b"],
    "CNAME": ["fra.example.com", "fra2.example.com.", "ams.example.com", "AMS2.example.com"],
}
VALUE_MISTAKES = ("not-an-ip", "ams..x", "203.0.113.10", "2001:db8::1", "FRA.example.com.")


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    rtype = draw(st.sampled_from(sorted(VALUES)))
    pool = VALUES[rtype]
    size = 1 if rtype == "CNAME" else 2
    values = {
        site: draw(
            st.lists(
                mostly(st.sampled_from(part), *VALUE_MISTAKES),
                min_size=1,
                max_size=size,
                unique=True,
            )
        )
        for site, part in (("primary", pool[:2]), ("secondary", pool[2:]))
    }
    return {
        "zone_id": draw(st.sampled_from(["ZONE1", "ZONE2"])),
        "name": draw(
            mostly(st.sampled_from(["www.example.com", "*.example.com", "x.y."]), "a..b", "a b")
        ),
        "type": rtype,
        "ttl": draw(mostly(st.integers(1, 86400), 0, 10**12)),
        "values": values,
    }


@st.composite
def services(draw: st.DrawFn, name: str, slow: bool) -> dict[str, Any]:
    failback: dict[str, Any] = {
        "policy": draw(st.sampled_from(["automatic", "manual"])),
        "hold": draw(durations(0, 7 * 86400, 8 * 86400)),
    }
    if draw(st.booleans()):
        failback["gate"] = {"url": draw(mostly(urls(), *URL_MISTAKES)), "secret": "arbiter/gate"}
        failback["gate"]["timeout"] = draw(durations(0.1, 10, 10.5, 60))
    return {
        "name": name,
        "primary": draw(sites("Frankfurt DC", slow)),
        "secondary": draw(sites("Amsterdam DC", slow)),
        "dns": {
            "records": draw(st.lists(records(), max_size=3)),
            "verify_timeout": draw(durations(1, 600, 601, 900)),
        },
        "failback": failback,
    }


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """``slow``: some configs have checks of up to 15 minutes (and a stale_after to match),
    to meet the probe function's Lambda bound."""
    slow = draw(st.integers(1, 6)) == 4
    regions = draw(st.lists(REGIONS, min_size=3, max_size=6, unique=True))
    if draw(st.integers(1, 10)) == 7:
        regions[draw(st.integers(0, len(regions) - 1))] = draw(st.sampled_from(REGION_MISTAKES))
    return {
        "home_region": draw(mostly(REGIONS, *REGION_MISTAKES)),
        "probe_regions": draw(mostly(st.just(regions), regions[:2], [regions[0]] * 3)),
        "probe": {
            "interval": draw(
                mostly(st.sampled_from([1, 5, 10, "15s", 20, 30, 60, "2m", 300, "1h"]), 7, 45, 90)
            ),
            "retention": draw(durations(3600, 365 * 86400, 60, 366 * 86400)),
        },
        "decision": {
            "fall": draw(mostly(st.integers(1, 100), 0, 101)),
            "rise": draw(mostly(st.integers(1, 100), 0, 101)),
            "quorum": draw(mostly(st.none() | st.integers(1, 6), 0, 7)),
            "stale_after": "15m" if slow else draw(st.none() | durations(60, 86400, 1, 2 * 86400)),
            "max_switches": draw(mostly(st.integers(1, 100), 0, 10**9)),
            "switch_window": draw(durations(1, 7 * 86400)),
        },
        "services": [
            draw(services("web", slow)),
            *draw(st.lists(services("api", slow), max_size=1)),
        ],
    }


def stub_checkers(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Every checker answers at once, passing or failing at random: no socket is opened."""
    rnd = random.Random(seed)

    def checker(check: Check) -> Any:
        return result(check, "ok" if rnd.random() < 0.5 else "status 503", time.perf_counter())

    for kind in list(CHECKERS):
        monkeypatch.setitem(CHECKERS, kind, checker)


def runs(config: Config, seed: int) -> None:
    """One round and its expiry; one decide pass per service; the runbook of a switch."""
    now = T0
    with pytest.MonkeyPatch.context() as monkeypatch:
        stub_checkers(monkeypatch, seed)
        observations = probe_round(config, config.probe_regions[0], now)
    for observation in observations:  # the expiry that recording a round computes
        assert observation.round_at + timedelta(seconds=config.probe.retention) > now
    for service in config.services:
        mine = [o for o in observations if o.service == service.name]
        rounds = [o.model_copy(update={"region": r}) for o in mine for r in config.probe_regions]
        outcome = decide(config, service, ServiceState(service=service.name), rounds, now)
        rounds_window_start(cast(Any, SimpleNamespace(config=config)), outcome.state, now)
        for site in SiteName:
            transition = Transition(
                id=1, from_site=site.other, to_site=site, reason="r", decided_at=now, by="decider"
            )
            steps = plan(config, service, transition).steps
            render_report(config.app, service, transition, [(step, None) for step in steps])


def fits_lambda(config: Config) -> bool:
    return round_budget(config) <= 900 and all(
        s.dns.verify_timeout + 120 <= 900
        and (s.failback.gate is None or s.failback.gate.timeout <= 10)
        for s in config.services
    )


def test_every_config_that_validates_runs() -> None:
    valid = 0

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(configs(), st.integers(0, 2**32))
    def validates_then_runs(data: dict[str, Any], seed: int) -> None:
        nonlocal valid
        try:
            config = parse_config(data)
        except ConfigError as exc:
            assert exc.problems and all("\n" not in p for p in exc.problems)
            return
        valid += 1
        assert fits_lambda(config)
        config.warnings()
        runs(config, seed)

    validates_then_runs()
    # The property is worth something only if some generated configs validate (typically
    # 15 to 50 of 150; a broken strategy gives none).
    assert valid >= 5
