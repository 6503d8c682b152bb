"""The alarms and the (optional) dashboard.

Every alarm lives in the home region (an alarm's actions must be in its own region, and the
home region's ``RegionSilent`` alarm sees a silent probe region from the rounds the decider
reads), and announces both its firing and its recovery. The operational alarms go to the ops
topic, whose machine payloads the notify function renders into readable alerts; the alarm
about the notify function's dead letters goes to the alerts topic directly, so a broken
notify function still reaches the on-call email.

The dashboard (``monitoring.dashboard: true``), also in the home region, reads each probe
region's logs and metrics in that region (dashboards may read other regions). Every custom
metric it graphs is emitted by a handler, and every field it queries is logged
(``tests/infra/test_dashboard_metrics_emitted.py`` runs them and checks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from arbiter.core.config import Config, Service, SiteName, fmt_seconds
from infra.lambdas import DECIDE, METRICS_NAMESPACE, POWERTOOLS_SERVICE, PROBE, log_group_name

MINUTE = 60
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class Bounds:
    """The alarms' bounds in seconds: the config's ``monitoring`` keys, or their defaults."""

    decide_period: int
    """The decider's scheduled cadence (the probe interval, at least a minute): the period
    of the alarms on metrics the decider emits every pass."""
    decide_silent_after: float
    iterator_age: float
    region_silent_after: float
    alerts_pending_for: float

    def periods(self, seconds: float) -> int:
        """Evaluation periods covering ``seconds`` (at least one)."""
        return max(1, math.ceil(seconds / self.decide_period))


def bounds(config: Config) -> Bounds:
    period = max(MINUTE, int(config.probe.interval) // MINUTE * MINUTE)
    given = config.monitoring
    return Bounds(
        decide_period=period,
        decide_silent_after=given.decide_silent_after or max(5.0 * MINUTE, 3.0 * period),
        iterator_age=given.iterator_age or max(5.0 * MINUTE, 2 * config.probe.interval),
        region_silent_after=config.region_silent_after,
        alerts_pending_for=given.alerts_pending_for,
    )


class Alarms:
    """The alarms of one app, in creation order (the dashboard's alarm widget lists them)."""

    def __init__(self, scope: Construct, config: Config) -> None:
        self.scope = scope
        self.config = config
        self.all: list[cloudwatch.Alarm] = []

    def add(
        self,
        name: str,
        topic: sns.ITopic,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        periods: int = 1,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """One alarm named ``{app}-{name}``, notifying ``topic`` when it fires and when it
        recovers."""
        alarm = cloudwatch.Alarm(
            self.scope,
            name,
            alarm_name=f"{self.config.app}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        action = cw_actions.SnsAction(topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.all.append(alarm)
        return alarm


def custom(
    name: str, statistic: str, *, period: int = MINUTE, region: str | None = None, **dims: str
) -> cloudwatch.Metric:
    """An ``Arbiter`` metric with exactly these dimensions (``service`` defaults to the
    function-wide ``arbiter``), in ``region`` (default: the stack's)."""
    dimensions = {"service": POWERTOOLS_SERVICE, **dims}
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=Duration.seconds(period),
        region=region,
    )


def errors_alarm(alarms: Alarms, function: lambda_.Function, topic: sns.ITopic) -> None:
    """Any error of the function in five minutes (its AWS/Lambda metric: free)."""
    role = function.node.id
    alarms.add(
        f"{role}Errors",
        topic,
        description=f"Arbiter {role.lower()} function failed (Errors >= 1 in 5 minutes)",
        metric=function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
        threshold=1,
        comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    )


def monitor_alarms(
    alarms: Alarms, config: Config, decide: lambda_.Function, ops: sns.ITopic
) -> None:
    """The monitor's own health: the decider runs, keeps up with the stream, hears every
    probe region, and gets its alerts out; every channel delivers.

    Each alarm costs $0.10 a month, so there are few, and the ones on custom metrics watch
    metrics sent only while something is wrong (``RegionsSilent``, ``AlertsPending``,
    ``ChannelFailures``): their missing data means "nothing wrong". Whether the decider runs
    at all is its own ``Invocations`` (AWS/Lambda, free), whose missing data means "silent"."""
    b = bounds(config)
    gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    alarms.add(
        "DecideStale",
        ops,
        description=(
            f"No decide pass for {fmt_seconds(b.decide_silent_after)}: nobody is deciding "
            "(decide function not running or its schedule disabled; failing passes raise "
            "DecideErrors)"
        ),
        metric=decide.metric_invocations(period=Duration.seconds(b.decide_period), statistic="Sum"),
        threshold=1,
        comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        periods=b.periods(b.decide_silent_after),
        missing=cloudwatch.TreatMissingData.BREACHING,
    )
    alarms.add(
        "StreamIteratorAge",
        ops,
        description=(
            f"The decide function reads the table's stream more than "
            f"{fmt_seconds(b.iterator_age)} behind: decisions lag the probes"
        ),
        metric=decide.metric(
            "IteratorAge", statistic="Maximum", period=Duration.minutes(1), unit=None
        ),
        threshold=b.iterator_age * 1000,
        comparison=gt,
    )
    alarms.add(
        "RegionSilent",
        ops,
        description=(
            f"A probe region has sent no round for {fmt_seconds(b.region_silent_after)} for some"
            " service: it does not vote (probe function, its schedule or the region failing). "
            "`arbiter status` names it; the decide log's `decided` lines list it as `silent`"
        ),
        metric=custom("RegionsSilent", "Maximum", period=b.decide_period),
        threshold=0,
        comparison=gt,
    )
    alarms.add(
        "AlertsPending",
        ops,
        description=(
            f"Alerts have waited in the outbox for {fmt_seconds(b.alerts_pending_for)}: "
            "SNS refuses them (they are retried every decide pass)"
        ),
        metric=custom("AlertsPending", "Minimum", period=b.decide_period),
        threshold=0,
        comparison=gt,
        periods=b.periods(b.alerts_pending_for),
    )
    for channel in config.notifications.channels:
        alarms.add(
            f"ChannelFailures-{channel.name}",
            ops,
            description=f"Alert channel {channel.name} ({channel.type}) failed a delivery",
            metric=custom("ChannelFailures", "Sum", period=5 * MINUTE, channel=channel.name),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )


def dlq_alarm(alarms: Alarms, queue: sqs.IQueue, topic: sns.ITopic) -> None:
    alarms.add(
        "NotifyDeadLetterQueue",
        topic,
        description=(
            "Alerts the notify function could not handle after its retries are in the "
            f"dead-letter queue {queue.queue_name}: some channel missed them"
        ),
        metric=queue.metric_approximate_number_of_messages_visible(
            period=FIVE_MINUTES, statistic="Maximum"
        ),
        threshold=1,
        comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    )


# --- The dashboard -------------------------------------------------------------------------
#
# Built to cost nothing while nobody looks: what the handlers see every round and every pass
# is in their log lines (``round recorded`` per service per round in each probe region,
# ``decided`` per service per decide pass), and the dashboard reads them with Logs Insights
# ($0.005 per GB scanned, when it is open). The graphs of metrics read the functions' own
# AWS/Lambda metrics (free) and the custom metrics sent only when something happens (a switch,
# a runbook, an alert, a failure). ``tests/infra/test_dashboard_metrics_emitted.py`` runs the
# handlers and checks both: every metric is emitted, every queried field is logged.

FULL, HALF = 24, 12
"""Widths that stack cleanly on a phone: the whole width or half of it."""
BIN = "5m"
"""The time buckets of the Logs Insights graphs."""

HOW_TO_READ = """\
## {app}: which site is live, and why
**Now**: per service, the active site (1 = primary, 2 = secondary), paused, FAILED, open
conditions. Then, per service: the active site over time, **the vote** (how many probe regions
see each site UP, against the quorum: a site is UP or DOWN for Arbiter when at least the quorum
of fresh regions say so), and what each probe region sees: each site up (1) with its failed
checks, and each check's latency.
{sites}
**Timeline**: switches, conditions (degraded, both down, ...), runbooks and operator commands.
**Monitor health**: probe rounds per region, each region's age (older than {stale} = it
stops voting), decide passes and lag, runbooks, alert delivery, then every alarm.
`arbiter status` and `arbiter history SERVICE` say the same in text.
"""


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    width: int = HALF,
    right: Sequence[cloudwatch.IMetric] = (),
    left_axis: cloudwatch.YAxisProps | None = None,
    right_axis: cloudwatch.YAxisProps | None = None,
    region: str,
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        width=width,
        height=6,
        left=list(left),
        right=list(right),
        left_y_axis=left_axis,
        right_y_axis=right_axis,
        region=region,
        legend_position=cloudwatch.LegendPosition.BOTTOM,
    )


def _labelled(metric: cloudwatch.Metric, label: str) -> cloudwatch.Metric:
    return metric.with_(label=label)


def field(*path: str) -> str:
    """A logged field (nested JSON keys joined by dots), quoted for Logs Insights: check and
    region names hold characters (``-``) that must be."""
    return "`" + ".".join(path) + "`"


def _stats(
    message: Sequence[str],
    stats: Sequence[tuple[str, str, str]],
    *,
    service: str | None = None,
    by: str = f"bin({BIN})",
) -> str:
    """``filter message = ... | stats fn(`field`) as `label`, ... by ...``: each of ``stats``
    is (function, field, label)."""
    chosen = " or ".join(f'message = "{m}"' for m in message)
    where = f"({chosen})" if len(message) > 1 else chosen
    if service is not None:
        where += f' and service = "{service}"'
    columns = ", ".join(f"{fn}({name}) as `{label}`" for fn, name, label in stats)
    return f"filter {where}\n| stats {columns} by {by}"


ROUND_LINES = ("round recorded", "round not recorded")
"""The probe's line per service per round (``handlers/probe.py::_report``); a duplicate's
line is left out of the figures (its first copy counted)."""
FIGURES = ("decided",)
"""The decider's line per service per pass, with its figures (``handlers/decide.py``)."""


def _logs(
    title: str,
    log_groups: Sequence[str],
    query: str,
    *,
    region: str,
    width: int = HALF,
    view: cloudwatch.LogQueryVisualizationType = cloudwatch.LogQueryVisualizationType.LINE,
    height: int = 6,
) -> cloudwatch.LogQueryWidget:
    return cloudwatch.LogQueryWidget(
        title=title,
        log_group_names=list(log_groups),
        query_string=query,
        view=view,
        width=width,
        height=height,
        region=region,
    )


def now_widget(config: Config, decide_logs: str) -> cloudwatch.IWidget:
    """Every service's latest figures, one row each."""
    latest = [
        ("latest", field(name), label)
        for name, label in (
            ("active", "active (1 primary, 2 secondary)"),
            ("paused", "paused"),
            ("failed", "FAILED"),
            ("conditions", "open conditions"),
            ("lag", "lag s"),
        )
    ]
    return _logs(
        "Now, per service",
        [decide_logs],
        _stats(FIGURES, latest, by="service"),
        region=config.home_region,
        width=FULL,
        height=max(3, 2 + len(config.services)),
        view=cloudwatch.LogQueryVisualizationType.TABLE,
    )


def service_widgets(config: Config, service: Service, decide_logs: str) -> list[cloudwatch.IWidget]:
    """The active site over time, the vote, then what each probe region sees of each site
    and each check (read in that region)."""
    home = config.home_region
    name = service.name
    primary, secondary = (service.site_label(s) for s in SiteName)
    widgets: list[cloudwatch.IWidget] = [
        _logs(
            f"{name}: active site over time (1 {primary}, 2 {secondary})",
            [decide_logs],
            _stats(
                FIGURES,
                [
                    ("max", field("active"), f"active (1 {primary}, 2 {secondary})"),
                    ("max", field("paused"), "paused"),
                    ("max", field("failed"), "FAILED"),
                ],
                service=name,
            ),
            region=home,
        ),
        _logs(
            f"{name}: the vote (regions seeing each site UP vs the quorum)",
            [decide_logs],
            _stats(
                FIGURES,
                [
                    *(("min", field("up", s.value), f"{s.value} UP") for s in SiteName),
                    ("max", field("quorum"), "quorum"),
                ],
                service=name,
            ),
            region=home,
        ),
    ]
    probe_logs = log_group_name(config, PROBE.role)
    for region in config.probe_regions:
        up_and_down = [("min", field("up", s.value), f"{s.value} up") for s in SiteName]
        latency = []
        for site in SiteName:
            for check in service.site(site).checks:
                label = f"{site.value} {check.name}"
                failed = field("down", site.value, check.name)
                up_and_down.append(("sum", failed, f"{label} failed"))
                latency.append(("avg", field("ms", site.value, check.name), label))
        widgets += [
            _logs(
                f"{name} seen from {region}: sites up (1), failed checks",
                [probe_logs],
                _stats(ROUND_LINES, up_and_down, service=name),
                region=region,
            ),
            _logs(
                f"{name} seen from {region}: check latency ms",
                [probe_logs],
                _stats(ROUND_LINES, latency, service=name),
                region=region,
            ),
        ]
    return widgets


TIMELINE_QUERY = """\
fields @timestamp, service, message, kind, outcome, command, text
| filter message = "timeline" or message = "runbook"
    or (message = "override" and command != "status")
| sort @timestamp desc
| limit 100"""
"""The decide function logs one ``timeline`` line per event (switch, verdict, condition
opened or cleared, pause seen), the act function one ``runbook`` line per run and the
override function one ``override`` line per command."""


def timeline_widget(config: Config, functions: Sequence[lambda_.Function]) -> cloudwatch.IWidget:
    return cloudwatch.LogQueryWidget(
        title="Timeline: switches, conditions, runbooks, operator commands (newest first)",
        log_group_names=[f.log_group.log_group_name for f in functions],
        query_string=TIMELINE_QUERY,
        view=cloudwatch.LogQueryVisualizationType.TABLE,
        width=FULL,
        height=8,
        region=config.home_region,
    )


def _search(metric: str, statistic: str, schema: str, label: str) -> cloudwatch.MathExpression:
    """Every series of ``metric`` under the dimension set ``schema`` (e.g. ``channel,service``),
    whatever the values: for series the config does not list."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{METRICS_NAMESPACE},{schema}}} MetricName=\"{metric}\"', "
            f"'{statistic}', 300)"
        ),
        using_metrics={},
        label=label,
        period=FIVE_MINUTES,
    )


def _lambda(metric: str, function: str, statistic: str, region: str) -> cloudwatch.Metric:
    """A function's own AWS/Lambda metric, by name (a probe region's function is in another
    stack)."""
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=metric,
        dimensions_map={"FunctionName": function},
        statistic=statistic,
        period=FIVE_MINUTES,
        region=region,
    )


def health_widgets(
    config: Config, functions: Sequence[lambda_.Function], decide: lambda_.Function
) -> list[cloudwatch.IWidget]:
    """The monitor's own health, most telling first."""
    home = config.home_region
    regions = config.probe_regions
    services = [s.name for s in config.services]
    b = bounds(config)
    probe = PROBE.function_name(config)
    ages = [("max", field("age", r), r) for r in regions]
    return [
        _graph(
            "Probe rounds per region (invocations in 5 minutes), errors",
            [_labelled(_lambda("Invocations", probe, "Sum", r), r) for r in regions],
            right=[_labelled(_lambda("Errors", probe, "Sum", r), f"errors {r}") for r in regions]
            + [
                _labelled(
                    custom("ObservationWriteFailures", "Sum", region=r, service=s),
                    f"write failures {s} {r}",
                )
                for s in services
                for r in regions
            ],
            region=home,
        ),
        _logs(
            f"Region age s (stale at {fmt_seconds(config.stale_after)}, RegionSilent at "
            f"{fmt_seconds(b.region_silent_after)}) and decide lag s",
            [log_group_name(config, DECIDE.role)],
            _stats(FIGURES, [*ages, ("max", field("lag"), "decide lag")]),
            region=home,
        ),
        _graph(
            "Decide passes and errors (5 minutes), stream iterator age ms",
            [
                _labelled(decide.metric_invocations(period=FIVE_MINUTES), "decide passes"),
                _labelled(decide.metric_errors(period=FIVE_MINUTES), "decide errors"),
            ],
            right=[
                decide.metric(
                    "IteratorAge", statistic="Maximum", period=Duration.minutes(1), unit=None
                ).with_(label="IteratorAge ms")
            ],
            region=home,
        ),
        _graph(
            "Switches, runbooks, drills, act not started",
            [
                _labelled(custom("Switches", "Sum"), "switches"),
                _labelled(custom("RunbooksDone", "Sum"), "runbooks done"),
                _labelled(custom("RunbooksFailed", "Sum"), "runbooks FAILED"),
                _labelled(custom("RunbookStepFailures", "Sum"), "step failures"),
                _labelled(custom("DrillFailures", "Sum"), "drill failures"),
            ],
            right=[_labelled(custom("ActInvokeFailures", "Sum"), "act not started")],
            region=home,
        ),
        _graph(
            "Alert delivery",
            [
                _labelled(custom("AlertsSent", "Sum"), "alerts sent"),
                _labelled(custom("AlertsPending", "Maximum"), "alerts pending"),
                _labelled(custom("OpsAlerts", "Sum"), "ops alerts rendered"),
            ],
            right=[
                _search("ChannelDeliveries", "Sum", "channel,service", "delivered"),
                _search("ChannelFailures", "Sum", "channel,service", "FAILED"),
            ],
            region=home,
        ),
        _graph(
            "Function errors; probe round duration ms (max) per region",
            [
                _labelled(f.metric_errors(period=FIVE_MINUTES, statistic="Sum"), f.node.id.lower())
                for f in functions
            ],
            right=[
                _labelled(_lambda("Duration", probe, "Maximum", r), f"round ms {r}")
                for r in regions
            ],
            width=FULL,
            region=home,
        ),
    ]


