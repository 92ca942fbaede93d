"""Depth, number range and encoding limits: refused at submit, with the path, and every accepted value can
travel the whole pipeline (deep-copied, written as canonical JSON, encoded as UTF-8)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from durable_batch.batch.errors import SpecError
from durable_batch.batch.json_limits import MAX_JSON_DEPTH
from durable_batch.batch.validation import parse_job

pytestmark = pytest.mark.unit

HANDLERS = frozenset({"noop"})
OUT_OF_RANGE = "out of range: numbers must be finite and at most 1.8e308 in magnitude (integers: 308 digits)"
LONE = "holds a lone surrogate (an unpaired \\ud800-\\udfff escape or byte sequence); send UTF-8 text"


def problems(body: bytes) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_job(body, known_handlers=HANDLERS, allow_command_tasks=True)
    # Every problem must be encodable: the API sends them as UTF-8 JSON.
    json.dumps(caught.value.details(), ensure_ascii=False).encode("utf-8")
    return [(p.path, p.message) for p in caught.value.problems]


def with_input(raw_input: bytes, **extra: bytes) -> bytes:
    fields = b"".join(b',"' + key.encode() + b'":' + value for key, value in extra.items())
    return b'{"id":"j","tasks":[{"id":"t","handler":"noop","input":' + raw_input + b"}]" + fields + b"}"


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"1e400", f"the number is {OUT_OF_RANGE}"),
        (b"-1e400", f"the number is {OUT_OF_RANGE}"),
        (b"9" * 309, f"the integer of 309 digits is {OUT_OF_RANGE}"),
        (b"9" * 5000, f"an integer of 5,000 digits is {OUT_OF_RANGE}"),
        (b"-" + b"9" * 5000, f"an integer of 5,000 digits is {OUT_OF_RANGE}"),
        (b'"\\ud800"', f"the text {LONE}"),
        (b'"a\\udfffb"', f"the text {LONE}"),
        (b'"\xed\xa0\x80"', f"the text {LONE}"),
    ],
)
def test_values_the_pipeline_cannot_carry_are_refused_with_their_path(raw: bytes, message: str) -> None:
    assert problems(with_input(b'{"a":[0,' + raw + b"]}")) == [("tasks[0].input.a[1]", message)]


def test_numbers_out_of_range_in_spec_fields_are_refused_not_crashed_on() -> None:
    big = b"1" + b"0" * 400
    body = with_input(b"1", maxParallelTasks=big, taskTimeoutSeconds=big, retryIntervalSeconds=b"1e999")
    assert {path for path, _ in problems(body)} == {"maxParallelTasks", "taskTimeoutSeconds", "retryIntervalSeconds"}


def test_lone_surrogates_in_keys_are_reported_in_a_printable_path() -> None:
    body = b'{"id":"j","\\ud800x":1,"tasks":[{"id":"t","handler":"noop","input":{"\\udc00":2}}]}'
    assert problems(body) == [
        ("\\ud800x", f"the field name {LONE}"),
        ("tasks[0].input.\\udc00", f"the field name {LONE}"),
    ]


def test_a_surrogate_pair_is_one_character_and_is_accepted() -> None:
    spec = parse_job(with_input(b'"\\ud83d\\ude00"'), known_handlers=HANDLERS, allow_command_tasks=False)
    assert spec.tasks[0].input == "\U0001f600"


def test_nesting_is_limited_and_the_deepest_accepted_input_runs_through_the_pipeline() -> None:
    # Body (1), tasks (2), task (3): the input starts at level 4.
    deepest = MAX_JSON_DEPTH - 3
    spec = parse_job(with_input(nested(deepest)), known_handlers=HANDLERS, allow_command_tasks=False)
    copy.deepcopy(spec.tasks[0].input)
    spec.canonical_json().encode("utf-8")

    found = problems(with_input(nested(deepest + 1)))
    assert found == [
        (
            "tasks[0].input" + "[0]" * deepest,
            f"nests arrays and objects more than {MAX_JSON_DEPTH} levels deep (the body is level 1)",
        )
    ]


def test_nesting_beyond_what_the_decoder_follows_is_a_problem_not_a_crash() -> None:
    assert problems(with_input(nested(200_000))) == [
        ("", f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep")
    ]


def test_an_already_decoded_template_meets_the_same_limits() -> None:
    template: dict[str, Any] = {"id": "j", "tasks": [{"id": "t", "handler": "noop", "input": float("inf")}]}
    with pytest.raises(SpecError, match="not a JSON value"):
        parse_job(template, known_handlers=HANDLERS, allow_command_tasks=False)
    template["tasks"][0]["input"] = {"k": "\ud800"}
    with pytest.raises(SpecError, match="lone surrogate"):
        parse_job(template, known_handlers=HANDLERS, allow_command_tasks=False)
