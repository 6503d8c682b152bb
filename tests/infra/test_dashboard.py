"""The synthesized dashboard (``monitoring.dashboard: true``; none by default): it parses,
reads on a phone (full- or half-width widgets, the explanation first, the alarms last), every
widget says its region, the probe regions' logs are read in their own region, the alarm widget
lists every alarm of the stack, and each service has its active site, vote and per-region
views. (``test_dashboard_metrics_emitted.py`` proves each graphed metric is emitted and each
queried field logged.) The alarms' bounds follow the config's ``monitoring`` keys; the table
follows ``table.removal``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Template

from infra.monitoring import TIMELINE_QUERY
from tests.infra.helpers import example_data, logical_id, render

pytestmark = pytest.mark.infra

CONTROL = "arbiter-control"
PROBE_REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


def body(template: Template) -> dict[str, Any]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    rendered = render(dashboard["Properties"]["DashboardBody"])
    assert isinstance(rendered, str)
    parsed: dict[str, Any] = json.loads(rendered)
    return parsed


@pytest.fixture(scope="module")
def control(example: dict[str, Template]) -> Template:
    return example[CONTROL]


@pytest.fixture(scope="module")
def boarded(dashboarded: dict[str, Template]) -> Template:
    return dashboarded[CONTROL]


@pytest.fixture(scope="module")
def widgets(boarded: Template) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body(boarded)["widgets"]
    return sorted(found, key=lambda w: (w["y"], w["x"]))


def titles(widgets: list[dict[str, Any]]) -> list[str]:
    return [w["properties"].get("title", "") for w in widgets]


def by_title(widgets: list[dict[str, Any]], title: str) -> dict[str, Any]:
    (found,) = [w for w in widgets if w["properties"].get("title", "") == title]
    return found


def test_no_dashboard_unless_asked(control: Template) -> None:
    """$3.00 a month whatever it shows: off by default, and no URL output then."""
    assert control.find_resources("AWS::CloudWatch::Dashboard") == {}
    assert "DashboardUrl" not in control.to_json().get("Outputs", {})


def test_widgets_fit_a_phone_and_read_top_down(widgets: list[dict[str, Any]]) -> None:
    assert {w["width"] for w in widgets} <= {12, 24}
    assert (
        widgets[0]["type"] == "text"
        and "which site is live" in widgets[0]["properties"]["markdown"]
    )
    assert "**web**: 1 = Frankfurt DC, 2 = Amsterdam DC" in widgets[0]["properties"]["markdown"]
    assert widgets[-1]["type"] == "alarm"
    names = titles(widgets)
    order = [
        "Now, per service",
        "web: active site over time (1 Frankfurt DC, 2 Amsterdam DC)",
        "web: the vote (regions seeing each site UP vs the quorum)",
        "web seen from eu-west-1: sites up (1), failed checks",
        "web seen from eu-west-1: check latency ms",
        "web seen from us-east-1: check latency ms",
        "Timeline: switches, conditions, runbooks, operator commands (newest first)",
        "Probe rounds per region (invocations in 5 minutes), errors",
        "Alarms",
    ]
    assert [names.index(t) for t in order] == sorted(names.index(t) for t in order)
    # No two widgets overlap.
    cells = [(w["x"] + dx, w["y"] + dy) for w in widgets for dx in range(w["width"])
             for dy in range(w["height"])]  # fmt: skip
    assert len(cells) == len(set(cells))


def test_every_widget_names_its_region(widgets: list[dict[str, Any]]) -> None:
    """Graphs and log queries say it; an alarm widget's alarms are named by ARN (this
    stack's, in the home region); text has none."""
    for widget in widgets:
        if widget["type"] in ("metric", "log"):
            assert widget["properties"].get("region") in PROBE_REGIONS, widget["properties"]
        else:
            assert widget["type"] in ("text", "alarm"), widget


def test_probe_regions_are_read_in_their_own_region(widgets: list[dict[str, Any]]) -> None:
    """Each probe region's view is a Logs Insights query of that region's probe log group
    (named, so the home stack can name it), over the probe's ``round recorded`` lines."""
    for region in PROBE_REGIONS:
        seen = by_title(widgets, f"web seen from {region}: sites up (1), failed checks")
        props = seen["properties"]
        assert props["region"] == region
        assert props["query"].startswith("SOURCE '/arbiter/arbiter/probe'")
        assert 'message = "round recorded"' in props["query"]
        assert 'service = "web"' in props["query"]
        assert "min(`up.primary`) as `primary up`" in props["query"]
        assert "sum(`down.secondary.ssh`) as `secondary ssh failed`" in props["query"]
        latency = by_title(widgets, f"web seen from {region}: check latency ms")["properties"]
        assert "avg(`ms.primary.homepage`) as `primary homepage`" in latency["query"]
        assert latency["region"] == region and latency["view"] == "timeSeries"
    # The probe regions' own AWS/Lambda metrics, read there too.
    rounds = by_title(widgets, "Probe rounds per region (invocations in 5 minutes), errors")
    metrics = rounds["properties"]["metrics"]
    invocations = [m for m in metrics if m[:2] == ["AWS/Lambda", "Invocations"]]
    assert [m[-1]["region"] for m in invocations] == PROBE_REGIONS


def test_active_site_and_vote_read_the_deciders_lines(widgets: list[dict[str, Any]]) -> None:
    graph = by_title(widgets, "web: active site over time (1 Frankfurt DC, 2 Amsterdam DC)")
    query = graph["properties"]["query"]
    assert query.startswith("SOURCE '/arbiter/arbiter/decide'")
    assert 'message = "decided" and service = "web"' in query
    assert "max(`active`) as `active (1 Frankfurt DC, 2 Amsterdam DC)`" in query
    vote = by_title(widgets, "web: the vote (regions seeing each site UP vs the quorum)")
    assert "min(`up.primary`) as `primary UP`" in vote["properties"]["query"]
    assert "max(`quorum`) as `quorum`" in vote["properties"]["query"]
    now = by_title(widgets, "Now, per service")["properties"]
    assert now["view"] == "table" and now["query"].rstrip().endswith("by service")


