"""``arbiter cost``: every line item of a small config against figures worked out by hand, the
10 s deployment (ticker and SQS), standbys and the lease, the data-plane mode, the Route 53
side, the sizes and log volumes the model assumes against what the real store and handlers
produce, the CLI's table, JSON and errors."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from arbiter.adapters.store import DynamoStore
from arbiter.core.config import SiteName, load_config, parse_config
from arbiter.core.model import Health, Observation, ServiceState
from arbiter.core.vote import Tally
from arbiter.local import cost
from arbiter.local.cli import main
from arbiter.local.prices import PRICES
from tests.factories import config_dict, make_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "arbiter.example.yaml"
TEN_SECONDS = ROOT / "examples" / "cost-10s.yaml"
STANDBY = ROOT / "examples" / "cost-10s-standby.yaml"
MONTH = 730 * 3600


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def lines(report: cost.Report) -> dict[tuple[str, str], cost.Item]:
    found = {(i.group, i.what): i for i in report.items}
    assert len(found) == len(report.items), "two lines with the same group and text"
    return found


def monthly(report: cost.Report, group: str, what: str) -> float:
    return lines(report)[(group, what)].monthly


# --- Every line of a small config, by hand ---------------------------------------------------


def test_every_line_item_of_a_small_config() -> None:
    """1 service, one plain http check per site, 60 s, 3 probe regions, home eu-west-1, one
    email, no secret: 43,800 rounds per region (730 h)."""
    config = make_config()
    report = cost.estimate(config, "small")
    web = config.services[0]
    obs = {r: cost.item_bytes(cost.observation_item(web, r)) for r in config.probe_regions}
    state = cost.item_bytes(cost.state_item(config, web))
    assert all(size < 1024 for size in obs.values())  # 1 WRU per observation
    assert 1024 < state <= 2048  # 2 WRU per write
    expected: dict[tuple[str, str], float] = {}
    for region in config.probe_regions:
        group = f"probe {region}"
        # 350 platform + 70 context + 218 + 3 + len(region) round line + 2 x (8 + 6) checks
        log_gb = 43_800 * (350 + 70 + 218 + 3 + len(region) + 28) / 1e9
        expected |= {
            (group, "probe requests"): 43_800 * 0.20 / 1e6,
            # (300 ms + 1 % of a 600 ms INIT) x 128 MB
            (group, "probe duration (128 MB x 300 ms)"): 43_800 * 0.306 * 0.125 * 0.0000133334,
            (group, "schedule: one round per invocation"): 0.0,
            (group, "probe and ticker logs"): log_gb * 0.50,
            (group, "logs kept a month"): log_gb * 0.03,
        }
        if region != "eu-west-1":
            transfer = 43_800 * obs[region] / 1e9 * 0.02
            expected[(group, "observations to the home table")] = transfer
    table = "table eu-west-1"
    kept_gb = (1440 * 3 * (sum(obs.values()) / 3 + 100) + state + 100) / 1e9
    expected |= {
        (table, "observations: 1 put per service per round"): 131_400 * 0.625 / 1e6,
        # one stream pass per round (the three regions' records in one batch), 2 WRU each
        (table, "state: 1 conditional put per stream pass"): 43_800 * 2 * 0.625 / 1e6,
        # 43,800 stream passes + 43,800 scheduled ones, 1 RRU each; the rounds at half price
        (table, "state reads: consistent Query per pass"): 87_600 * 0.125 / 1e6,
        (table, "round reads: eventual Query per pass"): 87_600 * 0.5 * 0.125 / 1e6,
        (table, "stream reads by the decide trigger"): 0.0,
        (table, "observations kept for probe.retention, state"): kept_gb * 0.25,
        (table, "point-in-time recovery of the same"): kept_gb * 0.20,
    }
    decide = "decide eu-west-1"
    # 350 platform + 70 context + 345 + 3 decided line + ages (6 + len(region)) x 3
    decide_gb = 87_600 * (350 + 70 + 345 + 3 + 18 + 30) / 1e9
    expected |= {
        (decide, "decide requests"): 87_600 * 0.20 / 1e6,
        (decide, "decide duration (256 MB x 200 ms)"): 87_600 * 0.206 * 0.25 * 0.0000133334,
        (decide, "schedule"): 0.0,
        (decide, "decide logs"): decide_gb * 0.50,
        (decide, "logs kept a month"): decide_gb * 0.03,
    }
    ops = "operations eu-west-1"
    expected |= {
        # DecideErrors, NotifyDeadLetterQueue, DecideStale, StreamIteratorAge, RegionSilent,
        # AlertsPending
        (ops, "alarms"): 6 * 0.10,
        (ops, "alerts and ops messages"): 60 * 0.50 / 1e6,
        (ops, "alert emails (1 address)"): 30 * 2.00 / 100_000,
        (ops, "act requests"): 2 * 0.20 / 1e6,
        (ops, "act duration (256 MB x 30000 ms)"): 2 * 30.006 * 0.25 * 0.0000133334,
        (ops, "override requests"): 100 * 0.20 / 1e6,
        (ops, "override duration (256 MB x 1000 ms)"): 100 * 1.006 * 0.25 * 0.0000133334,
        (ops, "notify requests"): 60 * 0.20 / 1e6,
        (ops, "notify duration (256 MB x 2000 ms)"): 60 * 2.006 * 0.25 * 0.0000133334,
        # AlertsSent in 30 alert hours, Switches and RunbooksDone in 2 switch hours each
        (ops, "event metrics (hours with alerts, switches, drills)"): 34 * 0.30 / 730,
    }
    got = {key: item.monthly for key, item in lines(report).items()}
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert report.total == pytest.approx(sum(expected.values()))
    # Route 53: two plain HTTP checks on non-AWS endpoints, no option
    assert [(c.where, c.type, c.features) for c in report.route53] == [
        ("web primary health", "HTTP", ()),
        ("web secondary health", "HTTP", ()),
    ]
    assert report.route53_total == pytest.approx(1.50)
    assert report.percent == pytest.approx(100 * report.total / 1.50)


def test_item_bytes_follow_dynamodb_sizes() -> None:
    # names 2 + 4 + 1, "SVC#web" 7, 12345 -> 3 bytes of digits + 1, 0.5 -> 1 + 1
    item = {"pk": {"S": "SVC#web"}, "size": {"N": "12345"}, "x": {"N": "0.5"}}
    assert cost.item_bytes(item) == 2 + 7 + 4 + 4 + 1 + 2
    assert cost.write_units(1024) == 1 and cost.write_units(1025) == 2
    assert cost.read_units(4096) == 1 and cost.read_units(4097) == 2


# --- The model's sizes and volumes against the real code --------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.items.append(kwargs["Item"])
        return {}


def test_observation_item_is_the_one_the_store_writes() -> None:
    config = load_config(str(EXAMPLE))
    modelled = cost.observation_item(config.services[0], "eu-central-1")
    client = Recorder()
    store = DynamoStore("t", lambda: client)
    obs = Observation.model_validate_json(modelled["doc"]["S"])
    store.put_observation(obs, datetime.fromtimestamp(int(modelled["expires_at"]["N"]), UTC))
    (written,) = client.items
    assert written == modelled
    assert cost.item_bytes(written) == cost.item_bytes(modelled)


def test_state_item_is_the_one_the_store_writes() -> None:
    config = load_config(str(EXAMPLE))
    modelled = cost.state_item(config, config.services[0])
    data = json.loads(modelled["doc"]["S"])
    state = ServiceState.model_validate(
        {**data, "version": int(modelled["version"]["N"]), "runbook_done": 999_999}
    )
    assert DynamoStore("t", Recorder)._state_item(state) == modelled


def _printed(call: Any) -> str:
    """What ``call`` prints: EMF lines (``print``) and log lines (the logger's own stream,
    bound to stdout when it was made)."""
    from arbiter.observability import logger

    out = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    before = handler.setStream(out)
    try:
        with contextlib.redirect_stdout(out):
            call()
    finally:
        handler.setStream(before)
    return out.getvalue()


def _emf_metrics(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Each distinct (metric, dimension values) an EMF output holds: CloudWatch's unit of
    billing."""
    found = set()
    for line in text.splitlines():
        doc = json.loads(line)
        if "_aws" not in doc:
            continue
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                key = tuple(sorted((d, str(doc[d])) for d in dims))
                found |= {(m["Name"], key) for m in directive["Metrics"]}
    return found


