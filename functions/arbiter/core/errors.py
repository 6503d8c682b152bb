"""The project's exceptions: one base, retryable and fatal kept apart by type."""

from __future__ import annotations


class ArbiterError(Exception):
    """Arbiter failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class RetryableError(ArbiterError):
    """A transient failure: trying again later may succeed."""


class FatalError(ArbiterError):
    """A failure that trying again will not fix."""


class ConfigError(FatalError):
    """The config file is not valid."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class ConflictError(RetryableError):
    """Someone else changed the service's state first."""


class ProviderError(RetryableError):
    """A provider API failed in a way that may pass."""


class ProviderRejected(FatalError):
    """A provider API refused the request (bad credentials, bad zone, bad record)."""


class DeadlineExceeded(RetryableError):
    """The operation did not finish before its deadline."""


class Superseded(ArbiterError):
    """A newer transition superseded this runbook: it must not act any more."""
