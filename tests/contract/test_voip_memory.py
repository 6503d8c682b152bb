"""The in-memory fake keeps the VoIP port's contract."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.adapters.voip.memory import MemoryVoip
from arbiter.core.errors import ProviderError, ProviderRejected
from tests.contract.voip_contract import VoipContract, step_to

ROUTE = {
    "type": "telnyx_number",
    "provider": "tx",
    "numbers": ["+15551230001", "+15551230002"],
    "connection_id": {"primary": "111", "secondary": "222"},
}


class TestMemoryVoip(VoipContract):
    @pytest.fixture
    def route(self) -> dict[str, Any]:
        return ROUTE

    @pytest.fixture
    def provider(self) -> MemoryVoip:
        fake = MemoryVoip("tx (memory)")
        for item in step_to(ROUTE, "primary").items:
            fake.items[item.item] = dict(item.fields)
        return fake

    @pytest.fixture
    def missing(self) -> dict[str, Any]:
        return {**ROUTE, "numbers": [*ROUTE["numbers"], "+15559990000"]}

    @pytest.fixture
    def bad_credentials(self) -> tuple[MemoryVoip, str]:
        fake = MemoryVoip("tx (memory)")
        fake.faults = [ProviderRejected("tx (memory): HTTP 401: authentication failed")]
        return fake, "s3cr3t-key"

    @pytest.fixture
    def throttle(self, provider: MemoryVoip) -> Any:
        def throttle(n: int) -> None:
            provider.faults = [ProviderError("throttled") for _ in range(n)]

        return throttle