def _healthy_round(config: Any, service: Any, region: str) -> Observation:
    item = cost.observation_item(service, region)
    return Observation.model_validate_json(item["doc"]["S"])


@pytest.mark.parametrize("which", ["example", "three services"])
def test_probe_logs_and_metrics_match_the_handler(
    which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the model says one round prints, against ``handlers/probe.py``'s own output (a
    second config: three services of two checks); a healthy round sends no custom metric."""
    from arbiter.handlers import probe

    _as_deployed(monkeypatch)
    config = load_config(str(EXAMPLE)) if which == "example" else _three_services()
    region = "eu-central-1"
    text = "".join(
        _printed(lambda s=s: probe._report(_healthy_round(config, s, region), None, False, 312))
        for s in config.services
    )
    # within 5 %: names and figures vary a few bytes a line
    assert cost.probe_report_bytes(config, region) == pytest.approx(len(text.encode()), rel=0.05)
    assert text.count('"message":"round recorded"') == len(config.services)
    assert _emf_metrics(text) == set()


def test_a_failed_write_is_the_probes_one_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics only when something goes wrong: a round the table refused is counted."""
    from arbiter.handlers import probe

    _as_deployed(monkeypatch)
    config = load_config(str(EXAMPLE))
    round_ = _healthy_round(config, config.services[0], "us-east-1")
    text = _printed(lambda: probe._report(round_, "table unavailable"))
    assert _emf_metrics(text) == {("ObservationWriteFailures", (("service", "web"),))}


