"""The alarms and the dashboard.

Every alarm lives in the home region (an alarm's actions must be in its own region, and the
home region's ``RegionSilent-<region>`` alarms see a silent probe region from the rounds the
decider reads), and announces both its firing and its recovery. The operational alarms go
to the ops topic, whose machine payloads the notify function renders into readable alerts;
the alarms about the notify function itself go to the alerts topic directly, so a broken
notify function still reaches the on-call email.

The dashboard, also in the home region, reads each probe region's metrics in that region
(dashboards may read other regions). Every custom metric it graphs is emitted by a handler
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
from infra.lambdas import METRICS_NAMESPACE, POWERTOOLS_SERVICE, PROBE

MINUTE = 60
FIVE_MINUTES = Duration.minutes(5)
ACTIVE_SITE = {SiteName.PRIMARY: 1, SiteName.SECONDARY: 2}
"""The values of ``ActiveSite`` (``handlers/decide.py``), named by the graph's annotations."""


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
        region_silent_after=given.region_silent_after or config.stale_after,
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


def region_age(region: str, period: int) -> cloudwatch.Metric:
    """``RegionAgeSeconds`` of one probe region with no ``service`` dimension: the decider
    emits it (in the home region) as the maximum over services."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name="RegionAgeSeconds",
        dimensions_map={"region": region},
        statistic="Maximum",
        period=Duration.seconds(period),
    )


def errors_alarm(alarms: Alarms, function: lambda_.Function, topic: sns.ITopic) -> None:
    """Any error of the function in five minutes."""
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
    probe region, and gets its alerts out; every channel delivers."""
    b = bounds(config)
    gt = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    alarms.add(
        "DecideStale",
        ops,
        description=(
            f"No decide pass for {fmt_seconds(b.decide_silent_after)}: nobody is deciding "
            "(decide function not running, its schedule disabled, or failing every pass)"
        ),
        metric=custom("DecidePasses", "Sum", period=b.decide_period),
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
    for region in config.probe_regions:
        alarms.add(
            f"RegionSilent-{region}",
            ops,
            description=(
                f"No round from probe region {region} for {fmt_seconds(b.region_silent_after)}"
                " for some service: the region does not vote (probe function, its schedule "
                "or the region failing)"
            ),
            metric=region_age(region, b.decide_period),
            threshold=b.region_silent_after,
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

FULL, HALF = 24, 12
"""Widths that stack cleanly on a phone: the whole width or half of it."""

HOW_TO_READ = """\
## {app}: which site is live, and why
**Active site**: 1 = primary, 2 = secondary (now, then over time with pauses and failures).
**The vote**: how many probe regions see each site UP, against the quorum: a site is UP or
DOWN for Arbiter when at least the quorum of fresh regions say so.
**Per region**: what each probe region sees of each site (1 = up) and how fast, then per check.
**Timeline**: switches, conditions (degraded, both down, ...), runbooks and operator commands.
**Monitor health**: rounds per region, each region's age (older than
{stale} = it stops voting), decide lag, runbooks, alert delivery, then every alarm.
`arbiter status` and `arbiter history SERVICE` say the same in text.
"""


def _graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    width: int = HALF,
    right: Sequence[cloudwatch.IMetric] = (),
    annotations: Sequence[cloudwatch.HorizontalAnnotation] = (),
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
        left_annotations=list(annotations),
        left_y_axis=left_axis,
        right_y_axis=right_axis,
        region=region,
        legend_position=cloudwatch.LegendPosition.BOTTOM,
    )


def _labelled(metric: cloudwatch.Metric, label: str) -> cloudwatch.Metric:
    return metric.with_(label=label)


def service_widgets(config: Config, service: Service) -> list[cloudwatch.IWidget]:
    """The active site (now and over time), the vote, each region's view of each site and
    each check's latency and failures."""
    home = config.home_region
    name = service.name
    primary, secondary = (service.site_label(s) for s in SiteName)
    active = _labelled(
        custom("ActiveSite", "Maximum", service=name), f"active (1 {primary}, 2 {secondary})"
    )
    flags = [
        _labelled(custom("Paused", "Maximum", service=name), "paused"),
        _labelled(custom("Failed", "Maximum", service=name), "FAILED"),
        _labelled(custom("OpenConditions", "Maximum", service=name), "open conditions"),
    ]
    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.SingleValueWidget(
            title=f"{name}: now",
            metrics=[active, *flags],
            width=FULL,
            height=4,
            region=home,
        ),
        _graph(
            f"{name}: active site over time (1 primary, 2 secondary)",
            [active],
            right=flags[:2],
            width=FULL,
            annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=value, label=f"{site.value}: {service.site_label(site)}"
                )
                for site, value in ACTIVE_SITE.items()
            ],
            left_axis=cloudwatch.YAxisProps(min=0, max=2.5, show_units=False),
            right_axis=cloudwatch.YAxisProps(min=0, max=1, label="paused / failed"),
            region=home,
        ),
        _graph(
            f"{name}: the vote (regions seeing each site UP vs the quorum)",
            [
                *(
                    _labelled(
                        custom("RegionsUp", "Minimum", service=name, site=site.value),
                        f"{site.value} UP",
                    )
                    for site in SiteName
                ),
                _labelled(custom("Quorum", "Maximum", service=name), "quorum"),
            ],
            width=FULL,
            left_axis=cloudwatch.YAxisProps(min=0, max=len(config.probe_regions)),
            region=home,
        ),
    ]
    for site in SiteName:
        label = f"{name} {site.value} ({service.site_label(site)})"
        widgets += [
            _graph(
                f"{label}: up (1) per region",
                [
                    _labelled(
                        custom("SiteUp", "Minimum", region=r, service=name, site=site.value), r
                    )
                    for r in config.probe_regions
                ],
                left_axis=cloudwatch.YAxisProps(min=0, max=1),
                region=home,
            ),
            _graph(
                f"{label}: latency ms per region (slowest check)",
                [
                    _labelled(
                        custom("SiteLatencyMs", "Average", region=r, service=name, site=site.value),
                        r,
                    )
                    for r in config.probe_regions
                ],
                region=home,
            ),
        ]
    for site in SiteName:
        checks = [c.name for c in service.site(site).checks]
        per_check = [(r, c) for c in checks for r in config.probe_regions]
        widgets += [
            _graph(
                f"{name} {site.value}: check latency ms",
                [
                    _labelled(
                        custom(
                            "CheckLatencyMs",
                            "Average",
                            region=r,
                            service=name,
                            site=site.value,
                            check=c,
                        ),
                        f"{c} {r}",
                    )
                    for r, c in per_check
                ],
                region=home,
            ),
            _graph(
                f"{name} {site.value}: failed checks",
                [
                    _labelled(
                        custom(
                            "CheckFailed", "Sum", region=r, service=name, site=site.value, check=c
                        ),
                        f"{c} {r}",
                    )
                    for r, c in per_check
                ],
                region=home,
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


def health_widgets(
    config: Config, functions: Sequence[lambda_.Function], decide: lambda_.Function
) -> list[cloudwatch.IWidget]:
    """The monitor's own health, most telling first."""
    home = config.home_region
    regions = config.probe_regions
    services = [s.name for s in config.services]
    b = bounds(config)
    probe = PROBE.function_name(config)
    per_region_service = [(r, s) for s in services for r in regions]
    return [
        _graph(
            "Probe rounds recorded per region",
            [
                _labelled(custom("RoundsRecorded", "Sum", region=r, service=s), f"{s} {r}")
                for r, s in per_region_service
            ],
            right=[
                _labelled(
                    custom("ObservationWriteFailures", "Sum", region=r, service=s),
                    f"write failures {s} {r}",
                )
                for r, s in per_region_service
            ],
            region=home,
        ),
        _graph(
            "Region age: newest round, seconds (max over services)",
            [_labelled(region_age(r, MINUTE), r) for r in regions],
            annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=config.stale_after, label="stale: stops voting"
                ),
                cloudwatch.HorizontalAnnotation(
                    value=b.region_silent_after, label="RegionSilent alarm"
                ),
            ],
            region=home,
        ),
        _graph(
            "Decide lag behind the newest round (s) and stream iterator age (ms)",
            [
                _labelled(custom("DecideLagSeconds", "Maximum", service=s), f"lag {s}")
                for s in services
            ],
            right=[
                decide.metric(
                    "IteratorAge", statistic="Maximum", period=Duration.minutes(1), unit=None
                ).with_(label="IteratorAge ms")
            ],
            region=home,
        ),
        _graph(
            "Decide passes, switches, act starts failed",
            [
                _labelled(custom("DecidePasses", "Sum"), "decide passes"),
                _labelled(custom("Switches", "Sum"), "switches"),
            ],
            right=[_labelled(custom("ActInvokeFailures", "Sum"), "act not started")],
            region=home,
        ),
        _graph(
            "Runbooks (act) and drills",
            [
                _labelled(custom("RunbooksDone", "Sum"), "runbooks done"),
                _labelled(custom("RunbooksFailed", "Sum"), "runbooks FAILED"),
                _labelled(custom("RunbookStepFailures", "Sum"), "step failures"),
                _labelled(custom("DrillFailures", "Sum"), "drill failures"),
            ],
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
            "Function errors",
            [
                _labelled(f.metric_errors(period=FIVE_MINUTES, statistic="Sum"), f.node.id.lower())
                for f in functions
            ]
            + [
                _labelled(
                    cloudwatch.Metric(
                        namespace="AWS/Lambda",
                        metric_name="Errors",
                        dimensions_map={"FunctionName": probe},
                        statistic="Sum",
                        period=FIVE_MINUTES,
                        region=r,
                    ),
                    f"probe {r}",
                )
                for r in regions
            ],
            right=[
                _labelled(
                    custom("ProbeRoundMs", "Maximum", period=5 * MINUTE, region=r),
                    f"round ms {r}",
                )
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
    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.TextWidget(
            markdown=HOW_TO_READ.format(app=config.app, stale=fmt_seconds(config.stale_after)),
            width=FULL,
            height=5,
        )
    ]
    for service in config.services:
        widgets += service_widgets(config, service)
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
