"""`durable_batch.lib.json_lines.decode_lines`: the same values and the same refusals as `json.loads` a line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_batch.lib.json_lines import decode_lines

pytestmark = pytest.mark.unit

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def line_by_line(data: bytes) -> list[Any]:
    return [json.loads(line) for line in data.split(b"\n") if line.strip()]


@given(st.lists(JSON, max_size=20), st.sampled_from(["\n", "\r\n", "\n\n", " \n\t"]))
def test_lines_of_json_decode_to_their_values(values: list[Any], end: str) -> None:
    data = "".join(json.dumps(value, ensure_ascii=False) + end for value in values).encode()
    assert decode_lines(data) == line_by_line(data) == values


PIECES = [b"[1", b"2]", b"3,4", b"{}", b" ", b'"a', b"\x0b1", b"\xef\xbb\xbf{}", b"1\x00", b'"\xff"', b"1 2"]


@given(st.binary(max_size=60) | st.lists(st.sampled_from(PIECES)).map(b"\n".join))
def test_what_a_line_by_line_decode_refuses_is_refused(data: bytes) -> None:
    try:
        expected = line_by_line(data)
    except ValueError:
        with pytest.raises(ValueError):
            decode_lines(data)
    else:
        assert decode_lines(data) == expected


def test_lines_the_fast_path_does_not_take_are_what_json_loads_makes_of_them() -> None:
    # A byte order mark on any line, a line in UTF-16 (`json.loads` detects it), blank lines skipped.
    data = b'\xef\xbb\xbf{"a": 1}\n\n \x0b\n[1, 2]\r\n1\x00\n\xef\xbb\xbf"b"'
    assert decode_lines(data) == [{"a": 1}, [1, 2], 1, "b"]
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        decode_lines(b"1 2\n")