def _as_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs and metrics as a deployed function prints them, whatever an earlier test left:
    the demo's POWERTOOLS_METRICS_DISABLED (no EMF lines) and a handler call's Lambda
    context (extra keys on every line)."""
    from arbiter.observability import logger

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    logger.clear_state()


def _three_services() -> Any:
    data = config_dict()
    service = data["services"][0]
    for site in ("primary", "secondary"):
        service[site]["checks"].append(
            {"type": "tcp", "name": "ssh-banner", "host": "192.0.2.1", "port": 22}
        )
    data["services"] = [
        {**service, "name": name, "dns": {"records": []}} for name in ("web", "api", "mail")
    ]
    return parse_config(data)


def _quiet_pass(state: ServiceState) -> Any:
    """What ``decide._record`` reads of a pass that changed only the regions' tracks."""
    from types import SimpleNamespace as NS

    outcome = NS(state=state, transition=None, restart_runbook=None, events=[])
    return NS(outcome=outcome, delivery=NS(sent=[], failed=[]), attempts=1, invoke_failed=False)


def _all_up(config: Any) -> Tally:
    up = {SiteName.PRIMARY: Health.UP, SiteName.SECONDARY: Health.UP}
    return Tally(
        matrix={r: up for r in config.probe_regions},
        fresh=list(config.probe_regions),
        stale=[],
        abstained=[],
        quorum=config.quorum,
        verdict=up,
        counts={s: {Health.UP: 3, Health.DOWN: 0, Health.UNKNOWN: 0} for s in SiteName},
    )


