"""The config pickled beside its JSON in the asset loads only when it is the JSON's twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.core import config_pickle
from arbiter.core.config import Config, load_config, parse_config
from tests.factories import config_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "arbiter.example.yaml"


def written(tmp_path: Path, config: Config) -> Path:
    """The two files as the asset builder writes them."""
    json_path = tmp_path / "arbiter_config.json"
    text = (config.model_dump_json(indent=2) + "\n").encode()
    json_path.write_bytes(text)
    json_path.with_suffix(config_pickle.SUFFIX).write_bytes(config_pickle.dump(config, text))
    return json_path


@pytest.mark.parametrize("config", [load_config(str(EXAMPLE)), parse_config(config_dict())])
def test_the_pickle_loads_the_config_its_json_validates_to(tmp_path: Path, config: Config) -> None:
    json_path = written(tmp_path, config)
    loaded = config_pickle.load(json_path)
    assert loaded == config
    assert loaded == parse_config(__import__("json").loads(json_path.read_text()))


def test_a_json_changed_after_the_pickle_was_made_is_validated_instead(tmp_path: Path) -> None:
    json_path = written(tmp_path, load_config(str(EXAMPLE)))
    json_path.write_text(json_path.read_text().replace('"arbiter"', '"other"', 1))
    assert config_pickle.load(json_path) is None


def test_no_pickle_or_an_unreadable_one_means_validate(tmp_path: Path) -> None:
    json_path = written(tmp_path, load_config(str(EXAMPLE)))
    pickled = json_path.with_suffix(config_pickle.SUFFIX)
    stamp = pickled.read_bytes().partition(b"\n")[0]
    pickled.write_bytes(stamp + b"\nnot a pickle")
    assert config_pickle.load(json_path) is None
    pickled.unlink()
    assert config_pickle.load(json_path) is None


def test_a_pickle_from_another_pydantic_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    json_path = written(tmp_path, load_config(str(EXAMPLE)))
    monkeypatch.setattr(config_pickle, "PYDANTIC_VERSION", "0.0.0")
    assert config_pickle.load(json_path) is None
