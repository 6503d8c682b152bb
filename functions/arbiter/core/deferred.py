"""Models whose validator is built on first use, once, whichever thread gets there first.

``defer_build`` keeps importing a model cheap: its validator is built when it first validates,
so a function pays only for the models it uses (the act function's runbook models, the
override function's commands, every config model the functions never validate because they
load the config pickled). Pydantic 2.13 does not lock that first build: two threads validating
a model for the first time at once each rebuild it, one rewriting the class while the other
reads it. The probe's check threads and the decider's service threads only use models built
at import (``core/model.py``); these models take a lock, so a second thread waits for the
first build instead of racing it.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict

_BUILD = threading.RLock()
"""Re-entrant: building a model builds the deferred models inside it, in the same thread."""


class DeferredModel(BaseModel):
    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        # One frame more than pydantic expects between its caller and the namespace it reads.
        depth = _parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0
        with _BUILD:
            return super().model_rebuild(
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=depth,
                _types_namespace=_types_namespace,
            )