def test_decide_logs_and_metrics_match_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet pass prints one ``decided`` line per service, of the size the model says, and
    sends no custom metric."""
    from arbiter.handlers import decide

    _as_deployed(monkeypatch)
    config = _three_services()
    vote = _all_up(config)
    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    text = ""
    for service in config.services:
        data = json.loads(cost.state_item(config, service)["doc"]["S"])
        state = ServiceState.model_validate(data)
        figures = decide._figures(config, state, vote, now)
        text += _printed(
            lambda s=service, st=state, f=figures: decide._record(s.name, _quiet_pass(st), f)
        )
    assert cost.decided_bytes(config) == pytest.approx(len(text.encode()), rel=0.05)
    assert text.count('"message":"decided"') == len(config.services)
    assert _emf_metrics(text) == set()


def test_a_silent_region_is_the_deciders_one_steady_metric(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``RegionsSilent`` is sent while a probe region is older than the bound, and only then
    (the RegionSilent alarm treats its absence as "none silent")."""
    from arbiter.handlers import decide

    _as_deployed(monkeypatch)
    config = make_config()
    data = json.loads(cost.state_item(config, config.services[0])["doc"]["S"])
    state = ServiceState.model_validate(data)
    last = state.regions["us-east-1"].last_round_at
    assert last is not None
    fresh = last + (config.region_silent_after - 1) * (datetime.min.resolution * 1_000_000)
    late = last + (config.region_silent_after + 1) * (datetime.min.resolution * 1_000_000)
    assert _emf_metrics(_printed(lambda: decide._figures(config, state, None, fresh))) == set()
    text = _printed(lambda: decide._figures(config, state, None, late))
    assert _emf_metrics(text) == {("RegionsSilent", (("service", "arbiter"),))}
    assert json.loads(text)["RegionsSilent"] == [3.0]


# --- Sub-minute probing, standbys, the data plane ----------------------------------------------


def test_ten_seconds_uses_the_ticker_and_sqs() -> None:
    report = cost.estimate(load_config(str(TEN_SECONDS)), "10s")
    group = "probe us-east-1"
    got = lines(report)
    assert got[(group, "probe requests")].quantity == 262_800  # 6 rounds a minute, 43,800 min
    assert got[(group, "ticker requests")].quantity == 43_800
    assert got[(group, "SendMessageBatch (6 delayed rounds)")].quantity == 43_800
    assert got[(group, "receives and deletes, one each per round")].quantity == 525_600
    assert got[(group, "idle long polls (5 pollers, 20 s)")].quantity == 5 * MONTH / 20
    assert not [i for i in report.items if i.price.unit == "metric-months"]
    assert (group, "schedule: one round per invocation") not in got
    # the decider: one invocation per round (every region's record in one batch), plus its
    # one-minute schedule
    assert got[("decide eu-west-1", "decide requests")].quantity == 262_800 + 43_800
    # Route 53 at 10 s: every check gets the fast interval
    assert all("fast interval" in c.features for c in report.route53)
    assert report.route53_total == pytest.approx(2 * (0.75 + 3 * 2.00) + 2 * (0.75 + 2.00))


def test_standby_region_lease_and_replication() -> None:
    config = load_config(str(STANDBY))
    report = cost.estimate(config, "standby")
    got = lines(report)
    group = "standby eu-central-1"
    rounds = 3 * 262_800
    assert got[(group, "replicated observations")].quantity == rounds  # 1 rWRU each
    assert got[(group, "replicated TTL deletes of observations")].quantity == rounds
    # its one-minute schedule only: a standby has no stream trigger
    assert got[(group, "follower decide requests")].quantity == 43_800
    assert got[(group, "lease reads: eventual, 1 per invocation")].quantity == 0.5 * 43_800
    assert got[(group, "alarms")].quantity == cost.STANDBY_ALARMS == 2
    # the example's keys are Parameter Store parameters: no Secrets Manager line anywhere...
    assert not [i for i in report.items if i.service == "Secrets Manager"]
    # ...while a Secrets Manager secret is billed again in the standby region (its replica)
    text = STANDBY.read_text().replace("ssm:/arbiter/twilio", "arbiter/twilio")
    with_sm = lines(cost.estimate(parse_config(yaml.safe_load(text)), "sm"))
    assert with_sm[(group, "secrets the config names (1)")].quantity == 1
    assert with_sm[("operations eu-west-1", "secrets the config names (1)")].quantity == 1
    assert (group, "act requests") not in got  # idle until it leads
    (lease,) = [i for i in report.items if i.group.startswith("lease table")]
    assert lease.group == "lease table eu-west-1+eu-central-1+witness eu-west-2"
    # lease 150 s (the longest step, 120 s, + 30 s), renewed 30 s before its end, 2 replicas
    assert config.lease_seconds == 150
    assert lease.quantity == pytest.approx(MONTH / 120 * 2)


