"""The one Logger and Metrics of every function. Handlers decorate in one fixed order:
``@logger.inject_lambda_context`` outside, ``@metrics.log_metrics`` inside."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "Arbiter"

logger = Logger(service="arbiter")
metrics = Metrics(namespace=NAMESPACE, service="arbiter")


def count_per_service(name: str, value: float, service: str) -> None:
    """Emit ``name`` now, with the monitored ``service`` as its dimension (what the dashboard's
    SEARCH and the per-service alarms select). ``metrics`` has one dimension set per flush, and
    a ``single_metric`` block holds exactly one metric: a second one in it is dropped."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as m:
        m.add_dimension(name="service", value=service)


def count_per_channel(name: str, value: float, channel: str) -> None:
    """Emit ``name`` now with only the alert ``channel``'s name as its dimension (the notify
    function's ``ChannelDeliveries`` and ``ChannelFailures``)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as m:
        m.add_dimension(name="channel", value=channel)


__all__ = [
    "NAMESPACE",
    "MetricUnit",
    "count_per_channel",
    "count_per_service",
    "logger",
    "metrics",
]
