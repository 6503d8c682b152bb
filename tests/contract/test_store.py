"""The Store port's contract: DynamoStore on moto's DynamoDB, and the in-memory fake."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

pytest.register_assert_rewrite("tests.contract.store_contract")

from arbiter.adapters.memory import MemoryStore  # noqa: E402
from arbiter.adapters.store import DynamoStore  # noqa: E402
from arbiter.local.aws import create_table  # noqa: E402
from tests.contract.store_contract import StoreContract  # noqa: E402

REGION = "eu-west-1"


class TestDynamoStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[DynamoStore]:
        with mock_aws():
            create_table(boto3.client("dynamodb", region_name=REGION), "contract")
            yield DynamoStore("contract", lambda: boto3.client("dynamodb", region_name=REGION))


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()
