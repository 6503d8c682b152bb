"""Fixtures shared by the contract suites."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Everything logged at any level (urllib3's request lines included), for the "no secret
    in a log" checks."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        return "\n".join(
            f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
        )

    return text
