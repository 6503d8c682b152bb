"""The in-memory fake keeps the DNS port's contract."""

from __future__ import annotations

import pytest

from arbiter.adapters.dns.memory import MemoryDns
from arbiter.core.errors import ProviderError
from tests.contract.dns_contract import DnsContract, Throttle

ZONE = "example.test."


class TestMemoryDns(DnsContract):
    @pytest.fixture
    def provider(self) -> MemoryDns:
        return MemoryDns("memory", zones=[ZONE])

    @pytest.fixture
    def zone(self) -> str:
        return "example.test"

    @pytest.fixture
    def zone_name(self) -> str:
        return ZONE

    @pytest.fixture
    def missing_zone(self) -> str:
        return "nowhere.test"

    @pytest.fixture
    def throttle(self, provider: MemoryDns) -> Throttle:
        def throttle(n: int) -> None:
            provider.faults = [ProviderError("memory: throttled") for _ in range(n)]

        return throttle
