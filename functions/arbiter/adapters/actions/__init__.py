"""Actions on a site: fences and hooks, as a signed webhook or an SSM Run Command.

One port for both transports. ``run`` makes the call and waits for its confirmation:

- it returns an ``ActionDone`` once the site confirms (a webhook answers a JSON object that
  holds every key and value of ``expect``; every SSM invocation ends ``Success``, with
  ``expect_output`` in its output if set);
- a site that answers "still working" (a webhook's ``{"status": "pending"}``, an SSM command
  ``Pending``/``InProgress``/``Delayed``) is asked again, every POLL seconds, with the same
  idempotency key, until the action's ``timeout``;
- an unreachable site, a timeout, a 429 or a 5xx is tried again, every POLL seconds or after
  the ``Retry-After`` it asked for, until the ``timeout``;
- a site that says no (a webhook's ``{"status": "failed"}``, a 4xx, an answer without what
  ``expect`` asks; an SSM invocation ``Failed``/``Cancelled``/``TimedOut``) raises
  ``ActionRefused`` at once; no confirmation by the timeout raises ``ActionTimedOut`` with
  the last thing seen. Both are fatal (the timeout was the retry budget).

A dry run (``call.dry_run``, for ``arbiter drill``) changes nothing: a webhook gets the same
signed call with ``"dry_run": true`` and must answer as ``expect`` says; for SSM the document
and the targeted managed nodes are looked up (online, and at least one), nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from arbiter.core.config import Action, SiteName
from arbiter.core.errors import FatalError, ProviderRejected

POLL = 2.0
"""Seconds between two asks of a site that is still working or not reachable."""


@dataclass(frozen=True)
class ActionCall:
    """What a fence or hook call says: the JSON body of a webhook, the substitutions of an
    SSM command's parameters."""

    phase: str
    """``pre_release``, ``fence``, ``pre_acquire``, ``post_acquire``, ``post_release``."""
    service: str
    transition: int | None
    from_site: SiteName
    to_site: SiteName
    site: SiteName
    """The site the action runs on."""
    step: str
    """The runbook step's name (``fence:primary``, ``pre_acquire:secondary:promote-db``)."""
    dry_run: bool = False
    reason: str = ""

    @property
    def idempotency_key(self) -> str:
        """The same for every retry of one step of one switch: ``web/12/fence:primary``
        (``web/drill/...`` for a dry run)."""
        return f"{self.service}/{'drill' if self.dry_run else self.transition}/{self.step}"

    def payload(self) -> dict[str, Any]:
        return {
            "event": self.phase,
            "phase": self.phase,
            "service": self.service,
            "transition": self.transition,
            "from": self.from_site.value,
            "to": self.to_site.value,
            "site": self.site.value,
            "step": self.step,
            "dry_run": self.dry_run,
            "idempotency_key": self.idempotency_key,
            "reason": self.reason,
        }

    def substitutions(self) -> dict[str, str]:
        """For ``{name}`` in an SSM command's parameters."""
        return {
            "service": self.service,
            "transition": str(self.transition or ""),
            "phase": self.phase,
            "from": self.from_site.value,
            "to": self.to_site.value,
            "site": self.site.value,
            "idempotency_key": self.idempotency_key,
            "dry_run": "true" if self.dry_run else "false",
        }


@dataclass
class ActionDone:
    detail: str
    """The site's answer in one line (``stopped app.service``, ``Success on mi-0123...``)."""
    seconds: float
    lines: list[str] = field(default_factory=list)


class ActionRefused(ProviderRejected):
    """The site answered, and not with a confirmation."""


class ActionTimedOut(FatalError):
    """No confirmation within the action's timeout."""


class ActionRunner(Protocol):
    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        """Call and wait for confirmation until ``timeout`` seconds from now or ``deadline``
        (``time.monotonic``), whichever is first. ``pending`` is a command an earlier attempt
        started (an SSM command id), to wait on instead of sending another; ``remember``
        stores (or, with None, clears) one."""
        ...


class Actions:
    """The real runner: each action to its transport, both built on first use."""

    def __init__(
        self, secret: Callable[[str], bytes], aws: Callable[..., Any], region: str
    ) -> None:
        """``secret``: a signing key by secret name; ``aws(service, region)``: a boto3
        client; ``region``: where SSM is called for an action that names none."""
        self._secret = secret
        self._aws = aws
        self._region = region
        self._runners: dict[str, ActionRunner] = {}

    def _runner(self, kind: str) -> ActionRunner:
        if kind not in self._runners:
            if kind == "webhook":
                from arbiter.adapters.actions.webhook import WebhookActions

                self._runners[kind] = WebhookActions(self._secret)
            else:
                from arbiter.adapters.actions.ssm import SsmActions

                self._runners[kind] = SsmActions(self._aws, self._region)
        return self._runners[kind]

    def run(
        self,
        action: Action,
        call: ActionCall,
        timeout: float,
        deadline: float,
        pending: str | None = None,
        remember: Callable[[str | None], None] = lambda _: None,
    ) -> ActionDone:
        return self._runner(action.type).run(action, call, timeout, deadline, pending, remember)
