"""A source blob's lines in runs (`durable_batch.storage.sources.line_runs`), wherever its download splits it: every
line once,
in order, at its byte offset, a last line without a newline included."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_batch.storage.sources import line_runs

pytestmark = pytest.mark.unit


def lines_at(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, line) of each line of `data`, read the simple way."""
    found: list[tuple[int, bytes]] = []
    start = 0
    for line in data.split(b"\n"):
        found.append((start, line))
        start += len(line) + 1
    if data.endswith(b"\n") or not data:
        found.pop()  # the newline ends the last line; it starts no other
    return found


def flattened(chunks: list[bytes], run_bytes: int) -> list[tuple[int, bytes]]:
    found: list[tuple[int, bytes]] = []
    for start, run in line_runs(chunks, run_bytes):
        for line in run:
            found.append((start, line))
            start += len(line) + 1
    return found


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=8), st.integers(1, 300))
def test_every_line_comes_once_at_its_offset_wherever_the_chunks_split(
    data: bytes, cuts: list[int], run_bytes: int
) -> None:
    data = data.replace(b"\x00", b"\n")  # newlines often, next to each other and at the ends
    edges = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(edges)]
    assert flattened(chunks, run_bytes) == lines_at(data)


def test_a_run_holds_the_lines_a_chunk_completes() -> None:
    runs = list(line_runs([b"a\nbb", b"b\n\nc", b"", b"d"]))
    assert runs == [(0, [b"a"]), (2, [b"bbb", b""]), (7, [b"cd"])]


def test_a_large_chunk_comes_in_runs_of_about_the_run_size() -> None:
    # Lines of 9 bytes and their newlines, in runs of at most 25 bytes: two lines a run, and a long line alone.
    runs = list(line_runs([b"aaaaaaaaa\n" * 5 + b"b" * 40 + b"\nc\n"], 25))
    assert runs == [(0, [b"a" * 9] * 2), (20, [b"a" * 9] * 2), (40, [b"a" * 9]), (50, [b"b" * 40]), (91, [b"c"])]
