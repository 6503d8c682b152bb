"""Reading what a handler printed: the Logger's JSON lines and the metrics' EMF blobs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from arbiter.observability import logger


def stdout_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines that the Logger and the metrics printed (EMF blobs have ``_aws``)."""
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def emitted(records: list[dict[str, Any]], name: str) -> list[float]:
    """The values of metric ``name`` over every EMF blob."""
    values: list[float] = []
    for record in records:
        names = [
            m["Name"]
            for d in record.get("_aws", {}).get("CloudWatchMetrics", [])
            for m in d["Metrics"]
        ]
        if name in names:
            value = record[name]
            values.extend(value if isinstance(value, list) else [value])
    return values


@contextmanager
def logged() -> Iterator[io.StringIO]:
    """What the Logger writes (its handler holds the stdout of import time, which no capture
    fixture sees)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        if previous is not None:
            handler.setStream(previous)
