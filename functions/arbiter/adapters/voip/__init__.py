"""VoIP providers: the port the runbook's VoIP steps use, and a registry keyed by type.

A route (``services[].voip[]``) becomes one step that names a list of items, each a number
(or, for a Twilio trunk, an origination URL) and the fields it must have at the new site
(``voice_url``, ``trunk_sid``, ``enabled``/``priority``, ``connection_id``, ``routing``,
``target``). The executor reads the items first, changes only those that differ, and reads
them back. Every adapter follows the same contract (``tests/contract/voip_contract.py`` runs
it against each one and against the in-memory fake):

- ``read`` returns each item's current value of the fields the step sets (only those keys);
  an item the account does not hold raises ``ProviderRejected`` naming it. An adapter that
  cannot read (the generic webhook, when its endpoint does not say) leaves the item out;
- ``apply`` sets the given items' fields; a second identical apply changes nothing;
- bad credentials, an unknown number or trunk and a refused change raise ``ProviderRejected``
  (fatal); throttling (429, with ``Retry-After``), 5xx answers, timeouts and an unreachable
  API raise ``ProviderError`` (retryable); neither ever carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from arbiter.adapters.dns import Deps
from arbiter.core.config import Config

if TYPE_CHECKING:
    from arbiter.core.runbook import VoipItem, VoipStep


class VoipProvider(Protocol):
    label: str
    """The provider's name in the config, for messages (``tw (twilio)``)."""

    def read(self, step: VoipStep) -> dict[str, dict[str, Any]]: ...

    def apply(self, step: VoipStep, changes: Sequence[VoipItem], key: str) -> None:
        """Set each item's fields. ``key`` is the call's idempotency key
        (``<service>/<transition>/<step>``), sent where the provider takes one."""
        ...


def _twilio(name: str, settings: Any, deps: Deps) -> VoipProvider:
    from arbiter.adapters.voip.twilio import Twilio

    return Twilio(name, settings, deps.secret)


def _telnyx(name: str, settings: Any, deps: Deps) -> VoipProvider:
    from arbiter.adapters.voip.telnyx import Telnyx

    return Telnyx(name, settings, deps.secret)


def _voipms(name: str, settings: Any, deps: Deps) -> VoipProvider:
    from arbiter.adapters.voip.voipms import VoipMs

    return VoipMs(name, settings, deps.secret)


def _webhook(name: str, settings: Any, deps: Deps) -> VoipProvider:
    from arbiter.adapters.voip.webhook import WebhookVoip

    return WebhookVoip(name, settings, deps.secret)


PROVIDER_TYPES: dict[str, Callable[[str, Any, Deps], VoipProvider]] = {
    "twilio": _twilio,
    "telnyx": _telnyx,
    "voipms": _voipms,
    "webhook": _webhook,
}
"""The adapter of each ``voip_providers.<name>.type``; imported only when a config uses it."""


class VoipProviders(Mapping[str, VoipProvider]):
    """The config's VoIP providers by name, each built on first use."""

    def __init__(
        self, config: Config, deps: Deps, overrides: dict[str, VoipProvider] | None = None
    ) -> None:
        self._config = config
        self._deps = deps
        self._built: dict[str, VoipProvider] = dict(overrides or {})

    def __getitem__(self, name: str) -> VoipProvider:
        if name not in self._built:
            settings = self._config.voip_providers[name]
            self._built[name] = PROVIDER_TYPES[settings.type](name, settings, self._deps)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._config.voip_providers, *self._built}))

    def __len__(self) -> int:
        return len(list(iter(self)))
