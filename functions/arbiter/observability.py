"""The one Logger and Metrics of every function. Handlers decorate in one fixed order:
``@logger.inject_lambda_context`` outside, ``@metrics.log_metrics`` inside."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="arbiter")
metrics = Metrics(namespace="Arbiter", service="arbiter")

__all__ = ["MetricUnit", "logger", "metrics", "single_metric"]