def test_data_plane_mode() -> None:
    config = load_config(str(STANDBY))
    report = cost.estimate(config, "dp", cost.Assumptions(data_plane=True))
    got = {i.what: i for i in report.items if i.group == "data plane (3 alarm regions)"}
    # 1 service, 2 Route 53 records, alarm regions home, standby and witness
    assert got["PutMetricData: 1 per service per minute per region"].quantity == 3 * 43_800
    assert got["vote metrics: 1 per service per region"].quantity == 3
    assert got["alarms: 1 per record per region"].quantity == 2 * 3
    assert got["health checks: per record, 1 per region + 1 CALCULATED"].quantity == 2 * 4
    plain = cost.estimate(load_config(str(EXAMPLE)), "x", cost.Assumptions(data_plane=True))
    assert {i.group for i in plain.items} >= {"data plane (1 alarm regions)"}


def test_tracing_and_the_dashboard_follow_the_config() -> None:
    """Both off by default; on in the config (or on the command line), each adds its lines:
    one X-Ray trace per invocation of every function but the ticker, $3.00 of dashboard."""
    config = load_config(str(EXAMPLE))
    plain = cost.estimate(config, "x")
    assert not [i for i in plain.items if i.service == "X-Ray" or "dashboard" in i.what]
    data = parse_config_data(EXAMPLE)
    data["monitoring"] = {"tracing": True, "dashboard": True}
    traced = cost.estimate(parse_config(data), "x")
    xray = sum(i.monthly for i in traced.items if i.service == "X-Ray")
    board = sum(i.monthly for i in traced.items if "dashboard" in i.what)
    assert board == 3.00
    probes = sum(i.quantity for i in traced.items if i.what == "probe traces (active tracing)")
    assert probes == 3 * 43_800
    # tracing also lengthens each REPORT line (the trace id)
    assert traced.total > plain.total + xray + board
    flags = cost.estimate(config, "x", cost.Assumptions(tracing=True, dashboard=True))
    assert flags.total == pytest.approx(traced.total)
    assert "The dashboard is off" in cost.render(plain)
    assert "The dashboard is off" not in cost.render(traced)


