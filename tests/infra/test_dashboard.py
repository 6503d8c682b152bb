"""The synthesized dashboard: it parses, reads on a phone (full- or half-width widgets, the
explanation first, the alarms last), every widget says its region, the alarm widget lists
every alarm of the stack, and each service has its active site, vote and per-region views.
(``test_dashboard_metrics_emitted.py`` proves each graphed metric is emitted.) The alarms'
bounds follow the config's ``monitoring`` keys; the table follows ``table.removal``."""

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
def widgets(control: Template) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body(control)["widgets"]
    return sorted(found, key=lambda w: (w["y"], w["x"]))


def titles(widgets: list[dict[str, Any]]) -> list[str]:
    return [w["properties"].get("title", "") for w in widgets]


def test_widgets_fit_a_phone_and_read_top_down(widgets: list[dict[str, Any]]) -> None:
    assert {w["width"] for w in widgets} <= {12, 24}
    assert (
        widgets[0]["type"] == "text"
        and "which site is live" in widgets[0]["properties"]["markdown"]
    )
    assert widgets[-1]["type"] == "alarm"
    names = titles(widgets)
    order = [
        "web: now",
        "web: active site over time (1 primary, 2 secondary)",
        "web: the vote (regions seeing each site UP vs the quorum)",
        "web primary (Frankfurt DC): up (1) per region",
        "web primary: check latency ms",
        "Timeline: switches, conditions, runbooks, operator commands (newest first)",
        "Probe rounds recorded per region",
        "Alarms",
    ]
    assert [names.index(t) for t in order] == sorted(names.index(t) for t in order)
    # No two widgets overlap.
    cells = [(w["x"] + dx, w["y"] + dy) for w in widgets for dx in range(w["width"])
             for dy in range(w["height"])]  # fmt: skip
    assert len(cells) == len(set(cells))


def test_every_widget_names_its_region(widgets: list[dict[str, Any]]) -> None:
    """Graphs, numbers and the log query say it; an alarm widget's alarms are named by ARN
    (this stack's, in the home region); text has none."""
    for widget in widgets:
        if widget["type"] in ("metric", "log"):
            assert widget["properties"].get("region") == "eu-west-1", widget["properties"]
        else:
            assert widget["type"] in ("text", "alarm"), widget


def test_probe_regions_are_read_in_their_own_region(widgets: list[dict[str, Any]]) -> None:
    (up,) = [w for w in widgets if w["properties"].get("title", "").startswith("web primary (")
             and "up (1)" in w["properties"]["title"]]  # fmt: skip
    metrics = up["properties"]["metrics"]
    assert [m[-1]["region"] for m in metrics] == PROBE_REGIONS
    assert [m[-1]["label"] for m in metrics] == PROBE_REGIONS
    assert all(m[:2] == ["Arbiter", "SiteUp"] for m in metrics)


def test_active_site_graph_names_primary_and_secondary(widgets: list[dict[str, Any]]) -> None:
    (graph,) = [w for w in widgets if titles([w])[0].startswith("web: active site over time")]
    annotations = graph["properties"]["annotations"]["horizontal"]
    assert [(a["value"], a["label"]) for a in annotations] == [
        (1, "primary: Frankfurt DC"),
        (2, "secondary: Amsterdam DC"),
    ]


def test_alarm_widget_lists_every_alarm_of_the_stack(
    control: Template, widgets: list[dict[str, Any]]
) -> None:
    listed = widgets[-1]["properties"]["alarms"]
    alarms = control.find_resources("AWS::CloudWatch::Alarm")
    assert sorted(listed) == sorted(f"${{{i}.Arn}}" for i in alarms)
    # errors x 4, the notify dead letters, DecideStale, StreamIteratorAge, RegionSilent x 3,
    # AlertsPending
    assert len(listed) == 11


def test_timeline_reads_the_decide_act_and_override_logs(
    control: Template, widgets: list[dict[str, Any]]
) -> None:
    (timeline,) = [w for w in widgets if w["type"] == "log"]
    query = timeline["properties"]["query"]
    groups = [
        f"${{{logical_id(control, 'AWS::Logs::LogGroup', role + 'Logs')}}}"
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
    silent = alarm(control, "arbiter-RegionSilent-us-east-1")
    assert silent["Threshold"] == 180  # decision.stale_after: 3 intervals
    assert silent["Dimensions"] == [{"Name": "region", "Value": "us-east-1"}]
    assert silent["Statistic"] == "Maximum"
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
    assert alarm(control, "arbiter-RegionSilent-eu-west-1")["Threshold"] == 1800
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
