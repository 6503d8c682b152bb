"""The VoIP provider port's contract, run against every adapter and the in-memory fake.

A test module subclasses ``VoipContract`` and provides the fixtures:

- ``provider``: a ``VoipProvider`` whose account holds every item of ``route`` (the numbers,
  or the trunk's origination URLs), each routed as ``route`` says for the primary site;
- ``route``: the route (a ``services[].voip[]`` item as a dict, e.g. ``{"type":
  "twilio_number", "provider": "tw", "numbers": [...], "voice_url": {...}}``);
- ``missing``: the same route with one item the account does not hold;
- ``bad_credentials``: the same provider with a wrong credential (``secret``: its value);
- ``throttle``: ``throttle(n)`` makes the provider's next ``n`` API calls answer the way it
  signals "slow down / try later" (HTTP 429 with ``Retry-After``), then behave again.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from arbiter.adapters.voip import VoipProvider
from arbiter.core.config import SiteName, VoipRoute
from arbiter.core.errors import FatalError, RetryableError
from arbiter.core.runbook import VoipStep, _voip_step

ROUTE: TypeAdapter[Any] = TypeAdapter(VoipRoute)
KEY = "web/7/voip:test"


def step_to(route: dict[str, Any], site: str) -> VoipStep:
    """The runbook step that moves ``route`` to ``site``."""
    made = _voip_step(ROUTE.validate_python(route), SiteName(site))
    assert isinstance(made, VoipStep)
    return made


def fields(step: VoipStep) -> dict[str, dict[str, Any]]:
    return {item.item: dict(item.fields) for item in step.items}


def read_fields(provider: VoipProvider, step: VoipStep) -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in provider.read(step).items()}


class VoipContract:
    def test_read_shows_the_primary_routing(
        self, provider: VoipProvider, route: dict[str, Any]
    ) -> None:
        primary = step_to(route, "primary")
        assert read_fields(provider, primary) == fields(primary)

    def test_apply_routes_to_the_new_site_and_reads_back(
        self, provider: VoipProvider, route: dict[str, Any]
    ) -> None:
        secondary = step_to(route, "secondary")
        provider.apply(secondary, secondary.items, KEY)
        assert read_fields(provider, secondary) == fields(secondary)
        primary = step_to(route, "primary")
        provider.apply(primary, primary.items, KEY + "-back")
        assert read_fields(provider, primary) == fields(primary)

    def test_apply_twice_changes_nothing_more(
        self, provider: VoipProvider, route: dict[str, Any]
    ) -> None:
        secondary = step_to(route, "secondary")
        provider.apply(secondary, secondary.items, KEY)
        provider.apply(secondary, secondary.items, KEY)
        assert read_fields(provider, secondary) == fields(secondary)

    def test_only_the_given_items_change(
        self, provider: VoipProvider, route: dict[str, Any]
    ) -> None:
        secondary = step_to(route, "secondary")
        primary = step_to(route, "primary")
        provider.apply(secondary, secondary.items[:1], KEY)
        first = secondary.items[0]
        assert read_fields(provider, secondary)[first.item] == first.fields
        now = read_fields(provider, primary)
        for item in primary.items:
            if item.item != first.item:
                assert now[item.item] == item.fields

    def test_an_item_the_account_does_not_hold_is_fatal_and_named(
        self, provider: VoipProvider, missing: dict[str, Any]
    ) -> None:
        step = step_to(missing, "secondary")
        absent = step.items[-1].item
        with pytest.raises(FatalError) as caught:
            provider.read(step)
        assert absent in str(caught.value)

    def test_bad_credentials_are_fatal_and_never_echoed(
        self, bad_credentials: tuple[VoipProvider, str], route: dict[str, Any]
    ) -> None:
        provider, secret = bad_credentials
        with pytest.raises(FatalError) as caught:
            provider.read(step_to(route, "secondary"))
        assert secret not in str(caught.value)

    def test_throttling_is_retried_then_passes(
        self, provider: VoipProvider, route: dict[str, Any], throttle: Any
    ) -> None:
        throttle(1)
        secondary = step_to(route, "secondary")
        provider.apply(secondary, secondary.items, KEY)
        assert read_fields(provider, secondary) == fields(secondary)

    def test_lasting_throttling_is_retryable(
        self, provider: VoipProvider, route: dict[str, Any], throttle: Any
    ) -> None:
        throttle(100)
        with pytest.raises(RetryableError):
            provider.read(step_to(route, "secondary"))
