"""What every Arbiter function has in common: one asset, one runtime, one way to log.

A function differs from another only by its handler string, timeout, memory and the extra
environment and permissions its stack gives it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from arbiter.core.config import Config, act_seconds
from arbiter.core.schedule import round_budget
from infra import nag
from infra.asset import CONFIG_FILE

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
POWERTOOLS_SERVICE = "arbiter"
METRICS_NAMESPACE = "Arbiter"

TABLE_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",  # the runbook lease and delivered alerts
    "dynamodb:ConditionCheckItem",  # "still the current transition" inside a transaction
)


@dataclass(frozen=True)
class FunctionSpec:
    role: str
    timeout_s: int
    memory_mb: int = 256
    tracing: bool = True
    """Active X-Ray tracing when the config's ``monitoring.tracing`` asks for it (off by
    default). X-Ray bills $5 per million traces past 100,000 a month, and a function invoked
    every few seconds in every region would record one per invocation."""

    @property
    def handler(self) -> str:
        return f"arbiter.handlers.{self.role}.handler"

    @property
    def construct_id(self) -> str:
        return self.role.capitalize()

    def function_name(self, config: Config) -> str:
        return f"{config.app}-{self.role}"


PROBE = FunctionSpec("probe", timeout_s=60, memory_mb=128)
"""128 MB, Lambda's least: one round over 200 endpoints peaks at about 60 MB of RSS in a fresh
process (``bench/probe_round.py``). Lambda's CPU share follows memory (1,769 MB is one vCPU),
so a round's CPU (imports on a cold start, a few hundred microseconds per check) stretches at
128 MB; the time a round waits on the network, which is most of it, costs a quarter of 512 MB's."""
DECIDE = FunctionSpec("decide", timeout_s=60)
ACT = FunctionSpec("act", timeout_s=300)
OVERRIDE = FunctionSpec("override", timeout_s=30)
NOTIFY = FunctionSpec("notify", timeout_s=60)
"""Renders the ops topic's machine payloads into alerts and delivers every alert to the
configured channels (webhook, Slack, Chatbot, PagerDuty)."""


TICK = FunctionSpec("tick", timeout_s=30, memory_mb=128, tracing=False)
"""Below a 60 s interval: once a minute, queues the next minute's rounds as delayed SQS
messages (a few SendMessageBatch calls), then ends. Nothing in it waits for a round. Never
traced, even with ``monitoring.tracing``: a function with one call to trace."""


def probe_spec(config: Config) -> FunctionSpec:
    """One round per invocation at every interval: the timeout covers one round's budget (its
    slowest check plus the writes), so no round is cut short."""
    return replace(PROBE, timeout_s=max(PROBE.timeout_s, math.ceil(round_budget(config))))


def rounds_queue_name(config: Config) -> str:
    """Below a 60 s interval, each probe region's queue of delayed round messages."""
    return f"{config.app}-rounds"


def tick_environment(config: Config, queue_url: str) -> dict[str, str]:
    """The ticker reads no config file: its interval comes from the same config, at synth."""
    return {
        "ARBITER_PROBE_INTERVAL": f"{config.probe.interval:g}",
        "ARBITER_ROUNDS_QUEUE_URL": queue_url,
        "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def act_spec(config: Config) -> FunctionSpec:
    """Long enough for the slowest switch of any service (``core/config.py::act_seconds``: its
    fence's and hooks' timeouts, ``dns.verify_timeout``, 60 s per VoIP route and 120 s for the
    lease wait and recording the outcome), and never under 300 s. The config's validation
    keeps it within Lambda's 900 s."""
    slowest = max((act_seconds(s) for s in config.services), default=0.0)
    return replace(ACT, timeout_s=max(ACT.timeout_s, math.ceil(slowest)))


def override_spec(config: Config) -> FunctionSpec:
    """The override function's ``drill`` command waits for the act function's answer (a drill
    is bounded by the act function's time), so it lives as long as that plus 30 s, within
    Lambda's 900 s."""
    return replace(OVERRIDE, timeout_s=min(900, act_spec(config).timeout_s + 30))


def table_name(config: Config) -> str:
    return f"{config.app}-table"


def topic_name(config: Config) -> str:
    return f"{config.app}-alerts"


def ops_topic_name(config: Config) -> str:
    """Machine payloads (alarm changes, failed stream batches, failed act invocations) for the
    notify function to render; no person subscribes to it."""
    return f"{config.app}-ops"


def chatbot_topic_name(config: Config) -> str:
    return f"{config.app}-chatbot"


def notify_dlq_name(config: Config) -> str:
    return f"{config.app}-notify-dlq"


def base_environment(config: Config) -> dict[str, str]:
    """The environment every function gets; stacks add the rest."""
    return {
        "ARBITER_CONFIG_FILE": CONFIG_FILE,
        "ARBITER_TABLE": table_name(config),
        "ARBITER_TABLE_REGION": config.home_region,
        "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def log_group_name(config: Config, role: str) -> str:
    """Each function's log group, named so that the home region's dashboard can query a probe
    region's (a name, not a token from another stack). Not ``/aws/lambda/<function>``: Lambda
    may have created that one itself before, and a second stack could not."""
    return f"/arbiter/{config.app}/{role}"


def arbiter_function(
    scope: Construct,
    spec: FunctionSpec,
    *,
    config: Config,
    code: lambda_.Code,
    environment: Mapping[str, str],
) -> lambda_.Function:
    log_group = logs.LogGroup(
        scope,
        f"{spec.construct_id}Logs",
        log_group_name=log_group_name(config, spec.role),
        retention=LOG_RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    traced = spec.tracing and config.monitoring.tracing
    function = lambda_.Function(
        scope,
        spec.construct_id,
        function_name=spec.function_name(config),
        description=f"Arbiter {spec.role} ({config.app})",
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        code=code,
        handler=spec.handler,
        memory_size=spec.memory_mb,
        timeout=Duration.seconds(spec.timeout_s),
        environment=dict(environment),
        tracing=lambda_.Tracing.ACTIVE if traced else lambda_.Tracing.DISABLED,
        log_group=log_group,
    )
    nag.acknowledge(
        function,
        nag.BASIC_EXECUTION_ROLE,
        "The AWS-managed basic execution role only lets the function write its own logs.",
    )
    if traced:  # an untraced function has no reason for a "*" resource
        nag.acknowledge(
            function,
            nag.arn_wildcard("*"),
            "X-Ray PutTraceSegments/PutTelemetryRecords and DynamoDB ListStreams "
            "support no resource-level permissions.",
        )
    return function


def allow(function: lambda_.IFunction, actions: Sequence[str], resources: Sequence[str]) -> None:
    """Add one least-privilege statement to the function's role."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(actions), resources=list(resources))
    )
