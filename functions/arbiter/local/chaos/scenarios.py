"""The chaos scenarios: what breaks in which round, and what Arbiter must do about it.

The config (see ``harness._config``): 3 probe regions (4 for the tie), interval 60 s, fall 2,
rise 2, quorum 2, failback automatic after 2 minutes, two hosted zones (three records). Rounds
are virtual minutes; the decider also runs 30 s into each one, as its schedule does. With
fall 2, a site broken at the start of round n is DOWN at round n + 1.
"""

from __future__ import annotations

from typing import Any

from arbiter.core.config import SiteName
from arbiter.local.chaos.harness import Harness
from arbiter.local.chaos.world import INTERVAL, SERVICE, Scenario, Step
from arbiter.local.sites import Mode

P, S = "primary", "secondary"


# -- steps --------------------------------------------------------------------------------


def mode(site: str, to: Mode) -> Step:
    return lambda h: h.set_mode(SiteName(site), to)


def cut(region: str, site: str = P) -> Step:
    def step(h: Harness) -> None:
        h.views[region].cut.add(SiteName(site))
        h.note(f"*** {region} cut off from the {site}")

    return step


def reconnect(region: str) -> Step:
    def step(h: Harness) -> None:
        h.views[region].cut.clear()
        h.note(f"*** {region} reaches both sites again")

    return step


def silence(region: str) -> Step:
    def step(h: Harness) -> None:
        h.views[region].silent = True
        h.note(f"*** {region} silent")

    return step


def voice(region: str) -> Step:
    def step(h: Harness) -> None:
        h.views[region].silent = False
        h.note(f"*** {region} reports again")

    return step


def skew(region: str, seconds: float) -> Step:
    def step(h: Harness) -> None:
        h.views[region].skew = seconds
        h.note(f"*** {region} clock {seconds:+.0f} s")

    return step


def fault(**settings: Any) -> Step:
    def step(h: Harness) -> None:
        for name, value in settings.items():
            if not hasattr(h.faults, name):
                raise AttributeError(f"no fault named {name}")
            setattr(h.faults, name, value)
            h.note(f"*** fault {name} = {value}")

    return step


def operator(**payload: Any) -> Step:
    def step(h: Harness) -> None:
        h.operator(payload)

    return step


def operator_inside(hook: str, **payload: Any) -> Step:
    """The operator acts at the moment the fault ``hook`` fires (inside a runbook's step)."""

    def step(h: Harness) -> None:
        setattr(h.faults, hook, lambda: operator(**payload)(h))
        h.note(f"*** the operator will act during {hook.removeprefix('on_')}")

    return step


def replay(switch_index: int) -> Step:
    return lambda h: h.replay_act(switch_index)


BACK_HOME = {"command": "switch", "to": P, "reason": "back home", "force": True}


# -- scenario-specific checks ---------------------------------------------------------------


def _events(h: Harness, kind: str) -> int:
    return sum(1 for e in h.events() if e.kind == kind)


def restarted_once(h: Harness) -> list[str]:
    n = _events(h, "runbook_restarted")
    return [] if n == 1 else [f"{n} runbook restarts, expected 1"]


def one_change_per_zone(h: Harness) -> list[str]:
    problems = []
    for switch in h.switches:
        zones = [u.zone for u in h.upserts if u.transition == switch.id]
        if sorted(zones) != sorted(h.zones):
            problems.append(f"switch #{switch.id}: DNS changes {zones}, expected one per zone")
    return problems


def older_never_acted(h: Harness) -> list[str]:
    problems = []
    if any(u.site is SiteName.SECONDARY for u in h.upserts):
        problems.append("the superseded failover changed DNS")
    if _events(h, "runbook_superseded") < 1:
        problems.append("no runbook_superseded event")
    return problems


def second_zone_untouched(h: Harness) -> list[str]:
    problems = []
    first = h.switches[0].id if h.switches else None
    touched = {u.zone for u in h.upserts if u.transition == first}
    if touched != {h.zones[0]}:
        problems.append(f"the superseded runbook changed zones {sorted(touched)}")
    if _events(h, "runbook_superseded") < 1:
        problems.append("no runbook_superseded event")
    return problems


def raced(h: Harness) -> list[str]:
    """The two deciders really raced: at least one state write lost."""
    return [] if h.conflicts else ["the two deciders never raced (no conflicting write)"]


def immediate_switch_back(h: Harness) -> list[str]:
    if len(h.switches) == 2 and h.switches[1].reason.startswith("failback"):
        return [f"switched back as a failback, not at once: {h.switches[1].reason}"]
    return []


def settled_after_failure(h: Harness) -> list[str]:
    state = h.observer.load_state(SERVICE)
    problems = [] if state.failed is None else [f"still FAILED (#{state.failed})"]
    if _events(h, "runbook_failed") != 1:
        problems.append("the failed runbook was not recorded once")
    return problems


# -- the scenarios --------------------------------------------------------------------------

EU1, EU2, US1, US2 = "eu-west-1", "eu-central-1", "us-east-1", "us-west-2"

