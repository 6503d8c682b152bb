"""Every custom metric that the dashboard graphs or an alarm watches is emitted by the real
handlers, with the dimensions that the graph or alarm selects; every field a Logs Insights
widget queries is on the lines the handlers log.

The metric names and the queries come from the synthesized templates (the example with
``monitoring.dashboard: true``), not from a list kept here: a widget added for a metric that
no code emits (or one that Powertools silently drops), or for a field no line carries, fails
this test. The handlers run against moto and a loopback site through a failover whose switch
pass cannot publish its alerts nor start the act function, whose runbook fails, an operator's
ack and switch back whose runbook succeeds, a drill, a round the table refuses and a pass with
every probe region silent, so each metric sent only when something happens is sent. The sites'
checks carry the example config's check names, so the per-check fields are met.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from moto import mock_aws

from arbiter import runtime
from arbiter.adapters.channels.memory import MemoryChannel
from arbiter.adapters.store import StoreRejected
from arbiter.core.config import parse_config
from arbiter.handlers import act, decide, notify, override, probe
from arbiter.handlers.notify import ChannelsFailed
from arbiter.local.context import LocalContext
from arbiter.observability import metrics
from tests.factories import REGIONS, at, config_dict
from tests.infra.helpers import example_data, render
from tests.integration.servers import HttpSite
from tests.integration.world import make_world

pytestmark = [pytest.mark.infra, pytest.mark.integration]
NAMESPACE = "Arbiter"
EVENTS = Path(__file__).resolve().parents[2] / "events"
_SEARCH = re.compile(r"SEARCH\(\s*'\{([^}]*)\}[^']*MetricName=\"([^\"]+)\"")


@dataclass(frozen=True)
class Reference:
    """A metric that the dashboard or an alarm reads: its dimensions (a value of None: any)."""

    name: str
    dimensions: tuple[tuple[str, str | None], ...]
    where: str


def dashboard_references(template: Template) -> list[Reference]:
    found = []
    for dashboard in template.find_resources("AWS::CloudWatch::Dashboard").values():
        body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
        for widget in body["widgets"]:
            for entry in widget.get("properties", {}).get("metrics", []):
                found += _entry_references(entry, widget["properties"].get("title", "?"))
    return found


def _entry_references(entry: list[Any], title: str) -> list[Reference]:
    where = f"dashboard widget {title!r}"
    if entry and entry[0] == NAMESPACE:  # [namespace, name, dim, value, ..., {options}]
        plain = [part for part in entry if isinstance(part, str)]
        pairs = tuple(zip(plain[2::2], plain[3::2], strict=False))
        return [Reference(plain[1], pairs, where)]
    found = []
    for part in entry:
        expression = part.get("expression", "") if isinstance(part, dict) else ""
        for schema, name in _SEARCH.findall(expression):
            namespace, *dimensions = [d.strip() for d in schema.split(",")]
            if namespace == NAMESPACE:
                found.append(Reference(name, tuple((d, None) for d in dimensions), where))
    return found


def alarm_references(template: Template) -> list[Reference]:
    found = []
    for logical_id, alarm in template.find_resources("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        stats = [props] + [
            m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        for stat in stats:
            if stat.get("Namespace") == NAMESPACE:
                pairs = tuple((d["Name"], d["Value"]) for d in stat.get("Dimensions", []))
                found.append(Reference(stat["MetricName"], pairs, f"alarm {logical_id}"))
    return found


@dataclass(frozen=True)
class Emitted:
    name: str
    dimensions: frozenset[tuple[str, str]]
    handler: str


def emf_metrics(output: str, handler: str) -> list[Emitted]:
    """The metrics of every EMF blob (a JSON line with ``_aws``) in ``output``."""
    found = []
    for line in output.splitlines():
        blob = json.loads(line) if line.startswith("{") else {}
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            if directive["Namespace"] != NAMESPACE:
                continue
            for names in directive["Dimensions"]:
                dimensions = frozenset((n, str(blob[n])) for n in names)
                found += [Emitted(m["Name"], dimensions, handler) for m in directive["Metrics"]]
    return found


def satisfies(emitted: Emitted, reference: Reference) -> bool:
    """Whether the graph or alarm sees this emission: same name, the very dimension set."""
    names = {name for name, _ in emitted.dimensions}
    values = dict(emitted.dimensions)
    return (
        emitted.name == reference.name
        and names == {name for name, _ in reference.dimensions}
        and all(value in (None, values[name]) for name, value in reference.dimensions)
    )


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass(frozen=True)
class Printed:
    """One handler run: the EMF lines it printed and the log records it made."""

    handler: str
    output: str
    logs: list[logging.LogRecord]


@pytest.fixture
def printed(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[Printed]]:
    """What the four handlers emit through a failover whose runbook fails, an ack and switch
    back, and a drill."""
    # The demo disables metrics for the process, and Powertools then keeps what it was given.
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.clear_metrics()
    caplog.set_level(logging.INFO)
    found: list[Printed] = []

    def run(handler: Any, event: Any, name: str) -> Any:
        capsys.readouterr()
        caplog.clear()
        try:
            return handler(event, LocalContext())
        finally:  # what a failing invocation printed counts too (the notify retry case)
            found.append(Printed(name, capsys.readouterr().out, list(caplog.records)))

    with mock_aws(), HttpSite() as site:
        site.set_response("/primary", status=503, body="maintenance")
        site.set_response("/secondary", body="OK")
        data = config_dict()
        example = example_data()["services"][0]
        for name in ("primary", "secondary"):
            data["services"][0][name]["checks"] = [
                {"type": "http", "name": c["name"], "url": site.url_for(f"/{name}"), "timeout": 2}
                for c in example[name]["checks"]
            ]
        world = make_world(data)
        decided = None
        # The switch pass cannot start the act function: the start is retried by the next
        # pass (ActInvokeFailures).
        with pytest.MonkeyPatch.context() as refused:
            refused.setattr(world.rt, "invoker", Refusing())
            for n in range(4):
                world.clock.now = at(n)
                for region in REGIONS:
                    world.rt.region = region
                    run(probe.handler, sample("probe-schedule.json"), "probe")
                decided = run(decide.handler, sample("decide-schedule.json"), "decide")
                if decided["web"]["transition"] is not None:
                    break
        assert decided is not None and decided["web"]["transition"] is not None, decided
        run(decide.handler, sample("decide-schedule.json"), "decide")  # restarts the runbook
        # A round the table refuses (ObservationWriteFailures).
        with pytest.MonkeyPatch.context() as refused:
            refused.setattr(world.rt.store, "put_observation", Refusing().put_observation)
            run(probe.handler, sample("probe-schedule.json"), "probe")
        # The runbook fails: its record points at a hosted zone that does not exist.
        good = world.rt.config
        world.rt.config = _with_zone(good, "ZNOSUCHZONE")
        ran = run(
            act.handler, {"service": "web", "transition": decided["web"]["transition"]}, "act"
        )
        assert ran["outcome"] == "failed"
        world.rt.config = good
        run(override.handler, sample("override-status.json"), "override")
        # An operator settles it and switches back; that runbook succeeds.
        assert run(override.handler, sample("override-ack.json"), "override")["ok"]
        back = {**sample("override-switch.json"), "to": "primary", "force": True}
        assert run(override.handler, back, "override")["ok"]
        service, transition = world.invoker.started[-1]
        ran = run(act.handler, {"service": service, "transition": transition}, "act")
        assert ran["outcome"] == "done", ran
        run(act.handler, {"drill": {"service": "web", "notify": "never"}}, "act")
        run(decide.handler, sample("decide-schedule.json"), "decide")
        # A round in which the secondary fails too (its checks' ``down`` fields).
        site.set_response("/secondary", status=503, body="maintenance")
        run(probe.handler, sample("probe-schedule.json"), "probe")
        # Every probe region silent for ten intervals (RegionsSilent), and the alert about it
        # cannot be published: it waits in the outbox (AlertsPending) for the next pass.
        world.clock.now = at(20)
        with pytest.MonkeyPatch.context() as refused:
            refused.setattr(world.rt, "notifier", Refusing())
            silent = run(decide.handler, sample("decide-schedule.json"), "decide")
        assert silent["web"]["alerts_pending"] > 0, silent
        assert run(decide.handler, sample("decide-schedule.json"), "decide")["web"]["alerts_sent"]
        # The notify function: an alert to two channels (one of them failing), then an
        # alarm's state change on the ops topic.
        channels = [{"type": "webhook", "name": n, "url": "https://hooks.example.com/a",
                     "secret": "arbiter/hook"} for n in ("hook", "down")]  # fmt: skip
        world.rt.config = world.rt.config.model_copy(
            update={
                "notifications": world.rt.config.notifications.model_copy(
                    update={"channels": parse_config(
                        {**data, "notifications": {"channels": channels}}
                    ).notifications.channels}
                )
            }
        )  # fmt: skip
        down = MemoryChannel("down", "webhook")
        down.fail(3)
        world.rt.channels = {"hook": MemoryChannel("hook", "webhook"), "down": down}
        with pytest.raises(ChannelsFailed):
            run(notify.handler, sample("notify-sns-alert.json"), "notify")
        run(notify.handler, sample("notify-sns-alarm.json"), "notify")
    runtime.install(None)
    yield found


class Refusing:
    """A notifier, an act invoker or a store write that AWS refuses."""

    def publish(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreRejected("SNS refused: AuthorizationError")

    def start(self, *args: Any, **kwargs: Any) -> None:
        raise StoreRejected("Lambda refused: AccessDeniedException")

    def put_observation(self, *args: Any, **kwargs: Any) -> bool:
        raise StoreRejected("DynamoDB refused: AccessDeniedException")


@pytest.fixture
def emitted(printed: list[Printed]) -> list[Emitted]:
    return [m for run in printed for m in emf_metrics(run.output, run.handler)]


def logged(printed: list[Printed], handler: str, message: str) -> list[dict[str, Any]]:
    """The fields of the records ``handler`` logged with ``message``."""
    return [
        vars(record)
        for run in printed
        if run.handler == handler
        for record in run.logs
        if record.getMessage() == message
    ]


def _with_zone(config: Any, zone_id: str) -> Any:
    service = config.services[0]
    record = service.dns.records[0].model_copy(update={"zone": zone_id})
    dns = service.dns.model_copy(update={"records": [record]})
    return config.model_copy(update={"services": [service.model_copy(update={"dns": dns})]})


def test_every_metric_on_the_dashboard_and_in_the_alarms_is_emitted(
    dashboarded: dict[str, Template], emitted: list[Emitted]
) -> None:
    dashboard = [ref for t in dashboarded.values() for ref in dashboard_references(t)]
    alarms = [ref for t in dashboarded.values() for ref in alarm_references(t)]
    # The parsers found something in each place (else this test would prove nothing).
    assert dashboard and alarms
    missing = sorted(
        {
            f"{ref.name} {dict(ref.dimensions)} ({ref.where})"
            for ref in dashboard + alarms
            if not any(satisfies(e, ref) for e in emitted)
        }
    )
    seen = sorted({(e.name, e.handler, tuple(sorted(e.dimensions))) for e in emitted})
    assert missing == [], f"never emitted: {missing}; emitted: {seen}"


def log_widgets(template: Template) -> list[dict[str, Any]]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    return [w["properties"] for w in body["widgets"] if w["type"] == "log"]


_SOURCE = re.compile(r"SOURCE '([^']+)'")
_MESSAGE = re.compile(r'message = "([^"]+)"')
_STAT = re.compile(r"\b(?:min|max|avg|sum|latest)\(`([^`]+)`\)")
HANDLER_OF_GROUP = {"/arbiter/arbiter/probe": "probe", "/arbiter/arbiter/decide": "decide"}


def _path(record: dict[str, Any], dotted: str) -> Any:
    """The value at ``a.b.c`` in a logged record's nested fields (Logs Insights flattens
    nested JSON keys with dots), or None."""
    node: Any = record
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def test_every_field_a_log_widget_queries_is_logged(
    dashboarded: dict[str, Template], printed: list[Printed]
) -> None:
    """Each Logs Insights widget over the probe's or the decider's log group: every field
    its stats read is a number on some line the handler logged with the message it filters
    on. (The failing-check fields are there only in rounds that saw a failure, which the
    run has: the primary answers 503, and in one round the secondary too.)"""
    checked = 0
    for widget in log_widgets(dashboarded["arbiter-control"]):
        groups = _SOURCE.findall(widget["query"])
        handlers = {HANDLER_OF_GROUP[g] for g in groups if g in HANDLER_OF_GROUP}
        if not handlers:
            continue  # the timeline (tested below)
        (handler,) = handlers
        messages = _MESSAGE.findall(widget["query"])
        fields = _STAT.findall(widget["query"])
        assert messages and fields, widget["query"]
        lines = [line for m in messages for line in logged(printed, handler, m)]
        for name in fields:
            values = [_path(line, name) for line in lines]
            numbers = [v for v in values if isinstance(v, int | float)]
            assert numbers, f"{widget['title']}: no {handler} line has {name} ({messages})"
            checked += 1
    assert checked > 20  # the parser found the widgets' fields


def test_the_timeline_widget_lists_lines_the_handlers_log(
    dashboarded: dict[str, Template], printed: list[Printed]
) -> None:
    """The dashboard's Logs Insights query selects ``timeline`` (decide: one per event),
    ``runbook`` (act) and ``override`` (override) lines; each carries the fields it shows."""
    (query,) = [
        w["query"]
        for w in log_widgets(dashboarded["arbiter-control"])
        if w["title"].startswith("Timeline")
    ]
    timeline = logged(printed, "decide", "timeline")
    assert {"verdict", "switch"} <= {line["kind"] for line in timeline}
    assert all(line["service"] == "web" and line["text"] for line in timeline)
    runbooks = logged(printed, "act", "runbook")
    assert {line["outcome"] for line in runbooks} == {"failed", "done"}
    commands = logged(printed, "override", "override")
    assert {line["command"] for line in commands} == {"status", "ack", "switch"}
    for message in ("timeline", "runbook", "override"):
        assert f'message = "{message}"' in query
    assert 'command != "status"' in query
