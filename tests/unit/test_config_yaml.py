"""Reading a config file: bad bytes and bad YAML are a ConfigError naming the line, never a
traceback, whatever the file holds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.core.config import load_config, load_config_text
from arbiter.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "arbiter.example.yaml").read_text(encoding="utf-8")


def problems_of_text(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "x.yaml")
    return caught.value.problems


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(EXAMPLE.replace("Frankfurt DC", "Köln DC").encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    line = EXAMPLE.splitlines().index("      label: Frankfurt DC") + 1
    assert caught.value.source == str(path)
    assert caught.value.problems == [f"not UTF-8 text: byte 0xf6 on line {line} cannot be decoded"]


def test_a_duplicate_key_is_named_with_both_lines() -> None:
    text = EXAMPLE.replace("  rise: 2", "  rise: 2\n  fall: 5", 1)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  fall:")) + 1
    (problem,) = problems_of_text(text)
    assert problem == (
        f"not valid YAML: line {first + 2}, column 3: duplicate key 'fall' "
        f"(first at line {first}); YAML would keep only the last"
    )


def test_a_merge_key_may_be_overridden() -> None:
    text = EXAMPLE.replace(
        "decision:\n  fall: 3", "x-defaults: &d {fall: 4}\ndecision:\n  <<: *d\n  fall: 3"
    )
    assert problems_of_text(text) == ["x-defaults: unknown key"]


def test_an_impossible_date_is_a_yaml_error_not_a_traceback() -> None:
    assert problems_of_text("home_region: 2026-02-30\n") == [
        "not valid YAML: line 1, column 14: '2026-02-30' cannot be read as a date: "
        "day is out of range for month"
    ]


def test_an_integer_too_long_to_read_is_a_yaml_error() -> None:
    (problem,) = problems_of_text("decision:\n  fall: " + "9" * 5000)
    assert problem.startswith("not valid YAML: line 2, column 9: '9999")
    assert "cannot be read as an integer: Exceeds the limit (4300 digits)" in problem


def test_deep_nesting_is_a_yaml_error() -> None:
    assert problems_of_text("a: " + "[" * 5000) == ["not valid YAML: nested too deeply"]


def test_a_lone_surrogate_is_named_by_its_path() -> None:
    text = EXAMPLE.replace("label: Frankfurt DC", 'label: "Frankfurt \\ud800"')
    assert problems_of_text(text) == [
        "services[0].primary.label: a \\u escape gives a lone surrogate, not text"
    ]


def test_a_recursive_alias_ends() -> None:
    text = EXAMPLE.replace("probe_regions: [", "probe_regions: &r [*r, ")
    assert problems_of_text(text) == ["probe_regions[0]: Input should be a valid string"]


def test_a_control_character_is_named_with_its_line() -> None:
    assert problems_of_text("app: arbiter\nhome_region: \x1f\n") == [
        "not valid YAML: line 2: character U+001F is not allowed in YAML"
    ]


# -- whatever the input, only a ConfigError ---------------------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("ab1:-[]{},&*!|>'\"#%@`?\n \t.\\<")))


@st.composite
def mangled_examples(draw: st.DrawFn) -> str:
    """The example config with a slice replaced by random text: deep parse paths."""
    start = draw(st.integers(0, len(EXAMPLE)))
    end = draw(st.integers(start, min(len(EXAMPLE), start + 40)))
    return EXAMPLE[:start] + draw(st.one_of(st.text(max_size=20), YAMLISH)) + EXAMPLE[end:]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), YAMLISH, mangled_examples()))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        load_config_text(text, "x.yaml")
    except ConfigError as exc:
        assert exc.problems and all("\n" not in p for p in exc.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(),
        st.builds(lambda head, tail: head + tail, st.binary(max_size=8), st.just(EXAMPLE.encode())),
    )
)
def test_any_bytes_give_a_config_or_a_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.yaml"
        path.write_bytes(raw)
        try:
            load_config(str(path))
        except ConfigError as exc:
            assert exc.source == str(path) and exc.problems