SCENARIOS: list[Scenario] = [
    Scenario(
        "primary-down-and-back",
        "the primary answers 503, then heals: failover, then failback after the hold",
        rounds=11,
        steps={2: [mode(P, "error")], 6: [mode(P, "ok")]},
        expect=["dec>S", "dec>P"],
        alerts={"report_done": 2},
    ),
    Scenario(
        "region-cut-off",
        "one region cannot reach the primary: no quorum for DOWN, no switch",
        rounds=10,
        steps={2: [cut(EU2)], 8: [reconnect(EU2)]},
        expect=[],
        alerts={},
    ),
    Scenario(
        "one-region-silent",
        "one region stops reporting, then the primary dies: two fresh regions still switch",
        rounds=7,
        steps={1: [silence(US1)], 3: [mode(P, "refused")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
    ),
    Scenario(
        "two-regions-silent",
        "two of three regions silent while the primary dies: degraded, no switch; they "
        "come back and it switches",
        rounds=11,
        steps={1: [silence(EU2), silence(US1)], 3: [mode(P, "error")], 8: [voice(EU2), voice(US1)]},
        expect=["dec>S"],
        alerts={"monitor_degraded": 1, "monitor_recovered": 1, "report_done": 1},
    ),
    Scenario(
        "silent-40min-after-blip",
        "a region sees the primary fail, goes silent for 40 minutes, comes back while another "
        "region sees a blip: its old DOWN never votes again",
        rounds=47,
        steps={
            2: [cut(EU2)],
            4: [reconnect(EU2), silence(EU2)],
            43: [cut(US1)],
            44: [voice(EU2)],
            45: [reconnect(US1)],
        },
        expect=[],
        alerts={},
    ),
    Scenario(
        "clock-skew",
        "one region's clock runs an hour ahead while the primary dies: the switch is not "
        "missed, the skew is reported once",
        rounds=11,
        steps={1: [skew(EU2, 3600)], 3: [mode(P, "error")], 9: [skew(EU2, 0)]},
        expect=["dec>S"],
        alerts={"clock_skew": 1, "clock_skew_cleared": 1, "report_done": 1},
    ),
    Scenario(
        "skew-phantoms",
        "two regions' clocks run ten minutes ahead during an outage (degraded: no switch); "
        "their clocks are fixed and the primary heals; it dies again just as their real "
        "rounds reach the stamps of the old ones: those must count, and the switch come on time",
        rounds=20,
        steps={
            2: [skew(EU2, 600), skew(US1, 600), mode(P, "error")],
            9: [skew(EU2, 0), skew(US1, 0), mode(P, "ok")],
            13: [mode(P, "error")],
        },
        expect=["dec>S"],
        alerts={
            "clock_skew": 2,
            "clock_skew_cleared": 2,
            "monitor_degraded": 1,
            "monitor_recovered": 1,
            "report_done": 1,
        },
    ),
    Scenario(
        "flapping-low-rate",
        "the primary fails one round in three or four, never two in a row: no switch",
        rounds=18,
        steps={
            n: [mode(P, "error" if n in (2, 5, 9, 12, 15) else "ok")]
            for n in (2, 3, 5, 6, 9, 10, 12, 13, 15, 16)
        },
        expect=[],
        alerts={},
    ),
    Scenario(
        "slow-primary",
        "the primary answers after 1.5 s, its checks time out after 0.8 s: switch",
        rounds=4,
        steps={2: [mode(P, "slow")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
    ),
    Scenario(
        "tarpit-primary",
        "the primary sends its status line, then drips header bytes: switch; the healthy "
        "secondary never fails a round",
        rounds=4,
        steps={2: [mode(P, "tarpit")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
    ),
    Scenario(
        "both-down",
        "both sites down, then both back: no switch, one alert and one recovery",
        rounds=10,
        steps={2: [mode(P, "error"), mode(S, "error")], 6: [mode(P, "ok"), mode(S, "ok")]},
        expect=[],
        alerts={"both_down": 1, "both_recovered": 1},
    ),
    Scenario(
        "active-secondary-dies",
        "serving from the secondary, it dies while the primary is UP: back at once, before "
        "the failback's hold",
        rounds=11,
        steps={
            2: [mode(P, "error")],
            5: [mode(P, "ok")],
            6: [mode(S, "refused")],
            8: [mode(S, "ok")],
        },
        expect=["dec>S", "dec>P"],
        alerts={"report_done": 2, "standby_down": 1, "standby_recovered": 1},
        check=immediate_switch_back,
    ),
    Scenario(
        "sns-failing",
        "SNS fails for eight passes during a failover and an operator's pause and resume: "
        "the switch is on time, every alert arrives once after SNS recovers",
        rounds=11,
        steps={
            1: [fault(sns_failing=True)],
            2: [mode(P, "error")],
            4: [operator(command="pause", reason="network work")],
            5: [operator(command="resume")],
            9: [fault(sns_failing=False)],
        },
        expect=["dec>S"],
        alerts={"report_done": 1, "paused": 1, "resumed": 1},
    ),
    Scenario(
        "route53-throttled",
        "Route 53 throttles the first change, then accepts it",
        rounds=5,
        steps={0: [fault(r53_throttle=1)], 2: [mode(P, "error")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
    ),
    Scenario(
        "route53-failing",
        "Route 53 fails every attempt: FAILED, reported; once it works the operator forces "
        "the switch again and the state and DNS agree",
        rounds=8,
        steps={
            0: [fault(r53_failing=True)],
            2: [mode(P, "error")],
            5: [fault(r53_failing=False)],
            6: [operator(command="switch", to=S, reason="re-run by hand", force=True)],
        },
        expect=["dec>S", "op>S"],
        alerts={"report_failed": 1, "report_done": 1},
        check=settled_after_failure,
    ),
    Scenario(
        "act-invocation-lost",
        "the first act invocation is lost: the decider's next pass starts it again",
        rounds=6,
        steps={0: [fault(lose_acts=1)], 2: [mode(P, "error")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
        check=restarted_once,
    ),
    Scenario(
        "act-invocations-delayed",
        "act invocations arrive two minutes late: the decider starts the runbook again at "
        "each pass meanwhile; when they all arrive, one acts and the rest find it done",
        rounds=7,
        steps={0: [fault(hold_acts=True)], 2: [mode(P, "error")], 5: [fault(hold_acts=False)]},
        expect=["dec>S"],
        alerts={"report_done": 1},
        check=one_change_per_zone,
        dns_within=2 * INTERVAL,
    ),
    Scenario(
        "act-invocations-twice",
        "every act invocation is delivered twice, both at once: one change per zone, one "
        "report per switch",
        rounds=10,
        steps={0: [fault(duplicate_acts=True)], 2: [mode(P, "error")], 5: [mode(P, "ok")]},
        expect=["dec>S", "dec>P"],
        alerts={"report_done": 2},
        check=one_change_per_zone,
    ),
    Scenario(
        "act-crash-after-dns",
        "the act process dies after its DNS change, before closing: its lease runs out, the "
        "decider restarts it, it resumes and reports once",
        rounds=10,
        steps={0: [fault(crash_after_dns=1)], 2: [mode(P, "error")]},
        expect=["dec>S"],
        alerts={"report_done": 1},
        check=restarted_once,
    ),
    Scenario(
        "dynamodb-probe-writes",
        "DynamoDB refuses the probes' writes for four rounds, between two single failed "
        "rounds of the primary: degraded and recovered, no false switch",
        rounds=10,
        steps={
            2: [mode(P, "error")],
            3: [mode(P, "ok"), fault(probe_writes_failing=True)],
            7: [mode(P, "error"), fault(probe_writes_failing=False)],
            8: [mode(P, "ok")],
        },
        expect=[],
        alerts={"monitor_degraded": 1, "monitor_recovered": 1},
    ),
    Scenario(
        "stream-twice-two-deciders",
        "every stream batch goes to two deciders at once, and is delivered twice: one switch "
        "each way",
        rounds=10,
        steps={
            0: [fault(stream_twice=True, two_deciders=True)],
            2: [mode(P, "error")],
            5: [mode(P, "ok")],
        },
        expect=["dec>S", "dec>P"],
        alerts={"report_done": 2},
        check=raced,
    ),
    Scenario(
        "older-runbook-retrying",
        "the failover's first change is throttled; while it waits to retry, the operator "
        "switches back; the old invocation is delivered again later: only the newest acts",
        rounds=9,
        steps={
            0: [fault(r53_throttle=1), operator_inside("on_r53_refused", **BACK_HOME)],
            2: [mode(P, "error")],
            5: [replay(0)],
            6: [mode(P, "ok")],
        },
        expect=["dec>S", "op>P"],
        alerts={"report_done": 1},
        check=older_never_acted,
    ),
    Scenario(
        "operator-during-dns-wait",
        "the operator switches back while the failover waits for its first zone's change: "
        "the old runbook stops before the second zone",
        rounds=9,
        steps={
            0: [operator_inside("on_dns_wait", **BACK_HOME)],
            2: [mode(P, "error")],
            6: [mode(P, "ok")],
        },
        expect=["dec>S", "op>P"],
        alerts={"report_done": 1},
        check=second_zone_untouched,
    ),
    Scenario(
        "maintenance-pin",
        "the operator moves to a healthy secondary for maintenance: pinned, no failback "
        "while the primary is back, until resume",
        rounds=15,
        steps={
            2: [operator(command="switch", to=S, reason="planned maintenance")],
            3: [mode(P, "error")],
            7: [mode(P, "ok")],
            13: [operator(command="resume")],
        },
        expect=["op>S", "dec>P"],
        alerts={"resumed": 1, "report_done": 2},
    ),
    Scenario(
        "tie-2-2",
        "four regions, quorum 2: two cannot reach the primary, two can: a tie, no switch, "
        "one alert and one when it ends",
        rounds=10,
        regions=(EU1, EU2, US1, US2),
        quorum=2,
        steps={2: [cut(EU1), cut(EU2)], 7: [reconnect(EU1), reconnect(EU2)]},
        expect=[],
        alerts={"tie": 1, "tie_cleared": 1},
    ),
]

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
