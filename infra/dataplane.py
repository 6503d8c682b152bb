"""The data-plane failover mode's resources (``functions/arbiter/core/dataplane.py``).

Per service with ``route53_failover`` records:

- in every alarm region, one CloudWatch alarm on ``Arbiter/DataPlane PrimaryWanted``
  (dimensions App, Service; Minimum over 60 s < 1: ALARM, the primary is not wanted);
- in the home stack (Route 53 is global): one ``CLOUDWATCH_METRIC`` health check per alarm
  (``LastKnownStatus`` on too little data: a silent Arbiter freezes DNS, never flips it) and,
  with more than one alarm region, one ``CALCULATED`` health check over them that is healthy
  while a majority is;
- per record, a PRIMARY failover record set with that health check and a SECONDARY one with
  none (Route 53 answers with the SECONDARY whenever the PRIMARY is unhealthy).

The home region's alarms are in the home stack; the other alarm regions' (standby regions,
witness) in one small ``AlarmStack`` each, deployed before the home stack: Route 53 copies an
alarm's configuration into its health check (``CloudWatchAlarmConfiguration``), so the alarm
must exist first. Not in a standby region's control stack, which itself waits for the home
stack (its table replicas). Every control region's decide and act functions may PutMetricData
into the ``Arbiter/DataPlane`` namespace only (``grant_publish``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from constructs import Construct

from arbiter.core import dataplane
from arbiter.core.config import Config, DnsRecord, Service, SiteName
from infra import nag


def add_to_control(stack: Stack, config: Config, publishers: Sequence[lambda_.IFunction]) -> None:
    """The home stack's part: its region's alarms, the health checks, the record sets and
    the publishers' permission. Nothing when no record uses the mode."""
    services = dataplane.services(config)
    if not services:
        return
    grant_publish(config, publishers)
    home = alarms(stack, config)
    for service in services:
        check = health_checks(stack, config, service, home[service.name])
        for record in dataplane.records(config, service):
            record_sets(stack, config, record, check)


def add_alarm_stacks(
    app: cdk.App, config: Config, home: Stack, account: str | None
) -> list[AlarmStack]:
    """One ``AlarmStack`` per alarm region other than the home region; the home stack waits
    for them (its health checks name their alarms)."""
    if not dataplane.services(config):
        return []
    stacks = []
    for region in dataplane.alarm_regions(config)[1:]:
        stack = AlarmStack(
            app,
            f"{config.app}-dataplane-{region}",
            config=config,
            env=cdk.Environment(account=account, region=region),
            description=f"Arbiter data-plane failover alarms in {region} ({config.app})",
        )
        home.add_stack_dependency(stack, "its health checks name this region's alarms")
        stacks.append(stack)
    return stacks


class AlarmStack(Stack):
    """The data-plane alarms of one region other than the home region: nothing else."""

    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        alarms(self, config)


def grant_publish(config: Config, functions: Sequence[lambda_.IFunction]) -> None:
    """PutMetricData has no resource-level permission: the namespace condition is the bound.
    Every control region's decide and act functions need it (a standby publishes once it
    leads); nothing when no record uses the mode."""
    if not dataplane.services(config):
        return
    for function in functions:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": dataplane.NAMESPACE}},
            )
        )
        nag.acknowledge(
            function,
            nag.arn_wildcard("*"),
            "X-Ray, DynamoDB ListStreams, SSM command reads and CloudWatch PutMetricData "
            "support no resource-level permissions; PutMetricData is limited to the "
            f"{dataplane.NAMESPACE} namespace by the cloudwatch:namespace condition.",
        )


def alarms(scope: Construct, config: Config) -> dict[str, cloudwatch.Alarm]:
    """One alarm per data-plane service, in ``scope``'s region."""
    found = {}
    for service in dataplane.services(config):
        metric = cloudwatch.Metric(
            namespace=dataplane.NAMESPACE,
            metric_name=dataplane.METRIC,
            dimensions_map={
                d["Name"]: d["Value"] for d in dataplane.dimensions(config, service.name)
            },
            period=Duration.seconds(dataplane.PERIOD),
            statistic=dataplane.STATISTIC,
        )
        found[service.name] = cloudwatch.Alarm(
            scope,
            f"DataPlaneAlarm-{service.name}",
            alarm_name=dataplane.alarm_name(config, service.name),
            alarm_description=(
                f"Arbiter data plane: ALARM while {service.name}'s primary site is not wanted; "
                "Route 53 then answers with the secondary site's records"
            ),
            metric=metric,
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # Too little data keeps the alarm as it is, as LastKnownStatus keeps the check.
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )
    return found


def health_checks(
    stack: Stack, config: Config, service: Service, home_alarm: cloudwatch.Alarm
) -> route53.IHealthCheck:
    """The health check the PRIMARY record sets carry: the one alarm's, or a majority of
    the alarm regions' (CALCULATED)."""
    children = []
    for region in dataplane.alarm_regions(config):
        # The home alarm by reference (CloudFormation orders it first); the others by name.
        name = (
            home_alarm.alarm_name
            if region == config.home_region
            else dataplane.alarm_name(config, service.name)
        )
        check = route53.HealthCheck(
            stack,
            f"DataPlaneCheck-{service.name}-{region}",
            type=route53.HealthCheckType.CLOUDWATCH_METRIC,
            alarm_identifier=route53.AlarmIdentifier(name=name, region=region),
            insufficient_data_health_status=route53.InsufficientDataHealthStatusEnum.LAST_KNOWN_STATUS,
        )
        Tags.of(check).add("Name", f"{config.app} {service.name} {region}")
        children.append(check)
    if len(children) == 1:
        return children[0]
    calculated = route53.HealthCheck(
        stack,
        f"DataPlaneCheck-{service.name}",
        type=route53.HealthCheckType.CALCULATED,
        child_health_checks=children,
        health_threshold=dataplane.health_threshold(config),
    )
    Tags.of(calculated).add("Name", f"{config.app} {service.name}")
    return calculated


_UNSAFE = re.compile(r"[^A-Za-z0-9-]")


def record_sets(
    stack: Stack, config: Config, record: DnsRecord, check: route53.IHealthCheck
) -> list[route53.CfnRecordSet]:
    """The PRIMARY (with the health check) and SECONDARY failover record sets of one record.
    Their construct ids come from the zone, name and type, so reordering records in the config
    replaces nothing."""
    zone = record.zone.removeprefix("/hostedzone/")
    base = _UNSAFE.sub("-", f"{zone}-{record.name.rstrip('.')}-{record.type.value}")
    made = []
    for site, failover in ((SiteName.PRIMARY, "PRIMARY"), (SiteName.SECONDARY, "SECONDARY")):
        made.append(
            route53.CfnRecordSet(
                stack,
                f"DataPlaneRecord-{base}-{site.value}",
                hosted_zone_id=zone,
                name=record.name,
                type=record.type.value,
                ttl=str(record.ttl),
                resource_records=list(record.values[site]),
                set_identifier=dataplane.set_identifier(config, site),
                failover=failover,
                health_check_id=check.health_check_id if site is SiteName.PRIMARY else None,
                comment=f"Arbiter ({config.app}): the {site.value} site, data-plane failover",
            )
        )
    return made
