"""The control stack (home region) and the probe stacks (one per probe region)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from arbiter.core.config import ChatbotChannel, Config
from arbiter.core.schedule import queued
from infra import dataplane, grants, monitoring, nag
from infra.lambdas import (
    DECIDE,
    NOTIFY,
    TABLE_ITEM_ACTIONS,
    TICK,
    act_spec,
    allow,
    arbiter_function,
    base_environment,
    chatbot_topic_name,
    notify_dlq_name,
    ops_topic_name,
    override_spec,
    probe_spec,
    rounds_queue_name,
    table_name,
    tick_environment,
    topic_name,
)

OBSERVATION_PREFIX = "OBS#"
DRILL_EVENT = {"drill": {"service": None, "notify": "failures"}}
"""What the drill schedule sends the act function: rehearse every service, alert on failures."""
SSM_COMMAND_READS = (
    "ssm:ListCommandInvocations",
    "ssm:GetCommandInvocation",
    "ssm:CancelCommand",
    "ssm:DescribeInstanceInformation",
)
"""Run Command's calls that take no resource-level permission (resource "*")."""
VISIBILITY_TIMEOUTS = 6
"""The rounds queue's visibility timeout, in probe function timeouts (Lambda's advice)."""
NODE_KINDS = (("ec2", "instance"), ("ssm", "managed-instance"))
"""The ARNs of SSM's managed nodes: EC2 instances (``i-``) and registered servers (``mi-``)."""


def schedule_minutes(interval: float) -> int:
    """EventBridge's granularity is one minute: below it, the probe stacks' rule invokes the
    ticker once a minute (``core/schedule.py``), and the decider's schedule runs each minute."""
    return max(1, int(interval) // 60)


TABLE_REMOVAL = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}


def lease_table_name(config: Config) -> str:
    return f"{config.app}-lease"


def lease_environment(config: Config) -> dict[str, str]:
    if not config.control.standby_regions:
        return {}
    return {"ARBITER_LEASE_TABLE": lease_table_name(config)}


def lease_table(scope: Construct, config: Config) -> dynamodb.TableV2 | None:
    """With standby regions: the lease and switch ledger (adapters/leadership.py), one item,
    on a global table with multi-Region strong consistency across home, standbys and the
    witness. No TTL and no stream (MRSC supports neither TTL nor transactions; the item is
    overwritten in place)."""
    if not config.control.standby_regions:
        return None
    return dynamodb.TableV2(
        scope,
        "LeaseTable",
        table_name=lease_table_name(config),
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        billing=dynamodb.Billing.on_demand(),
        multi_region_consistency=dynamodb.MultiRegionConsistency.STRONG,
        replicas=[dynamodb.ReplicaTableProps(region=r) for r in config.control.standby_regions],
        witness_region=config.control.witness_region,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=TABLE_REMOVAL[config.table.removal],
    )


def alerts_topic(scope: Construct, config: Config) -> sns.Topic:
    """The one topic people subscribe to: one confirmation email per address, at the first
    deploy (no other stack has a topic with email subscriptions)."""
    topic = _topic(scope, "Alerts", topic_name(config), f"Arbiter ({config.app})", config)
    for email in config.notifications.emails:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    return topic


def _topic(
    scope: Construct, construct_id: str, name: str, display: str, config: Config
) -> sns.Topic:
    """A topic that takes TLS only (its resource policy replaces SNS's default one), so the
    app's CloudWatch alarms are allowed to publish to it by name."""
    topic = sns.Topic(scope, construct_id, topic_name=name, display_name=display, enforce_ssl=True)
    stack = Stack.of(scope)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AlarmsOfThisApp",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=f"{config.app}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                },
            },
        )
    )
    return topic


