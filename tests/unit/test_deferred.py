"""Deferred models build their validator once, on first use, even from many threads at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic._internal import _model_construction

from arbiter.core.deferred import DeferredModel


def test_a_deferred_model_builds_once_when_many_threads_first_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Reading(DeferredModel):
        site: str
        value: int

    assert not Reading.__pydantic_complete__  # nothing built at class creation
    builds: list[str] = []
    complete = _model_construction.complete_model_class

    def counted(cls: type, *args: Any, **kwargs: Any) -> Any:
        builds.append(cls.__name__)
        return complete(cls, *args, **kwargs)

    monkeypatch.setattr(_model_construction, "complete_model_class", counted)
    start = threading.Barrier(8)
    results: list[Reading | BaseException] = []

    def first_use() -> None:
        start.wait()
        try:
            results.append(Reading(site="fra", value=1))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            results.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == [Reading(site="fra", value=1)] * 8
    assert builds == ["Reading"]


def test_a_deferred_model_validates_as_any_model() -> None:
    class Strict(DeferredModel):
        count: int

    with pytest.raises(ValidationError, match="count"):
        Strict(count="many")
    assert Strict.model_validate({"count": "3"}).count == 3