def test_no_custom_metric_is_graphed_that_is_sent_every_round(
    widgets: list[dict[str, Any]],
) -> None:
    """The graphs of custom metrics show events only (switches, runbooks, alerts,
    failures): a figure of every round or pass is a log field, read by Logs Insights."""
    every_round = {
        "SiteUp", "SiteLatencyMs", "CheckLatencyMs", "CheckFailed", "RoundsRecorded",
        "ActiveSite", "RegionsUp", "RegionAgeSeconds", "DecidePasses", "ProbeRoundMs",
    }  # fmt: skip
    graphed = {
        m[1]
        for w in widgets
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
        if isinstance(m, list) and m and m[0] == "Arbiter"
    }
    assert graphed and not graphed & every_round


def test_alarm_widget_lists_every_alarm_of_the_stack(
    boarded: Template, widgets: list[dict[str, Any]]
) -> None:
    listed = widgets[-1]["properties"]["alarms"]
    alarms = boarded.find_resources("AWS::CloudWatch::Alarm")
    assert sorted(listed) == sorted(f"${{{i}.Arn}}" for i in alarms)
    assert len(listed) == 6


def test_six_alarms_by_default(control: Template) -> None:
    """Each alarm costs $0.10 a month: the decider's errors, the notify dead letters,
    DecideStale, StreamIteratorAge, RegionSilent (one for all probe regions), AlertsPending."""
    names = sorted(
        a["Properties"]["AlarmName"]
        for a in control.find_resources("AWS::CloudWatch::Alarm").values()
    )
    assert names == [
        "arbiter-AlertsPending",
        "arbiter-DecideErrors",
        "arbiter-DecideStale",
        "arbiter-NotifyDeadLetterQueue",
        "arbiter-RegionSilent",
        "arbiter-StreamIteratorAge",
    ]


def test_timeline_reads_the_decide_act_and_override_logs(
    boarded: Template, widgets: list[dict[str, Any]]
) -> None:
    (timeline,) = [w for w in widgets if w["properties"].get("title", "").startswith("Timeline")]
    query = timeline["properties"]["query"]
    groups = [
        f"${{{logical_id(boarded, 'AWS::Logs::LogGroup', role + 'Logs')}}}"
        for role in ("Decide", "Act", "Override")
    ]
    assert query.startswith(" | ".join(f"SOURCE '{g}'" for g in groups))
    assert query.endswith(TIMELINE_QUERY)
    assert 'message = "timeline"' in TIMELINE_QUERY


def alarm(template: Template, name: str) -> dict[str, Any]:
    (found,) = [
        a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == name
    ]
    return found


def test_default_bounds_follow_the_probe_interval(control: Template) -> None:
    stale = alarm(control, "arbiter-DecideStale")
    assert (stale["Period"], stale["EvaluationPeriods"]) == (60, 5)  # 5 minutes
    assert stale["TreatMissingData"] == "breaching"
    # the decide function's own invocations (free), not a metric it sends
    assert (stale["Namespace"], stale["MetricName"]) == ("AWS/Lambda", "Invocations")
    silent = alarm(control, "arbiter-RegionSilent")
    # RegionsSilent is sent only while some region is silent: no data is "none"
    assert (silent["MetricName"], silent["Threshold"]) == ("RegionsSilent", 0)
    assert silent["Dimensions"] == [{"Name": "service", "Value": "arbiter"}]
    assert silent["Statistic"] == "Maximum" and silent["TreatMissingData"] == "notBreaching"
    age = alarm(control, "arbiter-StreamIteratorAge")
    assert (age["MetricName"], age["Threshold"]) == ("IteratorAge", 300_000)
    pending = alarm(control, "arbiter-AlertsPending")
    assert (pending["Period"] * pending["EvaluationPeriods"], pending["Threshold"]) == (900, 0)


def test_monitoring_keys_set_the_bounds(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]],
) -> None:
    data = example_data()
    data["probe"]["interval"] = "5m"
    data["monitoring"] = {
        "decide_silent_after": "1h",
        "iterator_age": "20m",
        "region_silent_after": "30m",
        "alerts_pending_for": "10m",
    }
    control = build_variant(data)[CONTROL]
    stale = alarm(control, "arbiter-DecideStale")
    assert (stale["Period"], stale["EvaluationPeriods"]) == (300, 12)
    assert alarm(control, "arbiter-StreamIteratorAge")["Threshold"] == 1_200_000
    # region_silent_after is the decider's bound (Config.region_silent_after), said by the text
    assert "30m" in alarm(control, "arbiter-RegionSilent")["AlarmDescription"]
    pending = alarm(control, "arbiter-AlertsPending")
    assert (pending["Period"], pending["EvaluationPeriods"]) == (300, 2)


@pytest.mark.parametrize(("removal", "policy"), [("retain", "Retain"), ("destroy", "Delete")])
def test_table_removal_policy(
    build_variant: Callable[[dict[str, Any]], dict[str, Template]], removal: str, policy: str
) -> None:
    data = example_data()
    data["table"] = {"removal": removal}
    (table,) = build_variant(data)[CONTROL].find_resources("AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == policy
    assert table["Properties"]["TableName"] == "arbiter-table"


def test_table_is_retained_by_default(control: Template) -> None:
    (table,) = control.find_resources("AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
