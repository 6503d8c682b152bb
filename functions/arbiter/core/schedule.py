"""When probe rounds run: shared by the probe function and the CDK app that sizes it."""

from __future__ import annotations

from arbiter.core.config import Config


def round_offsets(config: Config) -> list[float]:
    """Seconds after an invocation's start at which it runs a round. EventBridge schedules
    are per minute: below 60 s one invocation runs 60 / interval rounds."""
    interval = config.probe.interval
    if interval >= 60:
        return [0.0]
    return [i * interval for i in range(int(60 // interval))]


def round_budget(config: Config) -> float:
    """How long one round may take: the slowest check, plus a margin for the writes."""
    slowest = max(
        check.timeout
        for service in config.services
        for check in (*service.primary.checks, *service.secondary.checks)
    )
    return slowest + 5.0