def parse_config_data(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


# --- The Route 53 side ---------------------------------------------------------------------------


def test_dns_and_sip_checks_have_no_route53_equivalent() -> None:
    data = config_dict()
    data["services"][0]["primary"]["checks"] += [
        {"type": "dns", "name": "ns", "query": "example.com", "server": "192.0.2.53"},
        {"type": "sip", "name": "pbx", "host": "192.0.2.60"},
    ]
    config = parse_config(data)
    report = cost.estimate(config, "x")
    assert [(u.where, u.kind) for u in report.unmatched] == [
        ("web primary ns", "dns"),
        ("web primary pbx", "sip"),
    ]
    assert len(report.route53) == 2
    # both sides without them: Arbiter's comparable figure is the config less those checks
    assert report.comparable == pytest.approx(cost.estimate(make_config(), "x").total)
    assert report.comparable < report.total
    assert report.percent == pytest.approx(100 * report.comparable / report.route53_total)
    text = cost.render(report)
    assert "web primary ns: dns: no Route 53 equivalent" in text
    assert "the comparison leaves them out on both sides" in text


def test_route53_features_and_approximations() -> None:
    config = load_config(str(EXAMPLE))
    report = cost.estimate(config, "x", cost.Assumptions(r53_latency=True))
    by_where = {c.where: c for c in report.route53}
    homepage = by_where["web primary homepage"]
    assert homepage.type == "HTTPS_STR_MATCH"
    assert homepage.features == ("HTTPS", "string matching", "latency measurement")
    assert homepage.monthly == pytest.approx(0.75 + 3 * 2.00)
    assert "expect_body_not: Route 53 has no negative match (left out)" in homepage.notes
    ssh = by_where["web primary ssh"]
    assert ssh.type == "TCP" and ssh.features == ("latency measurement",)
    assert ssh.notes == ("expect_banner: Route 53 only connects (left out)",)


def test_a_check_route53_cannot_do_alone_leaves_nothing_to_compare() -> None:
    data = config_dict()
    for site in ("primary", "secondary"):
        data["services"][0][site]["checks"] = [
            {"type": "dns", "name": "ns", "query": "example.com", "server": "192.0.2.53"}
        ]
    report = cost.estimate(parse_config(data), "x")
    assert report.percent is None and report.meets_target is None
    assert "No check has a Route 53 equivalent: nothing to compare." in cost.render(report)


# --- The example, the 10 s config and the target -------------------------------------------------


@pytest.mark.parametrize("path", [EXAMPLE, TEN_SECONDS])
def test_the_example_and_the_10s_config_meet_the_target(path: Path) -> None:
    """Issue 10's target: at most 25 % of Route 53's cost for the same checks, for the
    example config and for the same at a 10 s interval (the README prints both)."""
    report = cost.estimate(load_config(str(path)), path.name)
    assert report.percent is not None and report.percent <= cost.TARGET_PERCENT
    assert report.meets_target is True
    text = cost.render(report)
    assert f"Arbiter costs {report.percent:.0f}% of Route 53" in text
    assert "target: at most 25%: within target" in text
    # no custom metric is billed for the whole month: only in the hours something happens
    assert not [i for i in report.items if i.price.unit == "metric-months"]


def test_surviving_a_region_costs_more_and_says_so() -> None:
    """A standby region (replica, follower, its own alarms and secrets, the lease table) is
    over the target at 10 s: the verdict reports it, not bent."""
    report = cost.estimate(load_config(str(STANDBY)), STANDBY.name)
    plain = cost.estimate(load_config(str(TEN_SECONDS)), TEN_SECONDS.name)
    assert report.total > plain.total
    assert report.percent is not None and report.percent > cost.TARGET_PERCENT
    assert "target: at most 25%: OVER TARGET" in cost.render(report)


def test_within_target_is_said_so() -> None:
    config = make_config()
    report = cost.Report(
        "x", config, cost.Assumptions(), [], *cost.route53(config, cost.Assumptions()), 0.3
    )
    assert report.percent == pytest.approx(20.0) and report.meets_target is True
    assert "target: at most 25%: within target" in cost.render(report)


def test_example_files_differ_from_the_example_only_where_they_say() -> None:
    example = EXAMPLE.read_text().splitlines()[2:]
    ten = TEN_SECONDS.read_text().splitlines()
    standby = STANDBY.read_text().splitlines()
    ten_body = [line for line in ten if not line.startswith("# ") or line in example]
    assert [a for a, b in zip(ten_body, example, strict=True) if a != b] == [
        "  interval: 10s                        # below 60 s it must divide 60 (10s, 15s, 20s, 30s)"
    ]
    control = "\n".join(standby)
    assert "control:\n  standby_regions: [eu-central-1]" in control
    assert load_config(str(STANDBY)).model_copy(
        update={"control": load_config(str(TEN_SECONDS)).control}
    ) == load_config(str(TEN_SECONDS))


# --- Prices, secrets --------------------------------------------------------------------------


def test_every_price_has_a_source_and_a_check_date() -> None:
    for key, price in PRICES.items():
        assert price.source.startswith("https://"), key
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", price.checked), key
        assert price.status in ("doc", "2nd", "assumption"), key
    assert PRICES["r53_check_metric"].status == "assumption"
    assert PRICES["lambda_arm_gb_s"].label() == "$0.0000133334"
    assert PRICES["dynamodb_wru"].label() == "$0.625/1M"
    assert PRICES["eventbridge_schedule"].label() == "free"


def test_secrets_are_every_secret_the_config_names() -> None:
    # the example keeps its keys in Parameter Store (free): no Secrets Manager secret
    assert cost.secret_names(load_config(str(EXAMPLE))) == []
    data = config_dict()
    data["notifications"]["channels"] = [
        {"type": "slack", "name": "oncall", "webhook_url_secret": "arbiter/slack"},
        {"type": "webhook", "name": "hook", "url": "https://h.example.com/", "secret": "a/b"},
    ]
    assert cost.secret_names(parse_config(data)) == ["a/b", "arbiter/slack"]


def test_a_parameter_store_secret_is_not_a_secrets_manager_secret() -> None:
    """A standard SecureString parameter, read at standard throughput, costs nothing."""
    data = config_dict()
    data["notifications"]["channels"] = [
        {"type": "slack", "name": "oncall", "webhook_url_secret": "ssm:/arbiter/slack"},
        {"type": "webhook", "name": "hook", "url": "https://h.example.com/", "secret": "a/b"},
    ]
    assert cost.secret_names(parse_config(data)) == ["a/b"]


# --- The command ---------------------------------------------------------------------------------


def test_cost_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "cost", str(EXAMPLE))
    assert code == 0 and err == ""
    assert out.startswith(f"Monthly cost of {EXAMPLE}: 1 service(s), 4 checks every 1m")
    for heading in (
        "probe eu-west-1",
        "probe us-east-1",
        "table eu-west-1",
        "decide eu-west-1",
        "operations eu-west-1",
    ):
        assert f"\n{heading}\n" in out
    report = cost.estimate(load_config(str(EXAMPLE)), str(EXAMPLE))
    assert re.search(rf"Arbiter, total +\${report.total:,.2f}\n", out)
    assert re.search(r"Route 53, total +\$11\.00\n", out)
    (largest, usd), *_ = report.largest()
    assert f"Largest items: {largest} ${usd:,.2f}" in out
    assert "The dashboard is off (monitoring.dashboard: true adds $3.00 a month" in out


