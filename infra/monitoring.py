"""Alarms and the dashboard.

CloudWatch metrics, alarms and alarm actions are regional: a probe's metrics live in the
probe's region, so its alarms live in its stack and notify that region's alerts topic. The
dashboard, in the home region, shows every region (dashboards may read other regions).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from arbiter.core.config import Config
from infra.lambdas import METRICS_NAMESPACE, PROBE

FIVE_MINUTES = Duration.minutes(5)


def errors_alarm(scope: Construct, function: lambda_.Function, topic: sns.ITopic) -> None:
    """Any error of the function in five minutes."""
    role = function.node.id
    alarm = cloudwatch.Alarm(
        scope,
        f"{role}Errors",
        alarm_description=f"Arbiter {role.lower()} function failed",
        metric=function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))


def rounds_missing_alarms(scope: Construct, config: Config, topic: sns.ITopic) -> None:
    """One alarm per service: the probe of this region recorded no round (missing = breaching).

    ``RoundsRecorded`` carries the dimension ``service`` = the monitored service's name.
    """
    period = Duration.seconds(max(300, int(config.probe.interval)))
    for service in config.services:
        alarm = cloudwatch.Alarm(
            scope,
            f"RoundsMissing-{service.name}",
            alarm_description=(
                f"Arbiter probe recorded no round for service {service.name} in this region"
            ),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="RoundsRecorded",
                dimensions_map={"service": service.name},
                statistic="Sum",
                period=period,
            ),
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(topic))


def _lambda_metric(
    function_name: str, metric: str, statistic: str, region: str
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=metric,
        dimensions_map={"FunctionName": function_name},
        statistic=statistic,
        period=Duration.minutes(1),
        region=region,
        label=f"{metric} {region}" if metric != "Duration" else f"{statistic} {region}",
    )


def _function_widget(title: str, function_name: str, region: str) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        width=8,
        left=[
            _lambda_metric(function_name, "Invocations", "Sum", region),
            _lambda_metric(function_name, "Errors", "Sum", region),
        ],
        right=[
            _lambda_metric(function_name, "Duration", "Average", region),
            _lambda_metric(function_name, "Duration", "p99", region),
        ],
    )


def _custom(metric: str, statistic: str, region: str) -> cloudwatch.MathExpression:
    """Every series of an ``Arbiter`` metric, whatever its ``service`` dimension's value."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{METRICS_NAMESPACE},service}} MetricName=\"{metric}\"', '{statistic}', 60)"
        ),
        using_metrics={},
        label=region,
        period=Duration.minutes(1),
        search_region=region,
    )


def _custom_widget(
    title: str, metric: str, statistic: str, regions: Sequence[str]
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, width=8, left=[_custom(metric, statistic, region) for region in regions]
    )


def dashboard(scope: Construct, config: Config, functions: Sequence[lambda_.Function]) -> None:
    home = config.home_region
    probes = config.probe_regions
    probe_name = PROBE.function_name(config)
    cloudwatch.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=config.app,
        default_interval=Duration.hours(3),
        widgets=[
            [
                _custom_widget("Rounds recorded (probe)", "RoundsRecorded", "Sum", probes),
                _custom_widget("Check failures (probe)", "CheckFailures", "Sum", probes),
                _custom_widget("Probe round ms (probe)", "ProbeRoundMs", "Average", probes),
            ],
            [
                _custom_widget("Decide passes", "DecidePasses", "Sum", [home]),
                _custom_widget("Switches", "Switches", "Sum", [home]),
                _custom_widget("Runbook step failures (act)", "RunbookStepFailures", "Sum", [home]),
            ],
            [_function_widget(fn.node.id.lower(), fn.function_name, home) for fn in functions],
            [_function_widget(f"probe {region}", probe_name, region) for region in probes],
        ],
    )