class ControlStack(Stack):
    """The table, the alerts and ops topics, decide / act / override / notify, the dashboard
    and the alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        asset: Path,
        standby: bool = False,
        **kwargs: Any,
    ) -> None:
        """``standby``: a standby control region's copy (README "Surviving the loss of a
        region"): the table and the lease table are the home stack's replicas, named; its
        decider runs on its one-minute schedule and decides only once it holds the lease."""
        super().__init__(scope, construct_id, **kwargs)
        if standby:
            self._standby(config, asset)
            return
        self.table = self._table(config)
        self.lease = lease_table(self, config)
        self.topic = alerts_topic(self, config)
        self.ops = _topic(
            self, "Ops", ops_topic_name(config), f"Arbiter ops ({config.app})", config
        )

        code = lambda_.Code.from_asset(str(asset))
        environment = {
            **base_environment(config),
            **lease_environment(config),
            "ARBITER_TOPIC_ARN": self.topic.topic_arn,
        }
        act, decide, override, notify = self._functions(
            config, code, environment, self.table.table_arn
        )
        self._grant_lease(config, (decide, act, override))

        decide.add_event_source(
            sources.DynamoEventSource(
                self.table,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=config.decide_batch[0],
                max_batching_window=Duration.seconds(config.decide_batch[1]),
                retry_attempts=2,
                bisect_batch_on_error=True,
                on_failure=sources.SnsDlq(self.ops),
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
        if not config.monitoring.tracing:  # traced, arbiter_function acknowledges "*" already
            nag.acknowledge(
                decide,
                nag.arn_wildcard("*"),
                "DynamoDB ListStreams (the stream trigger's) supports no resource-level "
                "permission.",
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

        if config.drill is not None:
            drill_schedule(self, act, config.drill.schedule)

        dataplane.add_to_control(self, config, publishers=[decide, act])
        alarms = self._alarms(config, decide)
        monitoring.monitor_alarms(alarms, config, decide, self.ops)
        if config.monitoring.dashboard:
            monitoring.dashboard(
                self,
                config,
                functions=[decide, act, override, notify],
                timeline=[decide, act, override],
                decide=decide,
                alarms=alarms.all,
            )
            CfnOutput(self, "DashboardUrl", value=monitoring.dashboard_url(config))

        CfnOutput(self, "TableName", value=self.table.table_name)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "OpsTopicArn", value=self.ops.topic_arn)
        CfnOutput(self, "OverrideFunctionName", value=override.function_name)
        CfnOutput(self, "NotifyFunctionName", value=notify.function_name)

    def _alarms(self, config: Config, decide: lambda_.Function) -> monitoring.Alarms:
        """Every control region's: the decider's errors (to the ops topic) and the notify
        function's dead letters (to the alerts topic: email works without the notify
        function). The act function's failed invocations reach the ops topic by its on-failure
        destination, and the override function answers its caller: no alarm of their own
        (each alarm costs $0.10 a month)."""
        alarms = monitoring.Alarms(self, config)
        monitoring.errors_alarm(alarms, decide, self.ops)
        monitoring.dlq_alarm(alarms, self.notify_dlq, self.topic)
        return alarms

    def _table(self, config: Config) -> dynamodb.ITable | dynamodb.TableV2:
        """One region: a plain table. With standby regions: a global table (eventually
        consistent replication, which keeps streams, TTL and transactions) with a replica in
        each standby region."""
        common: dict[str, Any] = {
            "table_name": table_name(config),
            "partition_key": dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            "sort_key": dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            "time_to_live_attribute": "expires_at",
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "removal_policy": TABLE_REMOVAL[config.table.removal],
        }
        if config.control.standby_regions:
            return dynamodb.TableV2(
                self,
                "GlobalTable",
                billing=dynamodb.Billing.on_demand(),
                dynamo_stream=dynamodb.StreamViewType.NEW_IMAGE,
                replicas=[
                    dynamodb.ReplicaTableProps(region=r) for r in config.control.standby_regions
                ],
                **common,
            )
        return dynamodb.Table(
            self,
            "Table",
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            **common,
        )

    def _functions(
        self, config: Config, code: lambda_.Code, environment: dict[str, str], table_arn: str
    ) -> tuple[lambda_.Function, lambda_.Function, lambda_.Function, lambda_.Function]:
        """act, decide, override and notify, with their grants: the same in every control
        region."""
        act = arbiter_function(
            self, act_spec(config), config=config, code=code, environment=environment
        )
        with_act = {**environment, "ARBITER_ACT_FUNCTION": act.function_name}
        decide = arbiter_function(self, DECIDE, config=config, code=code, environment=with_act)
        override = arbiter_function(
            self, override_spec(config), config=config, code=code, environment=with_act
        )
        notify = self._notify(config, code, environment)

        for function in (decide, act, override, notify):
            allow(function, TABLE_ITEM_ACTIONS, [table_arn])
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
        self._allow_secrets(notify, need.notify_secrets)
        self._allow_ssm(act, need.act_ssm)
        # A failed act invocation is a machine payload: the notify function renders it.
        act.configure_async_invoke(
            retry_attempts=2, on_failure=destinations.SnsDestination(self.ops)
        )
        return act, decide, override, notify

    def _grant_lease(self, config: Config, functions: Sequence[lambda_.Function]) -> None:
        if not config.control.standby_regions:
            return
        arn = self.format_arn(
            service="dynamodb", resource="table", resource_name=lease_table_name(config)
        )
        for function in functions:
            allow(function, ["dynamodb:GetItem", "dynamodb:UpdateItem"], [arn])

    def _standby(self, config: Config, asset: Path) -> None:
        """A standby control region: the same functions on this region's replicas, its own
        topics (the home region's die with it) and error alarms. No stream trigger: the
        replica's stream ARN is not known at synth time, and a standby only needs to notice,
        once a minute, that the lease lapsed; after taking over it decides every minute."""
        self.topic = alerts_topic(self, config)
        self.ops = _topic(
            self, "Ops", ops_topic_name(config), f"Arbiter ops ({config.app})", config
        )
        code = lambda_.Code.from_asset(str(asset))
        environment = {
            **base_environment(config),
            **lease_environment(config),
            "ARBITER_TABLE_REGION": self.region,
            "ARBITER_TOPIC_ARN": self.topic.topic_arn,
        }
        replica = self.format_arn(
            service="dynamodb", resource="table", resource_name=table_name(config)
        )
        act, decide, override, notify = self._functions(config, code, environment, replica)
        dataplane.grant_publish(config, [decide, act])
        self._grant_lease(config, (decide, act, override))
        events.Rule(
            self,
            "DecideSchedule",
            description="Arbiter decide (standby): take the lease when it lapses, then decide",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(decide)],
        )
        self._alarms(config, decide)
        CfnOutput(self, "TopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "OverrideFunctionName", value=override.function_name)
        CfnOutput(self, "NotifyFunctionName", value=notify.function_name)

    def _notify(
        self, config: Config, code: lambda_.Code, environment: dict[str, str]
    ) -> lambda_.Function:
        """Subscribed to the alerts topic (every alert, to the channels) and to the ops topic
        (machine payloads, rendered into one alert each); failures after two retries land in
        an encrypted dead-letter queue that has its own alarm."""
        env = {**environment, "ARBITER_OPS_TOPIC_ARN": self.ops.topic_arn}
        chatbot_topic = self._chatbot(config)
        if chatbot_topic is not None:
            env["ARBITER_CHATBOT_TOPIC_ARN"] = chatbot_topic.topic_arn
        notify = arbiter_function(self, NOTIFY, config=config, code=code, environment=env)
        if chatbot_topic is not None:
            chatbot_topic.grant_publish(notify)
        self.notify_dlq = sqs.Queue(
            self,
            "NotifyDeadLetters",
            queue_name=notify_dlq_name(config),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        nag.acknowledge(
            self.notify_dlq,
            "AwsSolutions-SQS3",
            "This queue is the notify function's dead-letter destination; it has none itself.",
        )
        notify.configure_async_invoke(
            retry_attempts=2, on_failure=destinations.SqsDestination(self.notify_dlq)
        )
        for topic in (self.topic, self.ops):
            topic.add_subscription(subscriptions.LambdaSubscription(notify))
        return notify

    def _chatbot(self, config: Config) -> sns.Topic | None:
        """``chatbot`` channels: one topic the notify function publishes Chatbot custom
        notifications to, and one Slack channel configuration per channel listening to it.
        Its role has no policy and its guardrail denies everything: it only posts."""
        channels = [c for c in config.notifications.channels if isinstance(c, ChatbotChannel)]
        if not channels:
            return None
        topic = _topic(
            self, "Chatbot", chatbot_topic_name(config), f"Arbiter chat ({config.app})", config
        )
        role = iam.Role(
            self,
            "ChatbotRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="AWS Chatbot posts Arbiter's alerts; it may do nothing else",
        )
        deny_all = iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")
        for channel in channels:
            chatbot.SlackChannelConfiguration(
                self,
                f"Chatbot-{channel.name}",
                slack_channel_configuration_name=f"{config.app}-{channel.name}",
                slack_workspace_id=channel.slack_workspace_id,
                slack_channel_id=channel.slack_channel_id,
                notification_topics=[topic],
                role=role,
                guardrail_policies=[deny_all],
            )
        return topic

    def _allow_secrets(self, function: lambda_.Function, refs: list[str]) -> None:
        """Exactly the secrets this function's config uses (``infra/grants.py``): Secrets
        Manager's with GetSecretValue, Parameter Store's (``ssm:``) with GetParameter. A
        SecureString under the AWS managed key ``aws/ssm`` needs no ``kms:Decrypt`` grant: that
        key grants Decrypt to every IAM principal of the account (a customer managed key would
        need one, which Arbiter does not add)."""
        names, parameters = grants.split_secrets(refs)
        if names:
            allow(function, ["secretsmanager:GetSecretValue"], [self.secret_arn(n) for n in names])
        if parameters:
            arns = sorted({self.parameter_arn(p) for p in parameters})
            allow(function, ["ssm:GetParameter"], arns)

    def parameter_arn(self, parameter: str) -> str:
        """A parameter given by name, in this stack's region (the functions read secrets in
        their own control region); a hierarchical name's ARN drops its leading slash
        (``/arbiter/twilio`` -> ``parameter/arbiter/twilio``). An ARN is used as given."""
        if parameter.startswith("arn:"):
            return parameter
        return self.format_arn(
            service="ssm",
            resource="parameter",
            resource_name=parameter.removeprefix("/"),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

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

    def _allow_ssm(self, act: lambda_.Function, uses: Sequence[grants.SsmUse]) -> None:
        """Run Command on exactly the documents and nodes fences and hooks name, in their
        regions: SendCommand (and DescribeDocument, for the drill) on the documents;
        SendCommand on the instances given by id, and on any instance or managed node of the
        region whose tags match an action's ``targets`` (``ssm:resourceTag`` condition)."""
        if not uses:
            return
        documents = sorted({self.ssm_document_arn(u) for u in uses})
        allow(act, ["ssm:SendCommand", "ssm:DescribeDocument"], documents)
        nodes = sorted({self.ssm_node_arn(u.region, i) for u in uses for i in u.instance_ids})
        if nodes:
            allow(act, ["ssm:SendCommand"], nodes)
        by_tags: dict[tuple[tuple[str, tuple[str, ...]], ...], set[str]] = {}
        for use in uses:
            if use.tags:
                by_tags.setdefault(use.tags, set()).add(use.region)
        for tags, regions in sorted(by_tags.items()):
            anywhere = [
                self.format_arn(service=service, region=region, resource=kind, resource_name="*")
                for region in sorted(regions)
                for service, kind in NODE_KINDS
            ]
            act.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ssm:SendCommand"],
                    resources=anywhere,
                    conditions={"StringEquals": {f"ssm:resourceTag/{k}": list(v) for k, v in tags}},
                )
            )
            for region in sorted(regions):
                for service, kind in NODE_KINDS:
                    nag.acknowledge(
                        act,
                        nag.arn_wildcard(
                            f"arn:<AWS::Partition>:{service}:{region}:<AWS::AccountId>:{kind}/*"
                        ),
                        "Fences and hooks target managed nodes by tag: the ssm:resourceTag "
                        "condition allows only nodes carrying the configured tags.",
                    )
        allow(act, SSM_COMMAND_READS, ["*"])
        nag.acknowledge(
            act,
            nag.arn_wildcard("*"),
            "X-Ray PutTraceSegments/PutTelemetryRecords, DynamoDB ListStreams and SSM "
            "ListCommandInvocations/GetCommandInvocation/CancelCommand/"
            "DescribeInstanceInformation support no resource-level permissions.",
        )

    def ssm_document_arn(self, use: grants.SsmUse) -> str:
        """A shared document's ARN as given; an AWS-owned one's has no account."""
        if use.document.startswith("arn:"):
            return use.document
        return self.format_arn(
            service="ssm",
            region=use.region,
            account="" if use.aws_owned else None,
            resource="document",
            resource_name=use.document,
        )

    def ssm_node_arn(self, region: str, node: str) -> str:
        """An EC2 instance (``i-``) or a registered on-premises node (``mi-``)."""
        if node.startswith("mi-"):
            return self.format_arn(
                service="ssm", region=region, resource="managed-instance", resource_name=node
            )
        return self.format_arn(
            service="ec2", region=region, resource="instance", resource_name=node
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


def drill_schedule(scope: Construct, act: lambda_.IFunction, expression: str) -> events.Rule:
    """``drill.schedule``: a read-only rehearsal of every service's switch; the act function
    alerts only when an item would fail."""
    rule = events.Rule(
        scope,
        "DrillSchedule",
        description=f"Arbiter drill: rehearse every switch, {expression}",
        schedule=events.Schedule.expression(expression),
        targets=[targets.LambdaFunction(act, retry_attempts=2)],
    )
    # RuleTargetInput.from_object drops a None (JSON null): give the input as written.
    cfn = rule.node.default_child
    assert isinstance(cfn, events.CfnRule)
    cfn.add_property_override("Targets.0.Input", json.dumps(DRILL_EVENT))
    return rule


class ProbeStack(Stack):
    """The probe function of one region and what starts its rounds. No topic and no alarm
    here: a region that records no rounds is caught by the home region's
    ``RegionSilent-<region>`` alarm (alarm actions must be in the alarm's region, and one
    alerts topic means one confirmation email per address).

    From a 60 s interval up, an EventBridge rule invokes the probe once per interval. Below
    60 s, the rule invokes the ticker once a minute, the ticker queues one delayed message per
    round, and the queue invokes the probe (``core/schedule.py``): no function sleeps."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: Config, asset: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        region = self.region
        code = lambda_.Code.from_asset(str(asset))
        environment = {**base_environment(config), "ARBITER_REGION_LABEL": region}
        spec = probe_spec(config)
        probe = arbiter_function(self, spec, config=config, code=code, environment=environment)
        # Cross-region references are not allowed: name the home table by its fixed ARN.
        home_table = self.format_arn(
            service="dynamodb",
            region=config.home_region,
            resource="table",
            resource_name=table_name(config),
        )
        allow(probe, ["dynamodb:PutItem"], [home_table])
        if config.control.standby_regions:
            # A round goes to the first replica that takes it (home first).
            probe.add_environment("ARBITER_TABLE_REGIONS", ",".join(config.control_regions))
            replicas = [
                self.format_arn(
                    service="dynamodb", region=r, resource="table", resource_name=table_name(config)
                )
                for r in config.control.standby_regions
            ]
            allow(probe, ["dynamodb:PutItem"], replicas)
        if queued(config.probe.interval):
            target = self._ticker(config, code, probe, spec.timeout_s)
            what = f"Arbiter ticker: queues the next minute's {config.probe.interval:g} s rounds"
        else:
            target = probe
            what = f"Arbiter probe rounds every {config.probe.interval:g} s"
        events.Rule(
            self,
            "Schedule",
            description=what,
            schedule=events.Schedule.rate(
                Duration.minutes(schedule_minutes(config.probe.interval))
            ),
            targets=[targets.LambdaFunction(target)],
        )

    def _ticker(
        self, config: Config, code: lambda_.Code, probe: lambda_.Function, probe_timeout: int
    ) -> lambda_.Function:
        """The rounds queue (SSE, TLS only), its dead-letter queue, the event source mapping
        that invokes the probe once per message, and the ticker that may only send to it."""
        dead = sqs.Queue(
            self,
            "RoundsDeadLetters",
            queue_name=f"{rounds_queue_name(config)}-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(4),
        )
        nag.acknowledge(
            dead,
            "AwsSolutions-SQS3",
            "This queue is the rounds queue's dead-letter destination; it has none itself, "
            "and nothing reads it (a round found here is long past).",
        )
        rounds = sqs.Queue(
            self,
            "Rounds",
            queue_name=rounds_queue_name(config),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Lambda's advice for an SQS trigger: six function timeouts, so a throttled
            # invocation is retried before the message shows again.
            visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUTS * probe_timeout),
            # Longer than SQS's longest timer (900 s): a queued round never expires unsent.
            retention_period=Duration.minutes(20),
            # A message the probe failed on twice is parked, never retried in a loop (and a
            # redelivered round is dropped as stale by the probe anyway).
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=2),
        )
        probe.add_event_source(
            sources.SqsEventSource(rounds, batch_size=1, max_batching_window=Duration.seconds(0))
        )
        ticker = arbiter_function(
            self,
            TICK,
            config=config,
            code=code,
            environment=tick_environment(config, rounds.queue_url),
        )
        allow(ticker, ["sqs:SendMessage"], [rounds.queue_arn])  # SendMessageBatch included
        # A tick delivered later than its minute sends nothing useful: no retries, no backlog.
        ticker.configure_async_invoke(retry_attempts=0, max_event_age=Duration.minutes(2))
        return ticker
