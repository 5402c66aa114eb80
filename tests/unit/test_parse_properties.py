"""The parse path raises InvalidEvent and nothing else, whatever the bytes (Hypothesis),
and bounds size and nesting before any parser runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.registry import InputLimits, InvalidEvent, check_bounds, json_depth, parse_event

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
REPORTED = json.loads((EXAMPLES / "hazard.reported.json").read_text())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def parses_or_is_invalid(raw: bytes | str) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as e:
        assert e.reason
        assert "Traceback" not in e.reason


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_invalid_event(raw: bytes) -> None:
    parses_or_is_invalid(raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_only_ever_raises_invalid_event(value: object) -> None:
    parses_or_is_invalid(json.dumps(value))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(REPORTED["data"])), json_values)
def test_any_value_in_any_field_of_a_real_event_only_ever_raises_invalid_event(
    field: str, value: object
) -> None:
    event = {**REPORTED, "data": {**REPORTED["data"], field: value}}
    parses_or_is_invalid(json.dumps(event))


@settings(max_examples=100)
@given(st.integers(min_value=33, max_value=20_000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_with_its_depth(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    raw = (opener * depth + "1" + closer * depth).encode()
    with pytest.raises(InvalidEvent, match=f"{depth}"):
        parse_event(raw)


def test_nesting_unclosed_ten_thousand_levels_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="嵌套过深"):
        parse_event(b"[" * 10_000)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    title = "[" * 100 + '\\"{' * 50
    assert json_depth(json.dumps({"a": [title]}).encode()) == 2
    check_bounds(json.dumps({"a": [title]}).encode())


def test_a_message_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidEvent, match="消息过大") as caught:
        parse_event(b"x" * 2_000_001)
    assert "2000001" in caught.value.reason


def test_limits_are_settings() -> None:
    raw = (EXAMPLES / "hazard.reported.json").read_bytes()
    parse_event(raw)
    with pytest.raises(InvalidEvent, match="exceeds the limit of 100"):
        parse_event(raw, limits=InputLimits(max_bytes=100))
    with pytest.raises(InvalidEvent, match="the limit is 1"):
        parse_event(raw, limits=InputLimits(max_depth=1))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00",
        b"",
        b"null",
        b"[]",
        b'"text"',
        b"\x00" * 10,
        "\ud800".encode("utf-8", "surrogatepass"),
    ],
)
def test_odd_bytes_are_invalid_events(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(raw)
