"""Unit tests of the pure core: no sockets at all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urllib3  # noqa: F401 - its import-time IPv6 probe opens (never uses) a socket
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket()
    yield
    enable_socket()
