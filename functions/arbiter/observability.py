"""The one Logger and Metrics of every function. Handlers decorate in one fixed order:
``@lambda_context`` outside, ``@metrics.log_metrics`` inside."""

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric

NAMESPACE = "Arbiter"
POWERTOOLS_SERVICE = "arbiter"
"""The ``service`` dimension of the function-wide metrics (``metrics``); metrics about one
monitored service carry that service's name instead."""

logger = Logger(service=POWERTOOLS_SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=POWERTOOLS_SERVICE)


Handler = TypeVar("Handler", bound=Callable[..., Any])
_cold = [True]


def lambda_context(handler: Handler) -> Handler:
    """Add the invocation's ``request_id`` and ``cold_start`` to every log line. Not
    Powertools' ``inject_lambda_context``, which adds the function's name, ARN and memory
    too: about 230 bytes a line that the log group already says, and a probe region at a
    10 s interval logs 262,800 lines a month per service ($0.50 per GB ingested)."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        logger.append_keys(request_id=getattr(context, "aws_request_id", None), cold_start=_cold[0])
        _cold[0] = False
        return handler(event, context)

    return wrapped  # type: ignore[return-value]


def count_per_service(name: str, value: float, service: str) -> None:
    """Emit ``name`` now, with the monitored ``service`` as its dimension (what the dashboard's
    SEARCH and the per-service alarms select). ``metrics`` has one dimension set per flush, and
    a ``single_metric`` block holds exactly one metric: a second one in it is dropped."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as m:
        m.add_dimension(name="service", value=service)


# --- Dashboard metrics: several values under one dimension set, in one EMF line ---------


def unit_of(name: str) -> MetricUnit:
    """The unit follows the name: ``...Ms`` milliseconds, ``...Seconds`` seconds, else a
    count (so a name can never be sent with two units)."""
    if name.endswith("Ms"):
        return MetricUnit.Milliseconds
    if name.endswith("Seconds"):
        return MetricUnit.Seconds
    return MetricUnit.Count


def emit(
    values: Mapping[str, float],
    *,
    service: str = POWERTOOLS_SERVICE,
    also: Sequence[Mapping[str, str]] = (),
    **dimensions: str,
) -> None:
    """Emit ``values`` now as one EMF line with the dimensions ``service`` + ``dimensions``
    (and each extra dimension set in ``also``, e.g. ``[{"region": r}]`` to aggregate a
    per-service metric across services). A separate metrics object: the handler's ``metrics``
    holds one dimension set per flush and must keep its own. Nothing is printed while
    ``POWERTOOLS_METRICS_DISABLED`` is set (the demo)."""
    if not values:
        return
    batch = EphemeralMetrics(namespace=NAMESPACE, service=service)
    batch.add_dimension(name="service", value=service)
    for key, label in dimensions.items():
        batch.add_dimension(name=key, value=label)
    for extra in also:
        batch.add_dimensions(**extra)
    for name, value in values.items():
        batch.add_metric(name=name, unit=unit_of(name), value=value)
    batch.flush_metrics()


__all__ = [
    "NAMESPACE",
    "POWERTOOLS_SERVICE",
    "MetricUnit",
    "count_per_service",
    "emit",
    "lambda_context",
    "logger",
    "metrics",
    "unit_of",
]
