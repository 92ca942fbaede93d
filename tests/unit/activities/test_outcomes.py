"""Outcome shaping: error texts, and the inline-versus-blob threshold of results."""

from __future__ import annotations

import enum
import math

import pytest

from durable_batch.activities.outcomes import ERROR_LIMIT, ResultNotJson, describe_exception, place_result
from durable_batch.batch import wire
from durable_batch.storage import MemoryBlobs, ResultStore

pytestmark = pytest.mark.unit


def fail_deep(depth: int) -> None:
    if depth == 0:
        raise KeyError("customer c-17")
    fail_deep(depth - 1)


def handler_calling_deep() -> None:
    fail_deep(10)


def test_error_is_type_and_message_then_the_handlers_frame_and_the_last_frames() -> None:
    try:
        handler_calling_deep()
    except KeyError as exc:
        text = describe_exception(exc)
    lines = text.splitlines()
    assert lines[0] == "KeyError: 'customer c-17'"
    # This test's own frame first (as the handler's would be), then how many were left out, then the tail.
    assert "test_error_is_type_and_message_then_the_handlers_frame" in lines[1]
    assert "  ... 10 more frames ..." in lines
    assert "raise KeyError" in text and text.count("File ") == 3


def test_a_short_traceback_is_kept_whole() -> None:
    try:
        fail_deep(0)
    except KeyError as exc:
        text = describe_exception(exc)
    assert text.count("File ") == 2 and "more frame" not in text


def test_error_without_message_and_bounded_length() -> None:
    assert describe_exception(RuntimeError()) == "RuntimeError"
    huge = describe_exception(ValueError("x" * 10_000))
    assert len(huge) == ERROR_LIMIT
    assert huge.startswith("ValueError: xxx") and huge.endswith("...")


def test_result_at_the_limit_is_inline_and_one_byte_more_goes_to_a_blob() -> None:
    blobs = MemoryBlobs()
    results = ResultStore(blobs)
    at_limit = "a" * (wire.INLINE_RESULT_LIMIT - 2)  # the JSON adds two quotes
    placed = place_result(results, "j", "t1", at_limit)
    assert placed.blob is None and placed.value == at_limit
    over = at_limit + "a"
    placed = place_result(results, "j", "t2", over)
    assert placed.blob == "_jobs/j/tasks/t2/result.json"
    assert blobs.get("_jobs/j/tasks/t2/result.json") == f'"{over}"'.encode()
    assert blobs.content_type("_jobs/j/tasks/t2/result.json") == "application/json"


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    blobs = MemoryBlobs()
    results = ResultStore(blobs)
    text = "é" * 600  # 600 characters, 1,200 bytes
    assert place_result(results, "j", "t", text).blob == "_jobs/j/tasks/t/result.json"


def test_inline_results_are_what_json_gives_back() -> None:
    placed = place_result(ResultStore(MemoryBlobs()), "j", "t", {1: (1, 2)})
    assert placed.value == {"1": [1, 2]}
    outcome: wire.ReduceOutcome = {"ok": True}
    placed.apply(outcome)
    assert outcome["result"] == {"1": [1, 2]} and "resultBlob" not in outcome


@pytest.mark.parametrize("value", [math.nan, {1, 2}, object()])
def test_results_that_are_not_json_are_refused(value: object) -> None:
    with pytest.raises(ResultNotJson, match="cannot be stored as JSON"):
        place_result(ResultStore(MemoryBlobs()), "j", "t", value)


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "inline"),
    [(7, 7), (-0.5, -0.5), ("é", "é"), (True, True), (None, None), (Level.HIGH, 3), (Name("x"), "x")],
)
def test_scalar_results_are_inline_as_json_gives_them_back(value: object, inline: object) -> None:
    placed = place_result(ResultStore(MemoryBlobs()), "j", "t", value)
    assert placed.blob is None and placed.value == inline and type(placed.value) is type(inline)