def dashboard(
    scope: Construct,
    config: Config,
    *,
    functions: Sequence[lambda_.Function],
    timeline: Sequence[lambda_.Function],
    decide: lambda_.Function,
    alarms: Sequence[cloudwatch.IAlarm],
) -> cloudwatch.Dashboard:
    """One column on a phone: every widget is the full width or half of it."""
    sites = "\n".join(
        f"**{s.name}**: 1 = {s.site_label(SiteName.PRIMARY)}, "
        f"2 = {s.site_label(SiteName.SECONDARY)}"
        for s in config.services
    )
    decide_logs = log_group_name(config, DECIDE.role)
    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.TextWidget(
            markdown=HOW_TO_READ.format(
                app=config.app, stale=fmt_seconds(config.stale_after), sites=sites
            ),
            width=FULL,
            height=6,
        ),
        now_widget(config, decide_logs),
    ]
    for service in config.services:
        widgets += service_widgets(config, service, decide_logs)
    widgets.append(timeline_widget(config, timeline))
    widgets += health_widgets(config, functions, decide)
    widgets.append(
        cloudwatch.AlarmStatusWidget(
            title="Alarms",
            alarms=list(alarms),
            width=FULL,
            height=max(3, 1 + math.ceil(len(alarms) / 3)),
            sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
        )
    )
    return cloudwatch.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=config.app,
        default_interval=Duration.hours(3),
        widgets=rows(widgets),
    )


def rows(widgets: Sequence[cloudwatch.IWidget]) -> list[list[cloudwatch.IWidget]]:
    """Consecutive widgets side by side while they fit the 24-unit width; a phone shows
    them one under the other in the same order."""
    out: list[list[cloudwatch.IWidget]] = []
    used: float = FULL
    for widget in widgets:
        width = widget.width
        if used + width > FULL:
            out.append([])
            used = 0
        out[-1].append(widget)
        used += width
    return out


def dashboard_url(config: Config) -> str:
    region = config.home_region
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{config.app}"
    )
