"""The control stack (home region) and the probe stacks (one per probe region)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from arbiter.core.config import Config
from infra import grants, monitoring, nag
from infra.lambdas import (
    DECIDE,
    OVERRIDE,
    TABLE_ITEM_ACTIONS,
    act_spec,
    allow,
    arbiter_function,
    base_environment,
    probe_spec,
    table_name,
    topic_name,
)

OBSERVATION_PREFIX = "OBS#"


def schedule_minutes(interval: float) -> int:
    """EventBridge's granularity is one minute; a shorter interval runs rounds in a loop."""
    return max(1, int(interval) // 60)


def alerts_topic(scope: Construct, config: Config) -> sns.Topic:
    topic = sns.Topic(
        scope,
        "Alerts",
        topic_name=topic_name(config),
        display_name=f"Arbiter ({config.app})",
        enforce_ssl=True,
    )
    for email in config.notifications.emails:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic


class ControlStack(Stack):
    """The table, the alerts topic, decide / act / override, the dashboard and alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: Config, asset: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name(config),
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.topic = alerts_topic(self, config)

        code = lambda_.Code.from_asset(str(asset))
        environment = {**base_environment(config), "ARBITER_TOPIC_ARN": self.topic.topic_arn}
        act = arbiter_function(
            self, act_spec(config), config=config, code=code, environment=environment
        )
        with_act = {**environment, "ARBITER_ACT_FUNCTION": act.function_name}
        decide = arbiter_function(self, DECIDE, config=config, code=code, environment=with_act)
        override = arbiter_function(self, OVERRIDE, config=config, code=code, environment=with_act)

        for function in (decide, act, override):
            allow(function, TABLE_ITEM_ACTIONS, [self.table.table_arn])
            self.topic.grant_publish(function)
        for caller in (decide, override):
            act.grant_invoke(caller)
            nag.acknowledge(
                caller,
                nag.arn_wildcard(f"{nag.logical_arn(act)}:*"),
                "Invoking the act function's own versions and aliases; no other function.",
            )
        need = grants.needs(config)
        self._allow_route53(act, need.act_zones)
        self._allow_secrets(act, need.act_secrets)
        self._allow_secrets(decide, need.decide_secrets)
        act.configure_async_invoke(
            retry_attempts=2, on_failure=destinations.SnsDestination(self.topic)
        )

        decide.add_event_source(
            sources.DynamoEventSource(
                self.table,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=100,
                retry_attempts=2,
                bisect_batch_on_error=True,
                on_failure=sources.SnsDlq(self.topic),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {
                                "Keys": {
                                    "sk": {"S": lambda_.FilterRule.begins_with(OBSERVATION_PREFIX)}
                                }
                            },
                        }
                    )
                ],
            )
        )
        # Stale regions must be noticed even when no probe writes at all.
        events.Rule(
            self,
            "DecideSchedule",
            description="Arbiter decide: re-evaluate even without new observations",
            schedule=events.Schedule.rate(
                Duration.minutes(schedule_minutes(config.probe.interval))
            ),
            targets=[targets.LambdaFunction(decide)],
        )

        for function in (decide, act, override):
            monitoring.errors_alarm(self, function, self.topic)
        monitoring.dashboard(self, config, [decide, act, override])

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "OverrideFunctionName", value=override.function_name)

    def _allow_secrets(self, function: lambda_.Function, names: list[str]) -> None:
        """Exactly the secrets this function's config uses (``infra/grants.py``)."""
        if names:
            arns = [self.secret_arn(n) for n in names]
            allow(function, ["secretsmanager:GetSecretValue"], arns)

    def secret_arn(self, name: str) -> str:
        """A secret given by name matches its ARN with Secrets Manager's 6-character suffix."""
        if name.startswith("arn:"):
            return name
        return self.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{name}-??????",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _allow_route53(self, act: lambda_.Function, zones: list[str]) -> None:
        if zones:
            zone_arns = [
                self.format_arn(
                    service="route53", region="", account="", resource="hostedzone",
                    resource_name=zone,
                )
                for zone in zones
            ]  # fmt: skip
            allow(
                act,
                ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
                zone_arns,
            )
        change_arn = self.format_arn(
            service="route53", region="", account="", resource="change", resource_name="*"
        )
        allow(act, ["route53:GetChange"], [change_arn])
        nag.acknowledge(
            act,
            nag.arn_wildcard("arn:<AWS::Partition>:route53:::change/*"),
            "Route 53 change ids are only known once a change is submitted.",
        )


class ProbeStack(Stack):
    """The probe function of one region, its schedule and its alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: Config, asset: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        region = self.region
        code = lambda_.Code.from_asset(str(asset))
        environment = {**base_environment(config), "ARBITER_REGION_LABEL": region}
        probe = arbiter_function(
            self, probe_spec(config), config=config, code=code, environment=environment
        )
        # Cross-region references are not allowed: name the home table by its fixed ARN.
        home_table = self.format_arn(
            service="dynamodb",
            region=config.home_region,
            resource="table",
            resource_name=table_name(config),
        )
        allow(probe, ["dynamodb:PutItem"], [home_table])
        events.Rule(
            self,
            "Schedule",
            description=f"Arbiter probe rounds every {config.probe.interval:g} s",
            schedule=events.Schedule.rate(
                Duration.minutes(schedule_minutes(config.probe.interval))
            ),
            targets=[targets.LambdaFunction(probe)],
        )

        # Alarm actions must be in the alarm's region: the home topic, or one of this region.
        topic: sns.ITopic
        if region == config.home_region:
            topic = sns.Topic.from_topic_arn(
                self,
                "Alerts",
                self.format_arn(
                    service="sns",
                    resource=topic_name(config),
                    arn_format=ArnFormat.NO_RESOURCE_NAME,
                ),
            )
        else:
            topic = alerts_topic(self, config)
        monitoring.errors_alarm(self, probe, topic)
        monitoring.rounds_missing_alarms(self, config, topic)
