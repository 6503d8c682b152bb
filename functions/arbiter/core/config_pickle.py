"""The validated config, pickled beside its JSON in the Lambda asset.

Validating the config builds a validator for every one of its ~50 models: on a cold start that
cost more than importing boto3. The asset builder (``infra/asset.py``) validates the config at
synth time and writes the result twice: ``arbiter_config.json`` (what an operator reads) and
``arbiter_config.pickle``. ``runtime.config_from_env`` loads the pickle when its stamp matches
(the SHA-256 of the JSON beside it and the pydantic version that made it), which builds no
validator, and validates the JSON otherwise. Only the asset builder writes the file, from the
same synth as the asset's code: it is trusted as the code is.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

from pydantic.version import VERSION as PYDANTIC_VERSION

from arbiter.core.config import Config

SUFFIX = ".pickle"
PROTOCOL = 5
"""Readable by every Python the project runs on (3.8+), whichever one wrote it."""


def stamp(json_text: bytes) -> bytes:
    return f"{hashlib.sha256(json_text).hexdigest()} pydantic {PYDANTIC_VERSION}".encode()


def dump(config: Config, json_text: bytes) -> bytes:
    """The stamp line, then the pickled config (unpickled only once the stamp matches)."""
    return stamp(json_text) + b"\n" + pickle.dumps(config, protocol=PROTOCOL)


def load(json_path: Path) -> Config | None:
    """The config pickled beside ``json_path`` if it was made from exactly that JSON by this
    pydantic; None when there is none, it is stale or it does not load (then validate)."""
    try:
        blob = json_path.with_suffix(SUFFIX).read_bytes()
        json_text = json_path.read_bytes()
    except OSError:
        return None
    line, _, body = blob.partition(b"\n")
    if line != stamp(json_text):
        return None
    try:
        config = pickle.loads(body)
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError):
        return None  # made by a different model than this one: validate the JSON instead
    return config if isinstance(config, Config) else None