def test_cost_json_has_the_same_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "cost", str(TEN_SECONDS), "--json", "--probe-ms", "150")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["currency"] == "USD" and doc["month_hours"] == 730
    assert doc["assumptions"]["probe_ms"] == 150
    report = cost.estimate(
        load_config(str(TEN_SECONDS)), str(TEN_SECONDS), cost.Assumptions(probe_ms=150)
    )
    assert doc["arbiter"]["total"] == pytest.approx(report.total)
    assert sum(g["subtotal"] for g in doc["arbiter"]["groups"]) == pytest.approx(report.total)
    for group in doc["arbiter"]["groups"]:
        assert sum(i["monthly"] for i in group["items"]) == pytest.approx(group["subtotal"])
        for item in group["items"]:
            assert item["monthly"] == pytest.approx(item["quantity"] * item["unit_price"])
            assert set(item) == {
                "service", "what", "quantity", "unit", "unit_price", "monthly", "price_status",
            }  # fmt: skip
    assert doc["route53"]["interval_s"] == 10
    assert doc["route53"]["total"] == pytest.approx(19.00)
    assert len(doc["route53"]["checks"]) == 4 and doc["route53"]["no_equivalent"] == []
    comparison = doc["comparison"]
    assert comparison["percent"] == pytest.approx(100 * report.total / 19.00)
    assert comparison["target_percent"] == 25
    assert comparison["meets_target"] is (report.percent is not None and report.percent <= 25)
    assert doc["largest"][0]["what"] == report.largest()[0][0]
    assert all(p["source"].startswith("https://") for p in doc["prices"])


def test_cost_of_an_invalid_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("fall: 3", "fall: three"))
    code, out, err = run(capsys, "cost", str(bad))
    assert (code, out) == (2, "")
    assert err.startswith("error: decision.fall: Input should be a valid integer")
    code, out, _ = run(capsys, "cost", str(bad), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and doc["error"] == f"{bad}: invalid config"
    assert doc["problems"][0].startswith("decision.fall:")
    code, _, err = run(capsys, "cost", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read the file" in err


def test_cost_finds_the_config_like_the_other_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARBITER_CONFIG", raising=False)
    code, _, err = run(capsys, "cost")
    assert code == 2 and "no config found" in err
    monkeypatch.setenv("ARBITER_CONFIG", str(TEN_SECONDS))
    code, out, _ = run(capsys, "cost")
    assert code == 0 and "4 checks every 10s" in out
    code, _, err = run(capsys, "cost", str(EXAMPLE), "--config", str(TEN_SECONDS))
    assert code == 2 and "two configs named" in err
    code, _, err = run(capsys, "cost", "--probe-ms", "0")
    assert code == 2 and "0 ms is outside 1..900000" in err
