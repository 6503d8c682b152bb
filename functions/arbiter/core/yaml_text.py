"""The config file's YAML: PyYAML's safe loader made strict (``config.parse_yaml``).

A module of its own so that importing the config model does not import PyYAML: the functions
read the validated config as JSON, only the CLI and the CDK app read YAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from arbiter.core.config import format_loc
from arbiter.core.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, minus its silent surprises: a key given twice in one mapping
    (PyYAML keeps the last), and a scalar it cannot convert (a bare ``ValueError``)."""

    def compose_mapping_node(self, anchor: dict[Any, yaml.Node]) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                continue
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"duplicate key {key.value!r} (first at line {first.start_mark.line + 1}); "
                    "YAML would keep only the last",
                    key.start_mark,
                )
        return node


def _positioned(construct: Any, what: str) -> Any:
    """A scalar constructor whose ValueError (``2026-02-30``, an integer of 5000 digits)
    becomes a YAML error at the scalar's line."""

    def constructor(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except ValueError as exc:
            reason = str(exc).split(";")[0]
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{node.value[:40]!r} cannot be read as {what}: {reason}",
                node.start_mark,
            ) from None

    return constructor


_StrictLoader.add_constructor(
    "tag:yaml.org,2002:int", _positioned(yaml.SafeLoader.construct_yaml_int, "an integer")
)
_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _positioned(yaml.SafeLoader.construct_yaml_timestamp, "a date")
)


def parse_yaml(text: str, source: str) -> Any:
    """One YAML document; anything wrong with it is a ConfigError naming the line."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problem = f"line {line}: character U+{exc.character:04X} is not allowed in YAML"
        raise ConfigError(source, [f"not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"not valid YAML: {where}{problem}"]) from None
    except RecursionError:
        raise ConfigError(source, ["not valid YAML: nested too deeply"]) from None
    _reject_surrogates(data, source)
    return data


def _reject_surrogates(data: Any, source: str) -> None:
    """A ``"\\ud800"`` escape gives a string that is not Unicode text: it would pass
    validation and fail later, when the config is written out as UTF-8."""
    seen: set[int] = set()
    todo: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while todo:
        item, loc = todo.pop()
        if id(item) in seen:
            continue  # a YAML alias: each object once, so `&a [*a]` ends
        seen.add(id(item))
        if isinstance(item, dict):
            todo += [(key, loc) for key in item]
            todo += [(value, (*loc, str(key))) for key, value in item.items()]
        elif isinstance(item, list):
            todo += [(value, (*loc, i)) for i, value in enumerate(item)]
        elif isinstance(item, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in item):
            raise ConfigError(
                source, [f"{format_loc(loc, {})}: a \\u escape gives a lone surrogate, not text"]
            )
